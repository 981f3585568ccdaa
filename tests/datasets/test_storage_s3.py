"""The S3 backend against a real S3 endpoint (moto's server over HTTP): written once, streamed,
ranged, presigned, and every failure of the service one StorageUnavailable (a 503)."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from django.core.exceptions import ImproperlyConfigured

from datasets import storage
from datasets.storage import StorageUnavailable
from datasets.storage.filesystem import FilesystemStorage
from tests.services import S3_TEST_BUCKET, free_port

MIB = 1024**2


@pytest.fixture
def s3(settings: Any, s3_endpoint: str) -> Any:
    """The configured backend on a fresh prefix of the test bucket, whichever leg this is."""
    settings.GRANARY_S3_ENDPOINT_URL = s3_endpoint
    settings.GRANARY_STORAGE_URL = f"s3://{S3_TEST_BUCKET}/unit-{os.urandom(6).hex()}/"
    return storage.backend()


def file_with(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / f"src-{os.urandom(4).hex()}"
    path.write_bytes(data)
    return path


def read(backend: Any, key: str) -> bytes:
    with backend.open(key) as handle:
        return bytes(handle.read())


def test_a_key_is_written_once_and_a_second_put_never_overwrites_it(s3, tmp_path):
    assert s3.put(source=file_with(tmp_path, b"first\n"), key="blobs/k") is True
    assert s3.put(source=file_with(tmp_path, b"other bytes\n"), key="blobs/k") is False
    assert read(s3, "blobs/k") == b"first\n"
    # Under the prefix, beside nothing else: a bucket shared by deployments keeps them apart.
    listed = s3.client.list_objects_v2(Bucket=S3_TEST_BUCKET, Prefix=s3.full_key(""))["Contents"]
    assert [item["Key"] for item in listed] == [s3.full_key("blobs/k")]
    assert s3.full_key("blobs/k").endswith("/blobs/k") and s3.full_key("blobs/k").startswith("unit-")


def test_a_big_file_goes_up_in_parts_and_is_committed_only_if_the_key_is_absent(
    s3, settings, tmp_path, monkeypatch
):
    settings.GRANARY_S3_MULTIPART_BYTES = 5 * MIB  # S3's smallest part
    backend = storage.backend()
    monkeypatch.setattr("datasets.storage.s3.PART_BYTES", 5 * MIB)
    data = os.urandom(12 * MIB)  # three parts, the last one short
    assert backend.put(source=file_with(tmp_path, data), key="blobs/big") is True
    assert hashlib.sha256(read(backend, "blobs/big")).digest() == hashlib.sha256(data).digest()
    head = backend.client.head_object(Bucket=S3_TEST_BUCKET, Key=backend.full_key("blobs/big"))
    assert head["ETag"].strip('"').endswith("-3"), "a multipart object's ETag counts its parts"

    # Another upload of the key finishing between the existence check and the completion: the
    # conditional completion refuses, and the parts sent are not left behind.
    monkeypatch.setattr(type(backend), "exists", lambda self, key: False)
    assert backend.put(source=file_with(tmp_path, os.urandom(11 * MIB)), key="blobs/big") is False
    assert hashlib.sha256(read(backend, "blobs/big")).digest() == hashlib.sha256(data).digest()
    pending = backend.client.list_multipart_uploads(Bucket=S3_TEST_BUCKET, Prefix=backend.full_key(""))
    assert pending.get("Uploads", []) == []


def test_blobs_stream_and_rehash_through_the_package_functions(s3, tmp_path):
    data = os.urandom(3 * MIB + 17)
    digest = hashlib.sha256(data).hexdigest()
    assert storage.blob_put(source=file_with(tmp_path, data), sha256=digest) is True
    with storage.blob_open(digest) as handle:
        chunks = []
        while chunk := handle.read(64 * 1024):
            chunks.append(chunk)
    assert b"".join(chunks) == data
    assert storage.blob_sha256(digest) == digest
    assert list(s3.keys("blobs/")) == [storage.blob_key(digest)]
    assert s3.exists(storage.blob_key(digest)) and not s3.exists(storage.blob_key("0" * 64))


def test_a_source_reads_ranges_with_independent_seekable_handles(s3, tmp_path):
    data = bytes(range(256)) * 4096  # 1 MiB, each offset's byte known
    s3.put(source=file_with(tmp_path, data), key="blobs/ranged")
    source = s3.source("blobs/ranged")
    assert source.size == len(data) and source.name == "blobs/ranged"
    with source.open() as first, source.open() as second:
        first.seek(1000)
        second.seek(len(data) - 10)
        assert first.read(6) == data[1000:1006]
        assert second.read() == data[-10:]
        assert first.tell() == 1006
        assert first.read(4) == data[1006:1010]


def test_pyarrow_reads_a_parquet_blob_in_place(s3, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    local = tmp_path / "t.parquet"
    pq.write_table(pa.table({"id": list(range(1000)), "name": [f"n{i}" for i in range(1000)]}), local)
    s3.put(source=local, key="blobs/t.parquet")
    filesystem, path = s3.source("blobs/t.parquet").arrow()
    assert pq.ParquetFile(path, filesystem=filesystem).metadata.num_rows == 1000
    assert pq.read_table(path, filesystem=filesystem, columns=["name"]).column(0)[999].as_py() == "n999"


def test_a_presigned_url_serves_a_range_and_names_the_download(s3, tmp_path):
    data = b"0123456789abcdef"
    s3.put(source=file_with(tmp_path, data), key="blobs/p")
    url = s3.presigned_url("blobs/p", seconds=60, filename="résumé 2024.csv")
    response = requests.get(url, headers={"Range": "bytes=4-9"}, timeout=10)
    assert response.status_code == 206
    assert response.content == b"456789"
    disposition = response.headers["Content-Disposition"]
    assert "filename*=UTF-8''r%C3%A9sum%C3%A9%202024.csv" in disposition
    assert 'filename="r?sum? 2024.csv"' in disposition


def test_a_missing_key_is_file_not_found_as_on_the_filesystem(s3):
    missing = storage.blob_key("a" * 64)
    with pytest.raises(FileNotFoundError):
        s3.open(missing)
    with pytest.raises(FileNotFoundError):
        s3.source(missing)
    with pytest.raises(FileNotFoundError):
        storage.blob_sha256("a" * 64)
    s3.discard(missing)  # nothing there: nothing to do


def test_discard_removes_the_object(s3, tmp_path):
    s3.put(source=file_with(tmp_path, b"x"), key="blobs/gone")
    s3.discard("blobs/gone")
    assert list(s3.keys()) == []


@pytest.fixture
def no_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # read when the client for a new endpoint is built


def test_an_unreachable_endpoint_is_storage_unavailable_a_503(settings, s3_endpoint, tmp_path, no_retries):
    settings.GRANARY_S3_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    settings.GRANARY_STORAGE_URL = f"s3://{S3_TEST_BUCKET}/down"
    backend = storage.backend()
    calls = [
        lambda: backend.put(source=file_with(tmp_path, b"x"), key="blobs/x"),
        lambda: backend.open("blobs/x"),
        lambda: backend.source("blobs/x"),
        lambda: list(backend.keys()),
        lambda: backend.discard("blobs/x"),
    ]
    for call in calls:
        with pytest.raises(StorageUnavailable) as failure:
            call()
        assert failure.value.status == 503
        assert "unreachable" in failure.value.detail


def test_a_503_for_unreachable_storage_does_not_tell_clients_where_storage_is(
    settings, s3_endpoint, tmp_path, no_retries, api, maintainer, public_dataset
):
    """The answer an API client gets names the failure, not the internal endpoint, bucket or
    prefix (the operator's log has them)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    port = free_port()
    settings.GRANARY_S3_ENDPOINT_URL = f"http://127.0.0.1:{port}"  # nothing listens there
    settings.GRANARY_STORAGE_URL = f"s3://{S3_TEST_BUCKET}/secret-prefix"
    upload = SimpleUploadedFile("a.csv", b"id,label\n1,a\n", content_type="text/csv")

    response = api(maintainer).post("/api/v1/datasets/churn/versions/", {"file": upload}, format="multipart")

    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "storage_unavailable" and "unreachable" in body["detail"]
    assert str(port) not in body["detail"]
    assert "secret-prefix" not in body["detail"] and S3_TEST_BUCKET not in body["detail"]


class _Throttling(BaseHTTPRequestHandler):
    """An S3 endpoint that is overloaded: 503 SlowDown to everything."""

    def _slow_down(self) -> None:
        body = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
        self.send_response(503)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _slow_down

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def throttling_endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Throttling)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_throttling_endpoint_is_storage_unavailable_naming_its_answer(
    settings, s3_endpoint, throttling_endpoint, tmp_path, no_retries
):
    settings.GRANARY_S3_ENDPOINT_URL = throttling_endpoint
    settings.GRANARY_STORAGE_URL = f"s3://{S3_TEST_BUCKET}/busy"
    backend = storage.backend()
    with pytest.raises(StorageUnavailable, match="503 SlowDown"):
        backend.put(source=file_with(tmp_path, b"x"), key="blobs/x")
    with pytest.raises(StorageUnavailable, match="503 SlowDown"):
        backend.open("blobs/x")


def test_storage_urls_name_a_backend_or_fail_naming_the_setting(settings, tmp_path, s3_endpoint):
    settings.GRANARY_STORAGE_URL = ""
    assert storage.backend().local_path("k") == storage.data_dir() / "k"
    settings.GRANARY_STORAGE_URL = f"file://{tmp_path}/elsewhere"
    assert isinstance(storage.backend(), FilesystemStorage)
    assert storage.backend().local_path("k") == tmp_path / "elsewhere" / "k"
    settings.GRANARY_STORAGE_URL = "s3://granary-test"
    assert storage.backend().full_key("blobs/k") == "blobs/k"
    for bad in ("s3:///no-bucket", "file://relative/path", "gs://bucket", "/abs/path"):
        settings.GRANARY_STORAGE_URL = bad
        with pytest.raises(ImproperlyConfigured, match="GRANARY_STORAGE_URL"):
            storage.backend()
