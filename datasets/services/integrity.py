"""Integrity of stored blobs: checking them (`manage.py fsck`), marking a damaged one so it is not
served, and restoring it from a good copy (an upload of the same bytes, or another store).

A blob is damaged when its bytes are missing or no longer hash to its sha256 (a flipped bit on a
disk, an operator's mistake in a bucket). The mark is set by fsck, by a download that sees the
wrong digest go by, or by ingest; it is cleared only by a restore that verified the new bytes, or
by an fsck that finds them whole again.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from django.db import transaction
from django.utils import timezone

from core.errors import BlobDamaged
from datasets import storage
from datasets.models import Blob

logger = logging.getLogger(__name__)

Damage = Literal["corrupt", "missing"]


@dataclass(frozen=True)
class BlobProblem:
    sha256: str
    problem: str  # "missing", "corrupt", or "unavailable" (the store did not answer)
    detail: str


def blobs_check(*, mark: bool = True) -> Iterator[BlobProblem | str]:
    """Re-hash every stored blob; yields each checked digest, and a problem for each bad one.

    With `mark`, a missing or corrupt blob is marked damaged (and no longer served), and a mark
    is cleared from a blob whose bytes are whole again (restored by hand, say).
    """
    for sha256 in Blob.objects.order_by("sha256").values_list("sha256", flat=True).iterator():
        problem = _check(sha256)
        if problem is None:
            if mark:
                _damage_clear(sha256)
            yield sha256
            continue
        if mark and problem.problem in ("missing", "corrupt"):
            blob_damage_record(sha256=sha256, damage=problem.problem, detail=problem.detail)  # type: ignore[arg-type]
        yield problem


def _check(sha256: str) -> BlobProblem | None:
    try:
        actual = storage.blob_sha256(sha256)
    except FileNotFoundError:
        return BlobProblem(sha256, "missing", f"{storage.blob_key(sha256)} does not exist")
    except storage.StorageUnavailable as exc:
        return BlobProblem(sha256, "unavailable", exc.detail)
    if actual != sha256:
        return BlobProblem(sha256, "corrupt", f"its bytes hash to {actual}")
    return None


def blob_damage_record(*, sha256: str, damage: Damage, detail: str) -> str:
    """Mark a blob damaged (the first finding is kept); returns the message a download gets."""
    Blob.objects.filter(sha256=sha256, damage="").update(
        damage=damage, damage_detail=detail[:500], damaged_at=timezone.now()
    )
    return _message(sha256, damage, detail)


def blob_served_check(*, blob: Blob) -> None:
    """Refuse to serve a blob marked damaged: a 503 that names the damage and the way out."""
    if blob.damage:
        raise BlobDamaged(_message(blob.sha256, blob.damage, blob.damage_detail), damage=blob.damage)


def _message(sha256: str, damage: str, detail: str) -> str:
    what = "missing from storage" if damage == "missing" else "corrupt"
    return (
        f"The stored bytes of sha256:{sha256} are {what} ({detail}), so they are not served. "
        "Uploading the same file again restores them, as does `manage.py fsck --repair` from another copy."
    )


def _damage_clear(sha256: str) -> None:
    Blob.objects.filter(sha256=sha256).exclude(damage="").update(damage="", damage_detail="", damaged_at=None)


def blob_restore(*, sha256: str, source: Path) -> bool:
    """Replace a damaged blob's bytes with the file `source`, if it holds exactly those bytes
    (re-hashed here); True if the blob was damaged and is now whole. The caller keeps `source`.

    Stored blobs are never overwritten otherwise: only a marked blob is, under a lock on its row,
    so two restores (or a restore and fsck) cannot interleave their delete and their put.
    """
    if not Blob.objects.filter(sha256=sha256).exclude(damage="").exists():
        return False  # the common case, one query: the blob is whole (or new)
    if storage.file_sha256(source) != sha256:
        return False
    with transaction.atomic():
        blob = Blob.objects.select_for_update().filter(sha256=sha256).first()
        if blob is None or not blob.damage:
            return False  # restored meanwhile
        storage.blob_discard(sha256)
        storage.blob_put(source=source, sha256=sha256)
        _damage_clear(sha256)
    logger.warning("Blob sha256:%s (%s: %s) restored", sha256, blob.damage, blob.damage_detail)
    return True


@dataclass(frozen=True)
class Repair:
    sha256: str
    restored: bool
    detail: str


def blobs_repair(*, source_url: str) -> Iterator[Repair]:
    """Restore every blob marked damaged from another store (`file:///…` or `s3://…`, a backup or
    a replica) that holds good bytes under the same key; each copy is verified before it is used."""
    other = storage.backend_at(source_url)
    damaged = Blob.objects.exclude(damage="").order_by("sha256").values_list("sha256", flat=True)
    for sha256 in list(damaged):
        key = storage.blob_key(sha256)
        try:
            with _fetched(other, key) as (path, actual):
                if actual != sha256:
                    yield Repair(sha256, False, f"the copy in {source_url} hashes to {actual}")
                    continue
                restored = blob_restore(sha256=sha256, source=path)
        except FileNotFoundError:
            yield Repair(sha256, False, f"{source_url} has no {key} either")
            continue
        except storage.StorageUnavailable as exc:
            yield Repair(sha256, False, exc.detail)
            continue
        yield Repair(sha256, restored, f"restored from {source_url}" if restored else "restored meanwhile")


@contextlib.contextmanager
def _fetched(other: storage.Storage, key: str) -> Iterator[tuple[Path, str]]:
    """The object at `key` of another store, copied to a working file while hashing it."""
    digest = hashlib.sha256()
    with tempfile.NamedTemporaryFile(dir=storage.tmp_dir(), prefix="repair-") as out:
        with other.open(key) as handle:
            while chunk := handle.read(storage.CHUNK):
                digest.update(chunk)
                out.write(chunk)
        out.flush()
        yield Path(out.name), digest.hexdigest()
