"""`manage.py fsck`: re-hash every stored blob, mark the damaged ones so they are not served, and
with `--repair --from <store URL>` restore them from a good copy; exit status 1 if any is left
missing or corrupt. It also lists orphans (objects under blobs/ that no blob row names), which
`--delete-orphans` removes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from datasets.services.integrity import ORPHAN_GRACE, BlobProblem, blob_orphans, blobs_check, blobs_repair


class Command(BaseCommand):
    help = (
        "Re-hash every stored blob (on the configured store), report and mark any that is missing "
        "or differs from its sha256; --repair --from URL restores them from another store."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--no-mark", action="store_true", help="only report: leave damaged blobs served as they are"
        )
        parser.add_argument(
            "--repair", action="store_true", help="restore damaged blobs from the store given with --from"
        )
        parser.add_argument(
            "--from",
            dest="source",
            metavar="URL",
            default="",
            help="a store holding good copies: file:///path/to/data or s3://bucket/prefix",
        )
        parser.add_argument(
            "--delete-orphans",
            action="store_true",
            help="delete objects under blobs/ that no blob row names (an upload rolled back after its put)",
        )
        parser.add_argument(
            "--orphan-minutes",
            type=int,
            default=int(ORPHAN_GRACE.total_seconds() // 60),
            metavar="N",
            help="only objects older than this are orphans; younger ones may be uploads in flight (default 60)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["repair"] and not options["source"]:
            raise CommandError(
                "--repair needs --from URL (a backup or replica store). Without one, uploading the "
                "same file again restores a damaged blob."
            )
        checked = problems = 0
        for result in blobs_check(mark=not options["no_mark"]):
            checked += 1
            if isinstance(result, BlobProblem):
                problems += 1
                self.stderr.write(f"{result.problem.upper()} sha256:{result.sha256}: {result.detail}")
        self.stdout.write(f"{checked} blobs checked, {problems} problems.")
        self._orphans(delete=options["delete_orphans"], minutes=max(0, options["orphan_minutes"]))
        if problems and options["repair"]:
            restored = 0
            for repair in blobs_repair(source_url=options["source"]):
                restored += repair.restored
                word = "RESTORED" if repair.restored else "NOT RESTORED"
                self.stdout.write(f"{word} sha256:{repair.sha256}: {repair.detail}")
            self.stdout.write(f"{restored} of {problems} restored.")
            problems -= restored
        if problems:
            raise CommandError(f"{problems} of {checked} blobs are missing or corrupt.", returncode=1)

    def _orphans(self, *, delete: bool, minutes: int) -> None:
        count = size = 0
        for orphan in blob_orphans(delete=delete, grace=timedelta(minutes=minutes)):
            count += 1
            size += orphan.size
            word = "DELETED ORPHAN" if orphan.deleted else "ORPHAN"
            self.stdout.write(
                f"{word} {orphan.key}: {orphan.size:,} bytes written {orphan.modified:%Y-%m-%d %H:%M} UTC, "
                "no blob row names it"
            )
        if count:
            action = "deleted" if delete else "left (--delete-orphans removes them)"
            self.stdout.write(f"{count} orphans, {size:,} bytes, {action}.")
