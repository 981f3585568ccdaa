"""Real-world-shaped files from tests/data: the schema, row count and profile that ingest finds,
checked against values computed here with the standard library (not with pyarrow)."""

from __future__ import annotations

import csv
import gzip
import io
import json
import statistics

import pyarrow.parquet as pq
import pytest

from datasets.ingest.profiling import SAMPLE_SIZE
from tests.blobs import parquet_file, stored_keys
from tests.conftest import DATA

pytestmark = pytest.mark.django_db


def column(version, name):
    return next(c for c in version.profile["columns"] if c["name"] == name)


def schema(version):
    return {c["name"]: (c["type"], c["nullable"]) for c in version.schema}


def test_a_quoted_csv_with_nulls(public_dataset, publish):
    data = (DATA / "stations_quoted.csv").read_bytes()
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    version = publish(public_dataset, data=data)

    assert version.status == "ready", version.failure_reason
    assert (version.format, version.row_count) == ("csv", len(rows)) == ("csv", 8)
    assert schema(version) == {
        "station_id": ("integer", False),
        "name": ("string", False),
        "opened": ("date", False),
        "active": ("boolean", False),
        "elevation_m": ("integer", True),
        "notes": ("string", True),
    }
    elevations = [int(r["elevation_m"]) for r in rows if r["elevation_m"]]
    profile = column(version, "elevation_m")
    assert profile["nulls"] == sum(1 for r in rows if not r["elevation_m"]) == 1
    assert (profile["min"], profile["max"]) == (min(elevations), max(elevations))
    assert profile["mean"] == pytest.approx(statistics.fmean(elevations))
    assert profile["std"] == pytest.approx(statistics.pstdev(elevations))
    assert profile["quantiles"]["p50"] == pytest.approx(statistics.median(elevations))
    assert sum(profile["histogram"]["counts"]) == len(elevations)
    assert len(profile["histogram"]["counts"]) == 20
    assert profile["histogram"]["approximate"] is False
    notes = column(version, "notes")
    assert notes["nulls"] == sum(1 for r in rows if not r["notes"])
    assert version.preview["rows"][2][5] == "CO2 since 1958\nmeasured continuously"
    assert version.preview["rows"][0][1] == "Hohenpeißenberg, Bavaria"
    active = column(version, "active")
    expected_top = sorted(
        ({"value": v == "true", "count": n} for v, n in _counts(r["active"] for r in rows).items()),
        key=lambda item: -item["count"],
    )
    assert active["top"]["values"] == expected_top
    assert column(version, "opened")["min"] == min(r["opened"] for r in rows)


def test_a_tsv_with_na_for_missing_values(public_dataset, publish):
    data = (DATA / "penguins_sample.tsv").read_bytes()
    rows = list(csv.DictReader(io.StringIO(data.decode()), delimiter="\t"))
    version = publish(public_dataset, data=data)

    assert (version.status, version.format, version.row_count) == ("ready", "tsv", len(rows))
    assert schema(version)["bill_length_mm"] == ("float", True)
    assert schema(version)["year"] == ("integer", False)
    bills = [float(r["bill_length_mm"]) for r in rows if r["bill_length_mm"] != "NA"]
    bill = column(version, "bill_length_mm")
    assert bill["nulls"] == len(rows) - len(bills)
    assert bill["mean"] == pytest.approx(statistics.fmean(bills))
    assert bill["distinct"] == {"value": len(set(bills)), "approximate": False}
    sexes = _counts(r["sex"] for r in rows if r["sex"] != "NA")
    sex = column(version, "sex")
    assert {v["value"]: v["count"] for v in sex["top"]["values"]} == sexes
    assert sex["length"] == {"min": min(map(len, sexes)), "max": max(map(len, sexes))}


