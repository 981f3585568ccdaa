"""End to end through a real Redis and a real Celery worker: upload, ingest, download."""

from __future__ import annotations

import hashlib

import pytest

from tests.conftest import wait_for

pytestmark = [pytest.mark.integration]

ROWS = 20_000


def test_an_api_upload_is_ingested_by_the_worker_and_downloads_intact(
    api, maintainer, public_dataset, celery_worker
):
    data = b"id,label,score\n" + b"".join(
        f"{i},{'yes' if i % 3 else 'no'},{i / 7:.4f}\n".encode() for i in range(ROWS)
    )
    client = api(maintainer)

    created = client.post(
        "/api/v1/datasets/churn/versions/", {"file": _file(data), "message": "e2e"}, format="multipart"
    )
    assert created.status_code == 202
    assert created.json()["status"] == "processing"

    def ready():
        body = client.get("/api/v1/datasets/churn/versions/1/").json()
        return body if body["status"] != "processing" else None

    version = wait_for(ready, what="the worker to ingest version 1")
    assert version["status"] == "ready", version["failure_reason"]
    assert version["format"] == "csv"
    assert version["row_count"] == ROWS

    response = client.get(version["download_url"])
    downloaded = b"".join(response.streaming_content)
    assert hashlib.sha256(downloaded).hexdigest() == version["sha256"] == hashlib.sha256(data).hexdigest()
    assert response["ETag"] == f'"{version["sha256"]}"'


def test_a_bad_file_ends_failed_with_its_reason_through_the_worker(
    api, maintainer, public_dataset, celery_worker
):
    client = api(maintainer)
    client.post("/api/v1/datasets/churn/versions/", {"file": _file(b"a,b\n1,2\n3\n")}, format="multipart")
    version = wait_for(
        lambda: (
            (v := client.get("/api/v1/datasets/churn/versions/1/").json())["status"] != "processing" and v
        ),
        what="the worker to finish version 1",
    )
    assert version["status"] == "failed"
    assert "Line 3 has 1 fields, but the header has 2" in version["failure_reason"]
    assert client.get("/api/v1/datasets/churn/versions/1/download/").status_code == 409


def _file(data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("data.csv", data, content_type="text/csv")
