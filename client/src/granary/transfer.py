"""Moving bytes: verified, resumable downloads into the cache, and streamed uploads.

A download is written to the cache's partial file (on Linux with splice(2), so the body never
passes through user space) while a second thread reads the file back just behind the writer
and computes its sha256. If the connection drops, the next attempt asks for the rest with
`Range` and `If-Range: "<sha256>"`; the server answers 206 with the missing bytes, or 200 with
all of them if it no longer has those exact bytes. Nothing enters the cache until the sha256 of
the whole file is the one expected, which the server also states as the ETag.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import http.client
import io
import os
import queue
import re
import secrets
import select
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
import urllib3
from requests.adapters import HTTPAdapter

from granary.cache import CHUNK, Cache, file_sha256
from granary.errors import GranaryError, IntegrityError, TransferError, error_from_response
from granary.progress import Progress

try:  # only the Linux splice path uses it
    import fcntl
except ImportError:  # pragma: no cover (Windows)
    fcntl = None  # type: ignore[assignment]

RETRIES = 4  # resumed attempts after a dropped connection, within one call
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
_DROPPED = (
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.Timeout,
)

ProgressFactory = Callable[[str, "int | None", int], Progress]


class _FileHasher:
    """sha256 of the partial file, on a second thread that reads the file just behind the writer.

    The receiving thread only writes and says how far the file is complete (`advance`); this
    thread reads those bytes back from the page cache, where they have just been written, and
    hashes them. Hashing the file rather than the receive buffers means the body never has to
    pass through our memory on its way to disk (it can be spliced there, see `_splice_body`),
    the two threads never wait for each other's buffers, and what is verified is exactly what
    will enter the cache. A resumed file is hashed from its first byte while the rest arrives.
    """

    SIZE = 256 * 1024  # small enough to stay in the core's cache between read and hash

    def __init__(self, path: Path) -> None:
        self._file = open(path, "rb", buffering=0)  # noqa: SIM115 (closed by close())
        self._digest = hashlib.sha256()
        self._hashed = 0
        self._marks: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        self._stop = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="granary-sha256", daemon=True)
        self._thread.start()

    def advance(self, end: int) -> None:
        """The file's bytes up to `end` are written."""
        self._marks.put(end)

    def hexdigest(self, size: int) -> str:
        """The sha256 of the file's first `size` bytes (all of them must have been announced)."""
        self._join()
        if self._error is not None:
            raise self._error
        if self._hashed != size:
            raise GranaryError(f"{self._file.name} changed while it was being downloaded.")
        return self._digest.hexdigest()

    def close(self) -> None:
        """Stop without finishing (the download failed)."""
        self._stop = True
        self._join()

    def _join(self) -> None:
        if self._thread.is_alive():
            self._marks.put(None)
            self._thread.join()
        self._file.close()

    def _run(self) -> None:
        view = memoryview(bytearray(self.SIZE))
        try:
            while (end := self._marks.get()) is not None:
                while self._hashed < end and not self._stop:
                    count = self._file.readinto(view[: min(self.SIZE, end - self._hashed)])
                    if not count:  # the file is shorter than announced: someone truncated it
                        return
                    self._digest.update(view[:count])
                    self._hashed += count
        except BaseException as exc:  # reported by hexdigest(), on the caller's thread
            self._error = exc


def _reader(response: requests.Response) -> Callable[[memoryview], int]:
    """A function that reads the body into a buffer and returns the byte count (0 at the end).

    It reads from http.client's response under urllib3 when it can: straight from the socket
    into our buffer, with no copy and no allocation per chunk (a third less CPU per GB here).
    """
    raw = response.raw
    fp = getattr(raw, "_fp", None)
    readinto = getattr(fp, "readinto", None)
    if readinto is None:  # pragma: no cover (another transport under requests)

        def readinto(view: memoryview) -> int:
            chunk = raw.read(len(view), decode_content=False)
            view[: len(chunk)] = chunk
            return len(chunk)

    def read(view: memoryview) -> int:
        try:
            return int(readinto(view))
        except (OSError, http.client.HTTPException, urllib3.exceptions.HTTPError) as exc:
            # The peer vanished mid-body (reset, timeout, incomplete chunk): a dropped connection.
            raise requests.exceptions.ChunkedEncodingError(str(exc)) from exc

    return read


