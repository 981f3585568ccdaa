"""Exports of a version's Parquet copy to Parquet (chosen columns), CSV or JSON Lines, streamed
batch by batch so memory stays bounded whatever the version's size."""

from __future__ import annotations

import io
from collections.abc import Iterator

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from datasets import storage

BATCH_ROWS = 64 * 1024
# Spreadsheets run a cell that starts with one of these as a formula (CSV injection).
_FORMULA_START = r"^[=+\-@\t\r]"


def export_stream(*, sha256: str, format: str, columns: list[str] | None) -> Iterator[bytes]:
    """The Parquet blob `sha256` as `format`, chunk by chunk.

    The file is opened here, before the first byte is sent, so a missing or broken copy is an
    error response rather than a download cut short.
    """
    filesystem, path = storage.blob_source(sha256).arrow()
    # Not pre-buffered: that holds much of the file. Only the footer and the chosen columns' chunks
    # are read (ranged GETs on object storage).
    parquet = pq.ParquetFile(path, filesystem=filesystem, pre_buffer=False)
    batches = parquet.iter_batches(batch_size=BATCH_ROWS, columns=columns)
    if format == "parquet":
        schema = parquet.schema_arrow if columns is None else _select(parquet.schema_arrow, columns)
        return _parquet(batches, schema)
    if format == "csv":
        return _csv(batches)
    return _jsonl(batches)


def _select(schema: pa.Schema, columns: list[str]) -> pa.Schema:
    return pa.schema([schema.field(name) for name in columns])


class _Chunks(io.RawIOBase):
    """A write-only sink whose bytes are taken out as they come, for a streamed response."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


def _parquet(batches: Iterator[pa.RecordBatch], schema: pa.Schema) -> Iterator[bytes]:
    sink = _Chunks()
    with pq.ParquetWriter(pa.PythonFile(sink, mode="w"), schema, compression="zstd") as writer:
        for batch in batches:
            writer.write_batch(batch)
            yield sink.take()
    yield sink.take()


def _csv(batches: Iterator[pa.RecordBatch]) -> Iterator[bytes]:
    header = True
    for batch in batches:
        sink = io.BytesIO()
        pacsv.write_csv(_defuse(batch), sink, write_options=pacsv.WriteOptions(include_header=header))
        header = False
        yield sink.getvalue()
    if header:  # no rows at all: still send the header
        yield b""


def _defuse(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Prefix text cells that a spreadsheet would run as a formula with a quote (OWASP)."""
    columns = []
    for column in batch.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            risky = pc.match_substring_regex(column, _FORMULA_START)
            column = pc.if_else(risky, pc.binary_join_element_wise("'", column, ""), column)
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def _jsonl(batches: Iterator[pa.RecordBatch]) -> Iterator[bytes]:
    for batch in batches:
        yield pl.from_arrow(batch).write_ndjson().encode()  # type: ignore[union-attr]
