"""Great Expectations, and only here: checking an expectation's parameters, and running a suite
against a version's Parquet copy, reading only the columns it names.

Imported on first use (a validation in a worker, a check added in the portal), never at web
start-up: loading GX takes seconds. Workers load it when their process starts (quality.tasks),
web processes in a background thread on their first request (config.wsgi).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from django.conf import settings

from core.errors import InvalidInput
from core.jsonvalues import without_nul
from core.types import ExpectationResult
from datasets import storage
from datasets.models import Version
from quality.expectations import check, describe, referenced_columns

UNEXPECTED_EXAMPLES = 5


@dataclass
class Outcome:
    results: list[ExpectationResult]


def validate(version: Version, expectations: list[dict[str, Any]]) -> Outcome:
    if version.parquet_blob is None:
        raise InvalidInput(f"{version.ref} has no Parquet copy to validate.")
    columns = [c["name"] for c in version.schema]
    for position, expectation in enumerate(expectations, start=1):
        check(expectation, position=position, columns=columns)
    wanted = sorted({name for e in expectations for name in referenced_columns(e)}) or columns[:1]
    # Expectations about the table's columns only need their names: give them every column,
    # without reading any data.
    about_columns = {
        "expect_table_columns_to_match_set",
        "expect_table_columns_to_match_ordered_list",
        "expect_column_to_exist",
    }
    data_positions = [i for i, e in enumerate(expectations) if e["type"] not in about_columns]
    name_positions = [i for i, e in enumerate(expectations) if e["type"] in about_columns]
    results: dict[int, ExpectationResult] = {}
    if data_positions:
        checks = [expectations[i] for i in data_positions]
        # Only the footer and the suite's columns are read: ranged GETs on object storage.
        source = storage.blob_source(version.parquet_blob.sha256)
        filesystem, path = source.arrow()
        if _fits_in_memory(version, wanted):
            with _store_failures(source):
                frame = pq.read_table(path, columns=wanted, filesystem=filesystem).to_pandas()
            results.update(_run_gx(_pandas_batch(frame), checks, data_positions))
            del frame
        else:
            with _store_failures(source), _sqlite_copy(filesystem, path, wanted) as database:
                results.update(_run_gx(_sqlite_batch(database), checks, data_positions))
    if name_positions:
        import pandas as pd

        empty = pd.DataFrame({name: [] for name in columns})
        checks = [expectations[i] for i in name_positions]
        results.update(_run_gx(_pandas_batch(empty), checks, name_positions))
    return Outcome(results=[results[i] for i in range(len(expectations))])


@contextmanager
def _store_failures(source: storage.Source) -> Iterator[None]:
    """pyarrow reports the store failing as an OSError: raise it as StorageUnavailable, which
    leaves the run queued for the sweeper, not an error the run ends with."""
    try:
        yield
    except OSError as exc:
        failure = source.unavailable(exc)
        if failure is None:
            raise
        raise failure from exc


def _fits_in_memory(version: Version, wanted: list[str]) -> bool:
    # GX on pandas holds about 55 to 64 bytes per cell, DataFrame included (bench/validate.py).
    estimate = (version.row_count or 0) * len(wanted) * settings.GRANARY_VALIDATION_BYTES_PER_CELL
    return estimate <= settings.GRANARY_VALIDATION_MEMORY_BYTES


@contextmanager
def _sqlite_copy(filesystem: Any, path: str, columns: list[str]) -> Iterator[Path]:
    """The suite's columns of a Parquet copy in a temporary SQLite file, written batch by batch,
    for GX's SQL engine: exact results in bounded memory for versions too large for pandas."""
    import sqlite3

    workdir = Path(tempfile.mkdtemp(prefix="validate-", dir=storage.tmp_dir()))
    database = workdir / "version.sqlite3"
    try:
        with closing(sqlite3.connect(database)) as connection:
            connection.execute("PRAGMA journal_mode=OFF")
            connection.execute("PRAGMA synchronous=OFF")
            # No pre-buffering: it holds much of the file in memory (measured: 460 MB at 4M rows).
            parquet = pq.ParquetFile(path, filesystem=filesystem, pre_buffer=False)
            for batch in parquet.iter_batches(batch_size=100_000, columns=columns):
                batch.to_pandas().to_sql("version", connection, if_exists="append", index=False)
            connection.commit()
        yield database
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


