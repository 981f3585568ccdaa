"""`manage.py popularity_refresh`: recompute the datasets' checkout counts of the last 90 days."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from datasets.services.summary import datasets_popularity_refresh


class Command(BaseCommand):
    help = (
        "Recompute each dataset's checkouts in the last 90 days (and ever), as the daily Celery beat "
        "entry does: checkouts age out of the window with nothing else changing."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        changed = datasets_popularity_refresh()
        self.stdout.write(f"Datasets whose checkout counts changed: {changed}.")
