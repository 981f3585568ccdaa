"""Dates in the spellings people write them, beyond the ISO `2012-01-01` Arrow takes by itself:
`2012/01/01` and `01.02.2012` (day first, as dotted dates are written) read as dates, and a JSON
Lines field of ISO dates is a date rather than a timestamp at midnight.

Arrow's CSV reader parses them as timestamps (TIMESTAMP_PARSERS); a column whose values in the
file's head are all written as dates becomes a date column. A later value with a time of day
raises TimeOfDay, and the reader reads the column again as what it holds.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from datasets.ingest.formats import Detected
from datasets.ingest.problems import read_head
from datasets.storage import Source

# Arrow's ISO 8601 parser first (dates; timestamps with `T` or a space, with or without a zone),
# then the date spellings it does not know. Slashed dates with the year last (01/02/2012) are
# left out: day first or month first cannot be told, so they stay text.
TIMESTAMP_PARSERS = [pacsv.ISO8601, "%Y/%m/%d", "%d.%m.%Y"]

# The rows judged: the head of the file, as Arrow infers types from its first block.
HEAD_BYTES = 256 * 1024

_CSV_DATE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}|\d{4}/\d{1,2}/\d{1,2}|\d{1,2}\.\d{1,2}\.\d{4}")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_NULLS = frozenset(pacsv.ConvertOptions().null_values)


class TimeOfDay(Exception):
    """A column taken for dates holds a value with a time of day further on."""

    def __init__(self, column: str) -> None:
        super().__init__(column)
        self.column = column


def _candidates(schema: pa.Schema, overrides: Iterable[str]) -> dict[int, str]:
    """Naive timestamp columns, unless a previous read settled their type."""
    settled = set(overrides)
    return {
        index: field.name
        for index, field in enumerate(schema)
        if pa.types.is_timestamp(field.type) and field.type.tz is None and field.name not in settled
    }


def _head_text(source: Source, detected: Detected) -> str:
    head = read_head(source, detected, HEAD_BYTES)
    if len(head) == HEAD_BYTES:  # cut inside a row: judge only whole ones
        head = head[: head.rfind(b"\n") + 1]
    return head.decode("utf-8", errors="replace")


def csv_date_columns(
    source: Source, detected: Detected, schema: pa.Schema, overrides: Iterable[str]
) -> list[str]:
    """The columns Arrow read as timestamps whose values in the head are all written as dates."""
    candidates = _candidates(schema, overrides)
    if not candidates:
        return []
    text = io.StringIO(_head_text(source, detected))
    if detected.quotechar:
        reader = csv.reader(text, delimiter=detected.delimiter, quotechar=detected.quotechar)
    else:
        reader = csv.reader(text, delimiter=detected.delimiter, quoting=csv.QUOTE_NONE)
    seen: dict[int, bool] = {}
    try:
        for number, row in enumerate(reader):
            if number == 0 and detected.header:
                continue
            for index in candidates:
                value = row[index].strip() if index < len(row) else ""
                if value in _NULLS:
                    continue
                seen[index] = seen.get(index, True) and _CSV_DATE.fullmatch(value) is not None
    except csv.Error:  # the head does not parse here as it did for Arrow: keep its timestamps
        return []
    return [name for index, name in candidates.items() if seen.get(index)]


def json_date_columns(
    source: Source, detected: Detected, schema: pa.Schema, overrides: Iterable[str]
) -> list[str]:
    """The fields Arrow read as timestamps whose values in the head are all ISO dates."""
    candidates = set(_candidates(schema, overrides).values())
    if not candidates:
        return []
    seen: dict[str, bool] = {}
    for line in _head_text(source, detected).splitlines():
        try:
            row = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if not isinstance(row, dict):
            continue
        for name in candidates:
            value = row.get(name)
            if value is not None:
                seen[name] = (
                    seen.get(name, True) and isinstance(value, str) and bool(_ISO_DATE.fullmatch(value))
                )
    return [name for name in schema.names if seen.get(name)]


def dates_schema(schema: pa.Schema, names: list[str]) -> pa.Schema:
    wanted = set(names)
    return pa.schema([pa.field(f.name, pa.date32()) if f.name in wanted else f for f in schema])


def as_dates(batch: pa.RecordBatch, schema: pa.Schema, names: list[str]) -> pa.RecordBatch:
    """`batch` with the `names` columns as dates; TimeOfDay if one holds a time of day."""
    if not names:
        return batch
    arrays = []
    for field, column in zip(batch.schema, batch.columns, strict=True):
        if field.name in names:
            dates = pc.cast(column, pa.date32())  # truncates: checked against the original below
            if pc.all(pc.equal(pc.cast(dates, field.type), column)).as_py() is False:
                raise TimeOfDay(field.name)
            column = dates
        arrays.append(column)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
