"""Downloading a version's original bytes: streamed, resumable, labelled with its sha256."""

from __future__ import annotations

import base64
import csv
import io
import json

import pyarrow.parquet as pq
import pytest

from tests.blobs import skip_on_s3
from tests.conftest import CSV, sha256_of

pytestmark = pytest.mark.django_db


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def url(ref: str = "1") -> str:
    return f"/api/v1/datasets/churn/versions/{ref}/download/"


def test_download_streams_the_original_bytes_with_their_digests(api, member, public_dataset, publish):
    publish(public_dataset)
    response = api(member).get(url())

    assert response.status_code == 200
    assert body(response) == CSV
    digest = sha256_of(CSV)
    assert response["ETag"] == f'"{digest}"'
    assert response["Content-Length"] == str(len(CSV))
    assert response["Content-Digest"] == f"sha-256=:{base64.b64encode(bytes.fromhex(digest)).decode()}:"
    assert response["Digest"] == f"SHA-256={base64.b64encode(bytes.fromhex(digest)).decode()}"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"] == 'attachment; filename="churn-v1.csv"'
    assert response["Content-Type"].startswith("text/csv")
    assert response["Accept-Ranges"] == "bytes"


def test_download_by_latest_and_by_sha256_prefix(api, member, public_dataset, publish):
    publish(public_dataset)
    client = api(member)
    assert body(client.get(url("latest"))) == CSV
    assert body(client.get(url(f"sha256:{sha256_of(CSV)[:12]}"))) == CSV


def test_a_range_request_resumes_a_download(api, member, public_dataset, publish):
    publish(public_dataset)
    response = api(member).get(url(), HTTP_RANGE="bytes=10-")

    assert response.status_code == 206
    assert body(response) == CSV[10:]
    assert response["Content-Range"] == f"bytes 10-{len(CSV) - 1}/{len(CSV)}"
    assert response["Content-Length"] == str(len(CSV) - 10)
    assert response["ETag"] == f'"{sha256_of(CSV)}"'


def test_a_closed_range_and_a_suffix_range(api, member, public_dataset, publish):
    publish(public_dataset)
    client = api(member)
    assert body(client.get(url(), HTTP_RANGE="bytes=0-1")) == CSV[:2]
    assert body(client.get(url(), HTTP_RANGE="bytes=-5")) == CSV[-5:]


def test_an_unsatisfiable_range_is_a_416(api, member, public_dataset, publish):
    publish(public_dataset)
    response = api(member).get(url(), HTTP_RANGE=f"bytes={len(CSV) + 10}-")
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(CSV)}"


def test_if_range_with_another_etag_sends_the_whole_file(api, member, public_dataset, publish):
    publish(public_dataset)
    response = api(member).get(url(), HTTP_RANGE="bytes=10-", HTTP_IF_RANGE='"0000"')
    assert response.status_code == 200
    assert body(response) == CSV


def test_if_none_match_with_the_digest_is_a_304(api, member, public_dataset, publish):
    publish(public_dataset)
    response = api(member).get(url(), HTTP_IF_NONE_MATCH=f'"{sha256_of(CSV)}"')
    assert response.status_code == 304


def test_a_processing_version_cannot_be_downloaded_yet(api, member, public_dataset, publish):
    publish(public_dataset, ingest=False)
    response = api(member).get(url())
    assert response.status_code == 409
    assert response.json()["code"] == "not_ready"
    assert "churn@1 is processing" in response.json()["detail"]


def test_a_failed_version_cannot_be_downloaded_and_says_why(api, member, public_dataset, publish):
    publish(public_dataset, data=b"a,b\n1,2\n3,4,5\n")
    response = api(member).get(url())
    assert response.status_code == 409
    assert "failed" in response.json()["detail"]


def test_an_unknown_version_is_a_404_saying_so(api, member, public_dataset, publish):
    publish(public_dataset)
    response = api(member).get(url("7"))
    assert response.status_code == 404
    assert response.json()["detail"] == "'churn' has no version 7."


