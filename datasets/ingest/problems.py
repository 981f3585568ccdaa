"""Saying precisely what is wrong with a file: the line, field, byte offset and what was expected.

The fast readers in datasets.ingest.reader only know that pyarrow refused; these slower scans run
after a failure to find where and why. Also here: turning preview values into plain JSON.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import json
import zlib
from datetime import date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from typing import IO, Any

import numpy as np
from django.conf import settings

from core.errors import InvalidInput
from datasets.ingest.formats import Detected
from datasets.ingest.sources import STREAM_BYTES, open_gzip, open_stream
from datasets.storage import Source


class IngestError(InvalidInput):
    code = "ingest_failed"


def read_error(exc: OSError) -> IngestError:
    return IngestError(f"The file cannot be read to its end (truncated or corrupt compressed data?): {exc}")


def row_too_long(line: int | None) -> IngestError:
    limit = settings.GRANARY_MAX_ROW_BYTES
    if line is None:  # no single line is: a quoted field runs over many
        return IngestError(
            f"A row is longer than {limit:,} bytes (GRANARY_MAX_ROW_BYTES), its quoted fields spanning "
            "many lines: is a quote left open?"
        )
    return IngestError(f"Line {line:,} is longer than {limit:,} bytes (GRANARY_MAX_ROW_BYTES).")


def too_deep(what: str, depth: int) -> IngestError:
    limit = settings.GRANARY_MAX_NESTING_DEPTH
    return IngestError(
        f"{what} is nested {depth:,} levels deep; Granary takes at most {limit:,} (GRANARY_MAX_NESTING_DEPTH)."
    )


def too_wide(columns: int, *, nested: bool = False) -> IngestError:
    limit = settings.GRANARY_MAX_COLUMNS
    counted = " (nested fields included)" if nested else ""
    return IngestError(
        f"The file has {columns:,} columns{counted}; Granary takes at most {limit:,} (GRANARY_MAX_COLUMNS)."
    )


def header_fields(source: Source, detected: Detected) -> list[str]:
    """The fields of the first record, from at most GRANARY_MAX_ROW_BYTES of the (decompressed)
    text: the header's width is checked before pyarrow, which holds memory for every column it
    is told of, reads anything."""
    limit = settings.GRANARY_MAX_ROW_BYTES
    head = read_head(source, detected, limit + 1)
    text = head[:limit].decode("utf-8-sig", errors="replace")
    if len(head) > limit and "\n" not in text and "\r" not in text:
        raise row_too_long(1)
    rows = csv.reader(
        io.StringIO(text, newline=""), delimiter=detected.delimiter, quotechar=detected.quotechar
    )
    try:
        return next(rows, [])
    except csv.Error:  # a field longer than the csv module takes: count the delimiters instead
        return text.splitlines()[0].split(detected.delimiter)


def read_head(source: Source, detected: Detected, size: int) -> bytes:
    """Up to `size` bytes of the (decompressed) text; fewer at its end, or where compressed data
    breaks off (the full read says what is wrong with it)."""
    parts: list[bytes] = []
    got = 0
    # Only the head is fetched from object storage, not a full STREAM_BYTES.
    head = open_bytes(source, detected, buffer_size=max(64 * 1024, min(size, STREAM_BYTES)))
    with head as handle, contextlib.suppress(EOFError, OSError, zlib.error):
        while got < size and (part := handle.read(min(64 * 1024, size - got))):
            parts.append(part)
            got += len(part)
    return b"".join(parts)


def long_line(source: Source, detected: Detected) -> int | None:
    """The number of the first line longer than GRANARY_MAX_ROW_BYTES, if any: asked once pyarrow
    found a row that does not fit its block. Vectorized, so many short lines scan fast."""
    limit = settings.GRANARY_MAX_ROW_BYTES
    lines = offset = line_start = 0
    with open_bytes(source, detected) as handle:
        while chunk := handle.read(8 * 1024 * 1024):
            ends = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == 0x0A) + offset
            if len(ends):
                starts = np.empty_like(ends)
                starts[0], starts[1:] = line_start, ends[:-1] + 1
                over = np.flatnonzero(ends - starts > limit)
                if len(over):
                    return lines + int(over[0]) + 1
                lines, line_start = lines + len(ends), int(ends[-1]) + 1
            offset += len(chunk)
            if offset - line_start > limit:  # the line still open is too long already
                return lines + 1
    return None


def open_text(source: Source, detected: Detected) -> IO[str]:
    raw = open_bytes(source, detected)
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="strict", newline="")


def open_bytes(source: Source, detected: Detected, *, buffer_size: int = STREAM_BYTES) -> IO[bytes]:
    """The file's (decompressed) bytes, for the slow Python scans that locate a problem."""
    if detected.compression == "gzip":
        return open_gzip(source, buffer_size=buffer_size)
    return open_stream(source, buffer_size=buffer_size)


