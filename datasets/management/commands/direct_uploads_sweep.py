"""`manage.py direct_uploads_sweep`: abort direct uploads left open past their expiry."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from datasets.services.direct_uploads import direct_uploads_sweep


class Command(BaseCommand):
    help = (
        "Abort direct uploads left open past GRANARY_DIRECT_UPLOAD_HOURS (their parts are billed "
        "until then) and delete staging objects that finished uploads left, as the hourly Celery "
        "beat entry does."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        done = direct_uploads_sweep()
        self.stdout.write(f"Direct uploads aborted or cleaned: {done}.")
