"""A version uploaded as the raw request body (`Content-Type: application/octet-stream`, named by
`Content-Disposition` or `?filename=`) follows the multipart upload's rules, on the filesystem and
on S3 (moto's server): size limits, the declared digest, a full or failing store, one version per
file, and a client that goes away leaves no object, no temporary file and no open upload. The
Python client and `granary push` send their uploads this way."""

from __future__ import annotations

import base64
import errno
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.services import token_create
from datasets import storage
from datasets.models import Blob, Version
from datasets.storage.s3 import S3Storage
from datasets.uploads import BlobUploadHandler, IncomingFile
from tests.blobs import blob_bytes, stored_digests
from tests.conftest import CSV, files_under
from tests.datasets.test_disk_full import mounted_tmpfs
from tests.services import S3_TEST_BUCKET

MIB = 1024**2
UPLOAD = "/api/v1/datasets/churn/versions/"


def csv_of(rows: int, salt: str = "") -> bytes:
    lines = [b"id,sensor,reading,note"]
    lines += [
        f"{i},sensor-{i % 37},{i * 7919 % 100000 / 100:.2f},note {salt}{i % 1013}".encode()
        for i in range(rows)
    ]
    return b"\n".join(lines) + b"\n"


BIG = csv_of(330_000)  # about 10 MiB: three 5 MiB parts on S3, the last one short
BIG_SHA256 = hashlib.sha256(BIG).hexdigest()


def repr_digest(data: bytes) -> str:
    return f"sha-256=:{base64.b64encode(hashlib.sha256(data).digest()).decode()}:"


