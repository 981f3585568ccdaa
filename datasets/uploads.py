"""Upload handling: every uploaded file streams to disk while its sha256 and size are computed,
whether it came as a multipart form's file or as the whole request body (`raw_body_receive`).

Nothing is held in memory and the user's filename never becomes a path: the temporary file has a
random name under the data directory, and is deleted when the request ends unless a service has
published it as a blob by then.

A client that declares the file's sha256 up front (`Repr-Digest: sha-256=:<base64>:`) has it
checked against the bytes (400 `digest_mismatch`, nothing kept). On object storage its key is
then known before the last byte, so a large file is not written to disk at all: its parts go to
a multipart upload at the blob's key while it is received, which the version's service completes
(conditionally) only once the digest matched; anything else aborts it.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import logging
import os
import tempfile
from base64 import b64decode
from binascii import Error as Base64Error
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, BinaryIO, NoReturn, cast

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopFutureHandlers, StopUpload
from django.http import HttpRequest, HttpResponse
from django.utils.http import parse_header_parameters

from core.errors import GranaryError, InsufficientStorage, InvalidInput
from datasets import storage
from datasets.ingest.formats import TAIL_BYTES
from datasets.storage import StorageUnavailable, tmp_dir
from datasets.storage.filesystem import FilesystemStorage
from datasets.storage.ranges import RangeFile

if TYPE_CHECKING:
    from datasets.storage.s3 import StreamedPut

logger = logging.getLogger(__name__)

# Room for the multipart boundaries and small fields around the file.
MULTIPART_OVERHEAD = 1024 * 1024
TOO_LARGE_FLAG = "granary_upload_too_large"
REFUSAL = "granary_upload_refusal"
# The files a request received, closed when it ends (UploadLimitMiddleware): a temporary file is
# deleted, a streamed upload no service completed is aborted. Django closes the files of a form
# it parsed itself, but not those of a body DRF parsed as anything other than a form.
RECEIVED = "granary_upload_received"
# What format sniffing reads of a streamed file (its first 64 KiB, decompressed if gzip, and its
# last TAIL_BYTES, a Parquet footer), kept in memory as the file has no local copy.
HEAD_KEPT = 1024 * 1024
TAIL_KEPT = TAIL_BYTES  # less, and a streamed Parquet upload would be refused as truncated
# A full disk or quota: the write errors that mean "no room", not "broken".
NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def too_large_message() -> str:
    limit = settings.GRANARY_MAX_UPLOAD_BYTES
    return f"The file is larger than the upload limit of {limit:,} bytes (GRANARY_MAX_UPLOAD_BYTES)."


class DigestMismatch(InvalidInput):
    code = "digest_mismatch"


def declared_sha256(request: HttpRequest) -> str | None:
    """The sha-256 of the uploaded file that the request's `Repr-Digest` declares (RFC 9530: a
    dictionary such as `sha-256=:<base64>:`), as hex; None without one. Other algorithms are
    ignored, as the RFC allows; a sha-256 that is not 32 bytes of base64 is refused."""
    header = request.headers.get("Repr-Digest", "")
    for member in header.split(","):
        name, _, value = member.strip().partition("=")
        if name.strip().lower() != "sha-256":
            continue
        value = value.strip()
        try:
            if not (len(value) >= 2 and value[0] == value[-1] == ":"):
                raise ValueError
            digest = b64decode(value[1:-1], validate=True)
        except (Base64Error, ValueError):
            digest = b""
        if len(digest) != 32:
            raise InvalidInput(
                f"Repr-Digest has a malformed sha-256 ({value[:60]!r}): send sha-256=:<the base64 of the "
                "file's 32-byte sha256>:, e.g. sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:",
                field="file",
            )
        return digest.hex()
    return None


def _mismatch(*, declared: str, actual: str) -> DigestMismatch:
    return DigestMismatch(
        f"The uploaded file hashes to sha256 {actual}, not {declared} as its Repr-Digest declared: "
        "nothing was stored. Upload the file again (was it changed while it was being sent?).",
        field="file",
    )


class IncomingFile(UploadedFile):
    """An uploaded file on disk with its sha256; removed on close."""

    def __init__(self, name: str, content_type: str, charset: str | None) -> None:
        handle = tempfile.NamedTemporaryFile(dir=tmp_dir(), prefix="upload-", delete=True)  # noqa: SIM115
        super().__init__(handle, name, content_type, 0, charset)
        self.sha256 = ""

    def temporary_file_path(self) -> str:
        assert self.file is not None
        return str(self.file.name)

    def close(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            if self.file is not None:
                self.file.close()

    def discard(self) -> None:
        """Close and delete, whatever state a failed write left the file in. Closing flushes the
        buffer, which on a full disk fails again: the file must still go, or the space stays
        taken (by the open descriptor) until the process ends."""
        path = self.temporary_file_path()
        with contextlib.suppress(OSError):
            self.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


class _Ends:
    """The first and last bytes of a streamed file, as the `Source` format sniffing reads: a read
    between them finds nothing (sniffing reads 64 KiB from the start and 4 bytes at the end)."""

    def __init__(self, name: str, size: int, head: bytes, tail: bytes) -> None:
        self.name = name
        self.size = size
        self._head = head
        self._tail = tail

    def open(self) -> BinaryIO:
        return cast(BinaryIO, io.BufferedReader(_EndsFile(self)))

    def stream(self, offset: int = 0) -> BinaryIO:
        handle = self.open()
        handle.seek(offset)
        return handle

    def arrow(self) -> tuple[Any, str]:
        raise NotImplementedError("a streamed upload has no file to read whole")

    def unavailable(self, exc: BaseException) -> None:
        return None


class _EndsFile(RangeFile):
    """The ends as a file: a read between them finds nothing, as at the end of a file."""

    def __init__(self, ends: _Ends) -> None:
        super().__init__(ends.size)
        self._ends = ends

    def read_range(self, start: int, end: int) -> bytes:
        ends = self._ends
        tail_start = ends.size - len(ends._tail)
        if start < len(ends._head):
            return ends._head[start:end]
        if tail_start <= start:
            return ends._tail[start - tail_start : end - tail_start]
        return b""


class StreamedFile(UploadedFile):
    """An uploaded file sent on to object storage as it arrived (no local copy): its sha256, its
    size, its ends (for format sniffing) and the multipart upload that completing stores it."""

    def __init__(self, name: str, content_type: str, charset: str | None, pending: StreamedPut) -> None:
        super().__init__(None, name, content_type, 0, charset)
        self.sha256 = ""
        self.pending = pending
        self.ends = _Ends(name, 0, b"", b"")

    def close(self) -> None:
        """The request is over: an upload no service completed is dropped, parts and all."""
        try:
            self.pending.abort()
        except Exception:  # the request's own outcome says more; a lifecycle rule sweeps parts
            logger.exception("Aborting the streamed upload to %s failed", self.pending.key)


class BlobUploadHandler(FileUploadHandler):
    chunk_size = 1024 * 1024

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.hasher = hashlib.sha256()
        self.received = 0
        self.streamed: StreamedFile | None = None
        self.declared: str | None = None
        self.head = b""
        self.tail = b""
        if self.request is not None:
            try:
                self.declared = declared_sha256(self.request)
                pending = self._streamed_put(self.declared) if self.declared else None
            except GranaryError as exc:
                self._stop(exc)
            if pending is not None:
                self.streamed = StreamedFile(
                    self.file_name or "upload", self.content_type or "", self.charset, pending
                )
                # Whatever ends the request (an error, a disconnect), the middleware drops it.
                received_close_at_end(self.request, self.streamed)
                return
        try:
            self.incoming = IncomingFile(self.file_name or "upload", self.content_type or "", self.charset)
        except OSError as exc:  # no room even for an empty file (inodes), or tmp/ is unwritable
            self._refuse(exc)

    def _streamed_put(self, sha256: str) -> StreamedPut | None:
        """A multipart upload at the declared digest's key for a body large enough to go in parts
        on object storage; None (receive to a file, as without a declared digest) otherwise."""
        store = storage.backend()
        if isinstance(store, FilesystemStorage):
            return None
        from datasets.models import Blob
        from datasets.storage.s3 import S3Storage

        length = int(self.request.META.get("CONTENT_LENGTH") or 0) if self.request is not None else 0
        if not isinstance(store, S3Storage) or length <= store.multipart_bytes:
            return None
        # Stored already (or known and damaged, which this upload may restore): the usual path,
        # whose put finds the object there and sends nothing.
        key = storage.blob_key(sha256)
        if Blob.objects.filter(sha256=sha256).exists() or store.exists(key):
            return None
        return store.put_streamed(key)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self.received += len(raw_data)
        if self.received > settings.GRANARY_MAX_UPLOAD_BYTES:
            # Refuse while streaming (a chunked body has no Content-Length to check up front).
            self._drop()
            if self.request is not None:
                setattr(self.request, TOO_LARGE_FLAG, True)
            raise StopUpload(connection_reset=True)
        self.hasher.update(raw_data)
        if self.streamed is not None:
            if len(self.head) < HEAD_KEPT:
                self.head += raw_data[: HEAD_KEPT - len(self.head)]
            self.tail = (
                (self.tail + raw_data)[-TAIL_KEPT:] if len(raw_data) < TAIL_KEPT else raw_data[-TAIL_KEPT:]
            )
            try:
                self.streamed.pending.write(raw_data)
            except StorageUnavailable as exc:
                self._stop(exc)
            return None
        try:
            self.incoming.write(raw_data)
        except OSError as exc:
            self._refuse(exc)
        return None

    def file_complete(self, file_size: int) -> IncomingFile | StreamedFile:
        sha256 = self.hasher.hexdigest()
        if self.streamed is not None:
            if sha256 != self.declared:
                self._stop(_mismatch(declared=self.declared or "", actual=sha256))
            try:
                self.streamed.pending.finish()
            except StorageUnavailable as exc:
                self._stop(exc)
            self.streamed.size = file_size
            self.streamed.sha256 = sha256
            self.streamed.ends = _Ends(self.streamed.name or "upload", file_size, self.head, self.tail)
            return self.streamed
        try:
            # The last buffered bytes, and on file systems that allocate late (ext4, XFS) the
            # space itself, can fail here rather than in write().
            self.incoming.flush()
            os.fsync(self.incoming.fileno())
        except OSError as exc:
            self._refuse(exc)
        if self.declared is not None and sha256 != self.declared:
            self._stop(_mismatch(declared=self.declared, actual=sha256))
        self.incoming.seek(0)
        self.incoming.size = file_size
        self.incoming.sha256 = sha256
        return self.incoming

    def upload_interrupted(self) -> None:
        self._drop()

    def _drop(self) -> None:
        """Let go of what was received so far: the temporary file, or the streamed parts."""
        if getattr(self, "streamed", None) is not None:
            assert self.streamed is not None
            self.streamed.close()
        elif hasattr(self, "incoming"):
            self.incoming.close()

    def _stop(self, refusal: GranaryError) -> NoReturn:
        """Refuse the file for `refusal`: drop what was received, read and ignore the rest of the
        body (so the client hears the answer, not a reset), and leave the view the refusal."""
        if getattr(self, "streamed", None) is not None:
            self._drop()
        elif (incoming := getattr(self, "incoming", None)) is not None:
            incoming.discard()
        if self.request is not None:
            setattr(self.request, REFUSAL, refusal)
        raise StopUpload(connection_reset=False)

    def _refuse(self, exc: OSError) -> NoReturn:
        """A write of the temporary file failed: delete it at once, so the space it took is free
        for the next upload, and stop reading the file, leaving the view a precise refusal."""
        if exc.errno in NO_ROOM:
            logger.error("Upload refused: the disk under %s is full (%s)", tmp_dir(), exc)
            refusal: GranaryError = InsufficientStorage(
                f"The server has no room for this file: its disk filled up after {self.received:,} bytes. "
                "Nothing was kept; try again later, or ask an administrator to free space.",
                field="file",
            )
        else:
            logger.error("Upload refused: writing under %s failed", tmp_dir(), exc_info=exc)
            refusal = StorageUnavailable(
                f"The server could not write this file ({exc.strerror or exc}). "
                "Nothing was kept; try again later.",
                field="file",
            )
        # The rest of the body is read and dropped (not reset), so the client hears the 507
        # rather than a broken connection while it is still sending.
        self._stop(refusal)


class UploadIncomplete(InvalidInput):
    code = "upload_incomplete"


def raw_filename(request: HttpRequest) -> str:
    """The name of a file sent as the whole body: `Content-Disposition`'s filename (RFC 6266,
    `filename*=UTF-8''…` preferred, as the RFC says), else the `filename` query parameter. Only
    the last path segment is kept, as for a multipart file (and it never becomes a path)."""
    name = ""
    if header := request.headers.get("Content-Disposition", ""):
        try:
            _, params = parse_header_parameters(header)
        except ValueError as exc:  # filename* in a charset Python does not know
            raise InvalidInput(f"Content-Disposition is malformed: {exc}", field="file") from None
        name = params.get("filename", "")
    name = (name or request.GET.get("filename", "")).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(char for char in name if char.isprintable()).strip()
    if name in {"", ".", ".."}:
        raise InvalidInput(
            'Name the file: send Content-Disposition: attachment; filename="data.csv" with the body, '
            "or add ?filename=data.csv to the URL.",
            field="file",
        )
    return name


def raw_body_receive(request: HttpRequest, stream: BinaryIO, *, filename: str) -> UploadedFile | None:
    """Feed a raw request body (the file and nothing else, `application/octet-stream`) through
    the request's upload handlers in chunks, as Django's multipart parser feeds a file part: the
    same size limit, digest check, temporary file or parts streamed to storage, refusals. Returns
    the file, or None when a handler refused it (`upload_refusal`, `upload_was_too_large` say why).

    Skipping the multipart parser saves its scan for the boundary (about 1.4 s of CPU per GiB).
    A body that ends before its Content-Length (the client went away) keeps nothing."""
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    content_type, params = parse_header_parameters(request.META.get("CONTENT_TYPE", ""))
    handlers = list(request.upload_handlers)
    chunk_size = min([2**31 - 4] + [handler.chunk_size for handler in handlers if handler.chunk_size])
    counters = [0] * len(handlers)
    received = 0
    try:
        for index, handler in enumerate(handlers):
            try:
                handler.new_file("file", filename, content_type, length, params.get("charset"))
            except StopFutureHandlers:
                handlers = handlers[: index + 1]
                break
        while received < length:
            try:
                chunk: bytes | None = stream.read(min(chunk_size, length - received))
            except OSError:  # UnreadablePostError: the connection broke
                break
            if not chunk:
                break
            received += len(chunk)
            for index, handler in enumerate(handlers):
                size = len(chunk)
                chunk = handler.receive_data_chunk(chunk, counters[index])
                counters[index] += size
                if chunk is None:
                    break
        if received < length:
            for handler in handlers:
                handler.upload_interrupted()
            raise UploadIncomplete(
                f"The body ended after {received:,} of the {length:,} bytes its Content-Length "
                "announced: nothing was kept. Send the file again.",
                field="file",
            )
        for index, handler in enumerate(handlers):
            if (done := handler.file_complete(counters[index])) is not None:
                received_close_at_end(request, done)
                return cast(UploadedFile, done)
    except StopUpload as stop:
        if not stop.connection_reset:  # read the rest, so the client hears the refusal
            with contextlib.suppress(OSError):
                while stream.read(chunk_size):
                    pass
    return None


def received_close_at_end(request: HttpRequest, upload: UploadedFile) -> None:
    setattr(request, RECEIVED, [*getattr(request, RECEIVED, []), upload])


def upload_was_too_large(request: HttpRequest) -> bool:
    return bool(getattr(request, TOO_LARGE_FLAG, False))


def upload_refusal(request: HttpRequest) -> GranaryError | None:
    """Why the upload handler dropped the request's file (the disk filled up), if it did."""
    refusal = getattr(request, REFUSAL, None)
    return refusal if isinstance(refusal, GranaryError) else None


class UploadLimitMiddleware:
    """Answers 413 to a body whose declared length is over the limit, before reading any of it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            return self._answer(request)
        finally:
            # A streamed upload that no service completed (refused, a view that failed, a client
            # that went away) leaves no parts in storage, and a temporary file no disk space.
            for received in getattr(request, RECEIVED, ()):
                received.close()

    def _answer(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.GRANARY_MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD:
            message = too_large_message()
            if request.path.startswith("/api/"):
                body = json.dumps({"code": "too_large", "detail": message})
                response = HttpResponse(body, status=413, content_type="application/json")
            else:
                response = HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")
            # The body is left unread, so the connection cannot be reused.
            response["Connection"] = "close"
            return response
        return self.get_response(request)
