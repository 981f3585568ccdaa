"""The ingest service a worker runs: verify, detect the format, count rows, finish once."""

from __future__ import annotations

import gzip
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.management import call_command

from datasets.ingest import reader
from datasets.ingest.reader import _Scanner, ingest_file
from datasets.ingest.sources import local_source
from datasets.models import Version
from datasets.services.versions import version_ingest
from tests.blobs import blob_tamper, parquet_file

pytestmark = pytest.mark.django_db


def parquet_bytes(rows: int) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table({"id": list(range(rows)), "label": ["x"] * rows}), sink)
    return sink.getvalue()


@pytest.mark.parametrize(
    ("data", "fmt", "rows"),
    [
        (b"id,name\n1,a\n2,b\n3,c\n", "csv", 3),
        (b"\xef\xbb\xbfid,name\r\n1,a\r\n2,b\r\n", "csv", 2),
        (b"id\tname\n1\ta\n2\tb\n", "tsv", 2),
        (b'id,note\n1,"multi\nline"\n2,plain\n', "csv", 2),
        (b'{"id": 1}\n{"id": 2}\n\n{"id": 3}\n', "jsonl", 3),
        (parquet_bytes(1234), "parquet", 1234),
        ("city\nZürich\nMünchen\n".encode(), "csv", 2),
    ],
)
def test_a_good_file_becomes_ready_with_format_and_rows(public_dataset, publish, data, fmt, rows):
    version = publish(public_dataset, data=data)
    assert (version.status, version.format, version.row_count) == ("ready", fmt, rows)
    assert version.failure_reason == ""


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"a,b\n1,2\n3,4,5\n", "Line 3 has 3 fields, but the header has 2: '3,4,5'."),
        (b'{"a": 1}\n{"a": \n', "Line 2 is not valid JSON: Expecting value at column 6."),
        (b'{"a": 1}\n[1, 2]\n', "Line 2 is not a JSON object but a list."),
    ],
)
def test_a_broken_file_fails_with_a_precise_reason(public_dataset, publish, data, reason):
    version = publish(public_dataset, data=data)
    assert version.status == "failed"
    assert reason in version.failure_reason
    assert version.row_count is None


def test_a_parquet_file_with_a_lying_footer_fails(public_dataset, publish):
    data = parquet_bytes(10)
    corrupt = data[:4] + b"\x00" * (len(data) - 12) + data[-8:]
    version = publish(public_dataset, data=corrupt)
    assert version.status == "failed"
    assert version.failure_reason.startswith("The Parquet file")


def test_corrupted_stored_bytes_fail_the_version(public_dataset, publish):
    version = publish(public_dataset, ingest=False)
    blob_tamper(version.sha256, b"id,name\n9,z\n")
    version = version_ingest(version_id=version.pk)
    assert version.status == "failed"
    assert "the blob is corrupt" in version.failure_reason


def test_ingest_runs_twice_without_harm(public_dataset, publish):
    version = publish(public_dataset)
    first = (version.status, version.row_count, version.status_changed_at)
    again = version_ingest(version_id=version.pk)
    assert (again.status, again.row_count, again.status_changed_at) == first


def test_ingest_of_a_vanished_version_is_a_no_op():
    assert version_ingest(version_id=999_999) is None


def test_requeue_stuck_queues_only_versions_processing_too_long(public_dataset, publish, request):
    stuck = publish(public_dataset, ingest=False)
    fresh = publish(public_dataset, data=b"x\n1\n", ingest=False)
    Version.objects.filter(pk=stuck.pk).update(status_changed_at=stuck.created_at.replace(year=2020))
    out = io.StringIO()
    call_command("requeue_stuck", "--older-than", "60", stdout=out)
    assert request.node.queued_ingests == [stuck.pk]
    assert "Requeued 1 stuck versions" in out.getvalue()
    assert "Requeued 0 stuck validation runs." in out.getvalue()
    call_command("requeue_stuck", "--older-than", "0", stdout=out)
    assert request.node.queued_ingests == [stuck.pk, stuck.pk, fresh.pk]


def test_gzipped_json_lines_are_read_through_the_compression(public_dataset, publish):
    version = publish(
        public_dataset, data=gzip.compress(b"".join(json.dumps({"a": n}).encode() + b"\n" for n in range(50)))
    )
    assert (version.status, version.format, version.compression, version.row_count) == (
        "ready",
        "jsonl",
        "gzip",
        50,
    )


