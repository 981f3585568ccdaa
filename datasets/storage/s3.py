"""Blobs in S3-compatible object storage (AWS S3, MinIO, Ceph, R2) under `<prefix>/blobs/sha256/...`.

Written once: every write is conditional (`If-None-Match: *`, on PutObject and on
CompleteMultipartUpload), so two uploads of the same bytes racing each other end with one object
and neither can replace it. Reads are streamed or ranged, never a full local copy. Every failure
of the service itself (unreachable, 5xx, throttled, refused) is one `StorageUnavailable`; a missing
key is a FileNotFoundError, as on the filesystem.
"""

from __future__ import annotations

import http.client
import io
import logging
import math
import os
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal, cast
from urllib.parse import quote

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from datasets.storage import Entry, StorageUnavailable
from datasets.storage.ranges import RangeFile

logger = logging.getLogger(__name__)

MIB = 1024**2
# S3 allows 10,000 parts of at least 5 MiB (parts grow past 80 GB). boto3's upload_file defaults:
# 8 MiB parts, ten at a time (a worker holds at most 80 MiB of them), each with its CRC32, which
# the store checks on arrival and combines into the object's checksum. Without a checksum
# algorithm the store computes a whole-object CRC64NVME itself at completion: moto does that by
# copying the object twice, which made our completion of 1 GiB twice as slow as upload_file's.
PART_BYTES = 8 * MIB
MAX_PARTS = 10_000
PART_THREADS = 10
CHECKSUM = "CRC32"
_MISSING = {"NoSuchKey", "404", "NotFound"}


