"""A team's webhook endpoints and every delivery made to them."""

from __future__ import annotations

from django.db import models

from accounts.models import Team


class Webhook(models.Model):
    """A team's endpoint for quality events, signed with HMAC-SHA256 of the body with `secret`."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=200)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "datasets_webhook"
        ordering = ["team", "pk"]

    def __str__(self) -> str:
        return f"{self.team.slug} -> {self.url}"


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=64)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    response_status = models.PositiveIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "datasets_webhookdelivery"
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.event} to {self.webhook.url} ({self.status})"
