"""The index follows the catalog: the datasets and accounts apps announce changes (they may not
import search), and each one re-indexes what it touched inside the same transaction."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db.models.signals import post_delete
from django.dispatch import receiver

from accounts.signals import team_changed
from core.coalesce import once
from datasets.signals import dataset_changed, datasets_popularity_changed, version_status_changed
from search.facets import ROW_FIELDS, contributions, facet_counts_apply
from search.indexer import search_index_dataset, search_index_team, search_popularity_update
from search.models import SearchDocument


@receiver(dataset_changed, dispatch_uid="search.dataset_changed")
def dataset_reindex(sender: Any, dataset_id: int, **kwargs: Any) -> None:
    _reindex(dataset_id)


@receiver(version_status_changed, dispatch_uid="search.version_status_changed")
def version_reindex(sender: Any, version: Any, **kwargs: Any) -> None:
    # A version that became ready brings new columns, rows and format.
    _reindex(version.dataset_id)


def _reindex(dataset_id: int) -> None:
    # Once per dataset for a write that announces it several times (core.coalesce).
    once(("search.index", dataset_id), partial(search_index_dataset, dataset_id=dataset_id))


@receiver(team_changed, dispatch_uid="search.team_changed")
def team_reindex(sender: Any, team_id: int, **kwargs: Any) -> None:
    search_index_team(team_id=team_id)


@receiver(datasets_popularity_changed, dispatch_uid="search.datasets_popularity_changed")
def popularity_update(sender: Any, dataset_ids: list[int], **kwargs: Any) -> None:
    search_popularity_update(dataset_ids=dataset_ids)


@receiver(post_delete, sender=SearchDocument, dispatch_uid="search.document_deleted")
def document_deleted(sender: Any, instance: SearchDocument, **kwargs: Any) -> None:
    # A dataset deleted outright takes its document with it (a cascade): its facet counts go too.
    # The indexer deletes documents in SQL and subtracts them itself.
    facet_counts_apply(contributions([tuple(getattr(instance, name) for name in ROW_FIELDS)], sign=-1))
