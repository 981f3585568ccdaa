"""Downloads from object storage: a redirect to a short-lived presigned URL (the digest still in
the API's answer), or, with GRANARY_DOWNLOAD_MODE=stream, the bytes through the app; Range works
either way. Runs on moto's S3 server whatever GRANARY_TEST_STORAGE says."""

from __future__ import annotations

import base64
import os
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from audit.models import AuditEvent
from tests.conftest import CSV, sha256_of
from tests.services import S3_TEST_BUCKET

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def on_s3(settings, s3_endpoint):
    settings.GRANARY_DOWNLOAD_MODE = "redirect"  # the default
    settings.GRANARY_S3_ENDPOINT_URL = s3_endpoint
    settings.GRANARY_STORAGE_URL = f"s3://{S3_TEST_BUCKET}/t-{os.urandom(8).hex()}"


def url(ref: str = "1", **query: str) -> str:
    tail = "".join(f"&{k}={v}" for k, v in query.items())
    return f"/api/v1/datasets/churn/versions/{ref}/download/?{tail.lstrip('&')}"


def digest_b64(data: bytes) -> str:
    return base64.b64encode(bytes.fromhex(sha256_of(data))).decode()


def test_a_download_redirects_to_a_presigned_url_and_the_answer_keeps_the_digest(
    api, member, public_dataset, publish
):
    publish(public_dataset)
    response = api(member).get(url())

    assert response.status_code == 307
    assert response["ETag"] == f'"{sha256_of(CSV)}"'
    assert response["Repr-Digest"] == f"sha-256=:{digest_b64(CSV)}:"
    assert response["Cache-Control"] == "private, no-store"  # the URL expires: never cache the answer
    location = response["Location"]
    query = parse_qs(urlsplit(location).query)
    assert query["X-Amz-Expires"] == ["300"]
    assert f"blobs/sha256/{sha256_of(CSV)[:2]}/" in urlsplit(location).path

    # Anyone holding the URL gets the bytes, with no token, named as the API would name them.
    stored = requests.get(location, timeout=10)
    assert stored.status_code == 200
    assert stored.content == CSV
    assert 'filename="churn-v1.csv"' in stored.headers["Content-Disposition"]


def test_a_redirected_download_is_recorded_as_a_download(api, member, public_dataset, publish):
    publish(public_dataset)
    api(member).get(url())
    event = AuditEvent.objects.get(action="version.download")
    assert event.detail["status"] == 307


def test_the_presigned_url_honours_range_for_resumes(api, member, public_dataset, publish):
    publish(public_dataset)
    location = api(member).get(url(), HTTP_RANGE="bytes=10-")["Location"]

    stored = requests.get(location, headers={"Range": "bytes=10-"}, timeout=10)
    assert stored.status_code == 206
    assert stored.content == CSV[10:]
    assert stored.headers["Content-Range"] == f"bytes 10-{len(CSV) - 1}/{len(CSV)}"


def test_the_presigned_url_lives_as_long_as_the_setting_says(api, member, public_dataset, publish, settings):
    settings.GRANARY_PRESIGNED_URL_SECONDS = 60
    publish(public_dataset)
    query = parse_qs(urlsplit(api(member).get(url())["Location"]).query)
    assert query["X-Amz-Expires"] == ["60"]


def test_the_parquet_copy_redirects_too(api, member, public_dataset, publish):
    version = publish(public_dataset)
    response = api(member).get(url(format="parquet"))
    assert response.status_code == 307
    assert response["ETag"] == f'"{version.parquet_blob_id}"'
    stored = requests.get(response["Location"], timeout=10)
    assert sha256_of(stored.content) == version.parquet_blob_id


def test_an_outsider_gets_no_url(api, outsider, internal_dataset, publish):
    publish(internal_dataset)
    response = api(outsider).get("/api/v1/datasets/payroll/versions/1/download/")
    assert response.status_code == 404
    assert "Location" not in response


def test_stream_mode_serves_the_bytes_through_the_app(api, member, public_dataset, publish, settings):
    settings.GRANARY_DOWNLOAD_MODE = "stream"
    publish(public_dataset)
    response = api(member).get(url())

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == CSV
    assert response["Content-Length"] == str(len(CSV))
    assert response["Content-Digest"] == f"sha-256=:{digest_b64(CSV)}:"
    assert response["ETag"] == f'"{sha256_of(CSV)}"'
    assert response["Content-Disposition"] == 'attachment; filename="churn-v1.csv"'
    assert response["Accept-Ranges"] == "bytes"


@pytest.mark.parametrize(
    ("header", "expected", "content_range"),
    [
        ("bytes=10-", CSV[10:], f"bytes 10-{len(CSV) - 1}/{len(CSV)}"),
        ("bytes=0-1", CSV[:2], f"bytes 0-1/{len(CSV)}"),
        ("bytes=-5", CSV[-5:], f"bytes {len(CSV) - 5}-{len(CSV) - 1}/{len(CSV)}"),
    ],
)
def test_stream_mode_answers_ranges_with_seeks_into_the_object(
    api, member, public_dataset, publish, settings, header, expected, content_range
):
    settings.GRANARY_DOWNLOAD_MODE = "stream"
    publish(public_dataset)
    response = api(member).get(url(), HTTP_RANGE=header)

    assert response.status_code == 206
    assert b"".join(response.streaming_content) == expected
    assert response["Content-Range"] == content_range
    assert response["Content-Length"] == str(len(expected))


def test_stream_mode_refuses_a_range_outside_the_file(api, member, public_dataset, publish, settings):
    settings.GRANARY_DOWNLOAD_MODE = "stream"
    publish(public_dataset)
    response = api(member).get(url(), HTTP_RANGE=f"bytes={len(CSV) + 1}-")
    assert response.status_code == 416


def test_if_none_match_is_answered_before_any_redirect(api, member, public_dataset, publish):
    publish(public_dataset)
    response = api(member).get(url(), HTTP_IF_NONE_MATCH=f'"{sha256_of(CSV)}"')
    assert response.status_code == 304
    assert "Location" not in response
