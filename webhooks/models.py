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

    class Failure(models.TextChoices):
        """Why an attempt failed, in fixed words: what a receiver answered, or an exception's text,
        would let whoever adds a webhook read internal pages or map the network behind Granary."""

        REDIRECT = "redirect", "redirects are not followed"
        REFUSED = "refused", "connection refused"
        TIMEOUT = "timeout", "timed out"
        ADDRESS = "address", "address not allowed"
        HTTP = "http", "plain http is not allowed"
        SCHEME = "scheme", "not an http(s) URL"
        DNS = "dns", "host name not found"
        TLS = "tls", "TLS handshake or certificate failed"
        FAILED = "failed", "connection failed"

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=64)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    response_status = models.PositiveIntegerField(null=True, blank=True)
    # The last attempt's failure (blank when it succeeded, or when the status code says it all).
    error = models.CharField(max_length=16, choices=Failure.choices, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    # When it was put on the broker; null while Redis was down: the row is its own outbox, and
    # the sweeper (webhook_deliveries_requeue) sends it once Redis answers.
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "datasets_webhookdelivery"
        ordering = ["-created_at", "-pk"]
        # The sweeper's due query (webhook_deliveries_requeue, every minute): pending ones only.
        indexes = [models.Index(fields=["status", "created_at"], name="delivery_status_idx")]

    def __str__(self) -> str:
        return f"{self.event} to {self.webhook.url} ({self.status})"

    @property
    def outcome(self) -> str:
        """The last attempt as the page shows it: "HTTP 302 (redirects are not followed)"."""
        reason = self.get_error_display() if self.error else ""
        if self.response_status is None:
            return reason
        return f"HTTP {self.response_status}" + (f" ({reason})" if reason else "")