@pytest.fixture(params=["filesystem", "s3"])
def backend(request: pytest.FixtureRequest, settings: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """Blobs on the local disk, or on a fresh prefix of the test bucket where a file over 5 MiB
    with a declared digest goes to a multipart upload of 5 MiB parts while it arrives."""
    if request.param == "filesystem":
        settings.GRANARY_STORAGE_URL = ""
    else:
        settings.GRANARY_S3_ENDPOINT_URL = request.getfixturevalue("s3_endpoint")
        settings.GRANARY_STORAGE_URL = f"s3://{S3_TEST_BUCKET}/raw-{os.urandom(6).hex()}/"
        settings.GRANARY_S3_MULTIPART_BYTES = 5 * MIB
        monkeypatch.setattr("datasets.storage.s3.PART_BYTES", 5 * MIB)
    return str(request.param)


def open_uploads() -> list[Any]:
    """The multipart uploads left open in the store (none on the filesystem)."""
    store = storage.backend()
    if not isinstance(store, S3Storage):
        return []
    listed = store.client.list_multipart_uploads(Bucket=S3_TEST_BUCKET, Prefix=store.full_key(""))
    return list(listed.get("Uploads", []))


def assert_nothing_kept(data_dir: Path) -> None:
    assert not Version.objects.exists() and not Blob.objects.exists()
    assert stored_digests() == []
    assert open_uploads() == []
    assert files_under(data_dir / "tmp") == [], "no temporary file left"


def post_raw(
    client: Any,
    data: bytes,
    *,
    name: str | None = "big.csv",
    digest: str | None = None,
    query: str = "",
    **headers: str,
) -> Any:
    if name is not None:
        headers["HTTP_CONTENT_DISPOSITION"] = f'attachment; filename="{name}"'
    if digest is not None:
        headers["HTTP_REPR_DIGEST"] = digest
    return client.post(UPLOAD + query, data, content_type="application/octet-stream", **headers)


@pytest.fixture
def writer(api: Any, maintainer: Any, public_dataset: Any) -> Any:
    return api(maintainer)


@pytest.mark.django_db
@pytest.mark.parametrize("declared", [True, False], ids=["digest", "no-digest"])
def test_a_raw_body_becomes_the_next_version_with_its_fields_from_the_query(
    writer, backend, declared, internal_dataset, publish, data_dir
):
    upstream = publish(internal_dataset)
    response = post_raw(
        writer,
        BIG,
        digest=repr_digest(BIG) if declared else None,
        query="?message=nightly%20export&derived_from=payroll@1&code_url=https://git.example/etl@abc",
    )

    assert response.status_code == 202, response.json()
    body = response.json()
    assert (body["sha256"], body["size"], body["original_filename"]) == (BIG_SHA256, len(BIG), "big.csv")
    assert (body["message"], body["code_url"]) == ("nightly export", "https://git.example/etl@abc")
    assert body["derived_from"] == ["payroll@1"]
    version = Version.objects.get(dataset__slug="churn")
    assert list(version.derived_from.all()) == [upstream]
    assert BIG_SHA256 in stored_digests()
    assert hashlib.sha256(blob_bytes(BIG_SHA256)).hexdigest() == BIG_SHA256
    assert open_uploads() == []
    assert files_under(data_dir / "tmp") == []


@pytest.mark.django_db
def test_on_s3_a_declared_digest_sends_the_raw_body_to_its_key_while_it_arrives(
    writer, settings, s3_endpoint, monkeypatch, data_dir
):
    settings.GRANARY_S3_ENDPOINT_URL = s3_endpoint
    settings.GRANARY_STORAGE_URL = f"s3://{S3_TEST_BUCKET}/raw-{os.urandom(6).hex()}/"
    settings.GRANARY_S3_MULTIPART_BYTES = 5 * MIB
    monkeypatch.setattr("datasets.storage.s3.PART_BYTES", 5 * MIB)
    puts: list[str] = []
    original = S3Storage.put
    monkeypatch.setattr(
        S3Storage,
        "put",
        lambda self, *, source, key: puts.append(key) or original(self, source=source, key=key),
    )
    temporary: list[str] = []
    made = IncomingFile.__init__

    def incoming(self: IncomingFile, *args: Any) -> None:
        temporary.append(args[0])
        made(self, *args)

    monkeypatch.setattr(IncomingFile, "__init__", incoming)

    response = post_raw(writer, BIG, digest=repr_digest(BIG))

    assert response.status_code == 202, response.json()
    store = storage.backend()
    assert isinstance(store, S3Storage)
    head = store.client.head_object(Bucket=S3_TEST_BUCKET, Key=store.full_key(storage.blob_key(BIG_SHA256)))
    assert head["ETag"].strip('"').endswith("-3"), "sent in three parts"
    assert puts == [] and temporary == [], "no local copy and no second pass"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("headers", "query", "named"),
    [
        ({}, "?filename=events.csv", "events.csv"),
        (
            {"HTTP_CONTENT_DISPOSITION": "attachment; filename*=UTF-8''na%C3%AFve%20data.csv"},
            "",
            "naïve data.csv",
        ),
        (
            {
                "HTTP_CONTENT_DISPOSITION": "attachment; filename=\"naive.csv\"; filename*=UTF-8''na%C3%AFve.csv"
            },
            "",
            "naïve.csv",
        ),
        ({"HTTP_CONTENT_DISPOSITION": 'attachment; filename="../../etc/x.csv"'}, "", "x.csv"),
        (
            {"HTTP_CONTENT_DISPOSITION": 'attachment; filename="header.csv"'},
            "?filename=query.csv",
            "header.csv",
        ),
    ],
    ids=["query", "filename-star", "star-over-plain", "path-dropped", "header-over-query"],
)
def test_the_file_is_named_as_rfc_6266_or_the_query_says(writer, headers, query, named):
    response = post_raw(writer, CSV, name=None, query=query, **headers)

    assert response.status_code == 202, response.json()
    assert response.json()["original_filename"] == named


@pytest.mark.django_db
def test_a_raw_body_without_a_name_is_refused_with_how_to_give_one(writer, backend, data_dir):
    response = post_raw(writer, CSV, name=None)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and body["field"] == "file"
    assert 'filename="data.csv"' in body["detail"] and "?filename=" in body["detail"]
    assert_nothing_kept(data_dir)


@pytest.mark.django_db
def test_an_empty_raw_body_is_refused(writer, data_dir):
    response = writer.post(UPLOAD + "?filename=x.csv", b"", content_type="application/octet-stream")

    assert response.status_code == 400
    assert "body is empty" in response.json()["detail"]
    assert_nothing_kept(data_dir)


@pytest.mark.django_db
@pytest.mark.parametrize("limit", [1000, len(BIG) - 1], ids=["declared-length", "while-streaming"])
def test_a_raw_body_over_the_limit_is_a_413_and_keeps_nothing(writer, backend, settings, limit, data_dir):
    """Far over: refused from its Content-Length before a byte is read; just over: while it is
    received (the length alone is within the allowance for a multipart form's boundaries)."""
    settings.GRANARY_MAX_UPLOAD_BYTES = limit

    response = post_raw(writer, BIG, digest=repr_digest(BIG))

    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert f"{limit:,} bytes" in response.json()["detail"]
    assert_nothing_kept(data_dir)