def locate_csv_problem(source: Source, detected: Detected) -> str | None:
    """Find the first malformed record with Python's csv module: slow, so only after a failure."""
    width: int | None = None
    try:
        with open_text(source, detected) as lines:
            reader = csv.reader(
                lines, delimiter=detected.delimiter, quotechar=detected.quotechar, strict=True
            )
            started = 1
            for row in reader:
                if row and width is None:
                    width = len(row)
                elif row and len(row) != width:
                    return (
                        f"Line {started} has {len(row)} fields, but the header has {width}: "
                        f"{detected.delimiter.join(row)[:120]!r}."
                    )
                started = reader.line_num + 1
    except csv.Error as exc:
        return f"Line {started}: malformed {detected.format.upper()} ({exc}); is a quote left open?"
    except (UnicodeDecodeError, EOFError, OSError):
        return None
    return None


def check_gzip_trailer(source: Source, *, text_crc32: int, text_bytes: int) -> None:
    """A gzip stream ends with the CRC-32 and size of its data; pyarrow does not check them, so a
    truncated upload would otherwise pass with its rows cut short."""
    with source.open() as handle:
        handle.seek(max(0, source.size - 8))
        trailer = handle.read(8)
    crc, size = int.from_bytes(trailer[:4], "little"), int.from_bytes(trailer[4:], "little")
    if (crc, size) == (text_crc32, text_bytes % 2**32):
        return
    # A file of several gzip members only carries the last one's trailer: let Python check it.
    try:
        with open_gzip(source) as stream:
            while stream.read(1024 * 1024):
                pass
    except (EOFError, OSError, zlib.error) as exc:
        raise IngestError(f"The gzip data is truncated or corrupt: {exc}.") from None


def not_utf8(source: Source, detected: Detected) -> IngestError:
    """Name the first byte that is not UTF-8, with its offset in the (decompressed) text."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    line = 1
    with open_bytes(source, detected) as handle:
        while chunk := handle.read(1024 * 1024):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                # exc.object is the decoder's held-back bytes (at most 3) followed by this chunk.
                held = len(exc.object) - len(chunk)
                bad = offset - held + exc.start
                line += exc.object[: exc.start].count(b"\n")
                return IngestError(
                    f"The file is not UTF-8 text: byte 0x{exc.object[exc.start]:02x} at offset {bad:,} (line {line}) "
                    "is invalid. Save it as UTF-8."
                )
            offset += len(chunk)
            line += chunk.count(b"\n")
    return IngestError("The file is not UTF-8 text. Save it as UTF-8.")


def json_error(exc: Exception, *, source: Source, detected: Detected) -> IngestError:
    """Find the first bad line with Python's json module: slow, so only after a failure."""
    kinds: dict[str, tuple[str, int]] = {}
    limit = settings.GRANARY_MAX_ROW_BYTES
    with open_bytes(source, detected) as handle:
        # Lines read at most GRANARY_MAX_ROW_BYTES at a time: the scan must not hold a huge one.
        for number, raw in enumerate(iter(lambda: handle.readline(limit + 1), b""), start=1):
            if len(raw) > limit and not raw.endswith(b"\n"):
                return row_too_long(number)
            line = raw.strip()
            if number == 1:
                line = line.removeprefix(b"\xef\xbb\xbf")
            if not line:
                continue
            try:
                value = json.loads(line)
            except UnicodeDecodeError:
                return not_utf8(source, detected)
            except RecursionError:
                return too_deep(f"Line {number:,}", json_nesting(line)[0])
            except json.JSONDecodeError as error:
                return IngestError(f"Line {number} is not valid JSON: {error.msg} at column {error.colno}.")
            if not isinstance(value, dict):
                return IngestError(f"Line {number} is not a JSON object but {json_kind(value)}.")
            for key, item in value.items():
                kind = json_kind(item)
                if kind == "null":
                    continue
                seen = kinds.setdefault(key, (kind, number))
                if seen[0] != kind and {seen[0], kind} != {"an integer", "a number"}:
                    return IngestError(
                        f"Line {number}, field '{key}': expected {seen[0]} (as on line {seen[1]}), found {kind}."
                    )
    return IngestError(f"The JSON Lines file cannot be read: {exc}")


