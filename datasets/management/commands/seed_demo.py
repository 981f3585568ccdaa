"""`manage.py seed_demo`: the demo admin, team and datasets that `make run` starts with."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.errors import GranaryError
from datasets.models import Version
from datasets.services.demo import DEMO_TEAM, demo_admin_ensure, demo_seed


class Command(BaseCommand):
    help = (
        "Create the demo admin, the team 'demo' and three small, openly licensed datasets "
        "(see demo/README.md) with a ready first version each. Safe to run again: what exists is kept."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin", help="the demo admin (default: %(default)s)")
        parser.add_argument(
            "--password",
            default="granary-demo",
            help="its password, used only when the user is created (default: %(default)s)",
        )
        parser.add_argument("--team", default=DEMO_TEAM, help="the team's slug (default: %(default)s)")

    def handle(self, *args: Any, **options: Any) -> None:
        admin = demo_admin_ensure(username=options["username"], password=options["password"])
        if admin.created:
            self.stdout.write(f"Created the superuser '{options['username']}'.")
        elif not admin.password_matches:
            self.stderr.write(
                f"The user '{options['username']}' exists with another password; it was left unchanged."
            )
        try:
            steps = demo_seed(user=admin.user, team_slug=options["team"])
        except GranaryError as exc:
            raise CommandError(f"Seeding the demo failed: {exc.detail}") from None
        for step in steps:
            self.stdout.write(f"  {step.slug}: {step.action}")
        failed = [s for s in steps if s.version is not None and s.version.status == Version.Status.FAILED]
        if failed:
            reasons = "; ".join(f"{s.slug}: {s.version.failure_reason}" for s in failed if s.version)
            raise CommandError(f"Demo versions failed to ingest: {reasons}")
        self.stdout.write(self.style.SUCCESS("Demo data is ready."))
