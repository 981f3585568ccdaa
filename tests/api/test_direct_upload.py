"""Direct uploads against a real S3 endpoint (moto's server over HTTP): parts PUT straight to
storage with presigned URLs, `complete` makes a processing version, and its ingest verifies the
declared sha256 before the bytes reach their content-addressed key."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import zlib
from datetime import timedelta
from typing import Any

import boto3
import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from datasets import storage
from datasets.models import Blob, DirectUpload, Version
from datasets.services.direct_uploads import direct_uploads_sweep
from datasets.services.versions import version_ingest
from tests.services import S3_TEST_BUCKET

pytestmark = pytest.mark.django_db

MIB = 1024**2


def csv_bytes(megabytes: float, seed: int = 0) -> bytes:
    """A CSV of about `megabytes` MiB (different bytes for each seed)."""
    row = 0
    lines = [b"id,sensor,reading,label"]
    size = 0
    while size < megabytes * MIB:
        line = (
            f"{row},s{(row + seed) % 37},{(row * 7919 + seed) % 100000 / 100:.2f},note {row % 1013}".encode()
        )
        lines.append(line)
        size += len(line) + 1
        row += 1
    return b"\n".join(lines) + b"\n"


BIG = csv_bytes(11)  # three parts of 5 MiB (S3's smallest), the last one short


@pytest.fixture
def s3(settings: Any, s3_endpoint: str) -> Any:
    """Blobs on a fresh prefix of the test bucket, 5 MiB parts."""
    settings.GRANARY_S3_ENDPOINT_URL = s3_endpoint
    settings.GRANARY_STORAGE_URL = f"s3://{S3_TEST_BUCKET}/direct-{os.urandom(6).hex()}/"
    settings.GRANARY_DIRECT_UPLOAD_PART_BYTES = 5 * MIB
    settings.GRANARY_DOWNLOAD_MODE = "stream"  # the test client reads bytes from the app, not a redirect
    return storage.backend()


def keys(backend: Any) -> list[str]:
    return list(backend.keys(""))


def start(client: Any, data: bytes, *, slug: str = "churn", sha256: str | None = None, **extra: Any) -> Any:
    body = {"filename": "big.csv", "size": len(data), "sha256": sha256 or hashlib.sha256(data).hexdigest()}
    return client.post(f"/api/v1/datasets/{slug}/uploads/", {**body, **extra}, format="json")


def put_parts(started: dict[str, Any], data: bytes) -> list[dict[str, Any]]:
    """PUT each part with plain requests and no Authorization header, as a client does."""
    size = started["part_size"]
    parts = []
    for part in started["parts"]:
        chunk = data[(part["number"] - 1) * size : part["number"] * size]
        answer = requests.put(part["url"], data=chunk, headers=part["headers"], timeout=30)
        assert answer.status_code == 200, answer.text
        parts.append({"number": part["number"], "etag": answer.headers["ETag"]})
    return parts


def complete(client: Any, started: dict[str, Any], parts: list[dict[str, Any]]) -> Any:
    return client.post(started["complete_url"], {"parts": parts}, format="json")


def test_a_direct_upload_becomes_a_ready_version_under_its_content_addressed_key(
    api, maintainer, public_dataset, s3
):
    client = api(maintainer)
    response = start(client, BIG, message="big one")
    assert response.status_code == 201, response.json()
    started = response.json()
    assert [p["number"] for p in started["parts"]] == [1, 2, 3]
    assert started["part_size"] == 5 * MIB
    assert keys(s3) == [], "nothing is stored before the parts arrive"

    response = complete(client, started, put_parts(started, BIG))

    assert response.status_code == 202, response.json()
    version = response.json()
    assert (version["number"], version["status"], version["message"]) == (1, "processing", "big one")
    staging = f"uploads/{started['id']}"
    assert keys(s3) == [staging], "unverified bytes wait at their staging key, never under a digest"

    version_ingest(version_id=Version.objects.get().pk)

    stored = Version.objects.get()
    sha256 = hashlib.sha256(BIG).hexdigest()
    assert (stored.status, stored.sha256, stored.size, stored.row_count) == (
        "ready",
        sha256,
        len(BIG),
        BIG.count(b"\n") - 1,
    )
    assert storage.blob_sha256(sha256) == sha256
    assert storage.blob_key(sha256) in keys(s3)
    assert staging not in keys(s3), "the staging object is gone once its bytes are a blob"
    assert DirectUpload.objects.get().state == "verified"


def test_a_client_declaring_another_digest_gets_a_failed_version_and_nothing_stored(
    api, maintainer, public_dataset, s3
):
    client = api(maintainer)
    declared = hashlib.sha256(b"something else entirely").hexdigest()
    started = start(client, BIG, sha256=declared).json()
    response = complete(client, started, put_parts(started, BIG))
    assert response.status_code == 202, response.json()

    version_ingest(version_id=Version.objects.get().pk)

    version = Version.objects.get()
    actual = hashlib.sha256(BIG).hexdigest()
    assert version.status == "failed"
    assert version.failure_reason.startswith(f"The uploaded bytes hash to sha256 {actual}, not {declared}")
    assert keys(s3) == [], "no blob under either digest, and the staging object deleted"
    assert not Blob.objects.filter(sha256=actual).exists()
    assert DirectUpload.objects.get().state == "rejected"


def test_a_false_claim_of_a_digest_leaves_no_wrong_size_for_the_real_bytes(
    api, maintainer, public_dataset, restricted_dataset, s3
):
    """A client claims the digest of a file it does not have, with another size; the real bytes,
    uploaded later through the app, are served with their own size, not the claimed one."""
    real = b"id,label\n" + b"".join(f"{n},row {n}\n".encode() for n in range(5000))
    claimed = hashlib.sha256(real).hexdigest()
    client = api(maintainer)
    started = start(client, BIG, sha256=claimed).json()
    complete(client, started, put_parts(started, BIG))
    version_ingest(version_id=Version.objects.get().pk)
    assert Version.objects.get().status == "failed"

    upload = SimpleUploadedFile("real.csv", real, content_type="text/csv")
    response = client.post("/api/v1/datasets/patients/versions/", {"file": upload}, format="multipart")
    assert response.status_code in (201, 202), response.json()
    assert Blob.objects.get(sha256=claimed).size == len(real)
    version = Version.objects.get(dataset=restricted_dataset)
    version_ingest(version_id=version.pk)
    download = client.get(f"/api/v1/datasets/patients/versions/{version.number}/download/")
    assert int(download["Content-Length"]) == len(real)
    assert b"".join(download.streaming_content) == real


@pytest.mark.parametrize(
    ("persona", "dataset", "status"),
    [
        ("member", "public_dataset", 403),
        ("outsider", "public_dataset", 403),
        ("outsider", "internal_dataset", 404),
    ],
)
def test_only_those_who_may_upload_may_start_a_direct_upload(api, persona, dataset, status, request, s3):
    slug = request.getfixturevalue(dataset).slug
    client = api(request.getfixturevalue(persona))

    assert start(client, BIG, slug=slug).status_code == status
    assert client.get(f"/api/v1/datasets/{slug}/uploads/").status_code == status
    assert DirectUpload.objects.count() == 0


def test_anonymous_visitors_cannot_upload(api, public_dataset, s3):
    assert start(api(None), BIG).status_code == 401


def test_nobody_else_may_complete_or_abort_an_upload(api, maintainer, owner, public_dataset, s3):
    started = start(api(maintainer), BIG).json()
    parts = put_parts(started, BIG)
    other = api(owner)

    assert complete(other, started, parts).status_code == 404
    assert other.delete(started["abort_url"]).status_code == 404
    assert Version.objects.count() == 0


def test_an_aborted_upload_drops_its_parts_and_cannot_be_completed(api, maintainer, public_dataset, s3):
    client = api(maintainer)
    started = start(client, BIG).json()
    parts = put_parts(started, BIG)

    assert client.delete(started["abort_url"]).status_code == 204

    s3_client = boto3.client("s3", endpoint_url=s3.client.meta.endpoint_url)
    assert (
        s3_client.list_multipart_uploads(Bucket=S3_TEST_BUCKET, Prefix=s3.full_key("")).get("Uploads") is None
    )
    response = complete(client, started, parts)
    assert response.status_code == 409
    assert response.json()["detail"] == "This upload is aborted."
    assert Version.objects.count() == 0 and keys(s3) == []


def test_missing_parts_or_wrong_etags_are_a_400_and_the_upload_stays_open(
    api, maintainer, public_dataset, s3
):
    client = api(maintainer)
    started = start(client, BIG).json()
    parts = put_parts(started, BIG)

    missing = complete(client, started, parts[:2])
    wrong = complete(
        client, started, [*parts[:2], {"number": 3, "etag": '"0123456789abcdef0123456789abcdef"'}]
    )
    unordered = complete(client, started, [parts[1], parts[0], parts[2]])

    assert missing.status_code == 400 and "has 3 parts" in missing.json()["detail"]
    assert wrong.status_code == 400 and "Storage refused the parts (InvalidPart)" in wrong.json()["detail"]
    assert unordered.status_code == 400
    assert Version.objects.count() == 0
    assert complete(client, started, parts).status_code == 202, "the right ETags still complete it"


def test_parts_holding_fewer_bytes_than_declared_are_refused_with_nothing_stored(
    api, maintainer, public_dataset, s3
):
    client = api(maintainer)
    data = BIG + b"999999,s1,1.00,note 1\n"
    started = start(client, data).json()

    response = complete(client, started, put_parts(started, BIG))

    assert response.status_code == 400
    assert f"not the {len(data):,} declared" in response.json()["detail"]
    assert Version.objects.count() == 0 and keys(s3) == []


def test_bytes_already_a_version_of_the_dataset_are_a_conflict_before_any_upload(
    api, maintainer, public_dataset, s3, publish
):
    data = csv_bytes(0.01)
    publish(public_dataset, data)

    response = start(api(maintainer), data)

    assert response.status_code == 409
    assert response.json()["detail"].startswith("These bytes are already version 1 of 'churn'")
    assert DirectUpload.objects.count() == 0


def test_bytes_the_user_can_read_elsewhere_need_no_upload(
    api, maintainer, public_dataset, internal_dataset, s3, publish
):
    data = csv_bytes(0.01)
    publish(internal_dataset, data)
    client = api(maintainer)

    started = start(client, data).json()
    assert started["parts"] == []
    response = complete(client, started, [])
    assert response.status_code == 202, response.json()
    version_ingest(version_id=response.json()["number"] and Version.objects.get(dataset=public_dataset).pk)

    assert Version.objects.get(dataset=public_dataset).status == "ready"


def test_a_digest_alone_does_not_copy_data_the_user_cannot_read(
    api, owner, outsider, public_dataset, s3, publish
):
    from tests.factories import DatasetFactory, TeamFactory

    other_team = TeamFactory(slug="hr")
    secret = DatasetFactory(slug="salaries", team=other_team, visibility="internal")
    data = csv_bytes(0.01, seed=7)
    publish(secret, data)

    started = start(api(owner), data).json()

    assert len(started["parts"]) == 1, "the bytes must be sent, not borrowed by their digest"


def test_a_file_over_the_upload_limit_is_a_413(api, maintainer, public_dataset, s3, settings):
    settings.GRANARY_MAX_UPLOAD_BYTES = 10 * MIB

    response = start(api(maintainer), BIG)

    assert response.status_code == 413
    assert response.json()["code"] == "too_large"


def test_a_file_that_is_not_data_is_refused_at_complete(api, maintainer, public_dataset, s3):
    data = b"%PDF-1.7\n" + os.urandom(6 * MIB)
    client = api(maintainer)
    started = start(client, data).json()

    response = complete(client, started, put_parts(started, data))

    assert response.status_code == 400
    assert "PDF" in response.json()["detail"]
    assert Version.objects.count() == 0 and keys(s3) == []


def test_the_filesystem_backend_refuses_clearly_and_says_so_up_front(
    api, maintainer, public_dataset, settings
):
    settings.GRANARY_STORAGE_URL = ""
    client = api(maintainer)

    options = client.get("/api/v1/datasets/churn/uploads/").json()
    response = start(client, BIG)

    assert options["direct"] is False
    assert response.status_code == 409
    assert response.json()["code"] == "direct_upload_unsupported"
    assert "upload through the app" in response.json()["detail"]


def test_the_sweeper_aborts_uploads_left_open_past_their_expiry(api, maintainer, public_dataset, s3):
    client = api(maintainer)
    started = start(client, BIG).json()
    put_parts(started, BIG)
    fresh = start(client, csv_bytes(6, seed=1)).json()

    swept = direct_uploads_sweep(now=timezone.now() + timedelta(hours=25))

    assert swept == 2
    assert set(DirectUpload.objects.values_list("state", flat=True)) == {"expired"}
    s3_client = boto3.client("s3", endpoint_url=s3.client.meta.endpoint_url)
    assert (
        s3_client.list_multipart_uploads(Bucket=S3_TEST_BUCKET, Prefix=s3.full_key("")).get("Uploads") is None
    )
    assert complete(client, fresh, []).status_code == 409


def test_celery_beat_and_the_sweep_command_abort_expired_uploads(
    api, maintainer, public_dataset, s3, settings
):
    from django.core.management import call_command

    from config.celery import app

    client = api(maintainer)
    first = start(client, BIG).json()
    second = start(client, csv_bytes(6, seed=2)).json()
    expire = timezone.now() - timedelta(minutes=1)

    DirectUpload.objects.filter(pk=first["id"]).update(expires_at=expire)
    entry = settings.CELERY_BEAT_SCHEDULE["datasets-direct-uploads-sweep"]
    assert app.tasks[entry["task"]].apply().get() == 1
    DirectUpload.objects.filter(pk=second["id"]).update(expires_at=expire)
    out = io.StringIO()
    call_command("direct_uploads_sweep", stdout=out)

    assert out.getvalue() == "Direct uploads aborted or cleaned: 1.\n"
    assert set(DirectUpload.objects.values_list("state", flat=True)) == {"expired"}


def fsck_output() -> tuple[int, str]:
    from django.core.management import call_command
    from django.core.management.base import CommandError

    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("fsck", stdout=out, stderr=err)
    except CommandError as exc:
        return exc.returncode, out.getvalue() + err.getvalue()
    return 0, out.getvalue() + err.getvalue()


def test_fsck_takes_neither_an_unverified_nor_a_refused_direct_upload_for_a_missing_blob(
    api, maintainer, public_dataset, s3
):
    client = api(maintainer)
    started = start(client, BIG).json()
    assert complete(client, started, put_parts(started, BIG)).status_code == 202
    declared = hashlib.sha256(b"not these bytes").hexdigest()
    other = csv_bytes(6, seed=3)
    refused = start(client, other, sha256=declared).json()
    assert complete(client, refused, put_parts(refused, other)).status_code == 202
    waiting, lying = Version.objects.order_by("number")
    version_ingest(version_id=lying.pk)
    lying.refresh_from_db()
    assert lying.status == "failed", "its Blob row stays, with no bytes behind it"

    # One version still processing (its bytes at their staging key), one refused: no blob is
    # meant to be stored yet, so none is missing.
    assert fsck_output() == (0, "0 blobs checked, 0 problems.\n")
    assert not Blob.objects.exclude(damage="").exists()

    version_ingest(version_id=waiting.pk)
    waiting.refresh_from_db()
    assert waiting.status == "ready"
    assert fsck_output() == (0, "2 blobs checked, 0 problems.\n"), "the upload and its Parquet copy"


def test_a_direct_upload_of_a_damaged_blobs_bytes_restores_it(
    api, maintainer, owner, public_dataset, s3, publish
):
    from tests.blobs import blob_tamper
    from tests.factories import DatasetFactory

    sha256 = hashlib.sha256(BIG).hexdigest()
    raw = DatasetFactory(slug="raw", team=public_dataset.team)
    publish(raw, BIG, user=owner)
    blob_tamper(sha256, BIG[:-2] + b"x\n")
    code, report = fsck_output()
    assert code == 1 and f"CORRUPT sha256:{sha256}" in report
    client = api(maintainer)

    # Its own dataset refuses before any byte travels, and says how to restore it instead.
    response = start(client, BIG, slug="raw")
    assert response.status_code == 409
    assert "its stored copy is damaged" in response.json()["detail"]
    # Elsewhere the bytes must travel, though the user can read a version holding them: the
    # stored copy is the damaged one.
    started = start(client, BIG).json()
    assert len(started["parts"]) == 3
    assert complete(client, started, put_parts(started, BIG)).status_code == 202
    version_ingest(version_id=Version.objects.get(dataset=public_dataset).pk)

    assert Version.objects.get(dataset=public_dataset).status == "ready"
    assert Blob.objects.get(sha256=sha256).damage == ""
    assert storage.blob_sha256(sha256) == sha256
    assert DirectUpload.objects.get().state == "verified"
    assert fsck_output()[0] == 0


def test_bytes_borrowed_by_digest_must_still_be_readable_when_the_upload_completes(
    api, maintainer, public_dataset, s3, publish
):
    """An upload that sends no bytes, because the user could read them elsewhere when it
    started, must not make them a version after that access is gone."""
    from accounts.models import Membership
    from tests.factories import DatasetFactory, MembershipFactory, TeamFactory

    other_team = TeamFactory(slug="hr")
    secret = DatasetFactory(slug="salaries", team=other_team, visibility="internal")
    data = csv_bytes(0.01, seed=11)
    publish(secret, data)
    MembershipFactory(team=other_team, user=maintainer, role=Membership.Role.MEMBER)
    client = api(maintainer)
    started = start(client, data).json()
    assert started["parts"] == []

    Membership.objects.filter(team=other_team, user=maintainer).delete()
    response = complete(client, started, [])

    assert response.status_code == 409, response.json()
    assert not Version.objects.filter(dataset=public_dataset).exists()


def test_storage_failing_as_complete_checks_the_file_does_not_lose_the_upload(
    api, maintainer, public_dataset, s3, monkeypatch
):
    """The parts are joined, then storage stops answering for a moment as `complete` reads the
    file's head: the upload is not thrown away (its bytes deleted, its state rejected) for a
    fault of the store's; it becomes a version that ingests once storage answers."""
    from datasets.storage.s3 import S3Storage

    real_source = S3Storage.source
    failures = iter([storage.StorageUnavailable("Object storage is unreachable: test")])

    def flaky_source(self: Any, key: str) -> Any:
        failure = next(failures, None)
        if failure is not None and key.startswith("uploads/"):
            raise failure
        return real_source(self, key)

    monkeypatch.setattr(S3Storage, "source", flaky_source)
    client = api(maintainer)
    started = start(client, BIG).json()

    parts = put_parts(started, BIG)
    response = complete(client, started, parts)
    if response.status_code == 503:  # a client retries a 503 (granary push does)
        response = complete(client, started, parts)

    assert response.status_code == 202, response.json()
    version_ingest(version_id=Version.objects.get().pk)
    assert Version.objects.get().status == "ready"
    assert storage.blob_sha256(hashlib.sha256(BIG).hexdigest()) == hashlib.sha256(BIG).hexdigest()