def json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def json_safe(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, (date, dtime)):
        return value.isoformat()
    if isinstance(value, (Decimal, timedelta)):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return str(value)


# What each byte is to the nesting scan of JSON text: an opening or closing bracket, a quote or
# the end of a line; everything else is 0.
_JSON_BYTES = np.zeros(256, dtype=np.int8)
_JSON_BYTES[[ord("{"), ord("[")]] = 1
_JSON_BYTES[[ord("}"), ord("]")]] = -1
_JSON_BYTES[ord('"')] = 2
_JSON_BYTES[ord("\n")] = 3


def json_nesting(lines: bytes) -> tuple[int, int]:
    """How deep the deepest value in `lines` (whole lines of JSON) nests, and on which of them
    (counted from 0). Brackets in strings do not count. Vectorized over the brackets and quotes,
    so that it can run over every line before pyarrow, whose JSON reader crashes the process on
    a line some 10,000 levels deep, parses it."""
    data = np.frombuffer(lines, dtype=np.uint8)
    kinds = _JSON_BYTES[data]
    at = np.flatnonzero(kinds)
    if not len(at):
        return 0, 0
    kinds = kinds[at]
    quote = kinds == 2
    if b'\\"' in lines:  # a quote after an odd number of backslashes is part of a string
        quotes = at[quote]
        quotes = quotes[quotes > 0]
        after = quotes[data[quotes - 1] == 0x5C]
        # For each byte, where the run of backslashes before it (if any) begins.
        plain = np.where(data != 0x5C, np.arange(len(data)), -1)
        run = (after - 1) - np.maximum.accumulate(plain)[after - 1]
        quote[np.searchsorted(at, after[run % 2 == 1])] = False
    newline = kinds == 3
    # Inside a string: after an odd number of quotes since the line began.
    quotes_so_far = np.cumsum(quote, dtype=np.int64)
    at_line_start = np.maximum.accumulate(np.where(newline, quotes_so_far, 0))
    outside = (quotes_so_far - at_line_start) % 2 == 0
    steps = np.where(outside & (np.abs(kinds) == 1), kinds, 0)
    level = np.cumsum(steps, dtype=np.int64)
    last_newline = np.maximum.accumulate(np.where(newline, np.arange(len(at)), -1))
    depth = level - np.where(last_newline >= 0, level[last_newline], 0)
    deepest = int(np.argmax(depth))
    return int(depth[deepest]), int(np.count_nonzero(newline[:deepest]))


def longest_line(lines: bytes) -> tuple[int, int]:
    """The length of the longest of `lines` and which it is (counted from 0)."""
    ends = np.flatnonzero(np.frombuffer(lines, dtype=np.uint8) == 0x0A)
    if not len(ends) or ends[-1] != len(lines) - 1:
        ends = np.append(ends, len(lines))
    lengths = np.diff(ends, prepend=-1) - 1
    longest = int(np.argmax(lengths))
    return int(lengths[longest]), longest


def json_field_paths(lines: bytes, seen: set[tuple[str, ...]]) -> None:
    """Add the paths of the fields in `lines` (JSON Lines no deeper than the nesting limit) to
    `seen`: the columns, nested ones included, that pyarrow would infer from them."""
    for raw in lines.split(b"\n"):
        try:
            value = json.loads(raw)
        except ValueError:
            continue  # not for this count to say; pyarrow and json_error will
        stack: list[tuple[tuple[str, ...], Any]] = [((), value)]
        while stack:
            prefix, item = stack.pop()
            if isinstance(item, dict):
                for key, child in item.items():
                    path = (*prefix, str(key))
                    seen.add(path)
                    stack.append((path, child))
            elif isinstance(item, list):
                stack.extend((prefix, child) for child in item if isinstance(child, (dict, list)))
