from django.apps import AppConfig


class SearchConfig(AppConfig):
    name = "search"
    verbose_name = "Search"

    def ready(self) -> None:
        from search import receivers  # noqa: F401  (listens to datasets.signals and accounts.signals)
