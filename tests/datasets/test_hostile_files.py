"""Hostile files: each ends `failed` with a reason that names the limit it broke, within the
worker's memory budget and in time proportional to its size; and no error of the reader or the
profiler leaves a version `processing` for requeueing to repeat."""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from core.errors import GranaryError
from datasets.ingest import reader
from datasets.models import Version
from datasets.services.versions import version_ingest, versions_requeue
from tests.conftest import search_writes

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
MEMORY_BUDGET_MB = 500


def nested_json(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def parquet_bytes(table: pa.Table, **options: object) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, **options)
    return sink.getvalue()


def ingest_in_a_worker_process(paths: dict[str, Path], workdir: Path, **limits: int) -> dict:
    """Ingest each file in a fresh process, as a worker would, and report how each ended (or that
    the process died) and the process's peak RSS."""
    script = f"""
import gc, json, os, sys
sys.path.insert(0, {str(ROOT)!r})
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
import django
django.setup()
from pathlib import Path
from django.conf import settings
for name, value in {limits!r}.items():
    setattr(settings, name, value)
from core.errors import GranaryError
from datasets.ingest.reader import ingest_file
from datasets.ingest.sources import local_source
def peak_mb():
    # VmHWM, not ru_maxrss: on Linux ru_maxrss keeps the parent's peak across fork and exec.
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024
results = {{}}
for name, path in { ({k: str(v) for k, v in paths.items()})!r}.items():
    try:
        ingest_file(source=local_source(Path(path)), workdir=Path({str(workdir)!r}), progress=lambda b, r: None)
        results[name] = "ready"
    except GranaryError as exc:
        results[name] = exc.detail
    gc.collect()
print(json.dumps({{"results": results, "peak_mb": peak_mb()}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=ROOT, env=os.environ
    )
    assert done.returncode == 0, f"the worker process died ({done.returncode}): {done.stderr[-2000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- nesting -------------------------------------------------------------------------------------


def test_json_lines_nested_500_deep_fail_naming_the_nesting_limit(public_dataset, publish):
    version = publish(public_dataset, data=(nested_json(500) + b"\n") * 3)
    assert version.status == "failed"
    assert "Line 1 is nested 500 levels deep" in version.failure_reason
    assert "at most 64 (GRANARY_MAX_NESTING_DEPTH)" in version.failure_reason


def test_a_deep_line_after_the_first_block_fails_naming_the_limit_and_its_line(
    public_dataset, publish, settings
):
    settings.GRANARY_MAX_ROW_BYTES = 64 * 1024
    shallow = b"".join(b'{"a": %d}\n' % n for n in range(20_000))  # about 200 kB: several blocks
    version = publish(public_dataset, data=shallow + b'{"a": ' + nested_json(5000) + b"}\n")
    assert version.status == "failed"
    assert "Line 20,001 is nested 5,001 levels deep" in version.failure_reason
    assert "(GRANARY_MAX_NESTING_DEPTH)" in version.failure_reason


def test_a_deep_line_is_refused_before_the_parser_sees_it(tmp_path):
    """pyarrow's JSON reader crashes the whole process (SIGSEGV) when it infers a schema from a
    line some 10,000 levels deep: the first line passes the upload's sniff, the second, with a
    field of its own, is the bomb."""
    path = tmp_path / "deep.jsonl"
    path.write_bytes(b'{"b": 1}\n{"a": ' + nested_json(20_000) + b"}\n")
    report = ingest_in_a_worker_process({"deep": path}, tmp_path)
    assert "Line 2 is nested 20,001 levels deep" in report["results"]["deep"]


def test_parquet_nested_deeper_than_the_limit_fails_naming_it(public_dataset, publish, settings):
    settings.GRANARY_MAX_NESTING_DEPTH = 8
    value: object = 1
    for _ in range(10):
        value = {"a": value}
    version = publish(public_dataset, data=parquet_bytes(pa.table({"n": [value]})))
    assert version.status == "failed"
    assert "nested 10 levels deep" in version.failure_reason
    assert "at most 8 (GRANARY_MAX_NESTING_DEPTH)" in version.failure_reason


# --- decompression -------------------------------------------------------------------------------


def test_a_gzip_file_expanding_more_than_the_ratio_allows_fails_naming_it(public_dataset, publish, settings):
    settings.GRANARY_MAX_DECOMPRESSED_BYTES = 10 * 1024**3  # not the limit that is hit
    line = b"x" * 1000 + b"\n"
    data = gzip.compress(b"text\n" + line * 20_000)  # 20 MB in about 20 kB
    version = publish(public_dataset, data=data)
    assert version.status == "failed"
    assert "more than 100 times its size" in version.failure_reason
    assert "(GRANARY_MAX_DECOMPRESSION_RATIO)" in version.failure_reason


def test_a_gzip_file_with_an_ordinary_ratio_is_ingested(public_dataset, publish):
    rows = b"".join(b"%d,%d,label_%d\n" % (n, n * 7, n % 13) for n in range(50_000))
    version = publish(public_dataset, data=gzip.compress(b"id,value,label\n" + rows))
    assert (version.status, version.row_count) == ("ready", 50_000)


def run_settings(**environ: str) -> dict:
    names = ["GRANARY_MAX_UPLOAD_BYTES", "GRANARY_MAX_DECOMPRESSED_BYTES"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRANARY_MAX_")}
    script = (
        "import json; from config.settings import base; "
        f"print(json.dumps({{n: getattr(base, n) for n in {names!r}}}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, env={**env, **environ}
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_the_decompressed_limit_is_twenty_times_the_upload_limit_unless_set():
    assert run_settings(GRANARY_MAX_UPLOAD_BYTES="1G")["GRANARY_MAX_DECOMPRESSED_BYTES"] == 20 * 1024**3
    assert run_settings()["GRANARY_MAX_DECOMPRESSED_BYTES"] == 20 * 10 * 1024**3
    explicit = run_settings(GRANARY_MAX_UPLOAD_BYTES="1G", GRANARY_MAX_DECOMPRESSED_BYTES="3G")
    assert explicit["GRANARY_MAX_DECOMPRESSED_BYTES"] == 3 * 1024**3


# --- columns -------------------------------------------------------------------------------------


def test_a_csv_header_wider_than_the_limit_is_refused_before_parsing(public_dataset, publish, monkeypatch):
    opened = []
    real_open_csv = reader.pacsv.open_csv
    monkeypatch.setattr(reader.pacsv, "open_csv", lambda *a, **k: opened.append(1) or real_open_csv(*a, **k))
    header = ",".join(f"c{n}" for n in range(5000))
    version = publish(public_dataset, data=f"{header}\n{','.join('1' * 5000)}\n".encode())
    assert version.status == "failed"
    assert "The file has 5,000 columns; Granary takes at most 2,000 (GRANARY_MAX_COLUMNS)." in (
        version.failure_reason
    )
    assert opened == []


def test_json_lines_with_more_distinct_fields_than_the_limit_fail_naming_it(
    public_dataset, publish, settings
):
    settings.GRANARY_MAX_COLUMNS = 100
    lines = b"".join(json.dumps({f"k{n * 10 + i}": 1 for i in range(10)}).encode() + b"\n" for n in range(50))
    version = publish(public_dataset, data=lines)
    assert version.status == "failed"
    assert "at most 100 (GRANARY_MAX_COLUMNS)" in version.failure_reason


def test_the_worker_stays_within_its_memory_budget_on_wide_headers_and_huge_parquet_footers(tmp_path):
    n = 100_000
    wide_csv = tmp_path / "wide.csv"  # 0.9 MB
    wide_csv.write_text(",".join(f"c{i}" for i in range(n)) + "\n" + ",".join("1" * n) + "\n")
    wide_json = tmp_path / "wide.jsonl"  # 1.3 MB: 100 new keys on each line
    wide_json.write_bytes(
        b"".join(json.dumps({f"k{r * 100 + i}": 1 for i in range(100)}).encode() + b"\n" for r in range(1000))
    )
    metadata = tmp_path / "metadata.parquet"  # 64 MB of key-value metadata (twice, with the Arrow schema)
    table = pa.table({"a": [1, 2, 3]}).replace_schema_metadata({"k": "x" * (64 * 1024 * 1024)})
    pq.write_table(table, metadata)

    report = ingest_in_a_worker_process(
        {"wide csv": wide_csv, "wide json": wide_json, "metadata": metadata}, tmp_path
    )

    results = report["results"]
    assert "The file has 100,000 columns" in results["wide csv"]
    assert "(GRANARY_MAX_COLUMNS)" in results["wide json"]
    assert "(GRANARY_MAX_PARQUET_METADATA_BYTES)" in results["metadata"]
    print(f"peak RSS of the ingest worker over the wide and metadata cases: {report['peak_mb']:.0f} MB")
    assert report["peak_mb"] < MEMORY_BUDGET_MB, report


def test_the_worker_stays_within_its_memory_budget_on_files_of_long_values_and_many_columns(tmp_path):
    """Files within every limit, whose profile (exact counts and row sample bounded in values per
    column, not bytes) and preview held most of the file: 760 MB and 650 MB before."""
    long_values = tmp_path / "long.csv"  # 100 MB: 100 rows of 1,000,000 distinct characters
    with long_values.open("w") as out:
        out.write("id,text\n")
        out.writelines(f"{row},{os.urandom(500_000).hex()}\n" for row in range(100))
    many_columns = tmp_path / "many.csv"  # 97 MB: 6,000 rows of 2,000 columns, each value distinct
    rows, columns = 6000, 2000
    values = np.arange(rows * columns, dtype=np.int64).reshape(columns, rows)
    pacsv.write_csv(pa.table({f"c{i}": values[i] for i in range(columns)}), many_columns)

    report = ingest_in_a_worker_process({"long values": long_values, "many columns": many_columns}, tmp_path)

    assert report["results"] == {"long values": "ready", "many columns": "ready"}
    print(f"peak RSS of the ingest worker over long values and many columns: {report['peak_mb']:.0f} MB")
    assert report["peak_mb"] < MEMORY_BUDGET_MB, report


# --- Parquet -------------------------------------------------------------------------------------


def test_parquet_with_more_row_groups_than_the_limit_fails_naming_it(public_dataset, publish, settings):
    settings.GRANARY_MAX_PARQUET_ROW_GROUPS = 1000
    data = parquet_bytes(pa.table({"a": list(range(2000))}), row_group_size=1)
    version = publish(public_dataset, data=data)
    assert version.status == "failed"
    assert "2,000 row groups; Granary takes at most 1,000 (GRANARY_MAX_PARQUET_ROW_GROUPS)" in (
        version.failure_reason
    )


def test_parquet_with_more_metadata_than_the_limit_fails_naming_it(public_dataset, publish, settings):
    settings.GRANARY_MAX_PARQUET_METADATA_BYTES = 64 * 1024
    table = pa.table({"a": [1, 2, 3]}).replace_schema_metadata({"k": "x" * 100_000})
    version = publish(public_dataset, data=parquet_bytes(table))
    assert version.status == "failed"
    assert "Granary takes at most 65,536 (GRANARY_MAX_PARQUET_METADATA_BYTES)" in version.failure_reason


# --- long rows -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (b"a," + b"x" * 300_000, 1),  # a header with no newline
        (b"a,b\n1,2\n3," + b"x" * 300_000 + b"\n4,5\n", 3),  # a later row
        (b"a,b\n1,2\n3," + b"x" * 300_000, 3),  # the last row, with no newline
        (b'{"a": 1}\n{"a": "' + b"x" * 300_000 + b'"}\n', 2),  # JSON Lines
        (gzip.compress(b"a,b\n1,2\n3," + b"x" * 300_000 + b"\n"), 3),  # gzip
    ],
    ids=["csv header", "csv row", "csv last row", "json line", "gzip row"],
)
def test_a_row_longer_than_the_limit_fails_naming_it(public_dataset, publish, settings, data, line):
    settings.GRANARY_MAX_ROW_BYTES = 64 * 1024
    version = publish(public_dataset, data=data)
    assert version.status == "failed"
    assert f"Line {line} is longer than 65,536 bytes (GRANARY_MAX_ROW_BYTES)" in version.failure_reason


def test_a_row_shorter_than_the_limit_is_read(public_dataset, publish, settings):
    settings.GRANARY_MAX_ROW_BYTES = 64 * 1024
    data = b"a,b\n" + b"".join(b"%d,%s\n" % (n, b"x" * 60_000) for n in range(5))
    version = publish(public_dataset, data=data)
    assert (version.status, version.row_count) == ("ready", 5), version.failure_reason


# --- widening ------------------------------------------------------------------------------------


def test_columns_that_turn_out_wider_than_inferred_are_widened_in_one_re_read(
    public_dataset, publish, settings, monkeypatch
):
    """The last row widens 20 columns: one pass finds them all, one more reads the file with them
    (instead of one re-read per column)."""
    settings.GRANARY_MAX_ROW_BYTES = 16 * 1024  # small blocks, so the last row is far from the first
    opened = []
    real_open_csv = reader.pacsv.open_csv
    monkeypatch.setattr(reader.pacsv, "open_csv", lambda *a, **k: opened.append(1) or real_open_csv(*a, **k))
    columns = 22
    header = ",".join(f"c{i}" for i in range(columns)).encode()
    rows = b"".join(b",".join(b"%d" % (n + i) for i in range(columns)) + b"\n" for n in range(20_000))
    # c0 stays an integer; c1 becomes a float in the middle of the file; the rest become strings
    # on the last row.
    middle = b"0,1.5," + b",".join(b"7" for _ in range(columns - 2)) + b"\n"
    last = b"1,2," + b",".join(b"s%d" % i for i in range(columns - 2)) + b"\n"
    half = len(rows) // 2
    cut = rows.index(b"\n", half) + 1
    data = header + b"\n" + rows[:cut] + middle + rows[cut:] + last

    version = publish(public_dataset, data=data)

    assert (version.status, version.row_count) == ("ready", 20_002), version.failure_reason
    assert [c["type"] for c in version.schema] == ["integer", "float"] + ["string"] * (columns - 2)
    assert len(opened) == 3  # the read that met the wide value, the one that decides, the final one


# --- unexpected errors ---------------------------------------------------------------------------


def test_an_unexpected_error_in_the_profiler_fails_the_version_and_is_logged(
    public_dataset, publish, monkeypatch, caplog
):
    def broken(self, sample=None):
        raise RuntimeError("a bug in the profiler")

    monkeypatch.setattr(reader.ColumnProfile, "result", broken)
    with caplog.at_level(logging.ERROR, logger="datasets.services.versions"):
        version = publish(public_dataset)

    assert version.status == "failed"
    assert version.failure_reason == (
        "Granary could not process this file because of an internal error; it has been logged."
    )
    assert "a bug in the profiler" not in version.failure_reason
    (record,) = [r for r in caplog.records if r.exc_info]
    assert f"version {version.pk}" in record.getMessage()
    assert "a bug in the profiler" in str(record.exc_info[1])
    # Requeueing finds nothing stuck, and a redelivered task leaves the version as it is.
    Version.objects.filter(pk=version.pk).update(status_changed_at=version.created_at.replace(year=2020))
    assert versions_requeue(older_than_minutes=0) == []
    assert version_ingest(version_id=version.pk).status == "failed"


def test_an_upload_whose_first_line_is_too_deep_to_read_is_refused_naming_the_limit(public_dataset, publish):
    with pytest.raises(GranaryError) as refused:
        publish(public_dataset, data=nested_json(100_000) + b"\n")
    assert "(GRANARY_MAX_NESTING_DEPTH)" in refused.value.detail
    assert not Version.objects.exists()


def test_the_preview_cuts_long_values_at_a_thousand_characters(public_dataset, publish):
    version = publish(public_dataset, data=b"id,text\n1," + b"x" * 5000 + b"\n2,short\n")
    assert version.status == "ready", version.failure_reason
    assert version.preview["rows"] == [[1, "x" * 1000], [2, "short"]]


@pytest.mark.parametrize(
    ("values", "widened"),
    [
        ([b"true", b"false", b""], "boolean"),
        ([b"true", b"tRuE"], "string"),  # pyarrow's cast takes it, its CSV reader does not
        ([b"1", b"2", b" 3"], "integer"),  # its CSV reader takes it, its cast does not
        ([b"2020-01-01 10:00:00", b"2021-02-03"], "timestamp"),
        ([b"2020-01-01 10:00:00", b"yesterday"], "string"),
        ([b"1", b"2.5", b"nan"], "float"),
    ],
)
def test_the_widening_pass_widens_exactly_as_the_csv_reader_converts(
    public_dataset, publish, settings, values, widened
):
    settings.GRANARY_MAX_ROW_BYTES = 16 * 1024
    first = values[0]
    rows = [b"id,v"] + [b"%d,%s" % (n, first) for n in range(5000)]
    rows += [b"%d,%s" % (5000 + n, value) for n, value in enumerate(values)]
    version = publish(public_dataset, data=b"\n".join(rows) + b"\n")
    assert version.status == "ready", version.failure_reason
    assert [c["type"] for c in version.schema] == ["integer", widened]


def test_a_parquet_column_named_with_a_nul_character_fails_naming_the_column(public_dataset, publish):
    version = publish(public_dataset, data=parquet_bytes(pa.table({"id": [1, 2], "bad\x00name": [3, 4]})))

    assert version.status == "failed"
    assert "Column 2's name contains a NUL character" in version.failure_reason
    assert versions_requeue(older_than_minutes=0) == []


def test_parquet_text_holding_nul_characters_is_ingested_and_previewed(public_dataset, publish):
    version = publish(
        public_dataset, data=parquet_bytes(pa.table({"id": [1, 2], "note": ["a\x00b", "plain"]}))
    )

    assert version.status == "ready", version.failure_reason
    assert version.preview["rows"] == [[1, "a\ufffdb"], [2, "plain"]]


def test_a_statement_the_database_refuses_fails_the_version_instead_of_retrying_it_for_ever(
    public_dataset, publish, monkeypatch, caplog
):
    """A limit Granary does not check yet, here a format the version's NOT NULL column refuses
    (on both databases): it is refused every time it is saved."""
    import dataclasses

    real = reader.ingest_file

    def without_a_format(**kwargs):
        result = real(**kwargs)
        return dataclasses.replace(result, detected=dataclasses.replace(result.detected, format=None))

    monkeypatch.setattr(reader, "ingest_file", without_a_format)
    with caplog.at_level(logging.ERROR, logger="datasets.services.versions"):
        version = publish(public_dataset)

    assert version.status == "failed"
    assert "internal error" in version.failure_reason
    assert any(r.exc_info for r in caplog.records)
    Version.objects.filter(pk=version.pk).update(status_changed_at=version.created_at.replace(year=2020))
    assert versions_requeue(older_than_minutes=0) == []


def _ingest_end_heard_with(monkeypatch: pytest.MonkeyPatch, failures: int) -> list[str]:
    """What hears that an ingest ended (quality's follower) raises the first `failures` times, as
    a bug there would; returns the statuses it was told of."""
    import quality.services

    heard: list[str] = []
    real = quality.services.versions_quality_refresh

    def follower(**kwargs):
        version = Version.objects.get(pk=kwargs["version_ids"][0])
        heard.append(version.status)
        if version.status != "processing" and len(heard) - 1 <= failures:
            raise RuntimeError("a bug in what follows an ingest")
        return real(**kwargs)

    monkeypatch.setattr(quality.services, "versions_quality_refresh", follower)
    return heard


def test_an_ingest_end_whose_announcement_fails_rolls_back_and_ends_failed_counted_once(
    public_dataset, publish, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    from config.metrics import INGEST_BYTES

    # The search document is written last, at the end of the ingest's transaction: after the
    # metrics heard of the end. It fails once, for the ready end (the second write).
    writes = search_writes(monkeypatch, failing=2)
    ready, failed = INGEST_BYTES.labels(status="ready"), INGEST_BYTES.labels(status="failed")
    before = ready._value.get(), failed._value.get()
    with caplog.at_level(logging.ERROR), django_capture_on_commit_callbacks(execute=True):
        version = publish(public_dataset)

    assert len(writes) == 3  # the version's creation, its ready end, its failed end
    assert version.status == "failed"
    assert "internal error" in version.failure_reason
    # The ready end rolled back: its bytes are not counted as ingested, the failure's are.
    assert (ready._value.get(), failed._value.get()) == (before[0], before[1] + version.size)


def test_an_ingest_end_whose_announcement_always_fails_still_ends_failed(
    public_dataset, publish, monkeypatch, caplog
):
    heard = _ingest_end_heard_with(monkeypatch, failures=2)
    with caplog.at_level(logging.ERROR, logger="datasets.services.versions"):
        version = publish(public_dataset)

    assert heard == ["processing", "ready", "failed"]
    assert version.status == "failed"  # not processing, which the sweeper would send round again
    assert "it ends failed, unannounced" in caplog.text
    Version.objects.filter(pk=version.pk).update(status_changed_at=version.created_at.replace(year=2020))
    assert versions_requeue(older_than_minutes=0) == []
