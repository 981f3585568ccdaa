"""`manage.py storage_migrate`: copy every blob the catalog knows to another backend, verified;
exit status 1 if any could not be copied intact."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from datasets.services.integrity import blobs_stored
from datasets.storage import backend_at
from datasets.storage.migrate import PROBLEMS, Outcome, blobs_copy


class Command(BaseCommand):
    help = (
        "Copy every blob from one storage backend to another, verifying each sha256. Safe to stop "
        "and run again: blobs already at the target are skipped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--from",
            dest="source",
            metavar="URL",
            help="file:///path or s3://bucket/prefix (default: the filesystem under GRANARY_DATA_DIR)",
        )
        parser.add_argument(
            "--to", dest="target", metavar="URL", help="the same forms (default: GRANARY_STORAGE_URL)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        source_url = options["source"] or f"file://{settings.GRANARY_DATA_DIR}"
        target_url = (
            options["target"] or settings.GRANARY_STORAGE_URL or f"file://{settings.GRANARY_DATA_DIR}"
        )
        if source_url.rstrip("/") == target_url.rstrip("/"):
            raise CommandError(
                f"--from and --to are the same storage ({source_url}): name another with --to."
            )
        source, target = backend_at(source_url), backend_at(target_url)
        # Not the digests only unverified or refused direct uploads claim: they have no bytes.
        blobs = blobs_stored().order_by("sha256").values_list("sha256", "size")
        total = blobs.count()
        self.stdout.write(f"Copying {total} blobs from {source_url} to {target_url}.")
        done = 0

        def report(sha256: str, outcome: Outcome, detail: str) -> None:
            nonlocal done
            done += 1
            if outcome in PROBLEMS:
                self.stderr.write(f"{outcome.upper()} sha256:{sha256}: {detail}")
            elif outcome == "copied" or options["verbosity"] > 1:
                self.stdout.write(f"[{done}/{total}] {outcome} sha256:{sha256}")

        result = blobs_copy(source=source, target=target, blobs=blobs.iterator(), report=report)
        counts = result.counts
        self.stdout.write(
            f"{total} blobs: {counts['copied']} copied ({result.bytes_copied} bytes), "
            f"{counts['present']} already there, {result.problems} problems."
        )
        if result.problems:
            raise CommandError(
                f"{result.problems} of {total} blobs were not copied (missing or corrupt at the source, "
                "or a copy that did not verify): the target lacks them.",
                returncode=1,
            )