@pytest.mark.django_db(transaction=True)
def test_a_failure_after_the_version_commits_keeps_its_staged_bytes_and_its_digest_check(
    api, maintainer, public_dataset, s3, publish, monkeypatch
):
    """The database drops just after `complete` committed the version (as its ingest is sent):
    the version exists, so its staged bytes must stay the ones ingest checks. Thrown away, ingest
    would read the blob its claimed digest names, and a claim of another team's data would
    become a ready version serving it."""
    from django.db import OperationalError

    from datasets.services import versions
    from tests.factories import DatasetFactory, TeamFactory

    secret_data = csv_bytes(0.01, seed=3)
    publish(DatasetFactory(slug="salaries", team=TeamFactory(slug="hr"), visibility="internal"), secret_data)
    claimed = hashlib.sha256(secret_data).hexdigest()

    def dropped(**kwargs: Any) -> bool:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(versions, "version_send", dropped)
    client = api(maintainer)
    started = start(client, BIG, sha256=claimed).json()
    assert len(started["parts"]) == 3, "the claimed bytes are not readable: they must be sent"
    response = complete(client, started, put_parts(started, BIG))
    assert response.status_code == 503

    version = Version.objects.get(dataset=public_dataset)
    version_ingest(version_id=version.pk)

    version.refresh_from_db()
    assert version.status == "failed"
    assert version.failure_reason.startswith(
        f"The uploaded bytes hash to sha256 {hashlib.sha256(BIG).hexdigest()}"
    )
    download = client.get(f"/api/v1/datasets/churn/versions/{version.number}/download/")
    assert download.status_code == 409


