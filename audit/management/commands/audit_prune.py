"""`manage.py audit_prune`: forget audit events past the retention period."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from audit.services import audit_prune


class Command(BaseCommand):
    help = "Delete audit events older than GRANARY_AUDIT_RETENTION_DAYS (run it daily, e.g. from cron)."

    def handle(self, *args: Any, **options: Any) -> None:
        deleted = audit_prune()
        days = settings.GRANARY_AUDIT_RETENTION_DAYS
        kept = (
            f"older than {days} days"
            if days > 0
            else "none: GRANARY_AUDIT_RETENTION_DAYS=0 keeps every event"
        )
        self.stdout.write(f"Deleted {deleted} audit events ({kept}).")
