"""Copying blobs from one backend to another (`manage.py storage_migrate`), each digest verified.

Resumable and idempotent by construction: a blob is written to its target key only whole (a
link, a conditional PUT), so a key that exists holds a finished copy and is skipped, and a run
stopped half-way picks up where it stopped. Bytes that do not hash to their name are reported and
never copied: a migration must not spread a corruption to the new store.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal

from datasets.storage import CHUNK, Storage, blob_key, tmp_dir

Outcome = Literal["copied", "present", "missing", "corrupt", "bad_copy"]
PROBLEMS: frozenset[Outcome] = frozenset({"missing", "corrupt", "bad_copy"})


@dataclass
class CopyReport:
    counts: dict[Outcome, int] = field(
        default_factory=lambda: dict.fromkeys(PROBLEMS | {"copied", "present"}, 0)
    )
    bytes_copied: int = 0

    @property
    def problems(self) -> int:
        return sum(self.counts[outcome] for outcome in PROBLEMS)


def blobs_copy(
    *,
    source: Storage,
    target: Storage,
    blobs: Iterable[tuple[str, int]],
    report: Callable[[str, Outcome, str], None] = lambda sha256, outcome, detail: None,
) -> CopyReport:
    """Copy each `(sha256, size)` from `source` to `target` unless it is there, verifying the
    source bytes on the way and the target's copy after; `report` hears of every blob."""
    result = CopyReport()
    for sha256, size in blobs:
        outcome, detail = _copy_one(source, target, sha256)
        result.counts[outcome] += 1
        if outcome == "copied":
            result.bytes_copied += size
        report(sha256, outcome, detail)
    return result


def _copy_one(source: Storage, target: Storage, sha256: str) -> tuple[Outcome, str]:
    key = blob_key(sha256)
    if target.exists(key):
        return "present", ""
    local = source.local_path(key)
    try:
        if local is not None and target.local_path(key) is None:
            # From disk to object storage: hash the file where it is and upload it from there.
            actual = _sha256_of(local.open("rb"))
            if actual != sha256:
                return "corrupt", f"its bytes hash to {actual}"
            created = target.put(source=local, key=key)
        else:
            created, actual = _copy_through_temp(source, target, key)
            if actual != sha256:
                return "corrupt", f"its bytes hash to {actual}"
    except FileNotFoundError:
        return "missing", f"{key} is not in the source"
    if not created:
        return "present", "written by someone else meanwhile"
    copied = _sha256_of(target.open(key))
    if copied != sha256:
        target.discard(key)  # a bad copy would be skipped as present by the next run
        return "bad_copy", f"the target's copy hashes to {copied}; removed"
    return "copied", ""


def _copy_through_temp(source: Storage, target: Storage, key: str) -> tuple[bool, str]:
    """Stream the source into a temporary file while hashing it, and put that only if it verifies.
    The file is made beside a filesystem target (publishing there is a link, within one disk)."""
    target_tmp = target.local_path("tmp")
    directory = target_tmp if target_tmp is not None else tmp_dir()
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="migrate-", dir=directory)
    path = Path(name)
    try:
        digest = hashlib.sha256()
        with source.open(key) as reader, os.fdopen(fd, "wb") as writer:
            while chunk := reader.read(CHUNK):
                digest.update(chunk)
                writer.write(chunk)
        actual = digest.hexdigest()
        if actual != key.rsplit("/", 1)[1]:
            return False, actual
        return target.put(source=path, key=key), actual
    finally:
        path.unlink(missing_ok=True)


def _sha256_of(handle: BinaryIO) -> str:
    digest = hashlib.sha256()
    with handle as reader:
        while chunk := reader.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