def test_each_part_url_signs_its_exact_length(api, maintainer, public_dataset, s3):
    """Storage refuses a part of any other length (real S3 checks the signed Content-Length;
    moto 5.2 checks no presigned signature), so nobody parks 5 GiB parts in staging."""
    from urllib.parse import parse_qs, urlsplit

    started = start(api(maintainer), BIG).json()

    assert len(started["parts"]) == 3
    for part in started["parts"]:
        query = parse_qs(urlsplit(part["url"]).query)
        assert "content-length" in query["X-Amz-SignedHeaders"][0].split(";")
    # PUTs of each part's exact bytes (the last one short) are taken.
    assert complete(api(maintainer), started, put_parts(started, BIG)).status_code == 202


def crc32s(data: bytes, part_size: int) -> list[str]:
    """Each part's CRC32 as S3 takes it: base64 of its 4 big-endian bytes."""
    return [
        base64.b64encode(zlib.crc32(data[start : start + part_size]).to_bytes(4, "big")).decode()
        for start in range(0, len(data), part_size)
    ]


def test_declared_part_checksums_are_signed_into_each_url_and_joined_by_storage(
    api, maintainer, public_dataset, s3
):
    """Each part's CRC32 is signed into its URL, so real S3 refuses a part whose bytes differ
    from what the client hashed (moto 5.2 checks neither signatures nor part checksums), and the
    staged object carries the parts' checksums joined, as S3 keeps them."""
    from urllib.parse import parse_qs, urlsplit

    client = api(maintainer)
    declared = crc32s(BIG, 6 * MIB)
    started = start(client, BIG, part_size=6 * MIB, part_crc32=declared).json()

    assert (started["part_size"], [p["number"] for p in started["parts"]]) == (6 * MIB, [1, 2])
    for part, crc in zip(started["parts"], declared, strict=True):
        assert part["headers"] == {"x-amz-checksum-crc32": crc}
        signed = parse_qs(urlsplit(part["url"]).query)["X-Amz-SignedHeaders"][0].split(";")
        assert "x-amz-checksum-crc32" in signed
    assert complete(client, started, put_parts(started, BIG)).status_code == 202

    staged = s3.client.head_object(
        Bucket=s3.bucket, Key=s3.full_key(f"uploads/{started['id']}"), ChecksumMode="ENABLED"
    )
    joined = zlib.crc32(b"".join(base64.b64decode(crc) for crc in declared)).to_bytes(4, "big")
    # The CRC32 of the parts' CRC32s (S3 adds the part count, "-2", in some answers).
    assert staged["ChecksumCRC32"].split("-")[0] == base64.b64encode(joined).decode()
    version_ingest(version_id=Version.objects.get().pk)
    assert Version.objects.get().status == "ready"


