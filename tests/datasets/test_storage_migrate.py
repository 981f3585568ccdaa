"""`manage.py storage_migrate`: every blob of real versions moves from disk to S3 and back,
verified; a second run copies nothing; a corrupt source blob is reported and never copied."""

from __future__ import annotations

import hashlib
import io
import os

import pytest
from django.core.management import CommandError, call_command

from datasets import storage
from datasets.models import Blob
from tests.blobs import blob_tamper
from tests.conftest import sha256_of
from tests.services import S3_TEST_BUCKET

pytestmark = pytest.mark.django_db


@pytest.fixture
def on_disk(settings, s3_endpoint, public_dataset, internal_dataset, publish):
    """Three ingested versions (six blobs with their Parquet copies) on the filesystem backend."""
    settings.GRANARY_STORAGE_URL = ""  # in either CI leg: this test moves blobs off the disk itself
    settings.GRANARY_S3_ENDPOINT_URL = s3_endpoint
    versions = [
        publish(public_dataset),
        publish(public_dataset, data=b"id,name\n1,a\n2,b\n"),
        publish(internal_dataset, data=b'{"id": 1}\n{"id": 2}\n', filename="rows.jsonl"),
    ]
    assert all(v.status == v.Status.READY for v in versions)
    return versions


def migrate(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("storage_migrate", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def s3_url() -> str:
    return f"s3://{S3_TEST_BUCKET}/migrate-{os.urandom(6).hex()}"


def digests_at(url: str) -> dict[str, str]:
    """Each stored blob's name and what its bytes actually hash to, read back from `url`."""
    target = storage.backend_at(url)
    found = {}
    for key in target.keys("blobs/"):
        with target.open(key) as handle:
            found[key.rsplit("/", 1)[1]] = hashlib.sha256(handle.read()).hexdigest()
    return found


def test_blobs_move_to_s3_and_back_each_verified_and_a_second_run_copies_nothing(on_disk, settings, tmp_path):
    known = set(Blob.objects.values_list("sha256", flat=True))
    assert len(known) == 6
    url = s3_url()
    settings.GRANARY_STORAGE_URL = url  # the default --to; --from defaults to the data directory

    out, err = migrate()
    assert err == ""
    assert "6 blobs: 6 copied" in out and "0 already there, 0 problems." in out
    assert digests_at(url) == {sha256: sha256 for sha256 in known}
    for version in on_disk:  # the versions read from their new home
        assert storage.blob_sha256(version.sha256) == version.sha256

    out, _ = migrate()
    assert "6 blobs: 0 copied (0 bytes), 6 already there, 0 problems." in out

    back = f"file://{tmp_path}/restored"
    out, err = migrate("--from", url, "--to", back)
    assert "6 copied" in out and err == ""
    assert digests_at(back) == {sha256: sha256 for sha256 in known}


def test_a_corrupt_source_blob_is_reported_and_not_copied_and_the_rest_are(on_disk, settings):
    bad = on_disk[0]
    blob_tamper(bad.sha256, b"tampered\n")
    url = s3_url()

    with pytest.raises(CommandError) as failure:
        migrate("--to", url)
    assert failure.value.returncode == 1
    assert "1 of 6 blobs were not copied" in str(failure.value)
    copied = digests_at(url)
    assert bad.sha256 not in copied
    assert len(copied) == 5 and all(name == actual for name, actual in copied.items())


def test_the_corrupt_blob_is_named_with_what_its_bytes_hash_to(on_disk):
    bad = on_disk[1]
    blob_tamper(bad.sha256, b"x\n")
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("storage_migrate", "--to", s3_url(), stdout=io.StringIO(), stderr=err)
    assert f"CORRUPT sha256:{bad.sha256}: its bytes hash to {sha256_of(b'x' + bytes([10]))}" in err.getvalue()


def test_a_missing_source_blob_is_reported(on_disk):
    storage.blob_discard(on_disk[2].sha256)
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("storage_migrate", "--to", s3_url(), stdout=io.StringIO(), stderr=err)
    assert f"MISSING sha256:{on_disk[2].sha256}" in err.getvalue()


def test_the_same_storage_on_both_sides_is_refused(settings, data_dir):
    settings.GRANARY_STORAGE_URL = ""
    with pytest.raises(CommandError, match="the same storage"):
        migrate()
