"""Celery tasks of datasets: thin wrappers that take ids, call one service and own the retries.

Queues (config/celery.py): ingest on `ingest`, the rest on `io`.
"""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def ingest_version(version_id: int) -> None:
    from datasets.services.versions import version_ingest_leased

    version_ingest_leased(version_id=version_id)


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def save_query(save_id: int) -> None:
    """A SQL console query's result made a version (datasets.viewer.save), on the ingest queue."""
    from datasets.viewer.save import query_save_run

    query_save_run(save_id=save_id)


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def popularity_refresh() -> int:
    """Daily (CELERY_BEAT_SCHEDULE): checkouts age out of the 90-day count with nothing else changing."""
    from datasets.services.summary import datasets_popularity_refresh

    return datasets_popularity_refresh()


# Every GRANARY_SWEEP_SECONDS (beat) and at each worker's start: a lost sweep costs nothing.
@shared_task(ignore_result=True, soft_time_limit=240, time_limit=300)
def versions_sweep() -> list[int]:
    from datasets.services.versions import versions_requeue

    return versions_requeue()


# Every GRANARY_SWEEP_SECONDS (beat) and at each worker's start: saves never sent or left by a dead worker.
@shared_task(ignore_result=True, soft_time_limit=240, time_limit=300)
def query_saves_sweep() -> list[int]:
    from datasets.viewer.save import query_saves_requeue

    return query_saves_requeue()


# Hourly (CELERY_BEAT_SCHEDULE), and at each worker's start on its own machine (config/celery.py).
@shared_task(ignore_result=True, soft_time_limit=240, time_limit=300)
def tmp_sweep() -> int:
    from datasets.services.workfiles import tmp_sweep

    return len(tmp_sweep().removed)


# Hourly (CELERY_BEAT_SCHEDULE): direct uploads left open past their expiry are aborted, so
# storage stops billing their parts.
@shared_task(ignore_result=True, soft_time_limit=240, time_limit=300)
def direct_uploads_sweep() -> int:
    from datasets.services.direct_uploads import direct_uploads_sweep

    return direct_uploads_sweep()