_gx_lock = threading.Lock()


def _gx() -> Any:
    import great_expectations as gx

    return gx


def gx_load() -> None:
    """Import GX and its expectation registry, which a check of a suite's parameters needs."""
    _gx()
    import great_expectations.expectations.registry  # noqa: F401


def _pandas_batch(frame: Any) -> Any:
    def batch(context: Any) -> Any:
        asset = context.data_sources.add_pandas("granary").add_dataframe_asset("version")
        return asset.add_batch_definition_whole_dataframe("all").get_batch(
            batch_parameters={"dataframe": frame}
        )

    return batch


def _sqlite_batch(database: Path) -> Any:
    def batch(context: Any) -> Any:
        source = context.data_sources.add_sqlite("granary", connection_string=f"sqlite:///{database}")
        return (
            source.add_table_asset("version", table_name="version")
            .add_batch_definition_whole_table("all")
            .get_batch()
        )

    return batch


def _run_gx(
    batch_of: Any, expectations: list[dict[str, Any]], positions: list[int]
) -> dict[int, ExpectationResult]:
    gx = _gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # An ephemeral context per run: nothing is written to disk and runs do not share state.
    with _gx_lock:
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        suite = context.suites.add(gx.ExpectationSuite(name="run", expectations=expectations))
        batch = batch_of(context)
    ids = [e.id for e in suite.expectations]
    result = batch.validate(
        suite, result_format={"result_format": "SUMMARY", "partial_unexpected_count": UNEXPECTED_EXAMPLES}
    )
    by_id = {r.expectation_config.id: r.to_json_dict() for r in result.results}
    out: dict[int, ExpectationResult] = {}
    for position, expectation, expectation_id in zip(positions, expectations, ids, strict=True):
        raw = by_id[expectation_id]
        detail = raw.get("result") or {}
        info = raw.get("exception_info") or {}
        error = _exception_message(info)
        out[position] = {
            "type": expectation["type"],
            "kwargs": expectation["kwargs"],
            "description": describe(expectation),
            "success": bool(raw.get("success")) and not error,
            "observed_value": without_nul(detail.get("observed_value")),
            "unexpected_count": detail.get("unexpected_count"),
            "unexpected_percent": detail.get("unexpected_percent"),
            "unexpected_examples": without_nul(
                (detail.get("partial_unexpected_list") or [])[:UNEXPECTED_EXAMPLES]
            ),
            "element_count": detail.get("element_count"),
            "error": without_nul(error),  # GX's messages quote the values they met
        }
    return out


def _exception_message(info: dict[str, Any]) -> str:
    if info.get("raised_exception"):
        return str(info.get("exception_message") or "raised an exception")
    for value in info.values():  # keyed by metric when several metrics failed
        if isinstance(value, dict) and value.get("raised_exception"):
            return str(value.get("exception_message") or "raised an exception")
    return ""


def gx_check(expectation: dict[str, Any], *, position: int) -> None:
    """Let GX itself judge the type and the parameters' types, and word its refusal."""
    _gx()
    from great_expectations.expectations.registry import get_expectation_impl

    kind = expectation["type"]
    try:
        implementation = get_expectation_impl(kind)
    except Exception:  # GX raises ExpectationNotFoundError
        raise InvalidInput(
            f"Expectation {position}: '{kind}' is not an expectation Great Expectations knows."
        ) from None
    try:
        implementation(**expectation["kwargs"], meta=expectation.get("meta"))
    except Exception as exc:  # pydantic's ValidationError, or GX's own
        raise InvalidInput(f"Expectation {position} ({kind}): {_first_pydantic_error(str(exc))}") from None


def _first_pydantic_error(message: str) -> str:
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    for index, line in enumerate(lines[:-1]):
        if "validation error" in line and index + 2 < len(lines):
            return f"'{lines[index + 1]}' {lines[index + 2].split('(type=')[0].strip()}."
    return lines[-1] if lines else "invalid parameters."
