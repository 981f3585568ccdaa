"""`manage.py fsck`: re-hash every stored blob; exit status 1 if any is missing or corrupt."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from datasets.services.integrity import BlobProblem, blobs_check


class Command(BaseCommand):
    help = "Re-hash every stored blob and report any that is missing or differs from its sha256."

    def handle(self, *args: Any, **options: Any) -> None:
        checked = problems = 0
        for result in blobs_check():
            checked += 1
            if isinstance(result, BlobProblem):
                problems += 1
                self.stderr.write(f"{result.problem.upper()} sha256:{result.sha256}: {result.detail}")
        self.stdout.write(f"{checked} blobs checked, {problems} problems.")
        if problems:
            raise CommandError(f"{problems} of {checked} blobs are missing or corrupt.", returncode=1)
