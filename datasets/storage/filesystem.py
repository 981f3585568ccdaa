"""Blobs on the local filesystem, under `<GRANARY_DATA_DIR>/blobs/sha256/<aa>/<bb>/<digest>`, read-only.

Uploads are written under `<GRANARY_DATA_DIR>/tmp/` first, on the same filesystem, so publishing
one is an atomic link that cannot expose a partial file.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    from datasets.storage import Entry


class FilesystemStorage:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        return self.root / key

    def put(self, *, source: Path, key: str) -> bool:
        """A hard link is atomic and, unlike a rename, fails when the target exists, so two
        uploads of the same bytes racing each other both end with one intact blob. The caller
        still owns `source` and deletes it."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(source, 0o444)
        try:
            os.link(source, target)
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            return self._put_copy(source, target)  # a root (file:// URL) on another disk
        _fsync_dir(target.parent)
        return True

    def _put_copy(self, source: Path, target: Path) -> bool:
        """Copy beside the target, then link: the blob still appears whole or not at all."""
        fd, name = tempfile.mkstemp(prefix=".put-", dir=target.parent)
        try:
            with open(source, "rb") as reader, os.fdopen(fd, "wb") as writer:
                shutil.copyfileobj(reader, writer, 1024 * 1024)
                writer.flush()
                os.fsync(writer.fileno())
            os.chmod(name, 0o444)
            try:
                os.link(name, target)
            except FileExistsError:
                return False
        finally:
            os.unlink(name)
        _fsync_dir(target.parent)
        return True

    def open(self, key: str) -> BinaryIO:
        return open(self.path(key), "rb")

    def discard(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def keys(self, prefix: str = "") -> Iterator[str]:
        # Walks only the directory the prefix names (`blobs/`, not the working files in `tmp/`).
        top = self.path(prefix.rsplit("/", 1)[0]) if "/" in prefix else self.root
        found = sorted(
            key
            for path in top.rglob("*")
            if path.is_file() and (key := path.relative_to(self.root).as_posix()).startswith(prefix)
        )
        yield from found

    def entries(self, prefix: str = "") -> Iterator[Entry]:
        from datasets.storage import Entry  # the package imports this module first

        for key in self.keys(prefix):
            try:
                stat = self.path(key).stat()
            except FileNotFoundError:
                continue  # removed since the listing
            yield Entry(key, stat.st_size, datetime.fromtimestamp(stat.st_mtime, tz=UTC))

    def local_path(self, key: str) -> Path | None:
        return self.path(key)

    def source(self, key: str) -> LocalSource:
        path = self.path(key)
        return LocalSource(name=key, path=path, size=path.stat().st_size)

    def presigned_url(self, key: str, *, seconds: int, filename: str | None = None) -> str | None:
        return None


@dataclass(frozen=True)
class LocalSource:
    name: str
    path: Path
    size: int

    def open(self) -> BinaryIO:
        return open(self.path, "rb")

    def stream(self, offset: int = 0) -> BinaryIO:
        handle = open(self.path, "rb")  # noqa: SIM115 (the caller closes it)
        if offset:
            handle.seek(offset)
        return handle

    def arrow(self) -> tuple[Any, str]:
        from pyarrow import fs

        return fs.LocalFileSystem(), str(self.path)

    def unavailable(self, exc: BaseException) -> None:
        return None  # a local read error is the disk's or the file's; callers say which


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