def test_an_upload_without_part_checksums_signs_no_checksum_header(api, maintainer, public_dataset, s3):
    started = start(api(maintainer), BIG).json()

    assert [part["headers"] for part in started["parts"]] == [{}, {}, {}]
    assert all("checksum" not in part["url"] for part in started["parts"])


@pytest.mark.parametrize(
    ("extra", "field", "message"),
    [
        ({"part_size": 5 * MIB, "part_crc32": ["AAAAAA=="] * 2}, "part_crc32", "3 parts of 5,242,880 bytes"),
        ({"part_crc32": ["AAAAAA=="] * 4}, "part_crc32", "(4 sent)"),
        ({"part_size": 5 * MIB, "part_crc32": ["AAAA", "AAAAAA==", "AAAAAA=="]}, "part_crc32", "base64"),
        ({"part_size": 4 * MIB}, "part_size", "5,242,880 to 5,368,709,120 bytes"),
        ({"part_size": 6 * 1024**3}, "part_size", "5,242,880 to 5,368,709,120 bytes"),
    ],
)
def test_part_sizes_and_checksums_that_do_not_fit_the_file_are_a_400_before_any_upload(
    api, maintainer, public_dataset, s3, extra, field, message
):
    response = start(api(maintainer), BIG, **extra)

    body = response.json()
    assert response.status_code == 400, body
    assert body.get("field", next(iter(body.get("errors", {})), None)) == field
    assert message in body["detail"]
    assert DirectUpload.objects.count() == 0 and keys(s3) == []


