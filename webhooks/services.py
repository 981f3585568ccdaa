"""Webhooks: signed JSON events to a team's endpoints, delivered by workers with retries, every
attempt recorded. Other apps publish their events here (quality: `validation.failed`,
`version.certified`; datasets: `access.requested`)."""

from __future__ import annotations

import hashlib
import hmac
import json
from functools import partial
from typing import Any

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Team
from core.errors import InvalidInput
from webhooks.models import Webhook, WebhookDelivery
from webhooks.tasks import deliver_webhook


class WebhookFailed(Exception):
    pass


def webhook_create(*, team: Team, url: str, secret: str) -> Webhook:
    if not url.startswith(("http://", "https://")):
        raise InvalidInput("The URL must start with http:// or https://.", field="url")
    if len(secret) < 16:
        raise InvalidInput("Use a secret of at least 16 characters.", field="secret")
    return Webhook.objects.create(team=team, url=url, secret=secret)


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhooks_publish(*, team: Team, event: str, payload: dict[str, Any]) -> list[WebhookDelivery]:
    """Queue `event` for each of the team's active webhooks, sent once the transaction commits."""
    deliveries = [
        WebhookDelivery.objects.create(webhook=hook, event=event, payload=payload)
        for hook in Webhook.objects.filter(team=team, active=True)
    ]
    for delivery in deliveries:
        transaction.on_commit(partial(deliver_webhook.delay, delivery.pk))
    return deliveries


def absolute_url(path: str) -> str:
    """A link for a message read outside the site: GRANARY_SITE_URL and the path."""
    return settings.GRANARY_SITE_URL.rstrip("/") + path


def webhook_deliver(*, delivery_id: int, final: bool) -> WebhookDelivery:
    """POST one delivery; raise WebhookFailed to be retried (unless `final`)."""
    delivery = WebhookDelivery.objects.select_related("webhook").get(pk=delivery_id)
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
    update: dict[str, Any] = {"attempts": delivery.attempts + 1}
    try:
        response = requests.post(
            delivery.webhook.url, data=body, headers=headers, timeout=settings.GRANARY_WEBHOOK_TIMEOUT_SECONDS
        )
    except requests.RequestException as exc:
        update |= {"error": f"{type(exc).__name__}: {exc}"[:1000], "response_status": None}
        ok = False
    else:
        update |= {
            "response_status": response.status_code,
            "response_body": response.text[:1000],
            "error": "",
        }
        ok = 200 <= response.status_code < 300
    if ok:
        update |= {"status": WebhookDelivery.Status.DELIVERED, "delivered_at": timezone.now()}
    elif final:
        update["status"] = WebhookDelivery.Status.FAILED
    WebhookDelivery.objects.filter(pk=delivery_id).update(**update)
    if not ok and not final:
        raise WebhookFailed(update.get("error") or f"HTTP {update.get('response_status')}")
    return WebhookDelivery.objects.get(pk=delivery_id)