@pytest.mark.django_db
def test_bytes_that_do_not_hash_to_the_declared_digest_keep_nothing(writer, backend, data_dir):
    other = csv_of(330_000, salt="x")

    response = post_raw(writer, BIG, digest=repr_digest(other))

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "digest_mismatch" and "nothing was stored" in body["detail"]
    assert BIG_SHA256 in body["detail"] and hashlib.sha256(other).hexdigest() in body["detail"]
    assert_nothing_kept(data_dir)
    assert post_raw(writer, BIG, digest=repr_digest(BIG)).status_code == 202


@pytest.mark.django_db
def test_a_full_disk_is_a_507_with_nothing_kept_and_the_next_upload_works(
    writer, backend, monkeypatch, data_dir
):
    """The file is received to a temporary file (no digest declared, so on S3 too) whose writes
    fail with ENOSPC after 1 MiB, as on any disk that fills up."""
    written = {"bytes": 0}

    def write(self: IncomingFile, data: bytes) -> int:
        written["bytes"] += len(data)
        if written["bytes"] > MIB:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self.file.write(data)  # type: ignore[union-attr]

    with monkeypatch.context() as patch:
        patch.setattr(IncomingFile, "write", write)
        response = post_raw(writer, BIG)

    assert response.status_code == 507
    assert (
        response.json()["code"] == "insufficient_storage" and "Nothing was kept" in response.json()["detail"]
    )
    assert_nothing_kept(data_dir)
    assert post_raw(writer, CSV, name="small.csv").status_code == 202


@pytest.mark.django_db
def test_a_raw_body_that_fills_a_real_disk_is_a_507_and_the_next_one_works(writer, settings, tmp_path):
    settings.GRANARY_STORAGE_URL = ""
    with mounted_tmpfs(tmp_path / "tiny", "2m") as tiny:
        settings.GRANARY_DATA_DIR = tiny

        response = post_raw(writer, BIG)

        assert response.status_code == 507
        assert files_under(tiny) == []
        assert not Version.objects.exists()
        assert post_raw(writer, CSV, name="small.csv").status_code == 202