@contextmanager
def storage_errors(key: str) -> Iterator[None]:
    """Translate botocore's many exceptions into the two the rest of Granary knows."""
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        if code in _MISSING:
            raise FileNotFoundError(f"{key} does not exist") from None
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        raise StorageUnavailable(
            f"Object storage answered {status or '?'} {code or 'error'} for {key}: "
            f"{error.get('Message') or exc}"
        ) from exc
    except BotoCoreError as exc:
        # Connection refused or reset, timeouts, no credentials: nothing the request can fix.
        # botocore's message names the endpoint, bucket and prefix: the log's, not a client's.
        logger.warning("Object storage is unreachable: %s", exc)
        raise StorageUnavailable(f"Object storage is unreachable ({type(exc).__name__}).") from exc


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3Storage:
    """One bucket and key prefix. `client`, `bucket` and `full_key` are what presigned multipart
    uploads (datasets.storage.multipart) build on."""

    def __init__(
        self,
        *,
        bucket: str,
        prefix: str,
        client: Any,
        arrow_fs: Any,
        multipart_bytes: int,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client = client
        self._arrow_fs = arrow_fs
        self.multipart_bytes = max(multipart_bytes, 5 * MIB)

    def full_key(self, key: str) -> str:
        return self.prefix + key

    # --- writes ----------------------------------------------------------------------------------
    def put(self, *, source: Path, key: str) -> bool:
        """Upload `source` to `key` unless an object is there; True if it was new. The caller
        still owns `source` and deletes it."""
        size = source.stat().st_size
        if size <= self.multipart_bytes:
            return self._put_single(source, key)
        # A big file whose bytes are already stored need not cross the network again; the
        # conditional completion still decides any race.
        if self.exists(key):
            return False
        return self._put_multipart(source, key, size)

    def _put_single(self, source: Path, key: str) -> bool:
        with storage_errors(key), open(source, "rb") as body:
            try:
                self.client.put_object(Bucket=self.bucket, Key=self.full_key(key), Body=body, IfNoneMatch="*")
            except ClientError as exc:
                if _error_code(exc) in ("PreconditionFailed", "ConditionalRequestConflict"):
                    # Conflict: another conditional write of the key is in flight; both carry the
                    # same bytes (the key is their digest), so the other one's is as good.
                    return False
                raise
        return True

    def _put_multipart(self, source: Path, key: str, size: int) -> bool:
        part_bytes = max(PART_BYTES, math.ceil(size / MAX_PARTS))
        count = math.ceil(size / part_bytes)
        with storage_errors(key):
            upload_id = self._create_multipart(key)
            try:

                def send(number: int) -> dict[str, Any]:
                    with open(source, "rb") as handle:
                        handle.seek((number - 1) * part_bytes)
                        data = handle.read(part_bytes)
                    return self._send_part(key, upload_id, number, data)

                with ThreadPoolExecutor(PART_THREADS, thread_name_prefix="s3-part") as pool:
                    parts = list(pool.map(send, range(1, count + 1)))
                return self._complete_multipart(key, upload_id, parts)
            except BaseException:
                self._abort(self.full_key(key), upload_id)  # or its parts are billed until a lifecycle rule
                raise

    def put_streamed(self, key: str) -> StreamedPut:
        """A multipart upload to `key` fed as bytes arrive (`write`), its parts sent while more are
        received; the caller then completes it (`complete`) or drops it (`abort`). For an upload
        whose digest, and so its key, the client declared before sending it."""
        with storage_errors(key):
            return StreamedPut(self, key, self._create_multipart(key))

    def _create_multipart(self, key: str) -> str:
        answer = self.client.create_multipart_upload(
            Bucket=self.bucket, Key=self.full_key(key), ChecksumAlgorithm=CHECKSUM
        )
        return str(answer["UploadId"])

    def _send_part(self, key: str, upload_id: str, number: int, data: bytes | bytearray) -> dict[str, Any]:
        # botocore computes the part's CRC32 and sends it; the store refuses a part whose bytes
        # do not match it.
        answer = self.client.upload_part(
            Bucket=self.bucket,
            Key=self.full_key(key),
            UploadId=upload_id,
            PartNumber=number,
            Body=data,
            ChecksumAlgorithm=CHECKSUM,
        )
        part = {"ETag": answer["ETag"], "PartNumber": number}
        if answer.get("ChecksumCRC32"):
            part["ChecksumCRC32"] = answer["ChecksumCRC32"]
        return part

    def _complete_multipart(self, key: str, upload_id: str, parts: list[dict[str, Any]]) -> bool:
        """Join the parts unless an object is at `key` already; True if it was new. Call inside
        storage_errors; the caller aborts the upload if this raises."""
        try:
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=self.full_key(key),
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
                IfNoneMatch="*",
            )
        except ClientError as exc:
            if _error_code(exc) in ("PreconditionFailed", "ConditionalRequestConflict"):
                # Stored meanwhile by another upload: the same bytes, as the key is their digest.
                self._abort(self.full_key(key), upload_id)
                return False
            raise
        return True

    def _abort(self, full_key: str, upload_id: str) -> None:
        # The original error says more; a bucket lifecycle rule removes parts left if this fails.
        with suppress(ClientError, BotoCoreError):
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=full_key, UploadId=upload_id)

    def discard(self, key: str) -> None:
        with storage_errors(key):
            self.client.delete_object(Bucket=self.bucket, Key=self.full_key(key))

    # --- reads -----------------------------------------------------------------------------------
    def open(self, key: str) -> BinaryIO:
        return self.stream(key)

    def stream(self, key: str, offset: int = 0) -> BinaryIO:
        """The object from `offset` to its end in one streamed GET (resumed if it drops)."""
        return cast(BinaryIO, io.BufferedReader(_Stream(self, key, offset), buffer_size=MIB))

    def exists(self, key: str) -> bool:
        try:
            self._head(key)
        except FileNotFoundError:
            return False
        return True

    def size(self, key: str) -> int:
        return int(self._head(key)["ContentLength"])

    def _head(self, key: str) -> dict[str, Any]:
        with storage_errors(key):
            return cast(dict[str, Any], self.client.head_object(Bucket=self.bucket, Key=self.full_key(key)))

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Every key under `prefix` (relative to this storage's own prefix), in key order."""
        paginator = self.client.get_paginator("list_objects_v2")
        with storage_errors(prefix or "/"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.full_key(prefix)):
                for item in page.get("Contents", ()):
                    yield item["Key"][len(self.prefix) :]

    def entries(self, prefix: str = "") -> Iterator[Entry]:
        paginator = self.client.get_paginator("list_objects_v2")
        with storage_errors(prefix or "/"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.full_key(prefix)):
                for item in page.get("Contents", ()):
                    yield Entry(item["Key"][len(self.prefix) :], int(item["Size"]), item["LastModified"])

    def local_path(self, key: str) -> Path | None:
        return None

    def source(self, key: str) -> S3Source:
        return S3Source(name=key, size=self.size(key), storage=self, full_key=self.full_key(key))

    def presigned_url(self, key: str, *, seconds: int, filename: str | None = None) -> str | None:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self.full_key(key)}
        if filename:
            # RFC 6266: an ASCII fallback and the exact UTF-8 name.
            fallback = filename.encode("ascii", "replace").decode().replace('"', "_").replace("\\", "_")
            params["ResponseContentDisposition"] = (
                f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
            )
        with storage_errors(key):  # signing is local: only missing credentials can fail it
            return str(self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=seconds))

    def arrow_filesystem(self) -> Any:
        return self._arrow_fs()


