"""Content-addressed storage and `manage.py fsck`."""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from datasets import storage
from tests.blobs import blob_bytes, blob_remove, blob_tamper, stored_digests
from tests.conftest import CSV, sha256_of

pytestmark = pytest.mark.django_db


def test_blob_path_is_sharded_by_digest(data_dir):
    digest = sha256_of(b"x")
    assert storage.blob_path(digest) == data_dir / "blobs" / "sha256" / digest[:2] / digest[2:4] / digest


@pytest.mark.parametrize("bad", ["../../etc/passwd", "ABC", "g" * 64, ""])
def test_blob_path_refuses_anything_but_a_digest(bad):
    with pytest.raises(ValueError):
        storage.blob_path(bad)


def test_publishing_the_same_bytes_twice_keeps_one_intact_copy(data_dir):
    digest = sha256_of(CSV)
    for _ in range(2):
        source = storage.tmp_dir() / f"t-{os.urandom(4).hex()}"
        source.write_bytes(CSV)
        storage.blob_put(source=source, sha256=digest)
        source.unlink()
    assert blob_bytes(digest) == CSV
    assert stored_digests() == [digest]


def test_fsck_passes_on_intact_blobs(public_dataset, publish):
    publish(public_dataset)
    out = io.StringIO()
    call_command("fsck", stdout=out)
    assert "2 blobs checked, 0 problems." in out.getvalue()  # the upload and its Parquet copy


def test_fsck_reports_a_corrupt_and_a_missing_blob_and_fails(public_dataset, internal_dataset, publish):
    corrupt = publish(public_dataset)
    missing = publish(internal_dataset, data=b"a\n1\n")
    blob_tamper(corrupt.sha256, b"tampered\n")
    blob_remove(missing.sha256)

    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("fsck", stdout=out, stderr=err)
    assert failure.value.returncode == 1
    assert (
        f"CORRUPT sha256:{corrupt.sha256}: its bytes hash to {sha256_of(b'tampered' + bytes([10]))}"
        in err.getvalue()
    )
    assert f"MISSING sha256:{missing.sha256}" in err.getvalue()
    assert "4 blobs checked, 2 problems." in out.getvalue()


def test_a_filesystem_root_on_another_disk_than_the_uploads_still_gets_whole_blobs(settings, tmp_path):
    other_disk = Path("/dev/shm")
    if not other_disk.is_dir() or other_disk.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs a second filesystem (/dev/shm) to publish across")
    root = Path(tempfile.mkdtemp(prefix="granary-test-blobs-", dir=other_disk))
    try:
        settings.GRANARY_STORAGE_URL = f"file://{root}"
        digest = sha256_of(CSV)
        for expected in (True, False):
            source = storage.tmp_dir() / f"t-{os.urandom(4).hex()}"
            source.write_bytes(CSV)
            assert storage.blob_put(source=source, sha256=digest) is expected
            source.unlink()
        assert (root / storage.blob_key(digest)).read_bytes() == CSV
        assert [p.name for p in root.rglob("*") if p.is_file()] == [digest], "no temporary copy left"
    finally:
        shutil.rmtree(root)
