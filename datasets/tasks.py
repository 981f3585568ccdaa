"""Celery tasks of datasets: thin wrappers that take ids, call one service and own the retries."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def ingest_version(version_id: int) -> None:
    from datasets.services.versions import version_ingest

    version_ingest(version_id=version_id)


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def popularity_refresh() -> int:
    """Daily (CELERY_BEAT_SCHEDULE): checkouts age out of the 90-day count with nothing else changing."""
    from datasets.services.summary import datasets_popularity_refresh

    return datasets_popularity_refresh()
