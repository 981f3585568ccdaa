"""A file read by byte ranges: the shape shared by object storage's ranged GETs (`s3._Ranged`),
the ingest's memory of a source's head and tail (`ingest.sources`) and the ends of an upload
streamed on to storage (`uploads._EndsFile`)."""

from __future__ import annotations

import io
from typing import Any


class RangeFile(io.RawIOBase):
    """A read-only, seekable file of `size` bytes whose every read asks `read_range` for its bytes
    once, whatever the size asked (RawIOBase would loop over `readinto` in small blocks)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self.position = 0

    def read_range(self, start: int, end: int) -> bytes:
        """Bytes [start, end) of the file; `start < end <= size`."""
        raise NotImplementedError

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset}")
        self.position = base + offset
        return self.position

    def tell(self) -> int:
        return self.position

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def read(self, size: int | None = -1) -> bytes:
        start = self.position
        end = self.size if size is None or size < 0 else min(self.size, start + size)
        if end <= start:
            return b""  # nothing past the end (a Range there is refused: 416)
        data = self.read_range(start, end)
        self.position = start + len(data)
        return data
