"""Detects a file's format from its content: what the upload endpoint checks at once.

`sniff` looks only at the head (decompressed, for gzip) and the tail of a file, so an upload
that is clearly not data is refused before it becomes a version. The worker's full pass over
the data is in `datasets.ingest.reader`.
"""

from __future__ import annotations

import csv
import json
import zlib
from dataclasses import dataclass, field, replace

from django.conf import settings

from core.errors import EmptyUpload, UnsupportedFormat
from datasets.storage import Source

HEAD_BYTES = 64 * 1024
# The tail read: what a Parquet reader reads to find the footer, so that ingest reads it once.
TAIL_BYTES = 64 * 1024
SUPPORTED = "CSV, TSV, Parquet or JSON Lines (plain or gzip-compressed)"
GZIP_MAGIC = b"\x1f\x8b"

# Signatures of common files that people upload by mistake, to name what was found.
_MAGIC: list[tuple[bytes, str]] = [
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
    (b"\xff\xfe", "UTF-16 text (save it as UTF-8)"),
    (b"\xfe\xff", "UTF-16 text (save it as UTF-8)"),
]


@dataclass(frozen=True)
class Detected:
    format: str  # one of Version.Format's values: csv, tsv, jsonl, parquet
    compression: str = ""  # "gzip" or ""
    delimiter: str = ","
    quotechar: str = '"'
    header: bool = True
    # A Parquet file's last TAIL_BYTES (or all of it), which hold its footer: read here, parsed by ingest.
    tail: bytes = field(default=b"", repr=False, compare=False)


def sniff(source: Source) -> Detected:
    """The format of `source`, judged from its first 64 KiB and its last 64 KiB (two reads, each
    a ranged GET on object storage)."""
    size = source.size
    with source.open() as handle:
        head = handle.read(HEAD_BYTES)
        if not head:
            raise EmptyUpload("The file is empty (0 bytes).")
        handle.seek(max(0, size - TAIL_BYTES))
        tail = handle.read(TAIL_BYTES)
    if head.startswith(GZIP_MAGIC):
        inner, complete = _gunzip_head(source)
        if not inner.strip():
            raise EmptyUpload("The gzip file holds no data.")
        if inner.startswith(b"PAR1"):
            raise UnsupportedFormat("Found gzip-compressed Parquet: upload the Parquet file itself.")
        return replace(_sniff_text(inner, complete=complete), compression="gzip")
    if head.startswith(b"PAR1"):
        if size < 12 or not tail.endswith(b"PAR1"):
            raise UnsupportedFormat(
                "The file starts like Parquet but has no Parquet footer: it is truncated."
            )
        return Detected("parquet", tail=tail)
    return _sniff_text(head, complete=size <= HEAD_BYTES)


def _gunzip_head(source: Source) -> tuple[bytes, bool]:
    """Up to HEAD_BYTES of decompressed data, and whether that is all of it."""
    decompressor = zlib.decompressobj(wbits=31)
    out = b""
    with source.open() as handle:
        try:
            while len(out) < HEAD_BYTES:
                chunk = handle.read(HEAD_BYTES)
                if not chunk:
                    return out, True
                out += decompressor.decompress(chunk, HEAD_BYTES - len(out))
                if decompressor.eof:
                    return out, True
        except zlib.error as exc:
            raise UnsupportedFormat(f"The gzip data is corrupt: {exc}.") from None
    return out, False


def _sniff_text(head: bytes, *, complete: bool) -> Detected:
    for magic, name in _MAGIC:
        if head.startswith(magic):
            raise UnsupportedFormat(f"Found {name}; Granary accepts {SUPPORTED}.")
    nul = head.find(b"\x00")
    if nul >= 0:
        raise UnsupportedFormat(
            f"Found binary data (a NUL byte at offset {nul}); Granary accepts {SUPPORTED}."
        )
    text = _decode_head(head, complete=complete)
    first = next((line for line in text.splitlines() if line.strip()), "")
    if not first:
        raise EmptyUpload("The file holds only blank lines.")
    stripped = first.lstrip()
    if stripped.startswith("{"):
        try:
            value = json.loads(stripped)
        except json.JSONDecodeError:
            value = None
        except RecursionError:
            limit = settings.GRANARY_MAX_NESTING_DEPTH
            raise UnsupportedFormat(
                f"The first JSON object is nested too deeply to read; Granary takes at most {limit:,} "
                "levels (GRANARY_MAX_NESTING_DEPTH)."
            ) from None
        if isinstance(value, dict):
            return Detected("jsonl")
        if not complete or text.strip().endswith("}"):
            raise UnsupportedFormat(
                "Found JSON that is not one object per line; upload JSON Lines (one object per line)."
            )
    if stripped.startswith("["):
        raise UnsupportedFormat("Found a JSON array; upload JSON Lines (one object per line) instead.")
    return _csv_dialect(text, complete=complete)


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


def _csv_dialect(text: str, *, complete: bool) -> Detected:
    lines = text.splitlines()
    if not complete and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut off
    sample = "\n".join(lines[:100])
    sniffer = csv.Sniffer()
    try:
        dialect = sniffer.sniff(sample, delimiters=",\t;|")
        delimiter, quotechar = dialect.delimiter, dialect.quotechar or '"'
    except csv.Error:
        # One column, or a dialect the sniffer cannot decide: count the candidates instead.
        first = lines[0]
        delimiter = max(",\t;|", key=first.count) if any(d in first for d in ",\t;|") else ","
        quotechar = '"'
    header = True
    first_row = next(csv.reader([lines[0]], delimiter=delimiter, quotechar=quotechar), [])
    if any(_is_number(field) for field in first_row):
        # Numbers in the first row are data, not names, unless the sniffer is sure otherwise.
        try:
            header = sniffer.has_header(sample)
        except csv.Error:
            header = False
    return Detected(
        "tsv" if delimiter == "\t" else "csv", delimiter=delimiter, quotechar=quotechar, header=header
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
