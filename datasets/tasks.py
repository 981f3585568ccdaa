"""Celery tasks: thin wrappers that take ids, call one service and own the retries."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.signals import worker_process_init
from django.db import OperationalError

from datasets.services.versions import version_ingest


@shared_task(
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def ingest_version(version_id: int) -> None:
    version_ingest(version_id=version_id)


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def validate_version(run_id: int) -> None:
    from datasets.services.quality import validation_run

    validation_run(run_id=run_id)


@shared_task(bind=True, acks_late=True, max_retries=6)
def deliver_webhook(self: Any, delivery_id: int) -> None:
    from datasets.services.webhooks import WebhookFailed, webhook_deliver

    try:
        webhook_deliver(delivery_id=delivery_id, final=self.request.retries >= self.max_retries)
    except WebhookFailed as exc:
        # Back off 2, 4, 8, ... seconds, up to about two minutes in all.
        raise self.retry(exc=exc, countdown=2 ** (self.request.retries + 1)) from None


@worker_process_init.connect
def _load_great_expectations(**kwargs: Any) -> None:
    """Import GX when a worker process starts (seconds), not during the first validation."""
    from datasets.services.quality import gx_load

    gx_load()
