"""Detects a file's format from its content and counts its rows, streaming.

`sniff` looks only at the head and tail of a file, so the upload endpoint can refuse what is
clearly not data at once; `detect` plus `count_rows` is the worker's full pass.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from datasets.errors import EmptyUpload, UnsupportedFormat

HEAD_BYTES = 64 * 1024
SUPPORTED = "CSV, TSV, Parquet or JSON Lines"

# Signatures of common files that people upload by mistake, to name what was found.
_MAGIC: list[tuple[bytes, str]] = [
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"PK\x03\x04", "a ZIP archive (or an Excel/OpenDocument file)"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x7fELF", "an ELF executable"),
    (b"MZ", "a Windows executable"),
    (b"BZh", "bzip2-compressed data"),
    (b"\xfd7zXZ\x00", "xz-compressed data"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed data"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"ARROW1", "an Arrow IPC file"),
    (b"Obj\x01", "an Avro file"),
    (b"ORC", "an ORC file"),
    (b"\xd0\xcf\x11\xe0", "a legacy Microsoft Office file"),
]


@dataclass(frozen=True)
class Detected:
    format: str  # one of Version.Format's values
    delimiter: str = ""


def sniff(path: Path) -> Detected:
    """The format of the file at `path`, judged from its first 64 KiB and last bytes."""
    with open(path, "rb") as handle:
        head = handle.read(HEAD_BYTES)
        if not head:
            raise EmptyUpload("The file is empty (0 bytes).")
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - 4))
        tail = handle.read(4)
    if head.startswith(b"PAR1"):
        if size < 12 or tail != b"PAR1":
            raise UnsupportedFormat(
                "The file starts like Parquet but has no Parquet footer: it is truncated."
            )
        return Detected("parquet")
    for magic, name in _MAGIC:
        if head.startswith(magic):
            raise UnsupportedFormat(f"Found {name}; Granary accepts {SUPPORTED}.")
    nul = head.find(b"\x00")
    if nul >= 0:
        raise UnsupportedFormat(
            f"Found binary data (a NUL byte at offset {nul}); Granary accepts {SUPPORTED}."
        )
    text = _decode_head(head, complete=size <= HEAD_BYTES)
    first = next((line for line in text.splitlines() if line.strip()), "")
    if not first:
        raise EmptyUpload("The file holds only blank lines.")
    stripped = first.lstrip()
    if stripped.startswith("{"):
        try:
            value = json.loads(stripped)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, dict):
            return Detected("jsonl")
        if size > HEAD_BYTES or text.strip().endswith("}"):
            raise UnsupportedFormat(
                "Found JSON that is not one object per line; upload JSON Lines (one object per line)."
            )
    if stripped.startswith("["):
        raise UnsupportedFormat("Found a JSON array; upload JSON Lines (one object per line) instead.")
    return Detected(*_csv_dialect(text))


def _decode_head(head: bytes, *, complete: bool) -> str:
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The 64 KiB cut may split a multi-byte character at the very end.
        if not complete and exc.start >= len(head) - 3 and exc.reason == "unexpected end of data":
            return head[: exc.start].decode("utf-8")
        raise UnsupportedFormat(
            f"The file is not UTF-8 text: byte 0x{head[exc.start]:02x} at offset {exc.start} is invalid."
        ) from None


def _csv_dialect(text: str) -> tuple[str, str]:
    sample = "\n".join(text.splitlines()[:50])
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",\t;|").delimiter
    except csv.Error:
        # One column, or a dialect the sniffer cannot decide: count the candidates instead.
        first = sample.splitlines()[0]
        delimiter = max(",\t;|", key=first.count) if any(d in first for d in ",\t;|") else ","
    return ("tsv" if delimiter == "\t" else "csv", delimiter)


def detect(path: Path) -> Detected:
    return sniff(path)


def count_rows(path: Path, detected: Detected) -> int:
    """Rows in the file, read in a streaming pass; raises UnsupportedFormat saying where it broke."""
    if detected.format == "parquet":
        return _count_parquet(path)
    if detected.format == "jsonl":
        return _count_jsonl(path)
    return _count_csv(path, detected.delimiter)


def _count_parquet(path: Path) -> int:
    try:
        return int(pq.ParquetFile(path).metadata.num_rows)
    except (pa.ArrowException, OSError) as exc:
        raise UnsupportedFormat(f"The Parquet file cannot be read: {exc}") from None


def _count_csv(path: Path, delimiter: str) -> int:
    read_options = pacsv.ReadOptions(block_size=1 << 20)
    parse_options = pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True)
    try:
        # Columns are read as text: typing them is the schema's job, not counting's.
        with pacsv.open_csv(path, read_options=read_options, parse_options=parse_options) as probe:
            names = probe.schema.names
        convert = pacsv.ConvertOptions(column_types={name: pa.string() for name in names})
        rows = 0
        with pacsv.open_csv(
            path, read_options=read_options, parse_options=parse_options, convert_options=convert
        ) as reader:
            for batch in reader:
                rows += batch.num_rows
        return rows
    except pa.ArrowInvalid as exc:
        raise UnsupportedFormat(f"The CSV file cannot be parsed: {exc}") from None


def _count_jsonl(path: Path) -> int:
    rows = 0
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.strip()
            if number == 1 and line.startswith(b"\xef\xbb\xbf"):
                line = line[3:]
            if not line:
                continue
            try:
                value = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise UnsupportedFormat(f"Line {number} is not valid JSON: {exc}") from None
            if not isinstance(value, dict):
                raise UnsupportedFormat(f"Line {number} is not a JSON object but a {type(value).__name__}.")
            rows += 1
    return rows
