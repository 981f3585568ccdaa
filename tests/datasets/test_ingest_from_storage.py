"""Ingest, validation and export read a blob where it is stored: from S3 (moto's server, through a
proxy that records each request) they give what they give from the filesystem, fetch a whole
pass in one streamed GET and the rest in ranges, never more than once for text, and leave no
local copy behind or during the read."""

from __future__ import annotations

import gzip
import io
import json
import os
import random
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datasets import storage
from datasets.ingest.export import export_stream
from datasets.ingest.sources import STREAM_BYTES
from datasets.services import versions
from quality.runner import validate
from tests.client.proxy import FaultyProxy
from tests.conftest import files_under
from tests.factories import DatasetFactory
from tests.services import S3_TEST_BUCKET

pytestmark = pytest.mark.django_db

ROWS = 60_000


def csv_bytes() -> bytes:
    rng = random.Random(7)  # noqa: S311 (test data, seeded)
    lines = ["id,city,score,note,seen_at"]
    for n in range(ROWS):
        note = "" if n % 11 == 0 else f'"said ""{rng.choice(["hi", "ok", "no"])}"", {n}"'
        lines.append(
            f"{n},{rng.choice(['Oslo', 'Lima', 'Pune'])},{rng.random():.6f},{note},2024-05-{n % 28 + 1:02d}"
        )
    return ("\n".join(lines) + "\n").encode()


def jsonl_bytes() -> bytes:
    rng = random.Random(8)  # noqa: S311 (test data, seeded)
    rows = (
        {"id": n, "tags": [rng.choice("abc")], "point": {"x": n % 7, "y": rng.random()}, "ok": n % 3 == 0}
        for n in range(ROWS)
    )
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


