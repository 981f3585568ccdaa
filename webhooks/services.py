"""Webhooks: signed JSON events to a team's endpoints, delivered by workers with retries, every
attempt recorded. Other apps publish their events here (quality: `validation.failed`,
`version.certified`; datasets: `access.requested`)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from accounts.models import Team, role_may_manage
from accounts.selectors import team_role
from audit.services import audit_record
from core.errors import AccessDenied, InvalidInput, NotFound
from core.outbox import outbox_send, outbox_sweep
from webhooks import egress
from webhooks.models import Webhook, WebhookDelivery
from webhooks.tasks import deliver_webhook

logger = logging.getLogger(__name__)
Failure = WebhookDelivery.Failure
# Deliveries one sweep sends at most (a long outage's backlog goes over a few sweeps).
SWEEP_BATCH = 1000
# Failures that another attempt will not cure: the webhook itself is refused.
REFUSED_FOR_GOOD = {Failure.ADDRESS, Failure.HTTP, Failure.SCHEME}


class WebhookFailed(Exception):
    pass


def webhooks_require_owner(*, user: User, team: Team) -> None:
    """Who manages a team's webhooks (where its events go, and what they said): its owners."""
    if getattr(user, "is_superuser", False) or role_may_manage(team_role(user=user, team=team)):
        return
    raise AccessDenied(f"Only owners of {team.slug} manage its webhooks.")


def webhook_create(*, team: Team, url: str, secret: str, user: User | None = None) -> Webhook:
    refusal = egress.url_refusal(url)
    if refusal == Failure.ADDRESS:
        host = urlsplit(url).hostname
        raise InvalidInput(
            f"Granary does not send events to {host}: it is, or resolves to, a loopback, private, "
            "link-local, multicast, reserved or cloud metadata address.",
            field="url",
        )
    if refusal is not None:
        https_only = "http" not in egress.schemes_allowed()
        raise InvalidInput(
            "Use an https:// URL: this Granary does not send events over plain http."
            if https_only
            else "The URL must start with http:// or https:// and name a host.",
            field="url",
        )
    if len(secret) < 16:
        raise InvalidInput("Use a secret of at least 16 characters.", field="secret")
    with transaction.atomic():
        webhook = Webhook.objects.create(team=team, url=url, secret=secret)
        audit_record(action="webhook.create", actor=user, team=team, target=url)
    return webhook


def webhook_delete(*, team: Team, webhook_id: int, user: User | None = None) -> Webhook:
    """Delete one of the team's webhooks with its deliveries: they are its log, useless without
    it, and their payloads name who asked for which data and why."""
    webhook = Webhook.objects.filter(team=team, pk=webhook_id).first()
    if webhook is None:
        raise NotFound(f"{team.slug} has no webhook {webhook_id}.")
    with transaction.atomic():
        webhook.delete()
        audit_record(action="webhook.delete", actor=user, team=team, target=webhook.url)
    return webhook


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhooks_publish(*, team: Team, event: str, payload: dict[str, Any]) -> list[WebhookDelivery]:
    """Queue `event` for each of the team's active webhooks, sent once the transaction commits."""
    deliveries = [
        WebhookDelivery.objects.create(webhook=hook, event=event, payload=payload)
        for hook in Webhook.objects.filter(team=team, active=True)
    ]
    for delivery in deliveries:
        transaction.on_commit(partial(webhook_send, delivery_id=delivery.pk))
    return deliveries


def webhook_send(*, delivery_id: int) -> bool:
    """Put the delivery on the broker and note when; False if the broker is down. Never raises
    for the broker: the request or task that published the event has done its work, and the
    unsent row is left for the sweeper."""
    return outbox_send(WebhookDelivery, delivery_id, deliver_webhook.delay)


def webhook_deliveries_requeue(*, now: datetime | None = None) -> list[int]:
    """Send the pending deliveries the broker never took (Redis down when they were published),
    once they are older than a sweep; the ids sent. Each is claimed by a conditional update of
    `sent_at` first, so two sweepers never send one twice."""
    now = now or timezone.now()
    due = WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.PENDING,
        sent_at__isnull=True,
        created_at__lt=now - timedelta(seconds=settings.GRANARY_SWEEP_SECONDS),
    )
    return outbox_sweep(due, deliver_webhook.delay, limit=SWEEP_BATCH)


def absolute_url(path: str) -> str:
    """A link for a message read outside the site: GRANARY_SITE_URL and the path."""
    return settings.GRANARY_SITE_URL.rstrip("/") + path


def webhook_deliver(*, delivery_id: int, final: bool) -> WebhookDelivery | None:
    """POST one delivery; raise WebhookFailed to be retried (unless `final`, or refused for good).
    None when the delivery went with its webhook before its turn came."""
    delivery = WebhookDelivery.objects.select_related("webhook").filter(pk=delivery_id).first()
    if delivery is None:
        return None
    if delivery.status == WebhookDelivery.Status.DELIVERED:
        return delivery
    body = json.dumps(delivery.payload, sort_keys=True).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Granary-Webhooks/1",
        "X-Granary-Event": delivery.event,
        "X-Granary-Delivery": str(delivery.pk),
        "X-Granary-Signature": signature(delivery.webhook.secret, body),
    }
    answer = egress.post(delivery.webhook.url, body=body, headers=headers)
    ok = answer.failure is None and answer.status is not None and 200 <= answer.status < 300
    update: dict[str, Any] = {
        "attempts": delivery.attempts + 1,
        "response_status": answer.status,
        "error": answer.failure or "",
    }
    if ok:
        update |= {"status": WebhookDelivery.Status.DELIVERED, "delivered_at": timezone.now()}
    elif final or answer.failure in REFUSED_FOR_GOOD:
        update["status"] = WebhookDelivery.Status.FAILED
    WebhookDelivery.objects.filter(pk=delivery_id).update(**update)
    delivery.refresh_from_db()
    if delivery.status == WebhookDelivery.Status.PENDING:
        raise WebhookFailed(delivery.outcome)
    return delivery
