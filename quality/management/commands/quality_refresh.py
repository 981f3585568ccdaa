"""`manage.py quality_refresh`: record every version's standing against its suite again."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from quality.services import datasets_quality_refresh


class Command(BaseCommand):
    help = (
        "Recompute each version's quality status (and so `@certified`) from its validation runs: "
        "after an upgrade during which older workers finished runs, or to check nothing drifted."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        changed = datasets_quality_refresh()
        self.stdout.write(f"Refreshed {changed} datasets.")