@dataclass(frozen=True)
class S3Source:
    name: str
    size: int
    storage: S3Storage
    full_key: str

    def open(self) -> BinaryIO:
        """A seekable file whose reads are ranged GETs, one per read."""
        return cast(BinaryIO, _Ranged(self.storage, self.name, self.size))

    def stream(self, offset: int = 0) -> BinaryIO:
        """One streamed GET: a ranged GET per 8 MiB part cost a request each, and S3 servers
        that copy the object per GET (moto does) the whole object each time."""
        if offset >= self.size:
            return cast(BinaryIO, io.BytesIO())  # a Range past the end is refused (416)
        return self.storage.stream(self.name, offset)

    def arrow(self) -> tuple[Any, str]:
        return self.storage.arrow_filesystem(), self.path

    def unavailable(self, exc: BaseException) -> StorageUnavailable | None:
        # pyarrow's S3 errors all read "AWS Error <kind> during <operation> operation: ...";
        # a damaged file's (thrift, truncated pages) are OSErrors too, without it.
        if isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError) and "AWS Error" in str(exc):
            return StorageUnavailable(f"Object storage failed reading {self.name}: {exc}")
        return None

    @property
    def path(self) -> str:
        return f"{self.storage.bucket}/{self.full_key}"


# A streamed read that drops this many times in a row without a byte between is an outage.
RESUMES = 3


class _Stream(io.RawIOBase):
    """One streamed GET of an object from `offset`, as a raw binary file, its errors made ours.

    A connection that drops mid-body is taken up where it stopped, with a ranged GET of the same
    object (If-Match its ETag): a pass over a large object on a real network may lose one, and
    starting over would cost the whole pass. RESUMES drops in a row are StorageUnavailable.
    """

    def __init__(self, storage: S3Storage, key: str, offset: int) -> None:
        self._storage = storage
        self._key = key
        self._position = offset
        self._end: int | None = None
        self._etag = ""
        self._drops = 0
        self._body: Any = None
        self._socket: http.client.HTTPResponse | None = None
        self._get()

    def _get(self) -> None:
        params: dict[str, Any] = {"Bucket": self._storage.bucket, "Key": self._storage.full_key(self._key)}
        if self._position:
            params["Range"] = f"bytes={self._position}-"
        if self._etag:
            params["IfMatch"] = self._etag
        with storage_errors(self._key):
            answer = self._storage.client.get_object(**params)
        self._etag = answer.get("ETag", "")
        if self._end is None:
            self._end = self._position + int(answer["ContentLength"])
        self._body = answer["Body"]
        self._socket = _socket_response(self._body)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while len(view) and self._end is not None and self._position < self._end:
            wanted = view[: self._end - self._position]
            try:
                if self._socket is not None:
                    size = self._socket.readinto(wanted)
                else:
                    data = self._body.read(len(wanted))
                    size = len(data)
                    wanted[:size] = data
            except (BotoCoreError, OSError, http.client.HTTPException) as exc:  # reset, timed out, cut
                self._resume(exc)
                continue
            if not size:  # the body ended early
                self._resume(None)
                continue
            self._drops = 0
            self._position += size
            return size
        return 0

    def _resume(self, exc: BaseException | None) -> None:
        self._drops += 1
        with suppress(Exception):
            self._body.close()
        if self._drops > RESUMES:
            raise StorageUnavailable(
                f"Object storage dropped the read of {self._key} at byte {self._position:,} "
                f"{self._drops} times in a row: {exc or 'the body ended early'}"
            ) from exc
        self._get()

    def close(self) -> None:
        if not self.closed and self._body is not None:
            self._body.close()  # back to the pool, or dropped if unread bytes remain
        super().close()


