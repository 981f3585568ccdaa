"""A Parquet upload is read from S3 in one pass (each byte fetched once, its footer read once),
and serves as its own Parquet copy when it already is what the copy would be: nothing more is
written or stored, the copy's digest is the upload's, and the viewer, validation and exports read
it; an upload that is not (another codec, row groups far from the copy's size, INT96 timestamps,
a row group that decodes larger than its footer says) still gets a copy of its own."""

from __future__ import annotations

import hashlib
import io
import os
import random
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datasets import storage
from datasets.ingest import reader
from datasets.ingest.export import export_stream
from datasets.viewer.pages import Filter
from datasets.viewer.rows import version_rows
from quality.runner import validate
from tests.blobs import parquet_file, stored_digests
from tests.client.proxy import FaultyProxy
from tests.services import S3_TEST_BUCKET

pytestmark = pytest.mark.django_db

ROWS = 3500
GROUP = 1000  # the copy's row group size in these tests (ROWS_PER_CHUNK)


def table(rows: int = ROWS) -> pa.Table:
    rng = random.Random(11)  # noqa: S311 (test data, seeded)
    return pa.table(
        {
            "id": pa.array(range(rows), pa.int64()),
            "city": [("Oslo", "Lima", "Pune")[n % 3] for n in range(rows)],
            "note": [None if n % 13 == 0 else f"{rng.getrandbits(48):x}-{n}" for n in range(rows)],
            "score": [rng.random() for _ in range(rows)],
        }
    )


def parquet_bytes(data: pa.Table, **options: Any) -> bytes:
    sink = io.BytesIO()
    pq.write_table(data, sink, **{"compression": "zstd", "row_group_size": GROUP, **options})
    return sink.getvalue()


@pytest.fixture(autouse=True)
def copy_row_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    """Copies in row groups of GROUP rows, so that small files have the copy's layout or not."""
    monkeypatch.setattr(reader, "ROWS_PER_CHUNK", GROUP)


@pytest.fixture(params=["filesystem", "s3"])
def backend(request: pytest.FixtureRequest, settings: Any, data_dir: Any) -> str:
    if request.param == "s3":
        settings.GRANARY_S3_ENDPOINT_URL = request.getfixturevalue("s3_endpoint")
        settings.GRANARY_STORAGE_URL = f"s3://{S3_TEST_BUCKET}/t-{os.urandom(8).hex()}"
    else:
        settings.GRANARY_STORAGE_URL = f"file://{data_dir}"
    return str(request.param)


@pytest.fixture
def recorded_s3(settings: Any, s3_endpoint: str, data_dir: Any) -> Any:
    """S3 storage on a fresh prefix, reached through a proxy that records each request."""
    with FaultyProxy(s3_endpoint) as proxy:
        settings.GRANARY_S3_ENDPOINT_URL = proxy.url
        settings.GRANARY_STORAGE_URL = f"s3://{S3_TEST_BUCKET}/t-{os.urandom(8).hex()}"
        yield proxy


def rows_of(data: pa.Table, start: int, count: int) -> list[list[Any]]:
    return [list(row.values()) for row in data.slice(start, count).to_pylist()]


def test_a_parquet_upload_with_the_copys_layout_is_its_own_copy(backend, public_dataset, publish):
    data = table()
    upload = parquet_bytes(data)

    version = publish(public_dataset, data=upload, filename="cities.parquet")

    assert version.status == "ready", version.failure_reason
    assert version.row_count == ROWS
    # The copy is the upload: same digest, same bytes, and nothing else was stored.
    assert version.parquet_blob_id == version.sha256 == hashlib.sha256(upload).hexdigest()
    assert stored_digests() == [version.sha256]
    # The viewer pages through it (across row groups), sorts and filters it.
    page = version_rows(version=version, offset=GROUP - 2, limit=5)
    assert (page.total, page.rows) == (ROWS, rows_of(data, GROUP - 2, 5))
    top = version_rows(version=version, limit=3, sort="id", descending=True)
    assert [row[0] for row in top.rows] == [ROWS - 1, ROWS - 2, ROWS - 3]
    lima = version_rows(version=version, limit=2, filters=[Filter(column="city", op="=", value="Lima")])
    assert lima.total == sum(1 for n in range(ROWS) if n % 3 == 1)
    # Validation and exports read it too.
    outcome = validate(version, [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}}])
    assert [result["success"] for result in outcome.results] == [True]
    exported = b"".join(export_stream(sha256=version.parquet_blob_id, format="csv", columns=["id", "city"]))
    assert exported.splitlines()[:3] == [b'"id","city"', b'0,"Oslo"', b'1,"Lima"']


