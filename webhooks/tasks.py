"""Celery tasks of webhooks: deliveries, with their retries."""

from __future__ import annotations

from typing import Any

from celery import shared_task


# Named as before the apps were split, so deliveries queued by an older release still find their worker.
@shared_task(name="datasets.tasks.deliver_webhook", bind=True, acks_late=True, max_retries=6)
def deliver_webhook(self: Any, delivery_id: int) -> None:
    from webhooks.services import WebhookFailed, webhook_deliver

    try:
        webhook_deliver(delivery_id=delivery_id, final=self.request.retries >= self.max_retries)
    except WebhookFailed as exc:
        # Back off 2, 4, 8, ... seconds, up to about two minutes in all.
        raise self.retry(exc=exc, countdown=2 ** (self.request.retries + 1)) from None


# Every GRANARY_SWEEP_SECONDS (beat) and at each worker's start: deliveries Redis never took.
@shared_task(ignore_result=True, soft_time_limit=240, time_limit=300)
def deliveries_sweep() -> list[int]:
    from webhooks.services import webhook_deliveries_requeue

    return webhook_deliveries_requeue()


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_notification(user_ids: list[int], subject: str, body: str) -> None:
    from webhooks.notifications import notification_send

    notification_send(user_ids=user_ids, subject=subject, body=body)
