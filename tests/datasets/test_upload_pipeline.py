"""An upload whose sha256 the client declares (`Repr-Digest`) goes on to S3 while it arrives: the
version is made only if the bytes hash to it, and nothing is left in storage otherwise."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import threading
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.services import token_create
from datasets import storage
from datasets.models import Blob, Version
from datasets.storage.s3 import S3Storage, StreamedPut
from tests.conftest import files_under
from tests.services import S3_TEST_BUCKET

MIB = 1024**2


def csv_of(rows: int, salt: str = "") -> bytes:
    lines = [b"id,sensor,reading,note"]
    lines += [
        f"{i},sensor-{i % 37},{i * 7919 % 100000 / 100:.2f},note {salt}{i % 1013}".encode()
        for i in range(rows)
    ]
    return b"\n".join(lines) + b"\n"


BIG = csv_of(330_000)  # about 12 MiB: three 5 MiB parts, the last one short


def repr_digest(data: bytes) -> str:
    return f"sha-256=:{base64.b64encode(hashlib.sha256(data).digest()).decode()}:"


@pytest.fixture
def s3(settings: Any, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> S3Storage:
    """Blobs on a fresh prefix of the test bucket, in parts of S3's smallest size above 5 MiB."""
    settings.GRANARY_S3_ENDPOINT_URL = s3_endpoint
    settings.GRANARY_STORAGE_URL = f"s3://{S3_TEST_BUCKET}/pipeline-{os.urandom(6).hex()}/"
    settings.GRANARY_S3_MULTIPART_BYTES = 5 * MIB
    monkeypatch.setattr("datasets.storage.s3.PART_BYTES", 5 * MIB)
    backend = storage.backend()
    assert isinstance(backend, S3Storage)
    return backend