WRITE_SLICE = 256 * 1024


def _write_all(out: Any, view: memoryview) -> None:
    """Write a buffer in 256 KiB slices: measured here, 1 MiB writes into the page cache took
    0.2 to 2.5 s per GB from one run to the next, 256 KiB ones a steady 0.2 s."""
    while view:
        written = out.write(view[:WRITE_SLICE])
        view = view[written:]


def _copy_body(response: requests.Response, out: Any, on_chunk: Callable[[int], None]) -> None:
    """The body into `out` through a buffer: what works everywhere (TLS, other systems)."""
    read = _reader(response)
    view = memoryview(bytearray(CHUNK))
    while size := _fill(read, view):
        _write_all(out, view[:size])
        on_chunk(size)


def _fill(read: Callable[[memoryview], int], view: memoryview) -> int:
    """Read until `view` is full or the body ends, so that chunks are whole MiB but the last."""
    size = 0
    while size < len(view) and (count := read(view[size:])):
        size += count
    return size


def _splice_source(response: requests.Response) -> tuple[io.BufferedReader, socket.socket, int] | None:
    """The buffered reader http.client reads the body from, the plain TCP socket under it, and
    the body's length; None when the body cannot be moved with splice(2): not Linux, TLS (the
    bytes on the wire must be decrypted in user space), or a body that http.client must decode
    (chunked, compressed) or whose length is unknown."""
    if not hasattr(os, "splice"):
        return None
    fp = getattr(response.raw, "_fp", None)
    if not isinstance(fp, http.client.HTTPResponse) or fp.chunked or fp.length is None:
        return None
    if response.headers.get("Content-Encoding", "identity").lower() != "identity":
        return None
    buffered = getattr(fp, "fp", None)
    sock = getattr(getattr(buffered, "raw", None), "_sock", None)
    # type(), not isinstance(): an SSLSocket is a socket.socket too, and its bytes are not the body.
    if not isinstance(buffered, io.BufferedReader) or type(sock) is not socket.socket:
        return None
    return buffered, sock, fp.length


def _splice_body(
    buffered: io.BufferedReader,
    sock: socket.socket,
    length: int,
    out: Any,
    on_chunk: Callable[[int], None],
) -> None:
    """The body from the socket into `out` with splice(2), through a pipe: the kernel moves the
    bytes from the socket's buffers into the page cache, with no copy into a buffer of ours on
    the way (curl and the copy path make two). Measured on 2 cores, that takes the receiving
    thread from about 0.7 to 0.6 CPU s/GB, and the client from 1.18 to 1.39 GB/s (curl: 1.06);
    see bench/README.md. Chunks are whole MiB, but the last."""
    read_end, write_end = os.pipe()
    try:
        if fcntl is not None:  # a 1 MiB pipe (the default maximum) rather than 64 KiB: fewer calls
            with contextlib.suppress(OSError):
                fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, CHUNK)
        destination = out.fileno()
        splice_to_file = True

        def to_file(count: int) -> int:
            nonlocal splice_to_file
            if splice_to_file:
                try:
                    return os.splice(read_end, destination, count)
                except OSError as exc:
                    if exc.errno != errno.EINVAL:  # a full disk, say: the file's error, not the peer's
                        raise
                    splice_to_file = False  # a file system without splice_write: copy from the pipe
            data = os.read(read_end, min(count, CHUNK))
            _write_all(out, memoryview(data))
            return len(data)

        try:
            # Bytes http.client read ahead with the headers; read1 returns those, if any, and
            # nothing more (without them, it reads once from the socket).
            head = buffered.read1(min(length, CHUNK))
        except OSError as exc:
            raise requests.exceptions.ChunkedEncodingError(str(exc)) from exc
        _write_all(out, memoryview(head))
        remaining, pending = length - len(head), len(head)
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        timeout = sock.gettimeout()
        while remaining:
            if pending == CHUNK:
                on_chunk(pending)
                pending = 0
            try:
                # Python keeps a socket that has a timeout non-blocking: EAGAIN means "wait".
                moved = os.splice(sock.fileno(), write_end, min(CHUNK - pending, remaining))
            except BlockingIOError:
                if not poller.poll(None if timeout is None else timeout * 1000):
                    raise requests.exceptions.ReadTimeout(f"no data for {timeout} s") from None
                continue
            except OSError as exc:  # reset by the peer: a dropped connection
                raise requests.exceptions.ChunkedEncodingError(str(exc)) from exc
            if not moved:  # the peer closed early (the Content-Range may not say how long the file is)
                break
            remaining -= moved
            pending += moved
            while moved:
                moved -= to_file(moved)
        if pending:
            on_chunk(pending)
        if remaining:  # as http.client's IncompleteRead on the copy path: resume from here
            raise requests.exceptions.ChunkedEncodingError(
                f"the connection closed with {remaining:,} of the body's {length:,} bytes unread"
            )
    finally:
        os.close(read_end)
        os.close(write_end)


