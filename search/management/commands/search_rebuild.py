"""`manage.py search_rebuild`: re-index every dataset (after a restore, an upgrade, or to be sure)."""

from __future__ import annotations

import sys
import time
from typing import Any

from django.core.management.base import BaseCommand

from search.indexer import search_rebuild


class Command(BaseCommand):
    help = "Rebuild the search index from the catalog, with a progress bar. Search keeps answering meanwhile."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--jobs",
            type=int,
            default=None,
            help="processes that tokenize the catalog beside the one that reads and writes it "
            "(default: one per core, up to 4, for a catalog of more than 2,000 datasets; 0: none)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        interactive = sys.stdout.isatty()

        def progress(done: int, total: int) -> None:
            width = 30
            filled = width * done // max(total, 1)
            line = f"[{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,} datasets"
            if interactive:
                self.stdout.write("\r" + line, ending="")
                self.stdout.flush()
            elif done == total or done % 10_000 < 500:
                self.stdout.write(line)

        count = search_rebuild(progress=progress, jobs=options["jobs"])
        if interactive:
            self.stdout.write("")
        self.stdout.write(
            self.style.SUCCESS(f"Indexed {count:,} datasets in {time.monotonic() - started:.1f} s.")
        )