@pytest.fixture
def puts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The keys the usual path (receive to a file, then put it) stored."""
    seen: list[str] = []
    original = S3Storage.put

    def put(self: S3Storage, *, source: Any, key: str) -> bool:
        seen.append(key)
        return original(self, source=source, key=key)

    monkeypatch.setattr(S3Storage, "put", put)
    return seen


def stored(backend: S3Storage) -> list[str]:
    listed = backend.client.list_objects_v2(Bucket=S3_TEST_BUCKET, Prefix=backend.full_key(""))
    return [item["Key"][len(backend.prefix) :] for item in listed.get("Contents", [])]


def open_uploads(backend: S3Storage) -> list[Any]:
    return backend.client.list_multipart_uploads(Bucket=S3_TEST_BUCKET, Prefix=backend.full_key("")).get(
        "Uploads", []
    )


def post(client: Any, data: bytes, *, digest: str | None, slug: str = "churn", name: str = "big.csv") -> Any:
    headers = {"HTTP_REPR_DIGEST": digest} if digest is not None else {}
    body = {"file": SimpleUploadedFile(name, data, content_type="text/csv"), "message": "streamed"}
    return client.post(f"/api/v1/datasets/{slug}/versions/", body, format="multipart", **headers)


@pytest.mark.django_db
def test_a_declared_digest_sends_the_file_to_its_key_while_it_arrives(
    api, maintainer, public_dataset, s3, puts, data_dir
):
    response = post(api(maintainer), BIG, digest=repr_digest(BIG))

    assert response.status_code == 202, response.json()
    sha256 = hashlib.sha256(BIG).hexdigest()
    assert (response.json()["sha256"], response.json()["size"]) == (sha256, len(BIG))
    version = Version.objects.get()
    assert (version.sha256, version.size, version.original_filename) == (sha256, len(BIG), "big.csv")
    key = storage.blob_key(sha256)
    assert stored(s3) == [key]
    assert hashlib.sha256(s3.open(key).read()).hexdigest() == sha256
    head = s3.client.head_object(Bucket=S3_TEST_BUCKET, Key=s3.full_key(key))
    assert head["ETag"].strip('"').endswith("-3"), "sent in three parts"
    assert puts == [], "no second pass: the parts went while the file arrived"
    assert open_uploads(s3) == []
    assert files_under(data_dir) == [], "no local copy of the file"


@pytest.mark.django_db
def test_bytes_that_do_not_hash_to_the_declared_digest_store_nothing(api, maintainer, public_dataset, s3):
    other = csv_of(330_000, salt="x")
    response = post(api(maintainer), BIG, digest=repr_digest(other))

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "digest_mismatch"
    assert hashlib.sha256(BIG).hexdigest() in body["detail"]
    assert hashlib.sha256(other).hexdigest() in body["detail"]
    assert "nothing was stored" in body["detail"]
    assert Version.objects.count() == 0 and Blob.objects.count() == 0
    assert stored(s3) == [] and open_uploads(s3) == []


@pytest.mark.django_db
def test_a_file_the_store_already_holds_is_not_sent_again(
    api, maintainer, public_dataset, internal_dataset, s3, puts
):
    client = api(maintainer)
    assert post(client, BIG, digest=None, slug="payroll").status_code == 202
    assert len(puts) == 1
    streamed: list[str] = []
    original = S3Storage.put_streamed
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            S3Storage, "put_streamed", lambda self, key: streamed.append(key) or original(self, key)
        )
        response = post(client, BIG, digest=repr_digest(BIG))

    assert response.status_code == 202, response.json()
    assert streamed == [], "no multipart upload of bytes already stored"
    assert Version.objects.filter(blob_id=hashlib.sha256(BIG).hexdigest()).count() == 2
    assert stored(s3) == [storage.blob_key(hashlib.sha256(BIG).hexdigest())]
    assert open_uploads(s3) == []


@pytest.mark.django_db
def test_a_refused_version_leaves_no_object_and_no_parts(api, maintainer, public_dataset, s3):
    """The digest matched but the service said no (here: a message too long for a version)."""
    body = {"file": SimpleUploadedFile("big.csv", BIG), "message": "m" * 501}
    response = api(maintainer).post(
        "/api/v1/datasets/churn/versions/", body, format="multipart", HTTP_REPR_DIGEST=repr_digest(BIG)
    )

    assert response.status_code == 400
    assert Version.objects.count() == 0
    assert stored(s3) == [] and open_uploads(s3) == []


@pytest.mark.django_db
def test_without_a_declared_digest_the_upload_is_received_then_put_as_before(
    api, maintainer, public_dataset, s3, puts
):
    response = post(api(maintainer), BIG, digest=None)

    assert response.status_code == 202, response.json()
    sha256 = hashlib.sha256(BIG).hexdigest()
    assert response.json()["sha256"] == sha256
    assert puts == [storage.blob_key(sha256)]
    assert stored(s3) == [storage.blob_key(sha256)] and open_uploads(s3) == []


@pytest.mark.django_db
def test_on_the_filesystem_a_declared_digest_is_checked(api, maintainer, public_dataset, data_dir, settings):
    settings.GRANARY_STORAGE_URL = ""
    client = api(maintainer)
    small = b"id,name\n1,ada\n"

    wrong = post(client, small, digest=repr_digest(b"something else"))
    right = post(client, small, digest=repr_digest(small))

    assert wrong.status_code == 400 and wrong.json()["code"] == "digest_mismatch"
    assert right.status_code == 202 and right.json()["sha256"] == hashlib.sha256(small).hexdigest()
    assert Version.objects.count() == 1
    assert files_under(data_dir / "tmp") == [], "the refused file is gone"


@pytest.mark.django_db
@pytest.mark.parametrize("header", ["sha-256=:not base64!:", "sha-256=abc", "sha-256=:AAAA:"])
def test_a_malformed_digest_is_refused_with_how_to_write_it(api, maintainer, public_dataset, header):
    response = post(api(maintainer), b"id\n1\n", digest=header)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and "sha-256=:" in response.json()["detail"]
    assert Version.objects.count() == 0


@pytest.mark.django_db
def test_a_digest_in_another_algorithm_only_is_ignored(api, maintainer, public_dataset):
    response = post(api(maintainer), b"id\n1\n", digest="sha-512=:AAAA:")

    assert response.status_code == 202


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_client_that_goes_away_mid_upload_leaves_no_object_and_no_parts(
    live_server, maintainer, public_dataset, s3, monkeypatch
):
    aborted = threading.Event()
    original = StreamedPut.abort

    def abort(self: StreamedPut) -> None:
        original(self)
        aborted.set()

    monkeypatch.setattr(StreamedPut, "abort", abort)
    secret = token_create(user=maintainer, name="t", scope="write").secret
    boundary = "granary-test-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    host, port = live_server.url.removeprefix("http://").split(":")
    request = (
        "POST /api/v1/datasets/churn/versions/ HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\nAuthorization: Bearer {secret}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(head) + len(BIG) + len(tail)}\r\n"
        f"Repr-Digest: {repr_digest(BIG)}\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port))) as connection:
        connection.sendall(request + head + BIG[: 11 * MIB])  # two parts sent on, then gone

    assert aborted.wait(60), "the server never dropped the upload"
    assert open_uploads(s3) == []
    assert stored(s3) == []
    assert Version.objects.count() == 0


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_the_client_declares_the_digest_of_an_upload_through_the_app(
    live_server, maintainer, public_dataset, s3, puts, tmp_path
):
    from granary import Client

    (tmp_path / "big.csv").write_bytes(BIG)
    secret = token_create(user=maintainer, name="t", scope="write").secret
    client = Client(live_server.url, secret, progress=False, cache_dir=tmp_path / "cache")

    version = client.upload("churn", tmp_path / "big.csv", direct=False)

    sha256 = hashlib.sha256(BIG).hexdigest()
    assert (version.status, version.sha256, version.size) == ("processing", sha256, len(BIG))
    assert puts == [], "the server sent the parts while it received them"
    assert stored(s3) == [storage.blob_key(sha256)] and open_uploads(s3) == []
