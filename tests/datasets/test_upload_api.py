"""Uploading versions through the API: 202 and processing, content addressing, and bad input."""

from __future__ import annotations

import io
import stat
from pathlib import Path
from typing import Any

import pytest

from datasets import storage
from datasets.models import Blob, Version
from tests.blobs import blob_bytes, stored_keys, working_files
from tests.conftest import CSV, files_under, sha256_of, upload

pytestmark = pytest.mark.django_db


def post_version(client: Any, slug: str, **data: Any) -> Any:
    return client.post(f"/api/v1/datasets/{slug}/versions/", data, format="multipart")


def test_upload_answers_202_with_a_processing_version_and_its_sha256(
    api, maintainer, public_dataset, data_dir
):
    response = post_version(api(maintainer), "churn", file=upload(), message="first cut")

    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["number"] == 1
    assert body["status"] == "processing"
    assert body["sha256"] == sha256_of(CSV)
    assert body["size"] == len(CSV)
    assert body["message"] == "first cut"
    assert body["created_by"] == "mario"
    assert blob_bytes(body["sha256"]) == CSV
    if blob := storage.backend().local_path(storage.blob_key(body["sha256"])):  # S3: written once
        assert not blob.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH), (
            "blob must be read-only"
        )
    assert files_under(data_dir / "tmp") == [], "the temporary upload must be gone"


def test_identical_bytes_are_stored_once_across_datasets(
    api, maintainer, public_dataset, internal_dataset, data_dir
):
    client = api(maintainer)
    assert post_version(client, "churn", file=upload()).status_code == 202
    assert post_version(client, "payroll", file=upload("other-name.csv")).status_code == 202

    assert Blob.objects.count() == 1
    assert len(stored_keys()) == 1
    assert Version.objects.count() == 2


def test_reuploading_the_same_bytes_to_a_dataset_is_a_conflict_naming_the_version(
    api, maintainer, public_dataset
):
    client = api(maintainer)
    post_version(client, "churn", file=upload())
    response = post_version(client, "churn", file=upload("again.csv"))

    assert response.status_code == 409
    assert "already version 1 of 'churn'" in response.json()["detail"]
    assert Version.objects.count() == 1


def test_versions_are_numbered_per_dataset(api, maintainer, public_dataset):
    client = api(maintainer)
    numbers = [
        post_version(client, "churn", file=upload(data=CSV + f"{n},x,0.1\n".encode())).json()["number"]
        for n in range(4, 7)
    ]
    assert numbers == [1, 2, 3]
    listed = client.get("/api/v1/datasets/churn/versions/").json()["results"]
    assert [v["number"] for v in listed] == [3, 2, 1]


def test_ingest_is_queued_only_after_the_version_is_committed(
    api, maintainer, public_dataset, django_capture_on_commit_callbacks, request
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post_version(api(maintainer), "churn", file=upload())
    version = Version.objects.get(number=response.json()["number"])
    assert len(callbacks) == 1
    assert request.node.queued_ingests == [version.pk]


def assert_nothing_left(data_dir: Path) -> None:
    assert Version.objects.count() == 0
    assert Blob.objects.count() == 0
    assert files_under(data_dir) == [], files_under(data_dir)
    assert stored_keys() == []


def test_empty_file_is_refused(api, maintainer, public_dataset, data_dir):
    response = post_version(api(maintainer), "churn", file=upload(data=b""))
    assert response.status_code == 400
    assert response.json()["detail"] == "The file is empty (0 bytes)."
    assert response.json()["code"] == "empty_file"
    assert_nothing_left(data_dir)


def test_file_over_the_limit_is_refused_before_the_body_is_read(
    api, maintainer, public_dataset, data_dir, settings
):
    settings.GRANARY_MAX_UPLOAD_BYTES = 1000
    big = b"a,b\n" + b"1,2\n" * 1_000_000  # 4 MB: well over limit + multipart allowance
    response = post_version(api(maintainer), "churn", file=upload(data=big))
    assert response.status_code == 413
    assert "larger than the upload limit of 1,000 bytes" in response.json()["detail"]
    assert_nothing_left(data_dir)


def test_file_over_the_limit_is_refused_while_it_streams(api, maintainer, public_dataset, data_dir, settings):
    # Just over the limit, so the declared length passes the gate and the stream is cut.
    settings.GRANARY_MAX_UPLOAD_BYTES = 100_000
    data = b"a,b\n" + b"1,2\n" * 30_000
    response = post_version(api(maintainer), "churn", file=upload(data=data))
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert_nothing_left(data_dir)


@pytest.mark.parametrize(
    ("data", "found"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "Found a PNG image"),
        (b"PK\x03\x04" + b"\x00" * 100, "Found a ZIP archive"),
        (b"\x7fELF\x02\x01\x01" + b"\x00" * 100, "Found an ELF executable"),
        (bytes(range(256)) * 4, "a NUL byte at offset 0"),
        (b"name,city\nZo\xe9,Par\xeds\n", "not UTF-8 text: byte 0xe9 at offset 12"),
        (b"PAR1" + b"\x00" * 100, "no Parquet footer"),
        (b'[{"a": 1}, {"a": 2}]', "Found a JSON array"),
    ],
)
def test_unsupported_content_is_refused_naming_what_was_found(
    api, maintainer, public_dataset, data_dir, data, found
):
    response = post_version(api(maintainer), "churn", file=upload("data.csv", data))
    assert response.status_code == 400
    assert found in response.json()["detail"]
    assert response.json()["field"] == "file"
    assert_nothing_left(data_dir)


def test_a_hostile_filename_never_becomes_a_path(api, maintainer, public_dataset, data_dir):
    response = post_version(api(maintainer), "churn", file=upload("../../etc/pass\x00wd.csv"))
    assert response.status_code == 202
    version = Version.objects.get()
    assert "/" not in version.original_filename and "\x00" not in version.original_filename
    assert working_files(data_dir) == [] and stored_keys() == [storage.blob_key(version.sha256)]
    assert not (data_dir.parent / "etc").exists()


def test_missing_file_field_is_a_400_naming_the_field(api, maintainer, public_dataset, data_dir):
    response = post_version(api(maintainer), "churn", message="no file")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("file:")
    assert_nothing_left(data_dir)


def test_a_member_who_may_only_read_cannot_upload(api, member, public_dataset, data_dir):
    response = post_version(api(member), "churn", file=upload())
    assert response.status_code == 403
    assert "maintainer or owner role" in response.json()["detail"]
    assert_nothing_left(data_dir)


def test_an_outsider_cannot_upload_to_a_public_dataset(api, outsider, public_dataset, data_dir):
    response = post_version(api(outsider), "churn", file=upload())
    assert response.status_code == 403
    assert_nothing_left(data_dir)


def test_upload_to_an_unknown_dataset_is_a_404(api, maintainer, data_dir):
    response = post_version(api(maintainer), "nope", file=upload())
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "No dataset 'nope'."}


def test_a_large_upload_is_hashed_while_it_streams(api, maintainer, public_dataset, data_dir, settings):
    # Larger than Django's in-memory threshold, so a memory handler would have kept it in RAM.
    data = b"a,b\n" + b"1,2\n" * 2_000_000
    response = post_version(api(maintainer), "churn", file=io.BytesIO(data))
    assert response.status_code == 202, response.json()
    assert response.json()["sha256"] == sha256_of(data)