def test_the_parquet_copy_is_written_in_large_row_groups_with_dictionaries_only_where_values_repeat(
    public_dataset, publish
):
    rows = 300_000
    lines = [b"id,country"] + [f"{n},{('DE', 'FR', 'JP')[n % 3]}".encode() for n in range(rows)]
    version = publish(public_dataset, data=b"\n".join(lines) + b"\n")

    copy = parquet_file(version.parquet_blob.sha256)
    assert copy.metadata.num_rows == rows
    # Row groups of at least 128k rows (but the last), not one per parser block.
    sizes = [copy.metadata.row_group(i).num_rows for i in range(copy.num_row_groups)]
    assert len(sizes) <= 3
    assert all(size >= 128 * 1024 for size in sizes[:-1])
    encodings = {copy.schema_arrow.names[c]: copy.metadata.row_group(0).column(c).encodings for c in range(2)}
    assert "RLE_DICTIONARY" in encodings["country"]
    assert "RLE_DICTIONARY" not in encodings["id"]
    assert copy.read().column("country").to_pylist()[:4] == ["DE", "FR", "JP", "DE"]


def test_wide_rows_are_gathered_into_chunks_bounded_in_bytes_not_only_in_rows(tmp_path, monkeypatch):

    # 2,000 rows of 5 kB: far below ROWS_PER_CHUNK, so a bound in rows alone holds the whole file.
    monkeypatch.setattr(reader, "CHUNK_BYTES", 2 * 1024 * 1024, raising=False)
    path = tmp_path / "wide.csv"
    path.write_bytes(b"id,text\n" + b"".join(b"%d,%s\n" % (n, b"x" * 5000) for n in range(2000)))

    result = ingest_file(source=local_source(path), workdir=tmp_path, progress=lambda done, rows: None)

    copy = pq.ParquetFile(result.parquet_path)
    sizes = [copy.metadata.row_group(i).num_rows for i in range(copy.num_row_groups)]
    assert sum(sizes) == result.rows == 2000
    # Each chunk (one row group) stops once it holds CHUNK_BYTES, give or take one parser block.
    assert max(sizes) <= (2 + 1) * 1024 * 1024 // 5000


def test_a_widening_re_read_does_not_wait_for_the_side_scan_to_finish(tmp_path, monkeypatch):

    finished = []
    run = _Scanner.run

    def slow_run(self):  # a scan 2 s behind the parser, as on a large file
        for _ in range(200):
            if self.stop.wait(0.01):
                return
        run(self)
        finished.append(self)

    monkeypatch.setattr(_Scanner, "run", slow_run)
    path = tmp_path / "widens.csv"
    lines = [b"n"] + [b"%d" % n for n in range(300_000)] + [b"1.5"]
    path.write_bytes(b"\n".join(lines) + b"\n")

    result = ingest_file(source=local_source(path), workdir=tmp_path, progress=lambda done, rows: None)

    assert result.schema[0]["type"] == "float"
    assert len(finished) == 1  # the final read's scan; the abandoned read's scan was stopped


def test_integers_beyond_float_precision_are_profiled(public_dataset, publish):
    # 2**53 + 1 and 2**62 have no exact float64: the mean, std and histogram may round them,
    # but the version must not fail (nor stay processing).
    big = [2**53 + 1, 2**62, 7]
    version = publish(public_dataset, data=b"n\n" + b"".join(f"{n}\n".encode() for n in big))
    assert version.status == "ready", version.failure_reason
    (column,) = version.profile["columns"]
    assert (column["min"], column["max"]) == (7, 2**62)  # exact, from the integers themselves
    assert column["mean"] == pytest.approx(sum(big) / 3)


@pytest.mark.parametrize("nul_at_end", [False, True])
def test_the_side_scan_keeps_near_the_parser_and_still_sees_the_whole_file(
    public_dataset, publish, monkeypatch, nul_at_end
):

    # The scan may run only 64 KiB ahead of the parser here (256 MiB in production), so it
    # waits for the parser all through this 3 MB file, and must still hash all of it and find
    # a NUL byte at its very end.
    monkeypatch.setattr(reader, "SCAN_AHEAD", 64 * 1024)
    rows = 150_000
    data = b"id,word\n" + b"".join(f"{n},w{n % 97}\n".encode() for n in range(rows))
    if nul_at_end:
        data += b"\x00"
    version = publish(public_dataset, data=data)
    if nul_at_end:
        assert version.status == "failed"
        assert f"a NUL byte at offset {len(data) - 1:,}" in version.failure_reason
    else:
        assert (version.status, version.row_count) == ("ready", rows)
