"""Content-addressed, immutable blob storage: the only code that opens a blob.

A blob is stored once under its sha256, at the key `blobs/sha256/<aa>/<bb>/<digest>`, written
once and never overwritten. Everything else reads blobs through the functions here, so a second
backend (object storage) is one class that keeps the `Storage` protocol.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from core.errors import GranaryError
from datasets.storage.filesystem import FilesystemStorage

CHUNK = 1024 * 1024


class StorageUnavailable(GranaryError):
    """The blob store did not answer, or answered with an error of its own (unreachable, 5xx,
    throttled, refused): nothing the request can fix, so try again later."""

    status = 503
    code = "storage_unavailable"


@dataclass(frozen=True)
class Entry:
    key: str
    size: int
    modified: datetime  # aware, UTC


class Storage(Protocol):
    def put(self, *, source: Path, key: str) -> bool:
        """Store the finished file `source` at `key` unless something is there; True if it was new."""

    def open(self, key: str) -> BinaryIO:
        """The bytes at `key`, to read (FileNotFoundError if there are none)."""

    def discard(self, key: str) -> None:
        """Remove what is at `key`, if anything."""

    def exists(self, key: str) -> bool: ...

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Every stored key that starts with `prefix`, in key order (for fsck and storage_migrate)."""

    def entries(self, prefix: str = "") -> Iterator[Entry]:
        """As `keys`, with each object's size and when it was written (fsck's orphan check)."""

    def local_path(self, key: str) -> Path | None:
        """The local file with the bytes at `key` on the filesystem backend (for X-Sendfile); None
        on object storage, where nothing is local."""

    def source(self, key: str) -> Source:
        """The bytes at `key` for readers that seek (Parquet footers) or stream (CSV): ranged reads
        on object storage, never a full local copy (FileNotFoundError if there are none)."""

    def presigned_url(self, key: str, *, seconds: int, filename: str | None = None) -> str | None:
        """A short-lived URL a client can GET (with Range) straight from storage; None where the
        backend has no such thing (the filesystem), so the app streams the bytes itself."""


class Source(Protocol):
    """One stored object, opened for reading as often as a reader needs."""

    @property
    def name(self) -> str:
        """The key, for messages."""

    @property
    def size(self) -> int: ...

    def open(self) -> BinaryIO:
        """A seekable binary file over the object (each call a new, independent handle): for
        readers that jump (a footer, a head); on object storage each read is a ranged GET."""

    def stream(self, offset: int = 0) -> BinaryIO:
        """The bytes from `offset` to the end, for one sequential pass (hashing, a parser): on
        object storage one streamed GET, however large the object, not one GET per part."""

    def arrow(self) -> tuple[Any, str]:
        """(pyarrow.fs.FileSystem, path) for pyarrow's own readers (ParquetFile, datasets); what
        they raise goes through `unavailable` first."""

    def unavailable(self, exc: BaseException) -> StorageUnavailable | None:
        """The store's own failure behind an error a reader of `arrow()` raised (pyarrow reports
        S3's as OSError, as it does a damaged file), or None if the error is the bytes' fault."""


def backend() -> Storage:
    """The configured store (GRANARY_STORAGE_URL; empty: the filesystem under GRANARY_DATA_DIR)."""
    return backend_at(settings.GRANARY_STORAGE_URL)


def backend_at(url: str) -> Storage:
    """The store a URL names: `file:///abs/path`, `s3://bucket/prefix`, or empty for the default."""
    if not url:
        return FilesystemStorage(data_dir())
    parts = urlsplit(url)
    if parts.scheme == "file" and parts.netloc in ("", "localhost") and parts.path.startswith("/"):
        return FilesystemStorage(Path(unquote(parts.path)))
    if parts.scheme == "s3" and parts.netloc and not (parts.query or parts.fragment):
        # boto3 (and its endpoint, credentials, retries) loads with the first S3 access only.
        from datasets.storage.s3 import s3_storage

        return s3_storage(
            bucket=parts.netloc,
            prefix=unquote(parts.path),
            endpoint_url=settings.GRANARY_S3_ENDPOINT_URL,
            addressing_style=settings.GRANARY_S3_ADDRESSING_STYLE,
            multipart_bytes=settings.GRANARY_S3_MULTIPART_BYTES,
        )
    raise ImproperlyConfigured(
        f"GRANARY_STORAGE_URL={url!r} is not a storage URL: use file:///absolute/path or s3://bucket/prefix."
    )


def backend_prepare() -> None:
    """Load what the configured store's first read would (boto3 and S3's client model), for a
    worker's parent before it forks: its children then start reading at once, in every task
    including the first. Nothing for the filesystem."""
    parts = urlsplit(settings.GRANARY_STORAGE_URL)
    if parts.scheme == "s3":
        from datasets.storage.s3 import s3_prepare

        s3_prepare(
            endpoint_url=settings.GRANARY_S3_ENDPOINT_URL,
            addressing_style=settings.GRANARY_S3_ADDRESSING_STYLE,
        )


def data_dir() -> Path:
    return Path(settings.GRANARY_DATA_DIR)


def tmp_dir() -> Path:
    """Where uploads and working files are written: beside the blobs, so publishing is a link."""
    path = data_dir() / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return path


def blob_key(sha256: str) -> str:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
    return f"blobs/sha256/{sha256[:2]}/{sha256[2:4]}/{sha256}"


def blob_put(*, source: Path, sha256: str) -> bool:
    """Publish `source` (a finished temporary file) as blob `sha256`; True if it was new."""
    return backend().put(source=source, key=blob_key(sha256))


def blob_open(sha256: str) -> BinaryIO:
    return backend().open(blob_key(sha256))


def blob_source(sha256: str) -> Source:
    """The blob for readers (ingest, validation, export), wherever it is stored."""
    return backend().source(blob_key(sha256))


def blob_discard(sha256: str) -> None:
    """Remove a blob that no version ever pointed at (an upload whose transaction failed)."""
    backend().discard(blob_key(sha256))


def blob_sha256(sha256: str) -> str:
    """Re-hash a stored blob (raises FileNotFoundError if it is gone)."""
    digest = hashlib.sha256()
    with blob_open(sha256) as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def blob_path(sha256: str) -> Path:
    """The blob's file on the filesystem backend: for a front server that sends files from disk
    itself (X-Sendfile), and for tests that look at the disk."""
    return data_dir() / blob_key(sha256)