def test_an_unknown_format_is_a_400_listing_the_formats(api, member, public_dataset, publish):
    publish(public_dataset)
    response = api(member).get(url() + "?format=xlsx")
    assert response.status_code == 400
    assert response.json()["detail"] == "format='xlsx' is not a format: use original, parquet, csv, jsonl."


def test_the_parquet_copy_downloads_with_its_own_digest(api, member, public_dataset, publish):
    version = publish(public_dataset)
    response = api(member).get(url() + "?format=parquet")
    data = body(response)
    assert response.status_code == 200
    assert response["ETag"] == f'"{version.parquet_blob.sha256}"' == f'"{sha256_of(data)}"'
    assert response["Content-Disposition"] == 'attachment; filename="churn-v1.parquet"'
    table = pq.read_table(io.BytesIO(data))
    assert table.to_pydict() == {
        "id": [1, 2, 3],
        "name": ["ada", "grace", "linus"],
        "score": [0.5, 0.75, 0.9],
    }


def test_exports_pick_columns_in_every_format(api, member, public_dataset, publish):
    publish(public_dataset)
    client = api(member)
    parquet = body(client.get(url() + "?format=parquet&columns=name,id"))
    assert pq.read_table(io.BytesIO(parquet)).to_pydict() == {
        "name": ["ada", "grace", "linus"],
        "id": [1, 2, 3],
    }
    csv_text = body(client.get(url() + "?format=csv&columns=name")).decode()
    assert csv_text.splitlines() == ['"name"', '"ada"', '"grace"', '"linus"']
    lines = body(client.get(url() + "?format=jsonl&columns=id,score")).decode().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"id": 1, "score": 0.5},
        {"id": 2, "score": 0.75},
        {"id": 3, "score": 0.9},
    ]


def test_an_unknown_column_is_a_400_listing_the_columns(api, member, public_dataset, publish):
    publish(public_dataset)
    response = api(member).get(url() + "?format=csv&columns=name,age")
    assert response.status_code == 400
    assert response.json()["detail"] == "No column 'age' in churn@1; its columns are id, name, score."


def test_csv_export_defuses_cells_a_spreadsheet_would_run(api, member, public_dataset, publish):
    data = b'id,comment\n1,=HYPERLINK("http://evil")\n2,+1\n3,-2\n4,@SUM(A1)\n5,plain\n'
    publish(public_dataset, data=data)
    exported = body(api(member).get(url() + "?format=csv")).decode()
    rows = list(csv.reader(io.StringIO(exported)))
    assert [row[1] for row in rows[1:]] == ['\'=HYPERLINK("http://evil")', "'+1", "'-2", "'@SUM(A1)", "plain"]


def test_numbers_are_not_defused(api, member, public_dataset, publish):
    publish(public_dataset, data=b"delta\n-1.5\n2\n")
    exported = body(api(member).get(url() + "?format=csv")).decode()
    assert exported.splitlines() == ['"delta"', "-1.5", "2"]


@skip_on_s3  # a front server sends files from its disk; object storage has presigned URLs
def test_sendfile_mode_hands_the_blob_to_the_front_server(api, member, public_dataset, publish, settings):
    settings.GRANARY_SENDFILE = "x-accel-redirect"
    publish(public_dataset)
    response = api(member).get(url())
    digest = sha256_of(CSV)
    assert response.status_code == 200
    assert response["X-Accel-Redirect"] == f"/_granary_blobs/blobs/sha256/{digest[:2]}/{digest[2:4]}/{digest}"
    assert response["ETag"] == f'"{digest}"'
    assert response.content == b""


@pytest.mark.parametrize("header", ["*", 'W/"{digest}"', '"other", "{digest}"'])
def test_if_none_match_accepts_weak_tags_lists_and_star(api, member, public_dataset, publish, header):
    publish(public_dataset)
    response = api(member).get(url(), HTTP_IF_NONE_MATCH=header.format(digest=sha256_of(CSV)))
    assert response.status_code == 304
