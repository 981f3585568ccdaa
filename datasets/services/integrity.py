"""Integrity checks over stored blobs (what `manage.py fsck` reports)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from datasets import storage
from datasets.models import Blob


@dataclass(frozen=True)
class BlobProblem:
    sha256: str
    problem: str  # "missing" or "corrupt"
    detail: str


def blobs_check() -> Iterator[BlobProblem | str]:
    """Re-hash every stored blob; yields each checked digest, and a problem for each bad one."""
    for sha256 in Blob.objects.order_by("sha256").values_list("sha256", flat=True).iterator():
        try:
            actual = storage.blob_sha256(sha256)
        except FileNotFoundError:
            yield BlobProblem(sha256, "missing", f"{storage.blob_key(sha256)} does not exist")
            continue
        if actual != sha256:
            yield BlobProblem(sha256, "corrupt", f"its bytes hash to {actual}")
            continue
        yield sha256
