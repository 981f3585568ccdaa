"""A console query's whole result as a file: CSV or Parquet, written batch by batch from DuckDB's
Arrow stream to a working file (never the whole result in memory), up to GRANARY_QUERY_EXPORT_MAX_ROWS
rows. Saving a result as a version writes its Parquet file the same way (datasets.viewer.save).
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from django.conf import settings

from core.errors import InvalidInput
from datasets import storage
from datasets.viewer.query import query_audit, query_check

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from datasets.models import Version

ExportFormat = Literal["csv", "parquet"]
EXPORT_FORMATS: tuple[str, ...] = get_args(ExportFormat)
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}
# Rows per Arrow batch: big enough for DuckDB to stay fast, small enough to keep memory flat.
BATCH_ROWS = 64 * 1024
# DuckDB type ids that CSV cannot hold as they are: written as JSON text instead.
NESTED_TYPES = frozenset({"list", "struct", "map", "array", "union"})


@dataclass(frozen=True)
class Written:
    path: Path
    rows: int
    truncated: bool  # more rows than the cap: the first ones only


@dataclass(frozen=True)
class Export:
    """An export's working file; the caller serves it and deletes it (`file.close()` does, since
    it is already unlinked on POSIX)."""

    file: Any  # an open binary file, unlinked: gone once closed
    size: int
    filename: str
    content_type: str
    rows: int
    truncated: bool
    versions: list[str]


def query_export(*, user: Any, sql: str, format: str, version: Version | None = None) -> Export:
    """The result of `sql` (checked and audited as the console's own queries) as a CSV or
    Parquet file of at most GRANARY_QUERY_EXPORT_MAX_ROWS rows."""
    if format not in EXPORT_FORMATS:
        raise InvalidInput(f"format: '{format}' is not one of {', '.join(EXPORT_FORMATS)}.", field="format")
    checked = query_check(user=user, sql=sql, version=version)
    workdir = Path(tempfile.mkdtemp(prefix="export-", dir=storage.tmp_dir()))
    path = workdir / f"result.{format}"
    outcome = "ok"
    written: Written | None = None
    try:
        written = result_write(
            statement=checked.statement,
            tables=checked.blobs,
            path=path,
            format=format,
            most=settings.GRANARY_QUERY_EXPORT_MAX_ROWS,
            seconds=settings.GRANARY_QUERY_EXPORT_TIMEOUT_SECONDS,
        )
        file = path.open("rb")
    except Exception as exc:
        outcome = getattr(exc, "code", type(exc).__name__)
        raise
    finally:
        # The open file keeps its bytes until it is closed; the name goes now, whatever happened.
        path.unlink(missing_ok=True)
        os.rmdir(workdir)
        query_audit(
            user=user,
            sql=checked.sql,
            read=checked.read,
            outcome=outcome,
            action="query.export",
            format=format,
            rows=written.rows if written else None,
        )
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Export(
        file=file,
        size=os.fstat(file.fileno()).st_size,
        filename=f"query-{stamp}.{format}",
        content_type=CONTENT_TYPES[format],
        rows=written.rows,
        truncated=written.truncated,
        versions=[each.ref for each in checked.read],
    )


def result_write(
    *, statement: str, tables: dict[str, str], path: Path, format: str, most: int | None, seconds: float
) -> Written:
    """Run one checked SELECT over `tables` (name -> Parquet sha256) in the sandbox and write its
    rows to `path` as CSV or Parquet, at most `most` of them (None: all), within `seconds`."""
    import duckdb  # the data libraries load with the first export or save, not at start-up

    from datasets.viewer import engine

    try:
        with engine.sandbox(tables) as connection, engine.time_limit(connection, seconds):
            try:
                relation = connection.sql(statement)
                if most is not None:
                    relation = relation.limit(most + 1)  # the extra row tells that it was cut
                if format == "csv":
                    relation = _csv_ready(relation)
                reader = relation.to_arrow_reader(BATCH_ROWS)
                return _write(reader, path, format, most)
            except (duckdb.InterruptException, duckdb.OutOfMemoryException):
                raise
            except duckdb.Error as exc:
                engine.storage_failure_raise(exc, tables)
                raise InvalidInput(f"The query failed: {exc}", field="sql") from None
    except OSError as exc:
        for sha256 in tables.values():
            if (unavailable := storage.blob_source(sha256).unavailable(exc)) is not None:
                raise unavailable from exc
        raise


def _csv_ready(relation: duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyRelation:
    """Nested columns as JSON text, as the console shows them: CSV has no lists or structs."""
    from datasets.viewer import engine

    kinds = [str(kind.id) for kind in relation.types]
    if not NESTED_TYPES.intersection(kinds):
        return relation
    # Only the result's own column names, quoted, are spliced in.
    columns = [
        f"to_json({engine.quoted(name)})::VARCHAR AS {engine.quoted(name)}"
        if kind in NESTED_TYPES
        else engine.quoted(name)
        for name, kind in zip(relation.columns, kinds, strict=True)
    ]
    return relation.project(", ".join(columns))


def _write(reader: pa.RecordBatchReader, path: Path, format: str, most: int | None) -> Written:
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    rows = 0
    truncated = False
    writer: Any
    if format == "csv":
        writer = pa_csv.CSVWriter(str(path), reader.schema)
    else:
        writer = pq.ParquetWriter(str(path), reader.schema, compression="zstd")
    try:
        for batch in reader:
            if most is not None and rows + batch.num_rows > most:
                batch = batch.slice(0, most - rows)
                truncated = True
            if batch.num_rows:
                writer.write_batch(batch)
                rows += batch.num_rows
            if truncated:
                break
    finally:
        writer.close()
    return Written(path=path, rows=rows, truncated=truncated)
