"""The ingest pass: one streaming read of a version's file that yields its schema, profile,
preview and a normalized Parquet copy, in memory bounded by the block size, not the file.

The file is a storage `Source`. Plain CSV, TSV and JSON Lines on the filesystem are read by
pyarrow straight from the file while a side thread reads it too (from the page cache), hashing it
and checking for NUL bytes and unbalanced quotes; in object storage one thread fetches the object
in large ranged GETs, hashes and checks each part and hands it to the parser, so its bytes cross
the network once. Gzip files stream through a wrapper that decompresses, checks and counts on the
way. Parquet is read by row group, its footer parsed from the tail the format sniff read: on the
filesystem by pyarrow from the file beside the side scan, in object storage from the same one
streamed GET that hashes it. The parsed rows go through in chunks of ROWS_PER_CHUNK: one thread
writes each chunk as a row group of the Parquet copy while another profiles it, and the parser
goes on; a Parquet file that already is what its copy would be (`is_own_copy`) is its own, and
no copy is written.
Anything wrong ends in IngestError, whose message says where (line, column, byte offset) and
what was expected (datasets.ingest.problems finds that out).

Longer than our other modules on purpose: it is one pipeline whose three threads share the
`_Reading` state and the chunk queue, and its concurrency is easier to check read in one place.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import queue
import re
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq
from django.conf import settings

from core.jsonvalues import without_nul
from datasets.ingest.dates import (
    TIMESTAMP_PARSERS,
    TimeOfDay,
    as_dates,
    csv_date_columns,
    dates_schema,
    json_date_columns,
)
from datasets.ingest.formats import TAIL_BYTES, Detected, sniff
from datasets.ingest.problems import (
    IngestError,
    check_gzip_trailer,
    header_fields,
    json_error,
    json_field_paths,
    json_nesting,
    json_safe,
    locate_csv_problem,
    long_line,
    longest_line,
    not_utf8,
    open_bytes,
    read_error,
    read_head,
    row_too_long,
    too_deep,
    too_wide,
)
from datasets.ingest.profiling import ColumnProfile, RowSample, column_profiles, logical_type
from datasets.ingest.sources import local_path, open_stream, remembered
from datasets.storage import Source, StorageUnavailable

PREVIEW_ROWS = 100
PREVIEW_CHARS = 1000  # of each text (or bytes) value in the preview
# Rows profiled, sampled and written (as one Parquet row group) at a time. The parser's batches
# are one block each (about 8k rows of a typical CSV): too small to profile without most of the
# time going to per-batch overhead, and too small a row group for Parquet readers.
ROWS_PER_CHUNK = 128 * 1024
# ...or fewer when the rows are wide: CHUNKS_IN_FLIGHT + 1 chunks are held at once, so a bound in
# rows alone lets memory grow with the row width (128k rows of 10 KB are 1.3 GB a chunk). At
# 64 MiB, files of 800 kB strings or of 2,000 columns peaked at 500 to 650 MB. Wide rows are
# bounded in cells too: the work on a chunk is done column by column, each with buffers of its own.
CHUNK_BYTES = 32 * 1024 * 1024
CHUNK_CELLS = 1_000_000
CHUNKS_IN_FLIGHT = 2  # chunks being written and profiled while the parser reads the next
SCAN_BYTES = 4 * 1024 * 1024
# How far the side scan may run ahead of the parser: hashing is several times faster than
# parsing, and a scan far ahead would push the pages the parser is about to read out of the page
# cache of a file larger than memory, and have them read from disk twice.
SCAN_AHEAD = 256 * 1024 * 1024
# A gzip file that expands to less than this is never refused for its compression ratio: small
# files of repetitive rows compress far better than large ones, and cost little whatever they hold.
RATIO_FREE_BYTES = 16 * 1024 * 1024
# From object storage, text is read from one streamed GET in parts of FEED_BYTES, FEED_PARTS of
# them ahead of the parser at most: enough to keep the connection busy. With a GET per part, 4
# parts of 8 MiB hid each GET's latency, and held 90 MB more than the filesystem at peak.
FEED_BYTES = 4 * 1024 * 1024
FEED_PARTS = 2
Progress = Callable[[int, int], None]  # (bytes read of the stored file, rows so far)


@dataclass
class Ingested:
    detected: Detected
    sha256: str  # of the stored bytes, as read by this pass
    rows: int
    schema: list[dict[str, Any]]
    profile: dict[str, Any]
    preview: dict[str, Any]
    # The Parquet copy the viewer, validation and exports read; None when the stored file is its
    # own copy (a Parquet upload that already is what the copy would be: nothing more to store).
    parquet_path: Path | None


@dataclass
class _Reading:
    """What the wrapper around the stored file learned while pyarrow read through it."""

    hasher: Any = field(default_factory=hashlib.sha256)
    raw_bytes: int = 0
    text_bytes: int = 0
    text_crc32: int = 0
    quotes: int = 0
    # A problem found while pyarrow reads (or the store failing under the side scan or the feed).
    # It is kept here, and the read ends as if the file ended, because an exception raised into
    # pyarrow's read-ahead thread aborts the process.
    error: IngestError | StorageUnavailable | None = None
    # Bytes of the stored file the parser has consumed, when pyarrow reads the file itself, and
    # the last figure read from it (for the side scan, which must not call into the parser's file).
    position: Callable[[], int] | None = None
    parsed: int = 0
    scanner: _Scanner | _Feed | None = None
    parquet_rows: int = 0  # a Parquet file's row count, from its footer

    def settle(self) -> None:
        """Wait for the side scan, so that the hash, the quote count and any problem it found
        cover the whole file."""
        if self.scanner is not None:
            self.scanner.unleash.set()
            self.scanner.join()

    def found(self) -> IngestError | StorageUnavailable | None:
        """The problem the side scan found in the whole file, if any: it explains the parser's
        failure better than the parser can (a NUL byte, say, read as a broken row)."""
        self.settle()
        return self.error

    def abandon(self) -> None:
        if self.scanner is not None:
            self.scanner.stop.set()
            self.scanner.unleash.set()
            self.scanner.join()


class _Scanner(threading.Thread):
    """Reads the stored file beside the parser: hashes it and, for text, refuses NUL bytes and
    counts quote characters. On its own thread this costs the parser nothing, and pyarrow reads
    the file itself, with no Python between it and the bytes."""

    def __init__(self, source: Source, reading: _Reading, *, quotechar: str | None) -> None:
        super().__init__(name="ingest-scan", daemon=True)
        self.source = source
        self.reading = reading
        self.text = quotechar is not None
        self.quote = (quotechar or "").encode()
        self.stop = threading.Event()
        self.unleash = threading.Event()  # run to the end now, however far behind the parser is

    def run(self) -> None:
        reading = self.reading
        buffer = bytearray(SCAN_BYTES)
        view = memoryview(buffer)
        try:
            with _open_unbuffered(self.source) as handle:
                while not self.stop.is_set():
                    while (
                        reading.position is not None
                        and reading.raw_bytes - reading.parsed > SCAN_AHEAD
                        and not self.unleash.wait(0.01)
                    ):
                        pass
                    if self.stop.is_set() or not (size := handle.readinto(buffer)):
                        break
                    reading.hasher.update(view[:size])  # releases the GIL
                    if self.text:
                        nul = buffer.find(b"\x00", 0, size)
                        if nul >= 0:
                            reading.error = IngestError(
                                f"Found binary data: a NUL byte at offset {reading.raw_bytes + nul:,}."
                            )
                            return
                        if self.quote:
                            reading.quotes += buffer.count(self.quote, 0, size)
                    reading.raw_bytes += size
                    reading.text_bytes += size
        except StorageUnavailable as exc:
            reading.error = exc  # the store, not the file: the version stays processing
        except OSError as exc:
            reading.error = read_error(exc)


def _open_unbuffered(source: Source) -> Any:
    path = local_path(source)
    # A local file without Python's buffer, as the scan reads 4 MiB at a time; an object in
    # storage in one streamed GET.
    return open(path, "rb", buffering=0) if path is not None else source.stream()


class _Feed(threading.Thread):
    """On object storage, in place of the side scan and the parser's own reads: fetches the object
    once, in one streamed GET read FEED_BYTES at a time, hashes and checks each part as _Scanner
    does and hands it on to the parser (a _Fed file, or for Parquet a _RowGroupWindow), so
    fetching, hashing and parsing overlap and no byte is fetched twice. Without a `quotechar`
    (Parquet) the bytes are binary: hashed only."""

    def __init__(self, source: Source, reading: _Reading, *, quotechar: str | None) -> None:
        super().__init__(name="ingest-feed", daemon=True)
        self.source = source
        self.reading = reading
        self.text = quotechar is not None
        self.quote = (quotechar or "").encode()
        self.parts: queue.Queue[bytearray | None] = queue.Queue(maxsize=FEED_PARTS)
        self.stop = threading.Event()
        self.unleash = threading.Event()  # the parser is done: hash to the end, hand on nothing more

    def run(self) -> None:
        reading = self.reading
        try:
            with self.source.stream() as handle:
                while not self.stop.is_set() and (part := _read_part(handle, FEED_BYTES)):
                    reading.hasher.update(part)  # releases the GIL
                    nul = part.find(b"\x00") if self.text else -1
                    if nul >= 0:
                        reading.error = IngestError(
                            f"Found binary data: a NUL byte at offset {reading.raw_bytes + nul:,}."
                        )
                        return
                    if self.quote:
                        reading.quotes += part.count(self.quote)
                    reading.raw_bytes += len(part)
                    reading.text_bytes += len(part)
                    self._hand_on(part)
        except StorageUnavailable as exc:
            reading.error = exc  # the parser sees the text end, then this
        except OSError as exc:
            reading.error = read_error(exc)
        finally:
            self._hand_on(None)  # the end, as the parser sees it

    def _hand_on(self, part: bytearray | None) -> None:
        while not (self.stop.is_set() or self.unleash.is_set()):
            with contextlib.suppress(queue.Full):
                self.parts.put(part, timeout=0.05)
                return


def _read_part(handle: Any, size: int) -> bytearray:
    """The next `size` bytes of `handle` (fewer at its end, none after it), read into a buffer of
    their own: the parser is handed views of it, which it may hold, so a part is never reused."""
    part = bytearray(size)
    filled = 0
    with memoryview(part) as view:
        while filled < size and (got := handle.readinto(view[filled:])):
            filled += got
    del part[filled:]
    return part


class _Fed(io.RawIOBase):
    """The parser's file over a _Feed's parts. Never raises into pyarrow: a failed fetch ends the
    text early, and the error the feed left in `_Reading` is raised once the parser stops.
    A read within one part is a view of it, not a copy (pyarrow takes any buffer)."""

    def __init__(self, feed: _Feed) -> None:
        self.feed = feed
        self.part = bytearray()
        self.offset = 0
        self.consumed = 0  # bytes handed to the parser: its position in the stored file
        self.ended = False

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes | memoryview:
        if size is None or size < 0:
            return b"".join(iter(lambda: bytes(self.read(FEED_BYTES)), b""))
        if not size or not self._fill():
            return b""
        if self.offset + size <= len(self.part):
            data: bytes | memoryview = memoryview(self.part)[self.offset : self.offset + size]
            self.offset += size
        else:  # across parts (a block size that does not divide FEED_BYTES): joined, a copy
            pieces = []
            wanted = size
            while wanted and self._fill():
                piece = memoryview(self.part)[self.offset : self.offset + wanted]
                self.offset += len(piece)
                wanted -= len(piece)
                pieces.append(piece)
            data = b"".join(pieces)
        self.consumed += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def take(self) -> bytearray | memoryview | None:
        """The rest of the current part (a view), or the next part whole; None at the end."""
        if not self._fill():
            return None
        part = memoryview(self.part)[self.offset :] if self.offset else self.part
        self.offset = len(self.part)
        self.consumed += len(part)
        return part

    def _fill(self) -> bool:
        """Whether the current part has bytes left, taking the next part if need be."""
        while self.offset == len(self.part):
            if self.ended:
                return False
            try:
                part = self.feed.parts.get(timeout=0.05)
            except queue.Empty:
                if self.feed.is_alive() or not self.feed.parts.empty():
                    continue
                part = None  # the feed was stopped before it could say so
            if part is None:
                self.ended = True
                return False
            self.part, self.offset = part, 0
        return True


class _RowGroupWindow(io.RawIOBase):
    """A Parquet file on object storage as pyarrow reads it, row group after row group, served
    from a _Feed's one streamed GET (which hashes every byte on the way): the feed's parts that
    hold the row group being read are kept, those before it dropped, and a read within one part is
    a view of it, not a copy. The footer was read apart (one ranged GET of the tail) and handed to
    pyarrow with this file, so it is never asked for here.

    A read behind the parts kept (a file whose column chunks are not in row group order) is a
    ranged GET of its own: slower, never wrong. Never raises into pyarrow: a failed fetch is a
    short read, and the error the feed left in `_Reading` is what the ingest raises."""

    def __init__(self, source: Source, feed: _Feed, reading: _Reading) -> None:
        self.source = source
        self.fed = _Fed(feed)
        self.reading = reading
        self.size = source.size
        self.parts: deque[bytearray | memoryview] = deque()
        self.base = 0  # the offset in the file of parts[0]
        self.end = 0  # ...and of the byte after the last part
        self.keep = 0  # the first byte still needed: the start of the row group being read
        self.position = 0
        self.apart: IO[bytes] | None = None  # the ranged reader for reads behind the window

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = base + offset
        return self.position

    def tell(self) -> int:
        return self.position

    # pyarrow takes any buffer: a view of a part spares a copy of each column chunk.
    def read(self, size: int | None = -1) -> bytes | memoryview:
        start = self.position
        end = self.size if size is None or size < 0 else min(self.size, start + size)
        if end <= start:
            return b""
        data = self._behind(start, end) if start < self.base else self._ahead(start, end)
        self.position = start + len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _ahead(self, start: int, end: int) -> bytes | memoryview:
        self._drop(before=min(self.keep, start))
        while self.end < end:
            part = self.fed.take()
            if part is None:
                break
            self.parts.append(part)
            self.end += len(part)
            self._drop(before=min(self.keep, start))  # the parts of a gap go as they come
        end = min(end, self.end)
        pieces = []
        offset = self.base
        for part in self.parts:
            if offset >= end:
                break
            if offset + len(part) > start:
                pieces.append(memoryview(part)[max(0, start - offset) : end - offset])
            offset += len(part)
        if not pieces:
            return b""
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def _drop(self, *, before: int) -> None:
        """Forget the parts that end before `before`: no read goes there again."""
        while self.parts and self.base + len(self.parts[0]) <= before:
            self.base += len(self.parts.popleft())

    def _behind(self, start: int, end: int) -> bytes:
        try:
            if self.apart is None:
                self.apart = self.source.open()
            self.apart.seek(start)
            return self.apart.read(end - start)
        except (StorageUnavailable, OSError) as exc:
            self.reading.error = self.reading.error or (
                exc if isinstance(exc, StorageUnavailable) else read_error(exc)
            )
            return b""

    def close(self) -> None:
        if self.apart is not None:
            self.apart.close()
        self.parts.clear()
        super().close()


class _RawReader(io.RawIOBase):
    """Hashes and counts the stored bytes as they are read."""

    def __init__(self, handle: IO[bytes], reading: _Reading) -> None:
        self.handle = handle
        self.reading = reading

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.handle.read(len(buffer))
        buffer[: len(data)] = data
        self.reading.hasher.update(data)
        self.reading.raw_bytes += len(data)
        return len(data)


class _TextReader(io.RawIOBase):
    """Checks the (decompressed) text on its way to the parser: counts it and its quote
    characters, refuses NUL bytes, and stops a decompression bomb."""

    def __init__(self, source: Any, reading: _Reading, quotechar: str, *, stored_bytes: int) -> None:
        self.source = source
        self.reading = reading
        self.quote = quotechar.encode()
        self.limit, self.refusal = _decompressed_limit(stored_bytes)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.reading.error:
            return 0
        data = self.source.read(len(buffer))
        nul = data.find(b"\x00")
        if nul >= 0:
            self.reading.error = IngestError(
                f"Found binary data: a NUL byte at offset {self.reading.text_bytes + nul:,} of the decompressed text."
            )
            return 0
        buffer[: len(data)] = data
        self.reading.text_bytes += len(data)
        if self.quote:
            self.reading.quotes += data.count(self.quote)
        self.reading.text_crc32 = zlib.crc32(data, self.reading.text_crc32)
        if self.reading.text_bytes > self.limit:
            self.reading.error = IngestError(self.refusal)
            return 0
        return len(data)


def _decompressed_limit(stored_bytes: int) -> tuple[int, str]:
    """How many bytes a gzip file of `stored_bytes` may expand to, and the reason that refuses it."""
    limit = settings.GRANARY_MAX_DECOMPRESSED_BYTES
    ratio = settings.GRANARY_MAX_DECOMPRESSION_RATIO
    if max(ratio * stored_bytes, RATIO_FREE_BYTES) < limit:
        return max(ratio * stored_bytes, RATIO_FREE_BYTES), (
            f"The file expands to more than {ratio:,} times its size when decompressed "
            "(GRANARY_MAX_DECOMPRESSION_RATIO): refused as a possible decompression bomb."
        )
    return limit, (
        f"The file decompresses to more than {limit:,} bytes "
        "(GRANARY_MAX_DECOMPRESSED_BYTES): refused as a possible decompression bomb."
    )


def ingest_file(*, source: Source, workdir: Path, progress: Progress) -> Ingested:
    """Read `source` once and write its Parquet copy under `workdir` (unless it is its own)."""
    _return_freed_memory()
    source = remembered(source, tail=TAIL_BYTES)
    detected = sniff(source)
    overrides: dict[str, pa.DataType] = {}
    own_copy = True  # allowed, for a Parquet file that qualifies
    for attempt in range(_MAX_READS):
        try:
            return _ingest_once(
                source=source,
                detected=detected,
                overrides=overrides,
                workdir=workdir,
                progress=progress,
                own_copy=own_copy,
            )
        except _NeedsCopy:
            # Rare: a row group whose footer looked the right size decodes to far more (long
            # values behind a dictionary). The file is read once more, writing a copy.
            own_copy = False
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
            # A case the checks here did not foresee, but one this file's bytes cause (not the
            # machine, as memory or I/O errors would): failing the version says so, where the
            # exception would leave it processing.
            raise IngestError(f"Granary could not process this file: {exc}") from exc
        except _Widen as widen:
            # A later block holds a value the type inferred from the first block cannot take.
            # Other columns may too, further on: one pass finds them all, so that the file is read
            # once more whatever their number (one read per column took 45 reads of a 45-column
            # file whose last row held strings).
            overrides[widen.column] = widen.to
            if attempt == 0 and detected.format != "jsonl":  # JSON Lines widen only dates
                overrides = _widen_all(
                    source=source, detected=detected, schema=widen.schema, overrides=overrides
                )
    raise IngestError(f"The column types kept changing after {_MAX_READS} reads; giving up.")


# The read that meets a value wider than inferred, the one after the widening pass and, should
# that pass and the parser ever disagree, a few more; never one per column.
_MAX_READS = 4


def _return_freed_memory() -> None:
    """Have Arrow's jemalloc hand freed memory back to the system at once (config/__init__.py
    makes it Arrow's allocator). By default it keeps freed pages for a while, and a worker's
    memory then grows with the blocks it has read: on a 1 GiB CSV this peaks at 420 MB instead
    of 550, for about 3 s more CPU (pages given back and faulted in again)."""
    if pa.default_memory_pool().backend_name == "jemalloc":
        pa.jemalloc_set_decay_ms(0)


class _NeedsCopy(Exception):
    """A Parquet file taken for its own copy turned out not to be one while it was read."""


class _Widen(Exception):
    def __init__(self, column: str, to: pa.DataType, schema: pa.Schema) -> None:
        self.column = column
        self.to = to
        self.schema = schema  # as the read that met the wider value had inferred it


def _ingest_once(
    *,
    source: Source,
    detected: Detected,
    overrides: dict[str, pa.DataType],
    workdir: Path,
    progress: Progress,
    own_copy: bool,
) -> Ingested:
    reading = _Reading()
    try:
        with contextlib.ExitStack() as stack:
            if detected.format == "parquet":
                batches, schema, own_copy = _parquet_batches(
                    source, detected, reading, stack, own_copy=own_copy
                )
            else:
                own_copy = False
                text = _open_text(source, detected, reading, stack, scan=True)
                batches, schema = _text_batches(
                    text, source=source, detected=detected, overrides=overrides, reading=reading
                )
            with closing(batches):
                return _read_all(
                    batches,
                    schema,
                    source=source,
                    detected=detected,
                    reading=reading,
                    parquet_path=None if own_copy else workdir / "normalized.parquet",
                    progress=progress,
                )
    finally:
        reading.abandon()


def _scan(source: Source, reading: _Reading, *, quotechar: str | None) -> None:
    reading.scanner = _Scanner(source, reading, quotechar=quotechar)
    reading.scanner.start()


def _open_text(
    source: Source, detected: Detected, reading: _Reading, stack: contextlib.ExitStack, *, scan: bool
) -> Any:
    """The text of a CSV, TSV or JSON Lines file, for pyarrow to read; with `scan`, the stored
    bytes are hashed and checked on the way (by the side scan, the feed, or as they stream by)."""
    quotechar = detected.quotechar if detected.format != "jsonl" else ""
    path = local_path(source)
    if not detected.compression and path is not None:
        text = stack.enter_context(pa.OSFile(str(path)))
        if scan:
            reading.position = text.tell
            _scan(source, reading, quotechar=quotechar)
        return text
    if not detected.compression:
        if not scan:  # the widening pass: one more streamed GET, parsed as it comes
            return stack.enter_context(source.stream())
        feed = _Feed(source, reading, quotechar=quotechar)
        fed = _Fed(feed)
        reading.position = lambda: fed.consumed
        reading.scanner = feed
        feed.start()
        # The parser asks for a block (GRANARY_MAX_ROW_BYTES, 1 MiB) at a time, and each ask of a
        # Python file waits for the GIL, up to the switch interval (5 ms) while the profiling
        # threads hold it; from disk it asks nobody. Through a buffer of a part it asks once per
        # part (filled from a view of it): four times less often.
        return pa.BufferedInputStream(pa.PythonFile(fed, mode="r"), FEED_BYTES)
    # Compressed: the stored bytes are hashed and the text checked as they stream by.
    handle = stack.enter_context(open_stream(source))
    raw = _RawReader(handle, reading)
    stream: Any = io.BufferedReader(raw, buffer_size=1024 * 1024)
    stream = pa.CompressedInputStream(pa.PythonFile(stream, mode="r"), "gzip")
    return io.BufferedReader(_TextReader(stream, reading, quotechar, stored_bytes=source.size))


def _read_all(
    batches: _Batches,
    schema: pa.Schema,
    *,
    source: Source,
    detected: Detected,
    reading: _Reading,
    parquet_path: Path | None,
    progress: Progress,
) -> Ingested:
    """Profile the rows and, unless `parquet_path` is None (the file is its own copy), write them
    there as the Parquet copy."""
    _check_schema(schema)
    profiles = column_profiles(schema)
    sample = RowSample(columns=len(schema))
    preview: list[list[Any]] = []
    rows = 0
    last_report = 0.0
    # Left in reverse order: the writer thread stops before the Parquet file closes, and the
    # profiling thread before the column threads it hands work to.
    with (
        contextlib.ExitStack() as stack,
        ThreadPoolExecutor(max_workers=2, thread_name_prefix="column") as columns,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="profile") as profiling,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet") as writing,
    ):
        writer: pq.ParquetWriter | None = None

        def profile(chunk: pa.Table) -> None:
            # pyarrow and numpy release the GIL, so columns profile side by side.
            list(columns.map(ColumnProfile.add, profiles, chunk.columns))
            sample.add(chunk)

        in_flight: deque[list[Future[None]]] = deque()
        try:
            for chunk in _chunks(batches, columns=len(schema)):
                if not rows:
                    preview = _preview(chunk)
                    if parquet_path is not None:
                        writer = stack.enter_context(_parquet_writer(parquet_path, schema, chunk))
                while len(in_flight) >= CHUNKS_IN_FLIGHT:
                    for future in in_flight.popleft():
                        future.result()
                work = [profiling.submit(profile, chunk)]
                if writer is not None:
                    work.append(writing.submit(writer.write_table, chunk))
                in_flight.append(work)
                rows += chunk.num_rows
                now = time.monotonic()
                if now - last_report >= 1.0:
                    progress(_bytes_read(detected, reading, source, rows), rows)
                    last_report = now
            for pair in in_flight:
                for future in pair:
                    future.result()
        except BaseException:
            for pair in in_flight:  # the read failed: what has not started yet is not worth doing
                for future in pair:
                    future.cancel()
            raise
        if writer is None and parquet_path is not None:  # no rows: the copy still carries the schema
            stack.enter_context(_parquet_writer(parquet_path, schema, None))
    reading.settle()
    if reading.error:
        raise reading.error
    if detected.format != "parquet":
        _finish_text(source=source, detected=detected, reading=reading)
    sha256 = reading.hasher.hexdigest()
    progress(source.size, rows)
    columns_out = [
        {"name": f.name, "type": logical_type(f.type), "nullable": p.nulls > 0, "arrow_type": str(f.type)}
        for f, p in zip(schema, profiles, strict=True)
    ]
    return Ingested(
        detected=detected,
        sha256=sha256,
        rows=rows,
        schema=columns_out,
        profile=without_nul(
            {"rows": rows, "columns": [p.result(sample.column(i)) for i, p in enumerate(profiles)]}
        ),
        preview={
            "columns": schema.names,
            "rows": without_nul(preview),
        },
        parquet_path=parquet_path,
    )


def _preview(chunk: pa.Table) -> list[list[Any]]:
    """The first PREVIEW_ROWS rows as JSON values, text and bytes cut at PREVIEW_CHARS: a
    preview of megabyte-long values held hundreds of megabytes (and was stored in the database)."""
    head = chunk.slice(0, PREVIEW_ROWS)
    columns = []
    for column in head.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            column = pc.utf8_slice_codeunits(column, 0, PREVIEW_CHARS)
        elif pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type):
            column = pc.binary_slice(column, 0, PREVIEW_CHARS)
        columns.append([json_safe(value) for value in column.to_pylist()])
    return [list(row) for row in zip(*columns, strict=True)]


def _chunks(batches: Iterable[pa.RecordBatch], *, columns: int) -> Iterator[pa.Table]:
    """The parser's batches, gathered into tables of ROWS_PER_CHUNK rows, CHUNK_CELLS cells or
    CHUNK_BYTES bytes, whichever comes first (no copy)."""
    most_rows = max(1, min(ROWS_PER_CHUNK, CHUNK_CELLS // max(1, columns)))
    pending: list[pa.RecordBatch] = []
    rows = size = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        pending.append(batch)
        rows += batch.num_rows
        size += batch.nbytes
        if rows >= most_rows or size >= CHUNK_BYTES:
            yield pa.Table.from_batches(pending)
            pending, rows, size = [], 0, 0
    if pending:
        yield pa.Table.from_batches(pending)


def _parquet_writer(path: Path, schema: pa.Schema, first: pa.Table | None) -> pq.ParquetWriter:
    return pq.ParquetWriter(
        path, schema, compression="zstd", use_dictionary=_repeating(first) if first is not None else True
    )


def _repeating(chunk: pa.Table) -> list[str]:
    """The columns worth dictionary-encoding in the Parquet copy: those whose values repeat (at
    most one distinct value in ten, judged on the first chunk). For a column of mostly unique
    values the dictionary is CPU spent on a bigger file (here 2.5 s of CPU and 60 MiB per GiB)."""
    names = []
    for field_, column in zip(chunk.schema, chunk.columns, strict=True):
        if pa.types.is_nested(field_.type):
            continue  # leaf columns go by dotted paths; nested data keeps the plain encoding
        if pa.types.is_dictionary(field_.type):  # a Parquet upload's own dictionary columns
            names.append(field_.name)
            continue
        try:
            distinct = pc.count_distinct(column, mode="all").as_py()
        except pa.ArrowNotImplementedError:
            continue
        if distinct <= max(1, len(column) // 10):
            names.append(field_.name)
    return names


def _bytes_read(detected: Detected, reading: _Reading, source: Source, rows: int) -> int:
    if reading.position is not None:
        return reading.position()
    if detected.format == "parquet":
        return int(source.size * rows / (reading.parquet_rows or 1))
    return reading.raw_bytes


def _check_schema(schema: pa.Schema) -> None:
    """Refuse a schema too wide or too deep to profile, with its column names unique and present."""
    if len(schema) > settings.GRANARY_MAX_COLUMNS:
        raise too_wide(len(schema))
    fields = len(schema)
    for field_ in schema:
        depth, nested = _nesting(field_.type)
        if depth > settings.GRANARY_MAX_NESTING_DEPTH:
            raise too_deep(f"Column '{field_.name}'", depth)
        fields += nested
    if fields > settings.GRANARY_MAX_COLUMNS:
        raise too_wide(fields, nested=True)
    seen: dict[str, int] = {}
    for number, name in enumerate(schema.names, start=1):
        if not name.strip():
            raise IngestError(f"Column {number} has no name: every column needs a unique, non-empty name.")
        if name in seen:
            raise IngestError(f"The column name '{name}' appears twice (columns {seen[name]} and {number}).")
        seen[name] = number
        # A name is kept exactly as the file has it (a checkout's reader asks for it by name), and
        # PostgreSQL's JSON holds no NUL: the schema could not be saved.
        if "\x00" in name or "\x00" in str(schema.field(number - 1).type):
            raise IngestError(
                f"Column {number}'s name contains a NUL character (or a field inside it does): "
                "rename it and upload again."
            )


def _nesting(arrow_type: pa.DataType) -> tuple[int, int]:
    """How deep a type nests (a struct or list of plain values: 1) and how many fields it holds
    inside (a struct's, at any depth). Without recursion: the type may nest very deep."""
    depth = fields = 0
    pending = [(arrow_type, 0)]
    while pending:
        current, level = pending.pop()
        depth = max(depth, level)
        if pa.types.is_struct(current):
            fields += current.num_fields
            pending.extend((current.field(i).type, level + 1) for i in range(current.num_fields))
        elif pa.types.is_map(current):
            pending.extend([(current.key_type, level + 1), (current.item_type, level + 1)])
        elif (
            pa.types.is_list(current)
            or pa.types.is_large_list(current)
            or pa.types.is_fixed_size_list(current)
        ):
            pending.append((current.value_type, level + 1))
        elif pa.types.is_dictionary(current):
            pending.append((current.value_type, level))
    return depth, fields


# --- Parquet -------------------------------------------------------------------------------------


def _parquet_batches(
    source: Source, detected: Detected, reading: _Reading, stack: contextlib.ExitStack, *, own_copy: bool
) -> tuple[_Batches, pa.Schema, bool]:
    """The file's batches, row group by row group, its schema, and whether it is its own Parquet
    copy (if `own_copy` allows it)."""
    metadata = _parquet_metadata(source, tail=detected.tail)
    groups, limit = metadata.num_row_groups, settings.GRANARY_MAX_PARQUET_ROW_GROUPS
    if groups > limit:
        raise IngestError(
            f"The Parquet file has {groups:,} row groups; Granary takes at most {limit:,} "
            "(GRANARY_MAX_PARQUET_ROW_GROUPS)."
        )
    reading.parquet_rows = metadata.num_rows
    own_copy = own_copy and is_own_copy(metadata)
    window: _RowGroupWindow | None = None
    try:
        # The footer is handed over, so pyarrow reads only the row groups.
        if local_path(source) is None:
            # On object storage they come from the one streamed GET that hashes the file, in file
            # order: each byte crosses the network once (a ranged GET per row group beside a
            # streamed GET for the hash fetched the file twice, in 17 more requests for 96 MiB).
            feed = _Feed(source, reading, quotechar=None)
            reading.scanner = feed
            feed.start()
            window = stack.enter_context(closing(_RowGroupWindow(source, feed, reading)))
            parquet = pq.ParquetFile(pa.PythonFile(window, mode="r"), metadata=metadata, pre_buffer=False)
        else:
            _scan(source, reading, quotechar=None)
            filesystem, name = source.arrow()
            parquet = pq.ParquetFile(name, filesystem=filesystem, metadata=metadata, pre_buffer=False)
        schema = parquet.schema_arrow
    except (pa.ArrowException, OSError) as exc:
        raise source.unavailable(exc) or IngestError(f"The Parquet file cannot be read: {exc}") from None
    starts = [_row_group_start(metadata.row_group(group)) for group in range(groups)]

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            # By row group on either backend, so batches end at the same rows and the Parquet
            # copy is the same file wherever the upload is stored.
            for group in range(groups):
                if window is not None:
                    window.keep = starts[group]
                decoded = 0
                for batch in parquet.iter_batches(batch_size=ROWS_PER_CHUNK, row_groups=[group]):
                    decoded += batch.nbytes
                    if own_copy and decoded > OWN_COPY_SLACK * CHUNK_BYTES:
                        raise _NeedsCopy
                    yield batch
        except (pa.ArrowException, OSError) as exc:
            raise (
                reading.error or source.unavailable(exc) or IngestError(f"The Parquet file is damaged: {exc}")
            ) from None

    return _Batches(batches(), parquet), schema, own_copy


# A Parquet upload serves as its own copy when its row groups are within this factor of the
# copy's (ROWS_PER_CHUNK rows or CHUNK_BYTES bytes).
OWN_COPY_SLACK = 2
# The copy's codec (the Croissant description promises ZSTD): an upload in another keeps a copy.
OWN_COPY_CODECS = {"ZSTD"}


def is_own_copy(metadata: pq.FileMetaData) -> bool:
    """Whether a Parquet file already is what its copy would be, so that it serves as its own
    (nothing written, nothing more stored; the copy's digest is the upload's): compressed with
    ZSTD, no INT96 column (a deprecated timestamp encoding, which a copy writes as INT64), and row
    groups the copy's size give or take OWN_COPY_SLACK, as the viewer reads a whole row group for
    a page (an upload of 1M-row groups would decode a million rows a page) and scans slow down
    over many small ones. The types are the copy's by construction: the copy holds what pyarrow
    reads from the file, under the file's own schema."""
    groups = metadata.num_row_groups
    for index in range(groups):
        group = metadata.row_group(index)
        if (
            group.num_rows > OWN_COPY_SLACK * ROWS_PER_CHUNK
            or group.total_byte_size > OWN_COPY_SLACK * CHUNK_BYTES
        ):
            return False
        small = (
            group.num_rows * OWN_COPY_SLACK < ROWS_PER_CHUNK
            and group.total_byte_size * OWN_COPY_SLACK < CHUNK_BYTES
        )
        if small and index < groups - 1:  # the last row group holds what is left
            return False
        for number in range(group.num_columns):
            column = group.column(number)
            if column.compression not in OWN_COPY_CODECS or column.physical_type == "INT96":
                return False
    return True


# What pyarrow reads of a file's end to find its footer: one ranged GET holds most footers.
FOOTER_READ_BYTES = 64 * 1024


def _parquet_metadata(source: Source, *, tail: bytes) -> pq.FileMetaData:
    """The file's footer, parsed, from its `tail` as the format sniff read it (or one read of the
    tail, and one more if the footer is larger)."""
    size = source.size
    if len(tail) < min(size, FOOTER_READ_BYTES):
        tail = _read_from(source, max(0, size - FOOTER_READ_BYTES))
    footer = int.from_bytes(tail[-8:-4], "little")
    # Checked before pyarrow parses it: parsed, the footer takes 5 to 8 times its size.
    limit = settings.GRANARY_MAX_PARQUET_METADATA_BYTES
    if limit < footer <= size - 12:
        raise IngestError(
            f"The Parquet file's metadata takes {footer:,} bytes; Granary takes at most {limit:,} "
            "(GRANARY_MAX_PARQUET_METADATA_BYTES)."
        )
    try:
        if footer > size - 12:  # longer than the file: damage, which pyarrow names from the file
            filesystem, name = source.arrow()
            return pq.ParquetFile(name, filesystem=filesystem, pre_buffer=False).metadata
        if footer + 8 > len(tail):
            tail = _read_from(source, size - footer - 8)
        return pq.read_metadata(pa.BufferReader(tail))
    except (pa.ArrowException, OSError) as exc:
        raise source.unavailable(exc) or IngestError(f"The Parquet file cannot be read: {exc}") from None


def _read_from(source: Source, offset: int) -> bytes:
    """The bytes of `source` from `offset` to its end, in one (ranged) GET on object storage."""
    with source.stream(offset) as handle:
        return b"".join(iter(lambda: handle.read(FOOTER_READ_BYTES), b""))


def _row_group_start(group: pq.RowGroupMetaData) -> int:
    """The offset of the first byte of a row group's column chunks (its first page)."""
    offsets = []
    for index in range(group.num_columns):
        column = group.column(index)
        offsets.append(column.data_page_offset)
        if column.has_dictionary_page and column.dictionary_page_offset:
            offsets.append(column.dictionary_page_offset)
    return max(0, min(offsets, default=0))


# --- CSV, TSV and JSON Lines ---------------------------------------------------------------------


_CONVERSION = re.compile(
    r"In CSV column #(\d+): (?:Row #\d+: )?CSV conversion error to ([^:]+): invalid value '(.*)'", re.S
)


def _text_batches(
    text: Any, *, source: Source, detected: Detected, overrides: dict[str, pa.DataType], reading: _Reading
) -> tuple[_Batches, pa.Schema]:
    if detected.format == "jsonl":
        return _json_batches(text, source=source, detected=detected, overrides=overrides, reading=reading)
    try:
        read_options, parse_options = _csv_options(source, detected)
    except IngestError as exc:
        raise reading.found() or exc from None
    convert_options = pacsv.ConvertOptions(
        column_types=overrides, strings_can_be_null=True, timestamp_parsers=TIMESTAMP_PARSERS
    )
    try:
        reader = pacsv.open_csv(
            text, read_options=read_options, parse_options=parse_options, convert_options=convert_options
        )
    except pa.ArrowInvalid as exc:
        raise reading.found() or _csv_error(exc, source=source, detected=detected, schema=None) from None
    except OSError as exc:
        raise reading.found() or read_error(exc) from None
    schema = reader.schema
    try:
        if reading.error:
            raise reading.error
        _check_schema(schema)
        if any(pa.types.is_binary(f.type) for f in schema):  # pyarrow reads non-UTF-8 text as bytes
            raise not_utf8(source, detected)
    except IngestError as exc:
        reader.close()
        raise reading.found() or exc from None
    dates = csv_date_columns(source, detected, schema, overrides)
    shown = dates_schema(schema, dates)

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            for batch in reader:
                yield as_dates(batch, shown, dates)
        except pa.ArrowInvalid as exc:
            raise _csv_error(exc, source=source, detected=detected, schema=schema) from None
        except OSError as exc:
            raise read_error(exc) from None
        except TimeOfDay as found:  # dates, then a time of day: read again as text, as for ISO dates
            raise _Widen(found.column, pa.string(), schema) from None

    return _Batches(batches(), reader, reading), shown


def _csv_options(source: Source, detected: Detected) -> tuple[pacsv.ReadOptions, pacsv.ParseOptions]:
    # The header is counted first: pyarrow holds memory for each column it is told of (a 0.9 MB
    # header of 100,000 columns took 1.2 GB before the column count could be checked).
    header = header_fields(source, detected)
    if len(header) > settings.GRANARY_MAX_COLUMNS:
        raise too_wide(len(header))
    # No read-ahead thread: it measured no faster here (the parser is the slow part, whoever
    # reads), and on the gzip path a thread blocked in our Python file wrapper when the read ends
    # early aborts the process at exit. The block is the longest row pyarrow can take.
    read_options = pacsv.ReadOptions(block_size=settings.GRANARY_MAX_ROW_BYTES, use_threads=False)
    if not detected.header:
        read_options.column_names = [f"column_{n}" for n in range(1, len(header) + 1)]
    parse_options = pacsv.ParseOptions(
        delimiter=detected.delimiter, quote_char=detected.quotechar, newlines_in_values=True
    )
    return read_options, parse_options


def _widen_all(
    *, source: Source, detected: Detected, schema: pa.Schema, overrides: dict[str, pa.DataType]
) -> dict[str, pa.DataType]:
    """The column types that every value of the file fits, found in one pass: the columns not yet
    strings are read as strings, and each batch is converted to the types found so far by
    pyarrow's own CSV conversion (so exactly what the next read will accept), widening a column
    (integer to float, anything to string) each time a value does not fit."""
    types = {f.name: overrides.get(f.name, f.type) for f in schema}
    pending = [name for name, type_ in types.items() if not pa.types.is_string(type_)]
    if not pending:
        return overrides
    read_options, parse_options = _csv_options(source, detected)
    as_text = pacsv.ConvertOptions(
        column_types=dict.fromkeys(pending, pa.string()), include_columns=pending, strings_can_be_null=True
    )
    reading = _Reading()  # unchecked: the final read checks (and hashes) the file
    with contextlib.ExitStack() as stack:
        text = _open_text(source, detected, reading, stack, scan=False)
        try:
            reader = stack.enter_context(
                closing(
                    pacsv.open_csv(
                        text, read_options=read_options, parse_options=parse_options, convert_options=as_text
                    )
                )
            )
            for batch in reader:
                _fit(batch, types)
        except pa.ArrowInvalid as exc:
            raise reading.error or _csv_error(exc, source=source, detected=detected, schema=None) from None
        except OSError as exc:
            raise reading.error or read_error(exc) from None
    if reading.error:
        raise reading.error
    return {name: type_ for name, type_ in types.items() if type_ != schema.field(name).type}


def _fit(batch: pa.RecordBatch, types: dict[str, pa.DataType]) -> None:
    """Widen `types` until pyarrow's CSV conversion takes every value of `batch` (strings)."""
    while names := [name for name in batch.schema.names if _unsettled(batch, name, types[name])]:
        text = io.BytesIO()
        pacsv.write_csv(batch.select(names), text)
        try:
            pacsv.read_csv(
                pa.py_buffer(text.getbuffer()),
                read_options=pacsv.ReadOptions(use_threads=False, block_size=max(1, text.tell()) + 1),
                parse_options=pacsv.ParseOptions(newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(
                    column_types={name: types[name] for name in names}, timestamp_parsers=TIMESTAMP_PARSERS
                ),
            )
            return
        except pa.ArrowInvalid as exc:
            conversion = _CONVERSION.search(str(exc))
            if conversion is None:
                raise
            name = names[int(conversion.group(1))]
            types[name] = _wider(types[name], conversion.group(3))


def _unsettled(batch: pa.RecordBatch, name: str, type_: pa.DataType) -> bool:
    """Whether the column may hold a value that `type_` does not take. Quick checks first, at a
    fraction of the cost of writing the batch out and reading it back: a cast parses numbers and
    timestamps as the CSV reader does (or more strictly), and booleans are its default words. What
    they do not settle goes to the round trip, which decides."""
    column = batch.column(name)
    if pa.types.is_string(type_):
        return False
    if pa.types.is_boolean(type_):
        return pc.all(pc.is_in(column.drop_null(), value_set=_CSV_BOOLEANS)).as_py() is False
    if pa.types.is_integer(type_) or pa.types.is_floating(type_) or pa.types.is_timestamp(type_):
        try:
            pc.cast(column, type_)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return True
        return False
    return True


_CSV_BOOLEANS = pa.array(["1", "True", "TRUE", "true", "0", "False", "FALSE", "false"])


def _wider(current: pa.DataType, value: str) -> pa.DataType:
    """The type to widen a column to that cannot take `value`."""
    try:
        float(value)
    except ValueError:
        return pa.string()
    return pa.float64() if pa.types.is_integer(current) else pa.string()


class _Batches:
    """Batches from a pyarrow reader, which must be closed however reading ends (an abandoned
    reader keeps its threads). A problem the side scan or the text wrapper found wins over what
    pyarrow made of the bytes around it."""

    def __init__(
        self, batches: Iterator[pa.RecordBatch], reader: Any, reading: _Reading | None = None
    ) -> None:
        self.batches = batches
        self.reader = reader
        self.reading = reading

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        try:
            for batch in self.batches:
                self._raise_found()
                if self.reading is not None and self.reading.position is not None:
                    self.reading.parsed = self.reading.position()
                yield batch
        except _Widen:
            # The file is read again, with a scan of its own that finds any NUL byte behind the
            # bad value: waiting for this scan to reach the end would cost a read per widening.
            self._raise_found()
            raise
        except IngestError:
            if self.reading is not None and (found := self.reading.found()):
                raise found from None
            raise
        self._raise_found()

    def _raise_found(self) -> None:
        if self.reading is not None and self.reading.error is not None:
            raise self.reading.error

    def close(self) -> None:
        close = getattr(self.batches, "close", None)
        if close:
            close()
        self.reader.close()


def _csv_error(exc: Exception, *, source: Source, detected: Detected, schema: pa.Schema | None) -> Exception:
    message = str(exc)
    conversion = _CONVERSION.search(message)
    if conversion and schema is not None:
        column = schema.field(int(conversion.group(1)))
        if conversion.group(2) == "string" or "UTF8" in message:
            return not_utf8(source, detected)
        return _Widen(column.name, _wider(column.type, conversion.group(3)), schema)
    if "invalid UTF8" in message:
        return not_utf8(source, detected)
    if "straddling" in message:
        return row_too_long(long_line(source, detected))
    located = locate_csv_problem(source, detected)
    return IngestError(located or f"The file cannot be parsed as {detected.format.upper()}: {message}")


def _finish_text(*, source: Source, detected: Detected, reading: _Reading) -> None:
    if detected.compression == "gzip":
        check_gzip_trailer(source, text_crc32=reading.text_crc32, text_bytes=reading.text_bytes)
    if detected.format != "jsonl" and reading.quotes % 2:
        located = locate_csv_problem(source, detected)
        raise IngestError(
            located
            or f"A quoted field is never closed: the file has an odd number of {detected.quotechar} characters."
        )


def _json_batches(
    text: Any, *, source: Source, detected: Detected, overrides: dict[str, pa.DataType], reading: _Reading
) -> tuple[_Batches, pa.Schema]:
    block = settings.GRANARY_MAX_ROW_BYTES  # also the longest line pyarrow can take
    try:
        _check_json_head(source, detected)
    except IngestError as exc:
        raise reading.found() or exc from None
    read_options = pajson.ReadOptions(block_size=block, use_threads=False)
    try:
        reader = pajson.open_json(text, read_options=read_options)
    except pa.ArrowInvalid as exc:
        raise reading.found() or _json_error(exc, source=source, detected=detected) from None
    except OSError as exc:
        raise reading.found() or read_error(exc) from None
    try:
        if reading.error:
            raise reading.error
        _check_schema(reader.schema)
    except IngestError as exc:
        reader.close()
        raise reading.found() or exc from None
    schema = _json_zones(reader.schema, source=source, detected=detected)
    dates = json_date_columns(source, detected, schema, overrides)
    shown = dates_schema(schema, dates)

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            for batch in reader:
                yield as_dates(batch.cast(schema) if batch.schema != schema else batch, shown, dates)
        except pa.ArrowInvalid as exc:
            raise _json_error(exc, source=source, detected=detected) from None
        except OSError as exc:
            raise read_error(exc) from None
        except TimeOfDay as found:  # ISO dates, then a timestamp: read again as timestamps
            raise _Widen(found.column, schema.field(found.column).type, schema) from None

    return _Batches(batches(), reader, reading), shown


def _check_json_head(source: Source, detected: Detected) -> None:
    """Check the lines pyarrow infers the schema from (its first block) before it reads them: it
    crashes the process on a line some 10,000 levels deep (and takes minutes at 5,000), and holds
    memory for every distinct field (1.3 GB for a 1.3 MB file of 80,000). Later blocks must fit
    that schema, so pyarrow refuses anything deeper or new in them at its first level."""
    block = settings.GRANARY_MAX_ROW_BYTES
    head = read_head(source, detected, block)
    lines = head[: head.rfind(b"\n") + 1] if len(head) == block else head
    if not lines:
        raise row_too_long(1)
    length, line = longest_line(lines)
    if length > block:
        raise row_too_long(line + 1)
    depth, line = json_nesting(lines)
    if depth > settings.GRANARY_MAX_NESTING_DEPTH:
        raise too_deep(f"Line {line + 1:,}", depth)
    fields: set[tuple[str, ...]] = set()
    json_field_paths(lines, fields)
    if len(fields) > settings.GRANARY_MAX_COLUMNS:
        raise too_wide(len(fields), nested=True)


def _json_error(exc: pa.ArrowInvalid, *, source: Source, detected: Detected) -> IngestError:
    if "straddling" in str(exc):
        return row_too_long(long_line(source, detected))
    return json_error(exc, source=source, detected=detected)


_ZONE = re.compile(r"(Z|[+-]\d\d:?\d\d)$")


def _json_zones(schema: pa.Schema, *, source: Source, detected: Detected) -> pa.Schema:
    """pyarrow reads ISO timestamps in JSON as UTC but forgets that they had a zone ("...Z"):
    give those columns their zone back, judged from the first lines of the file."""
    naive = [f.name for f in schema if pa.types.is_timestamp(f.type) and f.type.tz is None]
    if not naive:
        return schema
    zoned: set[str] = set()
    with open_bytes(source, detected) as handle:
        for _, raw in zip(range(100), handle, strict=False):
            try:
                row = json.loads(raw)
            except (ValueError, RecursionError):
                break
            for name in naive:
                value = row.get(name) if isinstance(row, dict) else None
                if isinstance(value, str) and _ZONE.search(value):
                    zoned.add(name)
    return pa.schema(
        [pa.field(f.name, pa.timestamp(f.type.unit, tz="UTC")) if f.name in zoned else f for f in schema]
    )
