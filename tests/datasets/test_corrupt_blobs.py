"""A damaged blob (one flipped byte, or gone) is never served as if it were good: a streamed
download verifies as it goes and aborts, fsck marks it, a marked blob is a 503, and an upload of
the same bytes (or `fsck --repair --from` a good store) restores it. Both backends (CI's S3 leg)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from core.errors import BlobDamaged
from datasets import storage
from datasets.models import Blob, Version
from datasets.services.versions import version_ingest
from tests.blobs import blob_bytes, blob_remove, blob_tamper, stored_keys
from tests.conftest import CSV, sha256_of, upload

pytestmark = pytest.mark.django_db

DIGEST = sha256_of(CSV)
FLIPPED = CSV[:5] + bytes([CSV[5] ^ 0x01]) + CSV[6:]
BIG = b"".join(b"%08d,reading,%d\n" % (i, i * 7) for i in range(200_000))  # about 3.4 MB: 4 chunks
DOWNLOAD = "/api/v1/datasets/churn/versions/1/download/"


@pytest.fixture(autouse=True)
def streamed(settings):
    """The app streams (as it always does from the filesystem): what it sends is what it checks."""
    settings.GRANARY_DOWNLOAD_MODE = "stream"


def fsck(*args: str) -> tuple[int, str, str]:
    from io import StringIO

    out, err = StringIO(), StringIO()
    try:
        call_command("fsck", *args, stdout=out, stderr=err)
        code = 0
    except CommandError as exc:
        code = exc.returncode
        err.write(str(exc))
    return code, out.getvalue(), err.getvalue()


def test_a_download_of_flipped_bytes_aborts_and_marks_the_blob(api, member, public_dataset, publish):
    publish(public_dataset)
    blob_tamper(DIGEST, FLIPPED)

    response = api(member).get(DOWNLOAD)
    assert response.status_code == 200  # the headers went out before any byte was read
    sent = []
    with pytest.raises(BlobDamaged):  # the server drops the connection: no clean end of body
        for chunk in response.streaming_content:
            sent.append(chunk)
    assert b"".join(sent) != FLIPPED  # the bad bytes never went out whole
    blob = Blob.objects.get(sha256=DIGEST)
    assert blob.damage == "corrupt" and blob.damaged_at is not None

    again = api(member).get(DOWNLOAD)
    assert again.status_code == 503
    assert again.json()["code"] == "blob_corrupt"
    assert f"sha256:{DIGEST}" in again.json()["detail"]


def test_a_big_corrupt_file_stops_short_of_its_length(api, member, public_dataset, publish):
    publish(public_dataset, data=BIG)
    digest = sha256_of(BIG)
    blob_tamper(digest, BIG[:-10] + b"X" * 10)  # the damage is in the last chunk

    response = api(member).get(DOWNLOAD)
    sent = []
    with pytest.raises(BlobDamaged):
        for chunk in response.streaming_content:
            sent.append(chunk)
    assert 0 < len(b"".join(sent)) < int(response["Content-Length"])  # the client sees a short body


def test_fsck_reports_and_marks_a_corrupt_blob_and_downloads_refuse_it(api, member, public_dataset, publish):
    publish(public_dataset)
    blob_tamper(DIGEST, FLIPPED)

    code, out, err = fsck()
    assert code == 1
    assert f"CORRUPT sha256:{DIGEST}: its bytes hash to {sha256_of(FLIPPED)}" in err
    assert "1 problems" in out

    response = api(member).get(DOWNLOAD)
    assert response.status_code == 503
    assert response.json()["code"] == "blob_corrupt"
    # A resume is refused as well: no part of a damaged blob is served.
    assert api(member).get(DOWNLOAD, HTTP_RANGE="bytes=2-").status_code == 503


def test_a_marked_blob_is_refused_even_where_downloads_redirect_to_storage(
    api, member, public_dataset, publish, settings
):
    settings.GRANARY_DOWNLOAD_MODE = "redirect"
    publish(public_dataset)
    blob_tamper(DIGEST, FLIPPED)
    fsck()
    response = api(member).get(DOWNLOAD)
    assert response.status_code == 503
    assert "Location" not in response


def test_fsck_marks_a_missing_blob(api, member, public_dataset, publish):
    publish(public_dataset)
    blob_remove(DIGEST)

    code, _, err = fsck()
    assert code == 1
    assert f"MISSING sha256:{DIGEST}" in err
    response = api(member).get(DOWNLOAD)
    assert response.status_code == 503
    assert response.json()["code"] == "blob_missing"


def test_a_missing_blob_found_by_a_download_is_a_503_not_a_500(api, member, public_dataset, publish):
    publish(public_dataset)
    blob_remove(DIGEST)
    response = api(member).get(DOWNLOAD)
    assert response.status_code == 503
    assert response.json()["code"] == "blob_missing"
    assert Blob.objects.get(sha256=DIGEST).damage == "missing"


def test_uploading_the_same_bytes_to_the_same_dataset_restores_the_blob(
    api, member, maintainer, public_dataset, publish
):
    publish(public_dataset)
    blob_tamper(DIGEST, FLIPPED)
    fsck()

    response = api(maintainer).post(
        "/api/v1/datasets/churn/versions/", {"file": upload()}, format="multipart"
    )
    assert response.status_code == 409  # no new version: the bytes are version 1's
    assert "restored" in response.json()["detail"]

    assert blob_bytes(DIGEST) == CSV
    assert Blob.objects.get(sha256=DIGEST).damage == ""
    download = api(member).get(DOWNLOAD)
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == CSV
    assert fsck()[0] == 0


def test_uploading_the_same_bytes_to_another_dataset_restores_the_blob(
    api, member, maintainer, public_dataset, internal_dataset, publish
):
    publish(public_dataset)
    blob_remove(DIGEST)
    fsck()

    response = api(maintainer).post(
        "/api/v1/datasets/payroll/versions/", {"file": upload()}, format="multipart"
    )
    assert response.status_code == 202
    new = Version.objects.get(dataset=internal_dataset, number=1)
    version = version_ingest(version_id=new.pk)
    assert version is not None and version.status == Version.Status.READY
    download = api(member).get(DOWNLOAD)
    assert b"".join(download.streaming_content) == CSV


def test_an_upload_of_other_bytes_does_not_touch_a_damaged_blob(
    api, member, maintainer, public_dataset, publish
):
    publish(public_dataset)
    blob_tamper(DIGEST, FLIPPED)
    fsck()
    other = CSV + b"4,tim,0.1\n"
    response = api(maintainer).post(
        "/api/v1/datasets/churn/versions/", {"file": upload(data=other)}, format="multipart"
    )
    assert response.status_code == 202
    assert Blob.objects.get(sha256=DIGEST).damage == "corrupt"
    assert blob_bytes(DIGEST) == FLIPPED


def test_ingest_that_finds_the_stored_bytes_wrong_marks_the_blob(public_dataset, publish):
    version = publish(public_dataset, ingest=False)
    blob_tamper(DIGEST, FLIPPED)
    version = version_ingest(version_id=version.pk)
    assert version is not None and version.status == Version.Status.FAILED
    assert "corrupt" in version.failure_reason
    assert Blob.objects.get(sha256=DIGEST).damage == "corrupt"


def test_fsck_repair_restores_from_another_store(api, member, public_dataset, publish, tmp_path: Path):
    publish(public_dataset)
    backup = storage.backend_at(f"file://{tmp_path / 'backup'}")
    good = tmp_path / "good.csv"
    good.write_bytes(CSV)
    backup.put(source=good, key=storage.blob_key(DIGEST))
    blob_tamper(DIGEST, FLIPPED)

    code, out, _ = fsck("--repair", "--from", f"file://{tmp_path / 'backup'}")
    assert code == 0
    assert f"RESTORED sha256:{DIGEST}" in out
    assert blob_bytes(DIGEST) == CSV
    download = api(member).get(DOWNLOAD)
    assert b"".join(download.streaming_content) == CSV


def test_fsck_repair_refuses_a_copy_with_other_bytes(public_dataset, publish, tmp_path: Path):
    publish(public_dataset)
    backup = storage.backend_at(f"file://{tmp_path / 'backup'}")
    bad = tmp_path / "bad.csv"
    bad.write_bytes(FLIPPED)
    backup.put(source=bad, key=storage.blob_key(DIGEST))
    blob_tamper(DIGEST, FLIPPED)

    code, out, _ = fsck("--repair", "--from", f"file://{tmp_path / 'backup'}")
    assert code == 1
    assert f"NOT RESTORED sha256:{DIGEST}: the copy in" in out
    assert Blob.objects.get(sha256=DIGEST).damage == "corrupt"


def test_fsck_clears_the_mark_of_a_blob_restored_by_hand(public_dataset, publish):
    publish(public_dataset)
    blob_tamper(DIGEST, FLIPPED)
    fsck()
    blob_tamper(DIGEST, CSV)  # an operator copied the file back from a backup
    assert fsck()[0] == 0
    assert Blob.objects.get(sha256=DIGEST).damage == ""


def test_fsck_no_mark_only_reports(public_dataset, publish):
    publish(public_dataset)
    blob_tamper(DIGEST, FLIPPED)
    assert fsck("--no-mark")[0] == 1
    assert Blob.objects.get(sha256=DIGEST).damage == ""


def test_fsck_reports_orphan_objects_past_their_grace_and_deletes_them_when_asked(
    public_dataset, publish, tmp_path: Path
):
    publish(public_dataset)
    # Bytes stored by an upload whose version row was then rolled back (the database dropped
    # after the put, and the process with it): no Blob row names them.
    orphan = b"id\n42\n"
    path = tmp_path / "orphan.csv"
    path.write_bytes(orphan)
    storage.blob_put(source=path, sha256=sha256_of(orphan))
    key = storage.blob_key(sha256_of(orphan))
    kept = sorted(storage.blob_key(d) for d in Blob.objects.values_list("sha256", flat=True))

    code, out, _ = fsck()
    assert (code, "ORPHAN" in out) == (0, False), "younger than an hour: maybe an upload in flight"

    code, out, _ = fsck("--orphan-minutes", "0")
    assert code == 0, "orphans cost space, they are not damage"
    assert f"ORPHAN {key}: 6 bytes written" in out
    assert "1 orphans, 6 bytes, left (--delete-orphans removes them)." in out
    assert key in stored_keys()

    code, out, _ = fsck("--orphan-minutes", "0", "--delete-orphans")
    assert code == 0
    assert f"DELETED ORPHAN {key}" in out
    assert stored_keys() == kept, "only the orphan went"
    assert Blob.objects.count() == len(kept)
    assert "ORPHAN" not in fsck("--orphan-minutes", "0")[1]
