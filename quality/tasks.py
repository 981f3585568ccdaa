"""Celery tasks of quality: thin wrappers that take ids, call one service and own the retries.

Validations run on the `quality` queue, sweeps on `io` (config/celery.py). Great Expectations is
loaded by the worker's parent before it forks (config.celery), never in a new process's start-up.
"""

from __future__ import annotations

from celery import shared_task
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
    from quality.services import validation_run_leased

    validation_run_leased(run_id=run_id)


# Every GRANARY_SWEEP_SECONDS (beat) and at each worker's start: a lost sweep costs nothing.
@shared_task(ignore_result=True, soft_time_limit=240, time_limit=300)
def runs_sweep() -> list[int]:
    from quality.services import runs_requeue

    return runs_requeue()
