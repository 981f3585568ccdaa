"""Content-addressed, immutable blob storage on the local filesystem.

A blob lives at `<GRANARY_DATA_DIR>/blobs/sha256/<aa>/<bb>/<digest>`, read-only. Uploads are
written under `<GRANARY_DATA_DIR>/tmp/` first, on the same filesystem, so publishing one is an
atomic link that cannot expose a partial file.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings

CHUNK = 1024 * 1024


def data_dir() -> Path:
    return Path(settings.GRANARY_DATA_DIR)


def tmp_dir() -> Path:
    path = data_dir() / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return path


def blob_path(sha256: str) -> Path:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
    return data_dir() / "blobs" / "sha256" / sha256[:2] / sha256[2:4] / sha256


def blob_relative_path(sha256: str) -> str:
    return str(blob_path(sha256).relative_to(data_dir()))


def blob_put(*, source: Path, sha256: str) -> bool:
    """Publish `source` (a finished temporary file) as blob `sha256`; True if it was new.

    A hard link is atomic and, unlike a rename, fails when the target exists, so two uploads of
    the same bytes racing each other both end with one intact blob. The caller still owns
    `source` and deletes it.
    """
    target = blob_path(sha256)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(source, 0o444)
    try:
        os.link(source, target)
    except FileExistsError:
        return False
    _fsync_dir(target.parent)
    return True


def blob_discard(sha256: str) -> None:
    """Remove a blob that no version ever pointed at (an upload whose transaction failed)."""
    blob_path(sha256).unlink(missing_ok=True)


def blob_exists(sha256: str) -> bool:
    return blob_path(sha256).is_file()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def blob_sha256(sha256: str) -> str:
    """Re-hash a stored blob (raises FileNotFoundError if it is gone)."""
    return file_sha256(blob_path(sha256))


def blob_iter(sha256: str) -> Iterator[bytes]:
    with open(blob_path(sha256), "rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