def test_a_parquet_file_with_nested_columns(public_dataset, publish):
    path = DATA / "orders_nested.parquet"
    rows = pq.read_table(path).to_pylist()
    version = publish(public_dataset, data=path.read_bytes())

    assert (version.status, version.format, version.row_count) == ("ready", "parquet", len(rows))
    assert schema(version) == {
        "order_id": ("integer", False),
        "items": ("list<string>", True),
        "shipping": ("struct<city: string, days: integer>", True),
        "total": ("float", True),
        "placed_at": ("timestamp with zone", False),
    }
    totals = [r["total"] for r in rows if r["total"] is not None]
    total = column(version, "total")
    assert total["mean"] == pytest.approx(statistics.fmean(totals))
    assert (total["min"], total["max"]) == (min(totals), max(totals))
    assert column(version, "items")["nulls"] == sum(1 for r in rows if r["items"] is None)
    assert column(version, "placed_at")["min"] == "2026-01-01T09:30:00Z"
    assert version.preview["rows"][0][1] == ["apple", "pear"]
    assert version.preview["rows"][0][2] == {"city": "Lyon", "days": 2}


def test_gzipped_json_lines_with_a_nested_object(public_dataset, publish):
    raw = (DATA / "events.jsonl.gz").read_bytes()
    rows = [json.loads(line) for line in gzip.decompress(raw).splitlines()]
    version = publish(public_dataset, data=raw)

    assert (version.status, version.format, version.compression) == ("ready", "jsonl", "gzip")
    assert version.row_count == len(rows) == 250
    types = schema(version)
    assert types["event_id"] == ("integer", False)
    assert types["amount"] == ("float", True)
    assert types["device"] == ("struct<os: string, version: integer>", False)
    assert types["at"] == ("timestamp with zone", False)
    assert column(version, "at")["min"] == min(r["at"] for r in rows)
    amounts = [r["amount"] for r in rows if r["amount"] is not None]
    amount = column(version, "amount")
    assert amount["nulls"] == len(rows) - len(amounts)
    assert amount["std"] == pytest.approx(statistics.pstdev(amounts))
    kinds = _counts(r["kind"] for r in rows)
    assert {v["value"]: v["count"] for v in column(version, "kind")["top"]["values"]} == kinds
    assert column(version, "user")["distinct"] == {
        "value": len({r["user"] for r in rows}),
        "approximate": False,
    }


def test_every_format_gets_a_parquet_copy_with_the_same_rows(public_dataset, publish, data_dir):
    for name in ("stations_quoted.csv", "penguins_sample.tsv", "orders_nested.parquet", "events.jsonl.gz"):
        dataset_version = publish(public_dataset, data=(DATA / name).read_bytes())
        copy = parquet_file(dataset_version.parquet_blob.sha256).read()
        assert copy.num_rows == dataset_version.row_count, name
        assert copy.column_names == [c["name"] for c in dataset_version.schema], name
        assert (
            parquet_file(dataset_version.parquet_blob.sha256).metadata.row_group(0).column(0).compression
            == "ZSTD"
        )


def _counts(values) -> dict:
    counts: dict = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def test_large_columns_switch_to_marked_estimates(public_dataset, publish, settings):

    n = 150_000
    lines = ["id,label,group"] + [f"{i},item-{i},{'ab'[i % 2]}" for i in range(n)]
    version = publish(public_dataset, data=("\n".join(lines) + "\n").encode())
    ids = column(version, "id")
    assert ids["distinct"]["approximate"] is True
    assert ids["distinct"]["value"] == pytest.approx(n, rel=0.03)
    assert ids["histogram"]["approximate"] is True and ids["sample_size"] == SAMPLE_SIZE
    assert sum(ids["histogram"]["counts"]) == pytest.approx(n, rel=0.001)
    assert ids["quantiles"]["p50"] == pytest.approx(n / 2, rel=0.02)
    assert (ids["min"], ids["max"], ids["mean"]) == (0, n - 1, pytest.approx((n - 1) / 2))
    labels = column(version, "label")
    assert labels["distinct"]["approximate"] is True
    assert labels["top"]["approximate"] is True
    group = column(version, "group")
    assert group["distinct"] == {"value": 2, "approximate": False}
    assert {v["value"]: v["count"] for v in group["top"]["values"]} == {"a": n // 2, "b": n // 2}


def test_the_parquet_copy_is_stored_once_for_identical_content(
    public_dataset, internal_dataset, publish, data_dir
):
    first = publish(public_dataset, data=(DATA / "stations_quoted.csv").read_bytes())
    second = publish(internal_dataset, data=(DATA / "stations_quoted.csv").read_bytes())
    assert first.parquet_blob_id == second.parquet_blob_id
    assert len(stored_keys()) == 2