def fetch_verified(
    *,
    session: requests.Session,
    url: str,
    sha256: str,
    cache: Cache,
    label: str,
    progress: ProgressFactory,
    timeout: float,
) -> Path:
    """The bytes at `url`, whose sha256 must be `sha256`, from the cache or downloaded into it."""
    with cache.lock(sha256):
        hit = cache.get(sha256)
        if hit is not None:
            return hit
        partial = cache.partial(sha256)
        fresh_tries = 2  # a complete download whose digest is wrong is fetched once more from scratch
        dropped = 0
        while True:
            try:
                _download(session, url, sha256, partial, label, progress, timeout)
            except _DROPPED as exc:
                dropped += 1
                if dropped > RETRIES:
                    have = partial.stat().st_size if partial.exists() else 0
                    raise TransferError(
                        f"Downloading {label} failed {dropped} times ({exc.__class__.__name__}); "
                        f"{have:,} bytes are kept and the next pull resumes from there."
                    ) from None
                time.sleep(min(0.2 * 2**dropped, 5))
                continue
            actual = _sha256_of_partial(partial)
            if actual == sha256:
                return cache.put(partial, sha256)
            partial.unlink(missing_ok=True)
            fresh_tries -= 1
            if fresh_tries == 0:
                raise IntegrityError(
                    f"{label}: the server sent bytes whose sha256 is {actual}, not {sha256}. Nothing was kept."
                )


def _sha256_of_partial(partial: Path) -> str:
    digest = partial.with_name(partial.name + ".sha256")
    try:
        return digest.read_text().strip()
    finally:
        digest.unlink(missing_ok=True)


