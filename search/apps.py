from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class SearchConfig(AppConfig):
    name = "search"
    verbose_name = "Search"

    def ready(self) -> None:
        from search import receivers  # noqa: F401  (listens to datasets.signals and accounts.signals)

        post_migrate.connect(_index_missing, sender=self, dispatch_uid="search.index_missing")


def _index_missing(sender: Any, **kwargs: Any) -> None:
    """After `migrate`, index any dataset the index lacks: an existing catalog that has just
    gained search is searchable without a separate step."""
    from search.indexer import search_index_missing

    search_index_missing()
