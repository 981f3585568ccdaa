"""Webhooks: signed JSON events to a team's endpoints when a validation fails, a version
becomes certified or someone asks for a restricted dataset's data, delivered by workers with
retries, every attempt recorded."""

from __future__ import annotations

import hashlib
import hmac
import json
from functools import partial
from typing import Any

import requests
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from datasets.errors import InvalidInput
from datasets.models import AccessRequest, Team, ValidationRun, Webhook, WebhookDelivery


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


def webhooks_announce_run(*, run_id: int) -> list[WebhookDelivery]:
    """Queue the events a finished run causes: `validation.failed`, or `version.certified` when
    the run made its version the dataset's newest certified one."""
    from datasets.selectors import version_certified

    run = ValidationRun.objects.select_related("version__dataset__team", "version__blob", "revision").get(
        pk=run_id
    )
    version = run.version
    dataset = version.dataset
    if run.status in (ValidationRun.Status.FAILED, ValidationRun.Status.ERROR):
        event = "validation.failed"
    elif (
        run.status == ValidationRun.Status.PASSED
        and (certified := version_certified(dataset=dataset))
        and certified.pk == version.pk
    ):
        event = "version.certified"
    else:
        return []
    payload = {
        "event": event,
        "dataset": dataset.slug,
        "version": version.number,
        "ref": version.ref,
        "sha256": version.sha256,
        "run": run.pk,
        "status": run.status,
        "suite_revision": run.revision.number,
        "report_url": _absolute(reverse("validation-report", args=[dataset.slug, version.number, run.pk])),
        "sent_at": timezone.now().isoformat(),
    }
    return _queue(team=dataset.team, event=event, payload=payload)


def webhooks_announce_access_request(*, request: AccessRequest) -> list[WebhookDelivery]:
    """Queue `access.requested` for the dataset's team, so its owners hear of a new request
    without watching the Access tab."""
    dataset = request.dataset
    payload = {
        "event": "access.requested",
        "dataset": dataset.slug,
        "request": request.pk,
        "user": request.user.get_username(),
        "reason": request.reason,
        "decide_url": _absolute(reverse("dataset-access", args=[dataset.slug])),
        "sent_at": timezone.now().isoformat(),
    }
    return _queue(team=dataset.team, event="access.requested", payload=payload)


def _queue(*, team: Team, event: str, payload: dict[str, Any]) -> list[WebhookDelivery]:
    deliveries = [
        WebhookDelivery.objects.create(webhook=hook, event=event, payload=payload)
        for hook in Webhook.objects.filter(team=team, active=True)
    ]
    for delivery in deliveries:
        transaction.on_commit(partial(_send, delivery.pk))
    return deliveries


def _send(delivery_id: int) -> None:
    from datasets.tasks import deliver_webhook

    deliver_webhook.delay(delivery_id)


def _absolute(path: str) -> str:
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
