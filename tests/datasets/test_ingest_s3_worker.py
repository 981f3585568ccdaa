"""Ingest from S3 as a long-lived worker runs it: text streams to the parser from the one GET that
hashes it (parts and parser blocks of any sizes), a connection that drops mid-body is taken up
where it stopped, heads and tails are ranged GETs of boto3's (pyarrow's S3 client never starts),
and a worker's parent prepares the S3 client's model before it forks, talking to nobody, so that
its children read with clients of their own from their first task."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import random
from types import SimpleNamespace
from typing import Any

import pytest

from datasets import storage
from datasets.ingest import reader
from datasets.storage import s3
from tests.client.proxy import FaultyProxy
from tests.factories import DatasetFactory
from tests.services import S3_TEST_BUCKET

pytestmark = pytest.mark.django_db

MIB = 1024**2


def csv_bytes(rows: int) -> bytes:
    rng = random.Random(5)  # noqa: S311 (test data, seeded)
    lines = ["id,city,score,note"]
    for n in range(rows):
        note = "" if n % 7 == 0 else f'"a ""quoted"", note {rng.getrandbits(40):x}"'
        lines.append(f"{n},{rng.choice(['Oslo', 'Lima', 'Pune'])},{rng.random():.6f},{note}")
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def on_s3(settings: Any, s3_endpoint: str) -> Any:
    """Storage on a fresh prefix of the test bucket, reached through a recording proxy."""
    with FaultyProxy(s3_endpoint) as proxy:
        proxy.faults.match = "/blobs/"
        settings.GRANARY_S3_ENDPOINT_URL = proxy.url
        settings.GRANARY_STORAGE_URL = f"s3://{S3_TEST_BUCKET}/w-{os.urandom(8).hex()}"
        yield proxy


def found(version: Any) -> dict[str, Any]:
    return {
        "status": version.status,
        "failure": version.failure_reason,
        "rows": version.row_count,
        "schema": version.schema,
        "profile": version.profile,
        "preview": version.preview,
        "parquet_sha256": version.parquet_blob.sha256 if version.parquet_blob else None,
    }


def blob_gets(proxy: FaultyProxy, sha256: str) -> list[dict[str, Any]]:
    return [r for r in proxy.faults.requests if r["method"] == "GET" and sha256 in r["path"]]


def range_of(request: dict[str, Any]) -> str | None:
    return next((v for k, v in request["headers"].items() if k.lower() == "range"), None)


def test_text_parts_and_parser_blocks_of_sizes_that_do_not_divide_each_other_read_as_from_disk(
    team, owner, publish, settings, on_s3, monkeypatch
):
    # Parts of 4,000 bytes under blocks of 6,000: most blocks span two parts, and each part is
    # handed to the parser as views, never reused while the parser may still hold one.
    data = csv_bytes(3000)
    settings.GRANARY_MAX_ROW_BYTES = 6000
    monkeypatch.setattr(reader, "FEED_BYTES", 4000)
    from_s3 = publish(DatasetFactory(team=team, slug="on-s3"), data=data, user=owner)
    settings.GRANARY_STORAGE_URL = ""
    from_disk = publish(DatasetFactory(team=team, slug="on-disk"), data=data, user=owner)

    assert from_disk.status == "ready", from_disk.failure_reason
    assert found(from_s3) == found(from_disk)
    assert from_s3.row_count == 3000
    streamed = [r for r in blob_gets(on_s3, from_s3.sha256) if range_of(r) is None]
    assert len(streamed) == 1, "the text crossed the network once"


def test_a_stream_cut_mid_body_is_taken_up_where_it_stopped_and_each_byte_fetched_once(
    team, owner, publish, settings, on_s3
):
    data = csv_bytes(90_000)  # about 4 MiB
    assert len(data) > 3 * MIB
    settings.GRANARY_STORAGE_URL = ""
    from_disk = publish(DatasetFactory(team=team, slug="on-disk"), data=data, user=owner)
    settings.GRANARY_STORAGE_URL = f"s3://{S3_TEST_BUCKET}/w-{os.urandom(8).hex()}"
    version = publish(DatasetFactory(team=team, slug="on-s3"), data=data, user=owner, ingest=False)
    # Every blob GET drops after 1.5 MiB of body: the heads and tails ingest reads are smaller.
    on_s3.faults.cut_after = 3 * MIB // 2
    on_s3.faults.cuts = 100
    on_s3.faults.requests.clear()

    from datasets.services.versions import version_ingest

    version = version_ingest(version_id=version.pk)

    assert found(version) == found(from_disk)
    assert version.sha256 == hashlib.sha256(data).hexdigest()
    gets = blob_gets(on_s3, version.sha256)
    resumed = [range_of(r) for r in gets if (range_of(r) or "").endswith("-")]
    assert len([r for r in gets if range_of(r) is None]) == 1
    assert resumed == [f"bytes={MIB * 3 // 2}-", f"bytes={MIB * 3}-"]


def bounds(asked: str, size: int) -> tuple[int, int]:
    first, _, last = asked.removeprefix("bytes=").partition("-")
    return int(first), min(int(last) + 1 if last else size, size)


@pytest.mark.parametrize("kind", ["csv", "csv.gz"])
def test_a_text_ingest_from_s3_asks_storage_for_no_head_or_tail_it_already_read(
    kind, team, owner, publish, on_s3
):
    # The format sniff, the header check, the date columns' look and (gzip) the trailer check
    # each want the head or the tail: each range is fetched once, then read from memory.
    lines = ["id,seen_on,city"] + [
        f"{n},2024/03/{n % 28 + 1:02d},{'Oslo' if n % 2 else 'Lima'}" for n in range(90_000)
    ]
    data = ("\n".join(lines) + "\n").encode()
    if kind == "csv.gz":
        data = gzip.compress(data, mtime=0)

    version = publish(DatasetFactory(team=team), data=data, user=owner)

    assert version.status == "ready", version.failure_reason
    assert [c["type"] for c in version.schema] == ["integer", "date", "string"]
    ranged = [bounds(r, len(data)) for r in map(range_of, blob_gets(on_s3, version.sha256)) if r]
    for index, (start, end) in enumerate(ranged):
        earlier = ranged[:index]
        assert not any(a <= start and end <= b for a, b in earlier), f"{ranged}: {start}-{end} again"


@pytest.mark.parametrize("kind", ["csv", "csv.gz", "parquet"])
def test_ingest_from_s3_reads_heads_and_tails_with_ranged_gets_and_never_starts_pyarrows_s3_client(
    kind, team, owner, publish, on_s3, monkeypatch
):
    import pyarrow as pa
    import pyarrow.parquet as pq

    def refused(self: Any) -> Any:
        raise AssertionError("ingest started pyarrow's S3 client")

    monkeypatch.setattr(s3.S3Storage, "arrow_filesystem", refused)
    data = csv_bytes(5000)
    if kind == "csv.gz":
        data = gzip.compress(data, mtime=0)
    elif kind == "parquet":
        sink = pa.BufferOutputStream()
        pq.write_table(pa.table({"id": range(5000), "x": [f"v{n}" for n in range(5000)]}), sink)
        data = sink.getvalue().to_pybytes()

    version = publish(DatasetFactory(team=team), data=data, user=owner)

    assert version.status == "ready", version.failure_reason
    assert version.row_count == 5000
    ranged = [range_of(r) for r in blob_gets(on_s3, version.sha256) if range_of(r)]
    assert ranged and all("-" in r for r in ranged)


def test_a_ranged_source_reads_what_it_is_asked_in_one_get_each_and_nothing_past_the_end(on_s3, tmp_path):
    data = bytes(range(256)) * 1024
    path = tmp_path / "blob"
    path.write_bytes(data)
    sha256 = hashlib.sha256(data).hexdigest()
    storage.blob_put(source=path, sha256=sha256)
    on_s3.faults.requests.clear()

    with storage.blob_source(sha256).open() as handle:
        assert handle.read(10) == data[:10]
        handle.seek(-6, os.SEEK_END)
        assert handle.read(100) == data[-6:]
        assert handle.read(1) == b"", "past the end: no request (S3 answers 416)"
        handle.seek(1000)
        into = bytearray(24)
        assert handle.readinto(into) == 24 and bytes(into) == data[1000:1024]
        with pytest.raises(ValueError):
            handle.seek(-1)

    assert [range_of(r) for r in blob_gets(on_s3, sha256)] == [
        "bytes=0-9",
        f"bytes={len(data) - 6}-{len(data) - 1}",
        "bytes=1000-1023",
    ]


def test_a_worker_prepared_before_it_forks_talks_to_nobody_and_its_child_reads_with_its_own_client(
    on_s3, tmp_path
):
    data = os.urandom(200_000)
    path = tmp_path / "blob"
    path.write_bytes(data)
    sha256 = hashlib.sha256(data).hexdigest()
    storage.blob_put(source=path, sha256=sha256)
    parent_client = storage.backend().client
    on_s3.faults.requests.clear()

    storage.backend_prepare()

    assert on_s3.faults.requests == [], "preparing opens no connection"
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker's child: what it reads goes back through the pipe
        try:
            backend = storage.backend()
            with storage.blob_open(sha256) as handle:
                got = {
                    "sha256": hashlib.sha256(handle.read()).hexdigest(),
                    "own": backend.client is not parent_client,
                }
        except BaseException as exc:
            got = {"error": repr(exc)}
        os.write(write_end, json.dumps(got).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        answer = json.loads(pipe.read())
    os.waitpid(pid, 0)

    assert answer == {"sha256": sha256, "own": True}
    assert [r["method"] for r in blob_gets(on_s3, sha256)] == ["GET"]


@pytest.mark.parametrize(
    ("queues", "prepared"), [((), True), (("ingest",), True), (("quality",), True), (("io",), False)]
)
def test_a_worker_that_reads_blobs_prepares_the_storage_client_and_bounds_its_arenas_at_start(
    queues, prepared, monkeypatch
):
    from config import celery

    calls: list[str] = []
    monkeypatch.setattr(storage, "backend_prepare", lambda: calls.append("storage"))
    monkeypatch.setattr(celery, "malloc_arenas_bounded", lambda: calls.append("arenas"))
    worker = SimpleNamespace(
        app=SimpleNamespace(amqp=SimpleNamespace(queues=SimpleNamespace(consume_from=queues)))
    )

    celery._prepare_storage(sender=worker)

    assert calls == (["arenas", "storage"] if prepared else [])