def _socket_response(body: Any) -> http.client.HTTPResponse | None:
    """The http.client response under botocore's body and urllib3's, whose `readinto` reads from
    the socket straight into the reader's buffer: through botocore's `read` each byte was copied
    twice more (http.client's bytes, then into the buffer), 0.09 s of CPU per 256 MiB against
    0.04 s here, and 4 MiB more memory per part in flight.
    None where the layers are not the ones this knows, or urllib3 has read some of the body
    already: the body's own `read` then. What those layers check on the way is checked here or
    by the reader: the length (`_end`: a body that ends early is resumed) and the bytes (ingest
    hashes every byte and compares the digest the blob is named after)."""
    response = getattr(body, "_raw_stream", None)
    raw = getattr(response, "_fp", None)
    if not isinstance(raw, http.client.HTTPResponse):
        return None
    try:
        untouched = response.tell() == 0  # type: ignore[union-attr]
    except Exception:
        return None
    return raw if untouched else None


class _Ranged(RangeFile):
    """An object as a seekable file whose every read is one ranged GET (boto3's), for readers that
    want a head or a tail (the format sniff, a gzip trailer, a Parquet footer read behind the
    stream): the same requests as pyarrow's S3 input file made, without starting pyarrow's S3
    client (the AWS C++ SDK: about 9 MB and its threads in each worker process, and not safe to
    start in a worker's parent before it forks)."""

    def __init__(self, storage: S3Storage, key: str, size: int) -> None:
        super().__init__(size)
        self._storage = storage
        self._key = key

    def read_range(self, start: int, end: int) -> bytes:
        with storage_errors(self._key):
            answer = self._storage.client.get_object(
                Bucket=self._storage.bucket,
                Key=self._storage.full_key(self._key),
                Range=f"bytes={start}-{end - 1}",
            )
            return bytes(answer["Body"].read())


class StreamedPut:
    """A multipart upload fed in order while its bytes arrive: each full part (8 MiB) goes to a
    pool of PART_THREADS senders, and `write` waits while PART_THREADS + 1 parts are in memory,
    so a fast sender is slowed to storage's pace rather than buffered whole.

    Not thread-safe: one producer (the request's thread) writes. A failed part surfaces at the
    next `write` or at `finish` as StorageUnavailable. Whatever happens, `abort` (idempotent, a
    no-op once completed) leaves no parts behind."""

    def __init__(self, storage: S3Storage, key: str, upload_id: str) -> None:
        self.storage = storage
        self.key = key
        self.upload_id = upload_id
        self.size = 0
        self._buffer = bytearray()
        self._futures: list[Future[dict[str, Any]]] = []
        self._room = threading.BoundedSemaphore(PART_THREADS + 1)
        self._pool = ThreadPoolExecutor(PART_THREADS, thread_name_prefix="s3-stream")
        self._parts: list[dict[str, Any]] | None = None
        self.state: Literal["open", "completed", "aborted"] = "open"

    def write(self, data: bytes) -> None:
        self._check()
        self.size += len(data)
        self._buffer += data
        if len(self._buffer) >= PART_BYTES:
            # The part is the buffer itself, cut to size in place: only the rest is copied.
            part, self._buffer = self._buffer, self._buffer[PART_BYTES:]
            del part[PART_BYTES:]
            self._submit(part)

    def finish(self) -> None:
        """Send the last part and wait for every part: the upload is then ready to complete."""
        if self._buffer or not self._futures:
            self._submit(self._buffer)
            self._buffer = bytearray()
        try:
            with storage_errors(self.key):
                self._parts = [future.result() for future in self._futures]
        finally:
            self._pool.shutdown(wait=True)

    def complete(self) -> bool:
        """Join the parts into the object at the key unless one is there (If-None-Match: *);
        True if it was new. After `finish`."""
        assert self._parts is not None and self.state == "open", "finish first, once"
        try:
            with storage_errors(self.key):
                created = self.storage._complete_multipart(self.key, self.upload_id, self._parts)
        except BaseException:
            self.abort()
            raise
        self.state = "completed"
        return created

    def abort(self) -> None:
        """Drop the upload and its parts; parts still being sent are waited for first, as S3 may
        keep a part that lands after the abort."""
        if self.state != "open":
            return
        self.state = "aborted"
        for future in self._futures:
            future.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._buffer = bytearray()
        self.storage._abort(self.storage.full_key(self.key), self.upload_id)

    def _submit(self, data: bytearray) -> None:
        number = len(self._futures) + 1
        if number > MAX_PARTS:
            raise StorageUnavailable(
                f"The upload to {self.key} is over {MAX_PARTS} parts of {PART_BYTES:,} bytes."
            )
        # Blocks while the pool is behind: the client's connection waits, memory stays bounded.
        self._room.acquire()
        try:
            future = self._pool.submit(self.storage._send_part, self.key, self.upload_id, number, data)
        except BaseException:
            self._room.release()
            raise
        future.add_done_callback(lambda _: self._room.release())
        self._futures.append(future)

    def _check(self) -> None:
        if self.state != "open":
            raise StorageUnavailable(f"The upload to {self.key} was {self.state}.")
        for future in self._futures:
            if future.done() and future.exception() is not None:
                with storage_errors(self.key):
                    future.result()


