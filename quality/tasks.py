"""Celery tasks of quality: thin wrappers that take ids, call one service and own the retries."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.signals import worker_process_init
from django.db import OperationalError


# Named as before the apps were split, so tasks queued by an older release still find their worker.
@shared_task(
    name="datasets.tasks.validate_version",
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def validate_version(run_id: int) -> None:
    from quality.services import validation_run

    validation_run(run_id=run_id)


@worker_process_init.connect
def _load_great_expectations(**kwargs: Any) -> None:
    """Import GX when a worker process starts (seconds), not during the first validation."""
    from quality.runner import gx_load

    gx_load()
