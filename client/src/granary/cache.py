"""Files kept by their sha256 under the cache directory (GRANARY_CACHE_DIR, ~/.cache/granary),
so pulling the same bytes twice costs no transfer.

Layout: `sha256/<aa>/<digest>` (read-only), its `.ok` stamp, and `partial/<digest>.part` for a
download under way or interrupted, which the next attempt resumes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

from granary.config import cache_dir

CHUNK = 1024 * 1024

try:  # an exclusive lock per digest, so two processes never write one partial file
    import fcntl
except ImportError:  # pragma: no cover (Windows: no locking)
    fcntl = None  # type: ignore[assignment]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class Cache:
    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else cache_dir()

    def path(self, sha256: str) -> Path:
        _check(sha256)
        return self.root / "sha256" / sha256[:2] / sha256

    def partial(self, sha256: str) -> Path:
        _check(sha256)
        return self.root / "partial" / f"{sha256}.part"

    def get(self, sha256: str) -> Path | None:
        """The cached file with these bytes, or None. A file changed since it was stored (its size,
        mtime or inode differ from its stamp) is hashed again; if its bytes are no longer right it
        is removed, so the caller fetches them anew."""
        path = self.path(sha256)
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        if self._stamp_matches(path, stat):
            return path
        if file_sha256(path) == sha256:
            self._stamp(path)
            return path
        self.discard(sha256)
        return None

    def verify(self, sha256: str) -> bool:
        """Hash the cached file again, whatever its stamp says; a bad one is removed."""
        path = self.path(sha256)
        if not path.exists():
            return False
        if file_sha256(path) == sha256:
            self._stamp(path)
            return True
        self.discard(sha256)
        return False

    def put(self, source: Path, sha256: str) -> Path:
        """Move a finished, verified download into the cache, read-only."""
        path = self.path(sha256)
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(source, 0o444)
        os.replace(source, path)
        self._stamp(path)
        return path

    def discard(self, sha256: str) -> None:
        path = self.path(sha256)
        for stale in (path, _stamp_path(path)):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()

    @contextlib.contextmanager
    def lock(self, sha256: str) -> Iterator[None]:
        partial = self.partial(sha256)
        partial.parent.mkdir(parents=True, exist_ok=True)
        with open(partial.with_suffix(".lock"), "a") as handle:
            if fcntl is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                if fcntl is not None:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _stamp(self, path: Path) -> None:
        stat = path.stat()
        stamp = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "inode": stat.st_ino}
        _stamp_path(path).write_text(json.dumps(stamp))

    @staticmethod
    def _stamp_matches(path: Path, stat: os.stat_result) -> bool:
        try:
            stamp = json.loads(_stamp_path(path).read_text())
        except (FileNotFoundError, ValueError):
            return False
        return bool(
            stamp.get("size") == stat.st_size
            and stamp.get("mtime_ns") == stat.st_mtime_ns
            and stamp.get("inode") == stat.st_ino
        )


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".ok")


def _check(sha256: str) -> None:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
