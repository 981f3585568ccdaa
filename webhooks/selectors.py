"""Reads of a team's webhooks and their deliveries."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import Team
from webhooks.models import Webhook, WebhookDelivery


def webhooks_of(*, team: Team) -> QuerySet[Webhook]:
    """A team's webhooks (the caller has checked the user owns the team)."""
    return Webhook.objects.filter(team=team).order_by("pk")


def webhook_deliveries_of(*, team: Team, limit: int = 50) -> list[WebhookDelivery]:
    return list(WebhookDelivery.objects.filter(webhook__team=team).select_related("webhook")[:limit])
