"""`manage.py tmp_sweep`: remove the working files crashed processes left in GRANARY_DATA_DIR/tmp.

Workers sweep their machine's directory when they start and Celery beat hourly; a web machine
that runs no worker runs this from cron or a systemd timer.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from datasets.services.workfiles import tmp_sweep


class Command(BaseCommand):
    help = "Remove working files (uploads, ingest and validation directories) older than the grace period."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than-minutes",
            type=int,
            default=None,
            help="instead of GRANARY_TMP_GRACE_MINUTES: only if nothing inside changed for this long",
        )
        parser.add_argument("--dry-run", action="store_true", help="list what would go, remove nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        minutes = options["older_than_minutes"]
        sweep = tmp_sweep(
            older_than=None if minutes is None else timedelta(minutes=minutes), dry_run=options["dry_run"]
        )
        verb = "Would remove" if options["dry_run"] else "Removed"
        for name in sweep.removed:
            self.stdout.write(f"{verb} {name}")
        self.stdout.write(f"{verb} {len(sweep.removed)} ({sweep.bytes:,} bytes); kept {sweep.kept} in use.")