def test_parts_too_small_for_the_file_name_the_smallest_that_fits(
    api, maintainer, public_dataset, s3, settings
):
    # 1,001 parts of 5 MiB: the declared size alone decides, nothing is read.
    size = 1_001 * 5 * MIB
    settings.GRANARY_MAX_UPLOAD_BYTES = 2 * size
    response = api(maintainer).post(
        "/api/v1/datasets/churn/uploads/",
        {"size": size, "sha256": "a" * 64, "part_size": 5 * MIB},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["field"] == "part_size"
    assert "1,001 parts" in response.json()["detail"]
    assert "at least 6,291,456 bytes" in response.json()["detail"]


def test_a_user_may_hold_only_a_few_direct_uploads_open(api, maintainer, public_dataset, s3, settings):
    settings.GRANARY_DIRECT_UPLOADS_OPEN_MAX = 2
    client = api(maintainer)
    first = start(client, csv_bytes(6, seed=10)).json()
    start(client, csv_bytes(6, seed=11))

    refused = start(client, csv_bytes(6, seed=12))

    assert refused.status_code == 429
    assert refused.json()["code"] == "too_many_uploads"
    assert "2 direct uploads open" in refused.json()["detail"]
    assert client.delete(first["abort_url"]).status_code == 204
    assert start(client, csv_bytes(6, seed=12)).status_code == 201


def test_the_sweeper_cleans_a_completed_upload_that_never_became_a_version(
    api, maintainer, public_dataset, s3, monkeypatch
):
    """version_create failed and the database was down for the cleanup too: the upload stayed
    `completed` with no version, which the client cannot retry. Once past its expiry and a grace
    period the sweeper deletes its staged bytes and closes it; a fresh one is left alone."""
    from django.db import OperationalError

    from datasets.services import direct_uploads

    def down(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(direct_uploads, "version_create", down)
    monkeypatch.setattr(direct_uploads, "_close", down)
    client = api(maintainer)
    started = start(client, BIG).json()
    assert complete(client, started, put_parts(started, BIG)).status_code == 503
    monkeypatch.undo()
    upload = DirectUpload.objects.get()
    assert (upload.state, upload.version) == ("completed", None)
    assert keys(s3) == [upload.staging_key], "the joined parts wait in staging"

    assert direct_uploads_sweep(now=upload.expires_at) == 0
    assert DirectUpload.objects.get().state == "completed"

    swept = direct_uploads_sweep(
        now=upload.expires_at + direct_uploads.COMPLETED_GRACE + timedelta(minutes=1)
    )

    assert swept == 1
    upload.refresh_from_db()
    assert (upload.state, upload.staging_key) == ("expired", "")
    assert keys(s3) == []
    assert complete(client, started, []).status_code == 409
