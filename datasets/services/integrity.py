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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from core.errors import BlobDamaged
from datasets import storage
from datasets.models import Blob, DirectUpload, Version

logger = logging.getLogger(__name__)

Damage = Literal["corrupt", "missing"]


@dataclass(frozen=True)
class BlobProblem:
    sha256: str
    problem: str  # "missing", "corrupt", or "unavailable" (the store did not answer)
    detail: str


def blobs_stored() -> QuerySet[Blob]:
    """The blobs whose bytes are meant to be in storage: every one but those only direct uploads
    point at whose bytes are not verified yet (still at their staging key, ingest to come) or
    were refused (rejected: a digest that did not match, a file ingest could not read).

    Those rows are the versions' claims of a digest, which a failed version keeps for its
    history; no bytes are stored under them until a verified copy is (staging_accept, or any
    upload of those bytes), so they are neither missing nor to be copied (fsck, storage_migrate).
    """
    claims = DirectUpload.objects.filter(
        Q(state=DirectUpload.State.COMPLETED, version__isnull=False) & ~Q(staging_key="")
        | Q(state=DirectUpload.State.REJECTED, version__isnull=False)
    ).values("version_id")
    pointing = Version.objects.filter(blob_id=OuterRef("sha256"))
    return Blob.objects.exclude(
        Exists(pointing.filter(pk__in=claims))
        & ~Exists(pointing.exclude(pk__in=claims))
        & ~Exists(Version.objects.filter(parquet_blob_id=OuterRef("sha256")))
    )


def blobs_check(*, mark: bool = True) -> Iterator[BlobProblem | str]:
    """Re-hash every stored blob; yields each checked digest, and a problem for each bad one.

    With `mark`, a missing or corrupt blob is marked damaged (and no longer served), and a mark
    is cleared from a blob whose bytes are whole again (restored by hand, say).
    """
    for sha256 in blobs_stored().order_by("sha256").values_list("sha256", flat=True).iterator():
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
    (re-hashed here); True if the blob was damaged and is now whole. The caller keeps `source`."""
    if not _is_damaged(sha256):
        return False  # the common case, one query: the blob is whole (or new)
    if storage.file_sha256(source) != sha256:
        return False
    return blob_restore_verified(sha256=sha256, put=lambda: storage.blob_put(source=source, sha256=sha256))


def blob_restore_verified(*, sha256: str, put: Callable[[], object]) -> bool:
    """Replace a damaged blob's bytes by calling `put`, which stores bytes the caller has just
    hashed to `sha256` (a direct upload's staged object, once ingest verified it); True if the
    blob was damaged and is now whole.

    Stored blobs are never overwritten otherwise: only a marked blob is, under a lock on its row,
    so two restores (or a restore and fsck) cannot interleave their delete and their put.
    """
    if not _is_damaged(sha256):
        return False
    with transaction.atomic():
        blob = Blob.objects.select_for_update().filter(sha256=sha256).first()
        if blob is None or not blob.damage:
            return False  # restored meanwhile
        storage.blob_discard(sha256)
        put()
        _damage_clear(sha256)
    logger.warning("Blob sha256:%s (%s: %s) restored", sha256, blob.damage, blob.damage_detail)
    return True


def _is_damaged(sha256: str) -> bool:
    return Blob.objects.filter(sha256=sha256).exclude(damage="").exists()


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


# An object under blobs/ is an orphan only once it is this old: a blob is put before the
# transaction that makes its row commits, so a younger one may be an upload in flight.
ORPHAN_GRACE = timedelta(hours=1)


@dataclass(frozen=True)
class Orphan:
    key: str
    size: int
    modified: datetime
    deleted: bool


def blob_orphans(*, delete: bool = False, grace: timedelta = ORPHAN_GRACE) -> Iterator[Orphan]:
    """Objects under blobs/ that no Blob row names, written more than `grace` ago: bytes stored
    by an upload whose transaction then failed (the database dropped after the put). With
    `delete`, each is removed, unless its digest gets a row meanwhile."""
    cutoff = timezone.now() - grace
    pending: list[storage.Entry] = []
    for entry in storage.backend().entries("blobs/sha256/"):
        if entry.modified <= cutoff and _digest_of(entry.key):
            pending.append(entry)
        if len(pending) >= 500:
            yield from _orphans_among(pending, delete=delete)
            pending = []
    yield from _orphans_among(pending, delete=delete)


def _digest_of(key: str) -> str | None:
    digest = key.rsplit("/", 1)[-1]
    try:
        return digest if storage.blob_key(digest) == key else None
    except ValueError:
        return None  # not a blob's key (a copy left half-way by a crash has another name)


def _orphans_among(entries: list[storage.Entry], *, delete: bool) -> Iterator[Orphan]:
    digests = {entry.key.rsplit("/", 1)[-1] for entry in entries}
    known = set(Blob.objects.filter(sha256__in=digests).values_list("sha256", flat=True))
    for entry in entries:
        sha256 = entry.key.rsplit("/", 1)[-1]
        if sha256 in known:
            continue
        yield Orphan(entry.key, entry.size, entry.modified, delete and _orphan_delete(sha256, entry.size))


def _orphan_delete(sha256: str, size: int) -> bool:
    """Delete an orphan's object while holding its digest: an uncommitted row of our own, which a
    concurrent upload of the same bytes waits on (its row's insert) and then finds the object
    gone and stores it again; one whose row came first makes ours fail, and nothing is deleted."""
    try:
        with transaction.atomic():
            Blob.objects.create(sha256=sha256, size=max(size, 1))
            storage.blob_discard(sha256)
            transaction.set_rollback(True)
    except IntegrityError:
        return False  # a row appeared: the bytes are a blob after all
    return True
