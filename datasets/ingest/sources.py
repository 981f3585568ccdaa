"""How ingest reads a stored blob (a storage `Source`): a local file through the fast paths the
reader was tuned on, object storage in one streamed GET per pass (ranged reads for a head),
never through a full local copy.

No pyarrow at import: `formats.sniff` runs in web processes, on the upload before it is stored.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path
from typing import IO, Any, cast

from datasets.storage import Source
from datasets.storage.filesystem import LocalSource

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
