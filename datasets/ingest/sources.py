"""How ingest reads a stored blob (a storage `Source`): a local file through the fast paths the
reader was tuned on, object storage in one streamed GET per pass (ranged reads for a head),
never through a full local copy.

No pyarrow at import: `formats.sniff` runs in web processes, on the upload before it is stored.
"""

from __future__ import annotations

import gzip
import io
import threading
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

from datasets.storage import Source
from datasets.storage.filesystem import LocalSource
from datasets.storage.ranges import RangeFile

# A reader that wants only the head of an object asks for less than this: it reads through ranged
# GETs of its buffer's size (the head, not the object). A whole sequential pass is one streamed GET.
STREAM_BYTES = 8 * 1024 * 1024


def local_source(path: Path) -> LocalSource:
    """A local file (an upload not yet stored, a file in a test) as a Source."""
    return LocalSource(name=path.name, path=path, size=path.stat().st_size)


def local_path(source: Source) -> Path | None:
    """The file behind `source` when it is one on this machine: readers then open it themselves,
    unbuffered or from C++, as they were tuned to."""
    return source.path if isinstance(source, LocalSource) else None


def open_stream(source: Source, *, buffer_size: int = STREAM_BYTES) -> IO[bytes]:
    """The bytes from the start, for sequential reads of any size (lines, 64 KiB parts). On object
    storage a whole pass is one streamed GET; with a `buffer_size` under STREAM_BYTES (a reader
    that wants only the head) ranged GETs of that size, so the object is not sent whole."""
    if local_path(source) is not None:
        return source.open()
    if buffer_size >= STREAM_BYTES:
        return source.stream()
    # _ArrowFile implements readinto, so Python's buffering turns small reads into few GETs.
    return cast(IO[bytes], io.BufferedReader(cast(Any, source.open()), buffer_size=buffer_size))


def open_gzip(source: Source, *, buffer_size: int = STREAM_BYTES) -> IO[bytes]:
    """The decompressed bytes of a gzip blob; closing it closes the blob too."""
    raw = open_stream(source, buffer_size=buffer_size)
    stream = gzip.GzipFile(fileobj=raw, mode="rb")
    # What gzip.open(path) does for a file it opened itself: the GzipFile closes it.
    stream.myfileobj = raw  # type: ignore[assignment]
    return cast(IO[bytes], stream)


def remembered(source: Source, *, tail: int) -> Source:
    """`source`, whose reads of its head (from byte 0) and of its last `tail` bytes are kept and
    served again from memory: before the pass, the format sniff, the header check, the date
    columns' look and a gzip trailer check each read one of them again, a ranged GET each on
    object storage (a round trip on S3; on moto a copy of the whole object, 0.14 s of a 256 MiB
    one). A local file is returned as it is: its pages are in the cache already."""
    if local_path(source) is not None:
        return source
    return cast(Source, _Remembered(source, tail))


class _Remembered:
    """A Source whose head and tail, once read, are read from memory (at most a head the size of
    the largest read from byte 0, under STREAM_BYTES, and `tail` bytes)."""

    def __init__(self, source: Source, tail: int) -> None:
        self.source = source
        self.tail = tail
        self.kept: dict[str, tuple[int, bytes]] = {}  # "head" and "tail": (offset, bytes)
        self.lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def size(self) -> int:
        return self.source.size

    def open(self) -> BinaryIO:
        return cast(BinaryIO, _RememberedFile(self))

    def stream(self, offset: int = 0) -> BinaryIO:
        return self.source.stream(offset)

    def arrow(self) -> tuple[Any, str]:
        return self.source.arrow()

    def unavailable(self, exc: BaseException) -> Any:
        return self.source.unavailable(exc)

    def kept_range(self, start: int, end: int) -> bytes | None:
        with self.lock:
            for offset, data in self.kept.values():
                if offset <= start and end <= offset + len(data):
                    return data[start - offset : end - offset]
        return None

    def keep(self, start: int, data: bytes) -> None:
        """Keep what was read from byte 0 (under STREAM_BYTES) as the head, what reaches the end
        from within its last `tail` bytes as the tail; forget anything else."""
        with self.lock:
            if (
                start == 0
                and len(data) < STREAM_BYTES
                and len(data) > len(self.kept.get("head", (0, b""))[1])
            ):
                self.kept["head"] = (0, data)
            elif start + len(data) == self.size and start >= self.size - self.tail:
                self.kept["tail"] = (start, data)


class _RememberedFile(RangeFile):
    """A seekable file over a _Remembered source: each read is served from what it keeps or is
    one read of the source's own file (a ranged GET), kept if it is a head or the tail."""

    def __init__(self, remembered: _Remembered) -> None:
        super().__init__(remembered.size)
        self.remembered = remembered
        self.handle: BinaryIO | None = None

    def read_range(self, start: int, end: int) -> bytes:
        data = self.remembered.kept_range(start, end)
        if data is None:
            if self.handle is None:
                self.handle = self.remembered.source.open()
            self.handle.seek(start)
            data = bytes(self.handle.read(end - start))
            self.remembered.keep(start, data)
        return data

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
        super().close()
