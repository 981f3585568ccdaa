"""A version's rows, paged, sorted, filtered and searched, checked against pyarrow's own slice and
pandas on the same Parquet copy (on the filesystem, and on S3 with GRANARY_TEST_STORAGE=s3)."""

from __future__ import annotations

import io
import math
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.errors import InvalidInput, NotReady
from datasets import storage
from datasets.ingest import reader
from datasets.models import Version
from datasets.viewer.pages import Filter
from datasets.viewer.rows import version_rows

ROWS = 5000


def _table() -> pa.Table:
    names = [None if i % 7 == 0 else f"{'Ada' if i % 3 == 0 else 'grace'}-{i}" for i in range(ROWS)]
    return pa.table(
        {
            "id": pa.array(range(ROWS), pa.int64()),
            "name": pa.array(names, pa.string()),
            "score": pa.array([None if i % 11 == 0 else (i * 7919 % ROWS) / 10 for i in range(ROWS)]),
            "tags": pa.array([[i % 5, i % 3] for i in range(ROWS)], pa.list_(pa.int64())),
            "info": pa.array([{"x": i, "y": f"v{i % 4}"} for i in range(ROWS)]),
        }
    )


@pytest.fixture
def version(public_dataset: Any, publish: Any, monkeypatch: pytest.MonkeyPatch) -> Version:
    # Small row groups, so pages fall across several of them.
    monkeypatch.setattr(reader, "ROWS_PER_CHUNK", 600)
    sink = io.BytesIO()
    pq.write_table(_table(), sink, row_group_size=500)
    version = publish(public_dataset, data=sink.getvalue(), filename="scores.parquet")
    assert version.status == Version.Status.READY, version.failure_reason
    return version


def _copy(version: Version) -> pa.Table:
    filesystem, path = storage.blob_source(version.parquet_blob_id).arrow()
    parquet = pq.ParquetFile(path, filesystem=filesystem)
    assert parquet.metadata.num_row_groups >= 5  # pages below span row groups
    return parquet.read()


def _plain(rows: list[dict[str, Any]]) -> list[list[Any]]:
    return [[None if isinstance(v, float) and math.isnan(v) else v for v in row.values()] for row in rows]


@pytest.mark.parametrize("offset", [0, 1234, ROWS - 7])
def test_a_page_at_any_offset_is_pyarrows_own_slice(version, offset):
    page = version_rows(version=version, offset=offset, limit=50)
    assert page.total == ROWS
    assert page.rows == _plain(_copy(version).slice(offset, 50).to_pylist())
    assert len(page.rows) == min(50, ROWS - offset)
    assert [c["name"] for c in page.columns] == ["id", "name", "score", "tags", "info"]


def test_a_page_past_the_end_is_empty_with_the_total(version):
    page = version_rows(version=version, offset=ROWS + 10, limit=10)
    assert (page.rows, page.total) == ([], ROWS)


def test_nested_values_are_json_lists_and_objects(version):
    row = version_rows(version=version, offset=4, limit=1).rows[0]
    assert row[3] == [4, 1] and row[4] == {"x": 4, "y": "v0"}


@pytest.mark.parametrize("descending", [False, True])
def test_sort_by_a_column_matches_pandas(version, descending):
    frame = _copy(version).to_pandas()
    expected = frame.sort_values("score", ascending=not descending, na_position="last", kind="stable")
    page = version_rows(version=version, sort="score", descending=descending, offset=3000, limit=100)
    assert [row[2] for row in page.rows] == _nullable(expected["score"].iloc[3000:3100])
    page_end = version_rows(version=version, sort="score", descending=descending, offset=ROWS - 10, limit=10)
    assert [row[2] for row in page_end.rows] == [None] * 10  # nulls last either way


def _nullable(series: pd.Series) -> list[Any]:
    return [None if pd.isna(v) else v for v in series.tolist()]


FILTERS = [
    (Filter("id", "=", "42"), lambda f: f["id"] == 42),
    (Filter("id", "!=", "42"), lambda f: f["id"] != 42),
    (Filter("score", "<", "100.5"), lambda f: f["score"] < 100.5),
    (Filter("score", "<=", "100.5"), lambda f: f["score"] <= 100.5),
    (Filter("score", ">", "400"), lambda f: f["score"] > 400),
    (Filter("score", ">=", "400"), lambda f: f["score"] >= 400),
    (Filter("name", "is null"), lambda f: f["name"].isna()),
    (Filter("name", "is not null"), lambda f: f["name"].notna()),
    (Filter("id", "in", ["3", "5", "4999", "7000"]), lambda f: f["id"].isin([3, 5, 4999, 7000])),
    (Filter("name", "contains", "ADA-1"), lambda f: f["name"].str.lower().str.contains("ada-1", na=False)),
]


@pytest.mark.parametrize(("condition", "expect"), FILTERS, ids=[f.op for f, _ in FILTERS])
def test_each_filter_matches_pandas(version, condition, expect):
    frame = _copy(version).to_pandas()
    matching = frame[expect(frame).fillna(False).astype(bool)]
    page = version_rows(version=version, filters=[condition], sort="id", limit=1000)
    assert page.total == len(matching)
    assert [row[0] for row in page.rows] == matching["id"].tolist()[:1000]


def test_filters_combine_with_and_and_the_search_covers_string_columns(version):
    frame = _copy(version).to_pandas()
    found = frame["name"].str.lower().str.contains("ada-4", na=False) & (frame["id"] > 1300)
    page = version_rows(
        version=version, q="aDa-4", filters=[Filter("id", ">", "1300")], sort="id", descending=True
    )
    assert page.total == int(found.sum()) > 0
    assert [row[0] for row in page.rows] == sorted(frame[found]["id"].tolist(), reverse=True)[:100]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sort": "nope"}, "sort: 'nope' is not a column of churn@1"),
        ({"filters": [Filter("nope", "=", "1")]}, "filter: 'nope' is not a column"),
        ({"filters": [Filter("id", "~", "1")]}, "'~' is not an operator"),
        ({"filters": [Filter("id", "=", "ten")]}, "'ten' is not a value of its type (BIGINT)"),
        ({"filters": [Filter("id", "in", ["1", "x"])]}, "'x' is not a value of its type"),
        ({"filters": [Filter("id", "contains", "1")]}, "contains works on string columns, and it is integer"),
        ({"filters": [Filter("tags", "=", "1")]}, "can only be tested with is null / is not null"),
        ({"filters": [Filter("id", "is null", "1")]}, "'is null' takes no value"),
        ({"filters": [Filter("id", "=")]}, "'=' needs a value"),
        ({"limit": 1001}, "limit=1001: give 1 to 1000 rows per page."),
        ({"limit": 0}, "give 1 to 1000"),
        ({"offset": -1}, "offset=-1: give 0 or more."),
    ],
)
def test_bad_input_is_refused_with_a_precise_message(version, kwargs, message):
    with pytest.raises(InvalidInput) as refused:
        version_rows(version=version, **kwargs)
    assert message in refused.value.detail


def test_an_injected_column_name_or_value_is_only_data(version):
    page = version_rows(version=version, filters=[Filter("name", "=", "x'; DROP TABLE data; --")])
    assert (page.total, page.rows) == (0, [])
    with pytest.raises(InvalidInput):
        version_rows(version=version, sort='id" DESC; --')


def test_a_version_not_ready_has_no_rows(public_dataset, publish):
    version = publish(public_dataset, ingest=False)
    with pytest.raises(NotReady):
        version_rows(version=version)