@pytest.fixture
def failing_store(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store fails: the disk under the temporary file answers EIO, or S3 stops answering the
    parts sent while the body arrives."""
    if backend == "filesystem":

        def broken(self: IncomingFile, data: bytes) -> int:
            raise OSError(errno.EIO, os.strerror(errno.EIO))

        monkeypatch.setattr(IncomingFile, "write", broken)
    else:

        def unreachable(self: S3Storage, *args: Any, **kwargs: Any) -> Any:
            raise EndpointConnectionError(endpoint_url="http://s3.invalid")

        monkeypatch.setattr(S3Storage, "_send_part", unreachable)


@pytest.mark.django_db
def test_a_failing_store_is_a_503_with_nothing_kept_and_the_app_recovers(
    writer, backend, failing_store, monkeypatch, data_dir
):
    response = post_raw(writer, BIG, digest=repr_digest(BIG))

    assert response.status_code == 503
    assert response.json()["code"] == "storage_unavailable"
    assert_nothing_kept(data_dir)
    monkeypatch.undo()
    assert post_raw(writer, BIG, digest=repr_digest(BIG)).status_code == 202


@pytest.mark.django_db
def test_the_same_bytes_twice_make_one_version(writer, backend, data_dir):
    first = post_raw(writer, BIG, digest=repr_digest(BIG))
    again = post_raw(writer, BIG, digest=repr_digest(BIG), name="copy.csv")

    assert first.status_code == 202
    assert again.status_code == 409 and "already version 1" in again.json()["detail"]
    assert Version.objects.count() == 1 and stored_digests() == [BIG_SHA256]
    assert open_uploads() == [] and files_under(data_dir / "tmp") == []


@pytest.mark.django_db
def test_a_multipart_upload_still_works_and_stores_the_same_bytes(writer, backend, internal_dataset):
    form = {"file": SimpleUploadedFile("big.csv", BIG, content_type="text/csv"), "message": "form"}
    multipart = writer.post("/api/v1/datasets/payroll/versions/", form, format="multipart")
    raw = post_raw(writer, BIG, query="?message=raw")

    assert (multipart.status_code, raw.status_code) == (202, 202)
    assert multipart.json()["sha256"] == raw.json()["sha256"] == BIG_SHA256
    assert (multipart.json()["message"], raw.json()["message"]) == ("form", "raw")
    assert stored_digests() == [BIG_SHA256]


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_client_that_goes_away_mid_body_leaves_no_object_no_file_and_no_open_upload(
    live_server, maintainer, public_dataset, backend, monkeypatch, data_dir
):
    """On S3 with a digest the parts already sent are aborted; otherwise the temporary file goes."""
    interrupted = threading.Event()
    original = BlobUploadHandler.upload_interrupted

    def upload_interrupted(self: BlobUploadHandler) -> None:
        original(self)
        interrupted.set()

    monkeypatch.setattr(BlobUploadHandler, "upload_interrupted", upload_interrupted)
    secret = token_create(user=maintainer, name="t", scope="write").secret
    host, port = live_server.url.removeprefix("http://").split(":")
    request = (
        f"POST {UPLOAD} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {secret}\r\n"
        'Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="big.csv"\r\n'
        f"Content-Length: {len(BIG)}\r\nRepr-Digest: {repr_digest(BIG)}\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port))) as connection:
        connection.sendall(request + BIG[: 10 * MIB])  # two parts sent on to S3, then gone

    assert interrupted.wait(60), "the server never noticed the body ended early"
    assert_nothing_kept(data_dir)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_the_client_and_granary_push_send_the_file_as_the_raw_body(
    live_server, maintainer, public_dataset, backend, monkeypatch, tmp_path
):
    from granary import Client

    import api.versions

    received: list[str] = []
    original = api.versions.raw_body_receive

    def spy(request: Any, stream: Any, *, filename: str) -> Any:
        received.append(filename)
        return original(request, stream, filename=filename)

    monkeypatch.setattr(api.versions, "raw_body_receive", spy)
    (tmp_path / "big.csv").write_bytes(BIG)
    (tmp_path / "naïve small.csv").write_bytes(CSV)
    secret = token_create(user=maintainer, name="t", scope="write").secret
    client = Client(live_server.url, secret, progress=False, cache_dir=tmp_path / "cache")

    version = client.upload("churn", tmp_path / "big.csv", message="by the client", direct=False)
    push = ["push", "churn", str(tmp_path / "naïve small.csv"), "-m", "by push", "--derived-from", "churn@1"]
    pushed = subprocess.run(
        [sys.executable, "-m", "granary", *push, "--no-wait", "--no-direct", "--json"],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "GRANARY_URL": live_server.url,
            "GRANARY_TOKEN": secret,
            "GRANARY_CONFIG": str(tmp_path / "granary.json"),
            "GRANARY_CACHE_DIR": str(tmp_path / "cache"),
        },
        timeout=120,
        check=False,
    )

    assert pushed.returncode == 0, pushed.stderr
    assert (version.sha256, version.size, version.message) == (BIG_SHA256, len(BIG), "by the client")
    second = json.loads(pushed.stdout)
    assert (second["number"], second["original_filename"], second["message"]) == (
        2,
        "naïve small.csv",
        "by push",
    )
    assert second["derived_from"] == ["churn@1"]
    assert received == ["big.csv", "naïve small.csv"], "both went as the raw body"
    assert sorted(stored_digests()) == sorted([BIG_SHA256, hashlib.sha256(CSV).hexdigest()])
    assert open_uploads() == []


@pytest.mark.parametrize("body", ["raw body", "form"])
def test_a_file_that_grows_while_the_client_sends_it_stops_the_upload(tmp_path: Path, body: str) -> None:
    from granary.errors import GranaryError
    from granary.transfer import FileBody, MultipartFile

    path = tmp_path / "rows.csv"
    path.write_bytes(b"a,b\n" + b"1,2\n" * 10)
    sent = FileBody(path) if body == "raw body" else MultipartFile(fields=[], path=path, filename="rows.csv")
    announced = len(sent)
    with path.open("ab") as out:  # after the length went out in Content-Length
        out.write(b"3,4\n")

    with pytest.raises(GranaryError, match="changed while it was being uploaded"):
        b"".join(sent)
    assert len(sent) == announced