UNLIKE_A_COPY = {
    "snappy, not the copy's codec": lambda: parquet_bytes(table(), compression="snappy"),
    "row groups far smaller than the copy's": lambda: parquet_bytes(table(), row_group_size=GROUP // 4),
    "a row group far larger than the copy's": lambda: parquet_bytes(table(), row_group_size=3 * GROUP),
    "INT96 timestamps": lambda: parquet_bytes(
        table().append_column("at", pa.array([n * 1_000_000 for n in range(ROWS)], pa.timestamp("us"))),
        use_deprecated_int96_timestamps=True,
    ),
}


@pytest.mark.parametrize("kind", sorted(UNLIKE_A_COPY))
def test_a_parquet_upload_unlike_the_copy_still_gets_a_copy_of_its_own(
    kind, backend, public_dataset, publish
):
    upload = UNLIKE_A_COPY[kind]()

    version = publish(public_dataset, data=upload, filename="cities.parquet")

    assert version.status == "ready", version.failure_reason
    assert version.parquet_blob_id not in (None, version.sha256)
    assert sorted(stored_digests()) == sorted([version.sha256, version.parquet_blob_id])
    copy = parquet_file(version.parquet_blob_id)
    assert copy.metadata.row_group(0).column(0).compression == "ZSTD"
    assert [copy.metadata.row_group(i).num_rows for i in range(copy.num_row_groups)] == [
        1000,
        1000,
        1000,
        500,
    ]
    assert copy.read().select(["id", "city", "note", "score"]).equals(table())


def test_a_row_group_that_decodes_far_larger_than_its_footer_says_gets_a_copy(
    backend, public_dataset, publish, monkeypatch
):
    # 1 kB values behind a dictionary: a few kB encoded, a megabyte decoded. The footer looks
    # like the copy's, the read finds otherwise, and the file is read again to write a copy.
    monkeypatch.setattr(reader, "CHUNK_BYTES", 256 * 1024)
    words = [bytes([65 + n]).decode() * 1000 for n in range(10)]
    data = pa.table({"id": list(range(GROUP)), "word": [words[n % 10] for n in range(GROUP)]})
    upload = parquet_bytes(data)
    assert pq.ParquetFile(io.BytesIO(upload)).metadata.row_group(0).total_byte_size < 256 * 1024

    version = publish(public_dataset, data=upload, filename="words.parquet")

    assert version.status == "ready", version.failure_reason
    assert version.parquet_blob_id not in (None, version.sha256)
    assert parquet_file(version.parquet_blob_id).read().equals(data)


def gets(proxy: FaultyProxy, sha256: str) -> list[dict[str, Any]]:
    return [
        r for r in proxy.faults.requests if r["method"] == "GET" and r["path"].split("?")[0].endswith(sha256)
    ]


def asked(request: dict[str, Any], size: int) -> int:
    """The bytes a GET asked for (its Range, clamped to the object; without one, all of it)."""
    header = next((v for k, v in request["headers"].items() if k.lower() == "range"), None)
    if header is None:
        return size
    first, _, last = header.removeprefix("bytes=").partition("-")
    return min(int(last) if last else size - 1, size - 1) - int(first) + 1


def test_a_parquet_upload_on_s3_is_fetched_once_in_one_streamed_get(recorded_s3, public_dataset, publish):
    upload = parquet_bytes(table(40_000), row_group_size=4 * GROUP, compression="snappy")
    assert len(upload) > 8 * 64 * 1024

    version = publish(public_dataset, data=upload, filename="cities.parquet")

    assert version.status == "ready", version.failure_reason
    assert version.sha256 == hashlib.sha256(upload).hexdigest()
    requests = gets(recorded_s3, version.sha256)
    streamed = [r for r in requests if asked(r, len(upload)) == len(upload)]
    assert len(streamed) == 1
    # Besides the one pass: the format sniff's head and tail (64 KiB each), the tail holding the
    # footer, which is read there once.
    assert len(requests) <= 3, [r["headers"] for r in requests]
    assert sum(asked(r, len(upload)) for r in requests) <= len(upload) + 2 * 64 * 1024


def test_a_read_behind_the_row_group_being_read_is_fetched_apart_and_still_right(
    recorded_s3, data_dir, monkeypatch
):
    # Column chunks laid out out of row group order (no writer we know does this) make pyarrow
    # read behind the bytes held: those come from a ranged GET of their own, and the hash still
    # covers the whole file once. Parts of 1 KiB, so that little is held.
    monkeypatch.setattr(reader, "FEED_BYTES", 1024)
    upload = parquet_bytes(table(20_000), compression="snappy")
    path = storage.tmp_dir() / "upload.parquet"
    path.write_bytes(upload)
    sha256 = hashlib.sha256(upload).hexdigest()
    storage.blob_put(source=path, sha256=sha256)
    source = storage.blob_source(sha256)
    reading = reader._Reading()
    feed = reader._Feed(source, reading, quotechar=None)
    reading.scanner = feed
    feed.start()
    window = reader._RowGroupWindow(source, feed, reading)
    recorded_s3.faults.requests.clear()
    try:
        got = []
        for start, end, keep in [
            (4, 100, 0),
            (5000, 9000, 5000),
            (200, 300, 5000),
            (len(upload) - 8, None, 0),
        ]:
            window.keep = max(window.keep, keep)
            window.seek(start)
            got.append((start, window.read(-1 if end is None else end - start)))
        reading.settle()
    finally:
        window.close()

    assert reading.error is None
    assert [data for _, data in got] == [upload[4:100], upload[5000:9000], upload[200:300], upload[-8:]]
    assert reading.hasher.hexdigest() == sha256
    ranged = [r for r in gets(recorded_s3, sha256) if asked(r, len(upload)) < len(upload)]
    assert [asked(r, len(upload)) for r in ranged] == [100]
