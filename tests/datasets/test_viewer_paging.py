"""Paging through sorted, filtered and searched rows: every row once, in a stable order, with the
same total on every page, whichever way the engine finds the page (one scan for the total and the
first matches, a kept total, the sort's row numbers); and the engine's readers stay locked."""

from __future__ import annotations

import io
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from datasets import storage
from datasets.ingest import reader
from datasets.models import Version
from datasets.viewer import engine
from datasets.viewer.pages import Filter
from datasets.viewer.rows import version_rows

ROWS = 3000


def _table() -> pa.Table:
    # Few distinct scores, so a sort is mostly ties; words repeat so a search matches many rows.
    return pa.table(
        {
            "id": pa.array(range(ROWS), pa.int64()),
            "score": pa.array([None if i % 13 == 0 else i % 4 for i in range(ROWS)], pa.int64()),
            "note": pa.array([f"{'Refund' if i % 5 == 0 else 'ok'} {i}" for i in range(ROWS)]),
        }
    )


@pytest.fixture
def version(public_dataset: Any, publish: Any, monkeypatch: pytest.MonkeyPatch) -> Version:
    monkeypatch.setattr(reader, "ROWS_PER_CHUNK", 400)  # pages fall across row groups
    sink = io.BytesIO()
    pq.write_table(_table(), sink, row_group_size=400)
    version = publish(public_dataset, data=sink.getvalue(), filename="ties.parquet")
    assert version.status == Version.Status.READY, version.failure_reason
    return version


def _all_pages(version: Version, limit: int, **kwargs: Any) -> tuple[list[int], set[int]]:
    ids: list[int] = []
    totals: set[int] = set()
    offset = 0
    while True:
        page = version_rows(version=version, offset=offset, limit=limit, **kwargs)
        totals.add(page.total)
        if not page.rows:
            return ids, totals
        ids += [row[0] for row in page.rows]
        offset += limit


@pytest.mark.parametrize("descending", [False, True])
def test_paging_through_a_sort_with_ties_shows_every_row_once_in_a_stable_order(version, descending):
    frame = _table().to_pandas().set_index("id", drop=False)
    expected = frame.sort_values("score", ascending=not descending, na_position="last", kind="stable")
    ids, totals = _all_pages(version, 97, sort="score", descending=descending)
    assert sorted(ids) == list(range(ROWS))
    assert frame.loc[ids, "score"].fillna(-1).tolist() == expected["score"].fillna(-1).tolist()
    assert totals == {ROWS}
    again, _ = _all_pages(version, 97, sort="score", descending=descending)
    assert again == ids


@pytest.mark.parametrize("one_scan_rows", [10_000, 50])
def test_paging_through_a_search_and_a_filter_matches_pandas_with_one_total(
    version, monkeypatch, one_scan_rows
):
    # 10,000: the first pages come with their total from one scan; 50: counted apart, then kept.
    monkeypatch.setattr(engine, "ONE_SCAN_ROWS", one_scan_rows)
    frame = _table().to_pandas()
    found = frame["note"].str.lower().str.contains("refund") & (frame["id"] >= 700)
    ids, totals = _all_pages(version, 41, q="REFUND", filters=[Filter("id", ">=", "700")])
    assert ids == frame[found]["id"].tolist()
    assert totals == {int(found.sum())}
    assert version_rows(version=version, q="nothing like it").total == 0


def _local_path(version: Version) -> str:
    filesystem, path = storage.blob_source(version.parquet_blob_id).arrow()
    if not isinstance(filesystem, pafs.LocalFileSystem):
        pytest.skip("DuckDB reads local copies itself; those in S3 go through an Arrow dataset")
    return str(path)


def test_the_rows_reader_reads_the_blob_store_and_nothing_else(version, tmp_path):
    key = storage.blob_key(version.parquet_blob_id)
    path = _local_path(version)
    elsewhere = tmp_path / "other.parquet"
    pq.write_table(_table(), elsewhere)
    with engine._reader(path[: -len(key)]) as cursor:
        counted = cursor.execute(f"SELECT count(*) FROM read_parquet('{path}')").fetchone()  # noqa: S608
        assert counted == (ROWS,)
        for sql in (
            f"SELECT * FROM read_parquet('{elsewhere}')",  # noqa: S608
            "SELECT * FROM read_csv('/etc/passwd')",
            "SET enable_external_access=true",
        ):
            with pytest.raises(duckdb.Error):
                cursor.execute(sql)


def test_the_consoles_sandbox_reads_only_the_versions_it_was_given(version, tmp_path):
    _local_path(version)
    elsewhere = tmp_path / "other.parquet"
    pq.write_table(_table(), elsewhere)
    with engine.sandbox({"data": version.parquet_blob_id}) as connection:
        assert connection.execute("SELECT count(*) FROM data").fetchone() == (ROWS,)
        for sql in (
            f"SELECT * FROM read_parquet('{elsewhere}')",  # noqa: S608
            "SELECT * FROM read_csv('/etc/passwd')",
            "SET allowed_paths=['/etc/passwd']",
        ):
            with pytest.raises(duckdb.Error):
                connection.execute(sql)
