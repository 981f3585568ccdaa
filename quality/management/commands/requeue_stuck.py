"""`manage.py requeue_stuck`: queue ingest again for versions stuck in `processing`, and validation
again for runs stuck in `queued` or `running`."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from datasets.services.versions import versions_requeue
from quality.services import runs_requeue


class Command(BaseCommand):
    help = "Queue ingest again for versions, and validation again for runs, that have been waiting too long."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=int,
            default=None,
            metavar="MINUTES",
            help="requeue everything processing for at least this long, lease or not (0 for all; default: the sweep, as beat runs it)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        requeued = versions_requeue(older_than_minutes=options["older_than"])
        self.stdout.write(f"Requeued {len(requeued)} stuck versions" + (f": {requeued}" if requeued else "."))
        runs = runs_requeue(older_than_minutes=options["older_than"])
        self.stdout.write(f"Requeued {len(runs)} stuck validation runs" + (f": {runs}" if runs else "."))
