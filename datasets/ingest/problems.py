"""Saying precisely what is wrong with a file: the line, field, byte offset and what was expected.

The fast readers in datasets.ingest.reader only know that pyarrow refused; these slower scans run
after a failure to find where and why. Also here: turning preview values into plain JSON.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import zlib
from datetime import date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from core.errors import InvalidInput
from datasets.ingest.formats import Detected


class IngestError(InvalidInput):
    code = "ingest_failed"


def read_error(exc: OSError) -> IngestError:
    return IngestError(f"The file cannot be read to its end (truncated or corrupt compressed data?): {exc}")


def field_count(path: Path, detected: Detected) -> int:
    with open_text(path, detected) as lines:
        first = next(csv.reader(lines, delimiter=detected.delimiter, quotechar=detected.quotechar), [])
    return len(first)


def open_text(path: Path, detected: Detected) -> IO[str]:
    raw = open_bytes(path, detected)
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="strict", newline="")


def open_bytes(path: Path, detected: Detected) -> IO[bytes]:
    """The file's (decompressed) bytes, for the slow Python scans that locate a problem."""
    if detected.compression == "gzip":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def locate_csv_problem(path: Path, detected: Detected) -> str | None:
    """Find the first malformed record with Python's csv module: slow, so only after a failure."""
    width: int | None = None
    try:
        with open_text(path, detected) as lines:
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


def check_gzip_trailer(path: Path, *, text_crc32: int, text_bytes: int) -> None:
    """A gzip stream ends with the CRC-32 and size of its data; pyarrow does not check them, so a
    truncated upload would otherwise pass with its rows cut short."""
    with open(path, "rb") as handle:
        handle.seek(-8, 2)
        trailer = handle.read(8)
    crc, size = int.from_bytes(trailer[:4], "little"), int.from_bytes(trailer[4:], "little")
    if (crc, size) == (text_crc32, text_bytes % 2**32):
        return
    # A file of several gzip members only carries the last one's trailer: let Python check it.
    try:
        with gzip.open(path, "rb") as stream:
            while stream.read(1024 * 1024):
                pass
    except (EOFError, OSError, zlib.error) as exc:
        raise IngestError(f"The gzip data is truncated or corrupt: {exc}.") from None


def not_utf8(path: Path, detected: Detected) -> IngestError:
    """Name the first byte that is not UTF-8, with its offset in the (decompressed) text."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    line = 1
    with open_bytes(path, detected) as handle:
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


def json_error(exc: Exception, *, path: Path, detected: Detected) -> IngestError:
    """Find the first bad line with Python's json module: slow, so only after a failure."""
    kinds: dict[str, tuple[str, int]] = {}
    with open_bytes(path, detected) as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.strip()
            if number == 1:
                line = line.removeprefix(b"\xef\xbb\xbf")
            if not line:
                continue
            try:
                value = json.loads(line)
            except UnicodeDecodeError:
                return not_utf8(path, detected)
            except RecursionError:
                return IngestError(f"Line {number} is nested too deeply to read.")
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
