"""What a dataset's list row shows, kept on the dataset: its latest and certified versions, its
version count, its checkouts (ever, and in the last 90 days) and when its newest version became
ready. Recomputed from the tables by every service that changes them, so lists read columns.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from datasets.models import CheckoutItem, Dataset, Version
from datasets.references import versions_certified_of, versions_ready_of
from datasets.signals import dataset_changed, datasets_popularity_changed

POPULARITY_DAYS = 90
# Datasets updated per transaction by the popularity refresh: short locks, bounded memory.
BLOCK = 500


def dataset_summary_refresh(*, dataset_id: int) -> None:
    """Recompute the dataset's list fields from its versions and checkouts, and announce it
    (`dataset_changed`), in the caller's transaction. Does nothing for a dataset that is gone."""
    with transaction.atomic():
        if not _lock([dataset_id]):
            return
        ready = versions_ready_of(OuterRef("pk"))
        Dataset.objects.filter(pk=dataset_id).update(
            latest_version=Subquery(ready.values("pk")[:1]),
            certified_version=Subquery(versions_certified_of(OuterRef("pk")).values("pk")[:1]),
            last_version_at=Subquery(ready.values("status_changed_at")[:1]),
            version_count=_count(Version.objects.filter(dataset=OuterRef("pk")), "pk"),
            checkout_count=_checkouts(since=None),
            checkouts_90d=_checkouts(since=_popularity_since()),
        )
        dataset_changed.send(sender=Dataset, dataset_id=dataset_id)


def datasets_checkouts_refresh(*, dataset_ids: list[int]) -> None:
    """Recount the checkouts of datasets a new checkout pulled, and announce only that
    (`datasets_popularity_changed`): their text and versions did not change."""
    with transaction.atomic():
        locked = _lock(sorted(dataset_ids))
        if not locked:
            return
        Dataset.objects.filter(pk__in=locked).update(
            checkout_count=_checkouts(since=None), checkouts_90d=_checkouts(since=_popularity_since())
        )
        datasets_popularity_changed.send(sender=Dataset, dataset_ids=locked)


def datasets_popularity_refresh() -> int:
    """Recompute the checkout counts of every dataset whose 90-day count may have moved (checkouts
    age out of the window without anything else changing), announcing each one that changed;
    returns how many changed. Run daily (Celery beat, or `manage.py popularity_refresh`)."""
    since = _popularity_since()
    fresh = {"checkouts_90d": _checkouts(since=since), "checkout_count": _checkouts(since=None)}
    recent = CheckoutItem.objects.filter(checkout__created_at__gte=since).values("dataset_id")
    stale = (
        Dataset.objects.filter(Q(checkouts_90d__gt=0) | Q(pk__in=recent))
        .annotate(fresh_90d=fresh["checkouts_90d"], fresh_count=fresh["checkout_count"])
        .exclude(checkouts_90d=F("fresh_90d"), checkout_count=F("fresh_count"))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    changed = list(stale)
    for start in range(0, len(changed), BLOCK):
        block = changed[start : start + BLOCK]
        with transaction.atomic():
            locked = _lock(block)
            Dataset.objects.filter(pk__in=locked).update(**fresh)
            datasets_popularity_changed.send(sender=Dataset, dataset_ids=locked)
    return len(changed)


def _lock(dataset_ids: list[int]) -> list[int]:
    """Lock the datasets' rows in pk order (checkout_create refreshes its datasets in that order
    too, so two refreshes never deadlock); returns the ids that exist.

    Locked first, computed in a later statement: a refresh that waited for another one's lock then
    counts what that one committed, where an UPDATE's own subqueries would read the snapshot taken
    before the wait (PostgreSQL, read committed) and write the old counts back. NO KEY UPDATE,
    because inserting a checkout item or a version takes KEY SHARE on its dataset, which a plain
    FOR UPDATE would wait for: two checkouts of the same datasets would deadlock.
    """
    locked = Dataset.objects.select_for_update(no_key=True).filter(pk__in=dataset_ids).order_by("pk")
    return list(locked.values_list("pk", flat=True))


def _popularity_since() -> datetime:
    return timezone.now() - timedelta(days=POPULARITY_DAYS)


def _checkouts(*, since: datetime | None) -> Coalesce:
    """Distinct checkouts that pulled the dataset (OuterRef "pk"), since a moment or ever."""
    items = CheckoutItem.objects.filter(dataset=OuterRef("pk"))
    if since is not None:
        items = items.filter(checkout__created_at__gte=since)
    return _count(items, "checkout")


def _count(rows: QuerySet[CheckoutItem] | QuerySet[Version], field: str) -> Coalesce:
    # A subquery, not a join: joining two counted tables would multiply each other's rows.
    counted = rows.order_by().values("dataset").annotate(n=Count(field, distinct=True)).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))
