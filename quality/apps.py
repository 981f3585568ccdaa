from django.apps import AppConfig


class QualityConfig(AppConfig):
    name = "quality"
    verbose_name = "Quality"

    def ready(self) -> None:
        from quality import receivers  # noqa: F401  (listens to datasets.signals)