def _download(
    session: requests.Session,
    url: str,
    sha256: str,
    partial: Path,
    label: str,
    progress: ProgressFactory,
    timeout: float,
) -> None:
    """One attempt: resume `partial` if it holds a prefix, else start over; on success leave the
    whole file's sha256 beside it (in `<partial>.sha256`).

    Granary may answer with a redirect to object storage (a presigned URL). Its ETag is checked
    then, and the bytes fetched from the storage without our Authorization header (the URL's
    signature is the credential, and storage refuses a request that carries two) and without
    If-Range (storage's ETag is its own, not the sha256; the URL names bytes that never change).
    """
    have = partial.stat().st_size if partial.exists() else 0
    headers = {"Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
        headers["If-Range"] = f'"{sha256}"'
    with session.get(
        url, headers=headers, stream=True, timeout=(10, timeout), allow_redirects=False
    ) as response:
        if not response.is_redirect:
            _receive(response, sha256, partial, have, label, progress, etag=True)
            return
        _check_etag(response, sha256, label)
        location = requests.compat.urljoin(response.url, response.headers["Location"])
    stored_headers: dict[str, str | None] = {"Accept-Encoding": "identity", "Authorization": None}
    if have:
        stored_headers["Range"] = f"bytes={have}-"
    with session.get(location, headers=stored_headers, stream=True, timeout=(10, timeout)) as stored:
        _receive(stored, sha256, partial, have, label, progress, etag=False)


def _check_etag(response: requests.Response, sha256: str, label: str) -> None:
    etag = response.headers.get("ETag", "").removeprefix("W/").strip('"')
    if etag and etag != sha256:
        raise IntegrityError(f"{label}: the server serves sha256 {etag}, but {sha256} was expected.")


def _receive(
    response: requests.Response,
    sha256: str,
    partial: Path,
    have: int,
    label: str,
    progress: ProgressFactory,
    *,
    etag: bool,
) -> None:
    """The body of a 200 or 206 into `partial`, hashed as it lands; `etag`: the response is
    Granary's, whose ETag is the sha256."""
    total = _total_size(response, have)
    if response.status_code == 206:
        match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
        if match is None or int(match.group(1)) != have:
            raise IntegrityError(
                f"{label}: asked for the bytes from {have} on, the server sent "
                f"{response.headers.get('Content-Range', 'no Content-Range')}."
            )
    elif response.status_code == 416 and have:
        # The partial file is as long as the blob already (or longer): check it as it is.
        _write_digest(partial, file_sha256(partial))
        return
    elif response.status_code == 200:
        have = 0
    else:
        raise error_from_response(
            response.status_code, _json(response), f"{label}: HTTP {response.status_code}"
        )
    if etag:
        _check_etag(response, sha256, label)
    # Not O_APPEND (splice refuses it): the file is opened at its start and we seek to its end.
    # No fsync: the cache is only a cache (a file damaged by a crash is caught by its
    # stamp or by `granary verify`), and waiting for the disk would halve the speed of a
    # pull on a slow disk, where curl does not wait either.
    with open(partial, "r+b" if have else "wb", buffering=0) as out:
        out.seek(have)
        hasher = _FileHasher(partial)
        try:
            with progress(label, total, have) as bar:
                written = have

                def on_chunk(size: int) -> None:
                    nonlocal written
                    written += size
                    hasher.advance(written)
                    bar.update(size)

                source = _splice_source(response)
                if source is not None:
                    _splice_body(*source, out=out, on_chunk=on_chunk)
                else:
                    _copy_body(response, out, on_chunk)
            if total is not None and written != total:
                raise requests.exceptions.ChunkedEncodingError(
                    f"the connection closed after {written} of {total} bytes"
                )
            hexdigest = hasher.hexdigest(written)
        finally:
            hasher.close()
    _write_digest(partial, hexdigest)


def _chunks(response: requests.Response) -> Iterator[bytes]:
    raw = response.raw
    while True:
        try:
            chunk = raw.read(CHUNK, decode_content=False)
        except Exception as exc:  # urllib3's ProtocolError (IncompleteRead) when the peer vanishes
            raise requests.exceptions.ChunkedEncodingError(str(exc)) from exc
        if not chunk:
            return
        yield chunk


def _total_size(response: requests.Response, have: int) -> int | None:
    if response.status_code == 206:
        match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
        if match and match.group(3) != "*":
            return int(match.group(3))
    length = response.headers.get("Content-Length")
    return int(length) if length and response.status_code == 200 else None


def _write_digest(partial: Path, hexdigest: str) -> None:
    partial.with_name(partial.name + ".sha256").write_text(hexdigest)


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def stream_to_file(
    *, session: requests.Session, url: str, path: Path, label: str, progress: ProgressFactory, timeout: float
) -> Path:
    """An export (csv, jsonl, chosen columns): streamed, written atomically. Exports are made on
    the fly, so no digest vouches for them: the stored original and Parquet copy are the verified
    forms."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
    try:
        with session.get(url, stream=True, timeout=(10, timeout)) as response:
            if response.status_code != 200:
                raise error_from_response(
                    response.status_code, _json(response), f"{label}: HTTP {response.status_code}"
                )
            with open(temporary, "wb") as out, progress(label, None, 0) as bar:
                for chunk in _chunks(response):
                    out.write(chunk)
                    bar.update(len(chunk))
        os.replace(temporary, path)
    except _DROPPED as exc:
        raise TransferError(f"Downloading {label} failed: {exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    return path


class FileBody:
    """A file as the whole request body, streamed from disk, with its length known up front (the
    server needs a Content-Length), so an upload of any size holds one chunk in memory."""

    content_type = "application/octet-stream"

    def __init__(self, path: Path, *, on_chunk: Callable[[int], None] = lambda n: None) -> None:
        self._path = path
        self._size = path.stat().st_size
        self._on_chunk = on_chunk

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[bytes]:
        return _file_chunks(self._path, self._size, self._on_chunk)


def _file_chunks(path: Path, size: int, on_chunk: Callable[[int], None]) -> Iterator[bytes]:
    """A file's bytes in CHUNKs, each counted as it goes; an error if the file is not the `size`
    bytes the request announced (it changed under the upload)."""
    sent = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            sent += len(chunk)
            on_chunk(len(chunk))
            yield chunk
    if sent != size:
        raise GranaryError(f"{path} changed while it was being uploaded.")


def content_disposition(filename: str) -> str:
    """`attachment` with the file's name as RFC 6266 writes it: a quoted ASCII fallback, and the
    exact name percent-encoded in `filename*` when it is not plain ASCII."""
    ascii_name = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename)
    header = f'attachment; filename="{ascii_name or "upload"}"'
    if ascii_name != filename:
        header += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return header


class MultipartFile:
    """A multipart/form-data body streamed from disk, with its length known up front (Django
    needs a Content-Length), so an upload of any size holds one chunk in memory."""

    def __init__(
        self,
        *,
        fields: list[tuple[str, str]],
        path: Path,
        filename: str,
        on_chunk: Callable[[int], None] = lambda n: None,
    ) -> None:
        boundary = "granary-" + secrets.token_hex(16)
        self.content_type = f"multipart/form-data; boundary={boundary}"
        head = b""
        for name, value in fields:
            head += (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
                + value.encode()
                + b"\r\n"
            )
        safe = "".join(c for c in filename if c.isprintable() and c not in '"\\\r\n') or "upload"
        head += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{safe}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        self._head = head
        self._tail = f"\r\n--{boundary}--\r\n".encode()
        self._path = path
        self._size = path.stat().st_size
        self._on_chunk = on_chunk

    def __len__(self) -> int:
        return len(self._head) + self._size + len(self._tail)

    def __iter__(self) -> Iterator[bytes]:
        yield self._head
        yield from _file_chunks(self._path, self._size, self._on_chunk)
        yield self._tail


# --- direct uploads: parts PUT straight to object storage ---------------------------------------

# boto3's upload_file sends ten parts at a time; parts follow the server's `part_bytes` (8 MiB and up).
PART_THREADS = 10
MIB = 1024 * 1024
MIN_PART_BYTES = 5 * MIB  # S3's floor for every part but the last
DEFAULT_PART_BYTES = 8 * MIB  # as boto3's upload_file
MAX_PARTS = 1_000  # the server lists a URL for each part
PART_RETRIES = 4
# http.client reads a streamed body in blocks of 8 KiB (urllib3 2: 16 KiB), a Python call each
# with its progress update: 1 MiB blocks make a 1 GiB upload 1,024 reads rather than 65,536.
SEND_BLOCK = CHUNK


class _PartAdapter(HTTPAdapter):
    """Connections that read request bodies in 1 MiB blocks (urllib3 2's `blocksize`)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        if int(urllib3.__version__.split(".")[0]) >= 2:  # 1.26 has no such pool key
            kwargs["blocksize"] = SEND_BLOCK
        super().init_poolmanager(*args, **kwargs)


def part_size_for(size: int, preferred: int) -> int:
    """The part size of a direct upload, as the server would choose it: `preferred` (its
    `part_bytes`; at least S3's 5 MiB), grown in whole MiB until the file fits in 1,000 parts."""
    part = max(preferred or DEFAULT_PART_BYTES, MIN_PART_BYTES)
    if -(-size // part) > MAX_PARTS:
        part = -(-size // (MAX_PARTS * MIB)) * MIB
    return part


def hash_file(path: Path, on_chunk: Callable[[int], None]) -> str:
    """The sha256 a direct upload declares (the server's ingest checks the bytes against it)."""
    return hash_parts(path, on_chunk)[0]


def hash_parts(path: Path, on_chunk: Callable[[int], None], part_size: int = 0) -> tuple[str, list[str]]:
    """The file's sha256 and, with a `part_size`, each part's CRC32 as S3 takes it (base64 of its
    4 big-endian bytes), in one read: the CRC32 runs in a second thread on the block the sha256
    reads (both let go of the GIL), so it costs no time where a core is free."""
    digest = hashlib.sha256()
    crcs: list[str] = []
    crc, left = 0, part_size
    # One buffer, refilled: a fresh 8 MiB bytes object per read is a fresh mapping to fault in.
    view = memoryview(bytearray(8 * CHUNK))
    with open(path, "rb", buffering=0) as handle, ThreadPoolExecutor(1) as pool:
        while True:
            # A read never crosses a part's end, so each block belongs to one part.
            count = handle.readinto(view[: min(len(view), left)] if part_size else view)
            if not count:
                break
            block = view[:count]
            pending = pool.submit(zlib.crc32, block, crc) if part_size else None
            digest.update(block)
            if pending is not None:
                crc = pending.result()
                left -= count
                if not left:
                    crcs.append(_crc32_b64(crc))
                    crc, left = 0, part_size
            on_chunk(count)
    if part_size and left != part_size:
        crcs.append(_crc32_b64(crc))  # the last, shorter part
    return digest.hexdigest(), crcs


def _crc32_b64(crc: int) -> str:
    return base64.b64encode(crc.to_bytes(4, "big")).decode()


class _PartBody(io.RawIOBase):
    """One part of a file, read from disk as it is sent: a part is never held whole in memory
    (ten large ones at a time would be), and its length is known up front (presigned PUTs need
    Content-Length). Unbuffered: each read is one read(2) straight into the block sent."""

    def __init__(self, path: Path, start: int, length: int, on_chunk: Callable[[int], None]) -> None:
        self._handle = open(path, "rb", buffering=0)  # noqa: SIM115 (closed with the body)
        self._handle.seek(start)
        self._left = length
        self._length = length
        self._on_chunk = on_chunk

    def __len__(self) -> int:
        return self._length

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        # requests sizes a body as len() minus tell(): without this, RawIOBase's tell() fails
        # and requests would send a Content-Length of 0.
        return self._length - self._left

    def read(self, size: int | None = -1) -> bytes:
        if self._left <= 0:
            return b""
        want = self._left if size is None or size < 0 else min(size, self._left)
        data = self._handle.read(max(want, 0))
        self._left -= len(data)
        self._on_chunk(len(data))
        return data

    def close(self) -> None:
        self._handle.close()
        super().close()


def upload_parts(
    *,
    path: Path,
    size: int,
    part_size: int,
    urls: list[str],
    refresh: Callable[[], list[str]],
    on_chunk: Callable[[int], None],
    headers: list[dict[str, str]] | None = None,
    threads: int = PART_THREADS,
    timeout: float = 300.0,
) -> list[str]:
    """PUT each part of `path` to its presigned URL, a few at a time; their ETags, in order.

    A session of its own, with no Authorization header: the URL's signature is the credential,
    and storage refuses a request that carries two. `headers`: each part's headers the URL
    signs (its CRC32). Each part is retried on its own after a dropped connection or a 5xx; a
    403 means its URL expired, and `refresh` asks for new ones.
    """
    session = requests.Session()
    adapter = _PartAdapter(pool_connections=threads, pool_maxsize=threads)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    current = list(urls)
    lock = threading.Lock()

    def send(number: int) -> str:
        start = (number - 1) * part_size
        length = min(part_size, size - start)
        for attempt in range(PART_RETRIES + 1):
            sent = 0

            def count(n: int) -> None:
                nonlocal sent
                sent += n
                on_chunk(n)

            body = _PartBody(path, start, length, count)
            try:
                response = session.put(
                    current[number - 1],
                    data=body,
                    headers=headers[number - 1] if headers else None,
                    timeout=(10, timeout),
                )
            except _DROPPED as exc:
                failure = f"part {number}: {exc}"
                response = None
            finally:
                body.close()
            on_chunk(-sent)  # the part counts once, when it is stored
            if response is not None and response.status_code == 200 and response.headers.get("ETag"):
                on_chunk(length)
                return response.headers["ETag"]
            if response is not None:
                failure = f"part {number}: HTTP {response.status_code} {response.text[:200]}"
                if response.status_code == 403:
                    with lock:
                        current[:] = refresh()
                elif response.status_code < 500:
                    break
            if attempt < PART_RETRIES:
                time.sleep(min(2**attempt * 0.5, 8))
        raise TransferError(f"Uploading {path.name} to storage failed: {failure}")

    try:
        with ThreadPoolExecutor(max(1, threads), thread_name_prefix="granary-part") as pool:
            return list(pool.map(send, range(1, len(urls) + 1)))
    finally:
        session.close()