def parquet_bytes() -> bytes:
    rng = random.Random(9)  # noqa: S311 (test data, seeded)
    table = pa.table(
        {
            "id": list(range(ROWS)),
            "text": [f"{rng.getrandbits(64):x}-{n}" for n in range(ROWS)],
            "more": [f"{rng.getrandbits(64):x}" for _ in range(ROWS)],
            "value": [rng.random() for _ in range(ROWS)],
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=ROWS // 4)
    return sink.getvalue()


FILES = {
    "csv": csv_bytes,
    "jsonl": jsonl_bytes,
    "csv.gz": lambda: gzip.compress(csv_bytes(), mtime=0),
    "parquet": parquet_bytes,
}


@pytest.fixture
def on_s3(settings: Any, s3_endpoint: str) -> Any:
    """Switches storage to a fresh prefix of the S3 bucket, reached through a recording proxy."""

    def switch() -> FaultyProxy:
        proxy = FaultyProxy(s3_endpoint).__enter__()
        proxies.append(proxy)
        settings.GRANARY_S3_ENDPOINT_URL = proxy.url
        settings.GRANARY_STORAGE_URL = f"s3://{S3_TEST_BUCKET}/t-{os.urandom(8).hex()}"
        return proxy

    proxies: list[FaultyProxy] = []
    yield switch
    for proxy in proxies:
        proxy.__exit__(None, None, None)


def on_filesystem(settings: Any) -> None:
    settings.GRANARY_STORAGE_URL = ""  # whatever GRANARY_TEST_STORAGE says


def gets_of(proxy: FaultyProxy, sha256: str) -> list[dict[str, Any]]:
    return [
        r for r in proxy.faults.requests if r["method"] == "GET" and r["path"].split("?")[0].endswith(sha256)
    ]


def range_of(request: dict[str, Any]) -> str | None:
    return next((v for k, v in request["headers"].items() if k.lower() == "range"), None)


def bytes_asked(requests: list[dict[str, Any]], size: int) -> int:
    """The bytes the GETs asked for, each Range clamped to the object (a GET without one: all)."""
    total = 0
    for request in requests:
        asked = range_of(request)
        if asked is None:
            total += size
            continue
        first, _, last = asked.removeprefix("bytes=").partition("-")
        total += min(int(last) if last else size - 1, size - 1) - int(first) + 1
    return total


def what_ingest_found(version: Any) -> dict[str, Any]:
    return {
        "status": version.status,
        "failure": version.failure_reason,
        "format": version.format,
        "compression": version.compression,
        "rows": version.row_count,
        "schema": version.schema,
        "profile": version.profile,
        "preview": version.preview,
        "parquet_sha256": version.parquet_blob.sha256 if version.parquet_blob else None,
    }


@pytest.mark.parametrize("kind", sorted(FILES))
def test_a_version_stored_on_s3_ingests_exactly_as_from_the_filesystem_without_a_local_copy(
    kind, team, owner, publish, settings, on_s3, data_dir, tmp_path, monkeypatch
):
    data = FILES[kind]()
    on_filesystem(settings)
    from_disk = publish(DatasetFactory(team=team, slug="on-disk"), data=data, user=owner)
    assert from_disk.status == "ready", from_disk.failure_reason

    proxy = on_s3()
    # Every file on this machine, looked at when the whole blob has been read: what ingest holds
    # then is what it wrote, not a copy of what it read.
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "system-tmp"))
    (tmp_path / "system-tmp").mkdir()
    before = files_under(tmp_path)
    seen: list[list[str]] = []
    real_progress = versions._progress

    def progress(version_id: int, bytes_read: int, rows: int) -> None:
        if bytes_read == len(data):
            seen.append([p.name for p in files_under(tmp_path) if p not in before])
        real_progress(version_id, bytes_read, rows)

    monkeypatch.setattr(versions, "_progress", progress)
    from_s3 = publish(DatasetFactory(team=team, slug="on-s3"), data=data, user=owner)

    assert what_ingest_found(from_s3) == what_ingest_found(from_disk)
    assert from_s3.sha256 == from_disk.sha256
    assert storage.backend().local_path(storage.blob_key(from_s3.sha256)) is None
    assert seen and all(names == ["normalized.parquet"] for names in seen)
    gets = gets_of(proxy, from_s3.sha256)
    streamed = [r for r in gets if range_of(r) is None]
    ranged = [r for r in gets if range_of(r)]
    # One streamed GET carries the whole pass (hashing, and the parser for text), however large
    # the file; everything else asks for a range.
    assert len(streamed) == 1, [range_of(r) for r in gets]
    if kind == "parquet":
        # The hash reads it once, the row groups once more: twice, plus the head the format sniff
        # reads and the tail for the footer. Each row group's column chunks come in one coalesced
        # GET (4 row groups), not one GET per column chunk (16).
        assert bytes_asked(gets, len(data)) <= 2 * len(data) + 256 * 1024
        assert len(ranged) <= 4 + 4, [range_of(r) for r in ranged]
    else:
        # Text crosses the network once. Ranged GETs read the head and the tail again: the format
        # sniff's head and tail, the header check's head (and for gzip the sniff's decompressed
        # head and the trailer check).
        assert len(ranged) <= 5, [range_of(r) for r in ranged]
        assert bytes_asked(ranged, len(data)) <= STREAM_BYTES // 4


def test_validation_and_export_from_s3_read_only_the_footer_and_the_columns_they_need(
    team, owner, publish, on_s3
):
    proxy = on_s3()
    version = publish(DatasetFactory(team=team), data=parquet_bytes(), user=owner)
    assert version.status == "ready", version.failure_reason
    copy = version.parquet_blob
    proxy.faults.requests.clear()

    outcome = validate(version, [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}}])
    assert [r["success"] for r in outcome.results] == [True]
    exported = b"".join(export_stream(sha256=copy.sha256, format="csv", columns=["id"]))
    assert exported.splitlines()[:3] == [b'"id"', b"0", b"1"]

    gets = gets_of(proxy, copy.sha256)
    assert gets and all(range_of(r) for r in gets)
    # Two reads of the id column (about 1/6 of the copy) and of the footer, not of the file.
    assert bytes_asked(gets, copy.size) < copy.size / 2


def test_a_blob_missing_from_s3_fails_its_version_as_missing(team, owner, publish, on_s3):
    on_s3()
    version = publish(DatasetFactory(team=team), data=csv_bytes(), user=owner, ingest=False)
    storage.blob_discard(version.sha256)

    version = versions.version_ingest(version_id=version.pk)

    assert (version.status, version.failure_reason) == ("failed", "The stored file is missing.")
