"""The audit log: who did what, to which dataset and version, when, and from which address.

Append-only: events are only ever created (by audit.services.audit_record, inside the
transaction of the change they record) and deleted only by the retention prune. They name what
they are about by id and by name, without foreign keys to the apps above, so an event outlives
what it names and this app stays below every app that records into it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class AuditEvent(models.Model):
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True, help_text="Kept if the user is deleted")
    action = models.CharField(max_length=64, help_text="e.g. version.download, token.create")
    team_id = models.BigIntegerField(null=True, blank=True)
    dataset_id = models.BigIntegerField(null=True, blank=True)
    dataset = models.CharField(max_length=64, blank=True, help_text="The dataset's slug")
    version = models.PositiveIntegerField(null=True, blank=True, help_text="The version's number")
    target = models.CharField(max_length=300, blank=True, help_text="What else it names: a token, a member…")
    detail = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [
            models.Index(fields=["dataset_id", "-at"], name="audit_dataset_idx"),
            models.Index(fields=["team_id", "-at"], name="audit_team_idx"),
            models.Index(fields=["actor", "-at"], name="audit_actor_idx"),
            models.Index(fields=["-at"], name="audit_at_idx"),
        ]

    def __str__(self) -> str:
        where = f" {self.dataset}" + (f"@{self.version}" if self.version else "") if self.dataset else ""
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_name or 'system'} {self.action}{where}"
