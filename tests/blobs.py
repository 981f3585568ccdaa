"""What is stored, seen through the storage API, so a test reads the same on the filesystem and on S3.

CI runs the suite twice, the second time with GRANARY_TEST_STORAGE=s3 (tests/conftest.py's
`data_dir`); a test that must look at the disk itself (X-Sendfile, hard links) uses `skip_on_s3`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from datasets import storage

ON_S3 = os.environ.get("GRANARY_TEST_STORAGE") == "s3"
skip_on_s3 = pytest.mark.skipif(ON_S3, reason="looks at blob files on the local disk")


def stored_keys(prefix: str = "blobs/") -> list[str]:
    """Every blob key the configured backend holds (working files in `tmp/` are not blobs)."""
    return list(storage.backend().keys(prefix))


def stored_digests() -> list[str]:
    return [key.rsplit("/", 1)[1] for key in stored_keys()]


def blob_bytes(sha256: str) -> bytes:
    with storage.blob_open(sha256) as handle:
        return handle.read()


def blob_tamper(sha256: str, data: bytes) -> None:
    """Replace a stored blob's bytes behind Granary's back (a flipped bit on a disk, an operator's
    mistake in a bucket): the one write storage itself never does."""
    backend = storage.backend()
    key = storage.blob_key(sha256)
    path = backend.local_path(key)
    if path is not None:
        path.chmod(0o644)
        path.write_bytes(data)
        return
    backend.client.put_object(Bucket=backend.bucket, Key=backend.full_key(key), Body=data)


def blob_remove(sha256: str) -> None:
    storage.blob_discard(sha256)


def working_files(data_dir: Path) -> list[Path]:
    """Files in the data directory that are not blobs: temporary uploads, working directories."""
    return sorted(
        p for p in data_dir.rglob("*") if p.is_file() and p.relative_to(data_dir).parts[0] != "blobs"
    )


def parquet_file(sha256: str) -> Any:
    """pyarrow's ParquetFile over a stored blob, read in place on either backend."""
    import pyarrow.parquet as pq

    filesystem, path = storage.blob_source(sha256).arrow()
    return pq.ParquetFile(path, filesystem=filesystem)