# --- construction ----------------------------------------------------------------------------------
_lock = threading.Lock()
_clients: dict[tuple[Any, ...], Any] = {}
# One boto3 session for the process and the processes forked from it: it holds what building a
# client loads (S3's service model, endpoint rules: 0.1-0.3 s and about 15 MB), so that a worker's
# parent loads it once (`s3_prepare`) and each child builds its own client from it in about 10 ms.
_session: Any = None


def s3_storage(
    *, bucket: str, prefix: str, endpoint_url: str, addressing_style: str, multipart_bytes: int
) -> S3Storage:
    # A client per process and configuration: building one costs tens of milliseconds, a client
    # is thread-safe, and a forked worker child must not share its parent's connections.
    config_key = (os.getpid(), endpoint_url, addressing_style)
    with _lock:
        if config_key not in _clients:
            _clients[config_key] = _client(endpoint_url, addressing_style)
        client = _clients[config_key]

    return S3Storage(
        bucket=bucket,
        prefix=prefix,
        client=client,
        arrow_fs=lambda: _arrow_fs(config_key, client),
        multipart_bytes=multipart_bytes,
    )


def s3_prepare(*, endpoint_url: str, addressing_style: str) -> None:
    """Load boto3 and what a client of this configuration needs, without keeping the client or
    opening a connection: for a worker's parent before it forks, so that its children inherit it
    rather than each loading it in its first task (about 0.5 s of an ingest's time, more under
    load). Nothing here is bound to the process: the children build their own clients."""
    with _lock:
        _client(endpoint_url, addressing_style)


def _client(endpoint_url: str, addressing_style: str) -> Any:
    """Call with `_lock` held (a boto3 session is not thread-safe; its clients are)."""
    global _session
    style = addressing_style or ("path" if endpoint_url else "auto")
    config = Config(
        s3={"addressing_style": style},
        signature_version="s3v4",
        retries={"mode": "standard"},
        connect_timeout=10,
        read_timeout=60,
        max_pool_connections=max(10, PART_THREADS * 2),
    )
    if _session is None:
        _session = boto3.session.Session()
    # boto3 reads credentials, region and AWS_ENDPOINT_URL itself; an explicit endpoint wins.
    return _session.client("s3", endpoint_url=endpoint_url or None, config=config)


_arrow: dict[tuple[Any, ...], Any] = {}
_STATIC_CREDENTIALS = {"env", "explicit", "shared-credentials-file", "config-file"}


def _arrow_fs(config_key: tuple[Any, ...], client: Any) -> Any:
    """pyarrow's S3 filesystem on the endpoint, region and credentials boto3 resolved, so both
    read the same bucket whatever mix of variables and files configured it."""
    with _lock:
        found = _arrow.get(config_key)
        if found is not None:
            return found
        from urllib.parse import urlsplit

        from pyarrow import fs

        endpoint = urlsplit(client.meta.endpoint_url)
        options: dict[str, Any] = {
            "region": client.meta.region_name or "us-east-1",
            "endpoint_override": endpoint.netloc,
            "scheme": endpoint.scheme or "https",
            "force_virtual_addressing": client.meta.config.s3.get("addressing_style") == "virtual",
        }
        if endpoint.hostname and endpoint.hostname.endswith(".amazonaws.com"):
            del options["endpoint_override"], options["scheme"]  # the SDK knows AWS's own
        credentials = client._request_signer._credentials
        if credentials is None:
            options["anonymous"] = True
        elif credentials.method in _STATIC_CREDENTIALS:
            frozen = credentials.get_frozen_credentials()
            options.update(access_key=frozen.access_key, secret_key=frozen.secret_key)
            if frozen.token:
                options["session_token"] = frozen.token
        # Otherwise (instance roles, web identity, SSO) they expire: the AWS SDK under pyarrow
        # walks the same default chain and refreshes them itself.
        found = _arrow[config_key] = fs.S3FileSystem(**options)
        return found
