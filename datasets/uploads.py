"""Upload handling: every uploaded file streams to disk while its sha256 and size are computed.

Nothing is held in memory and the user's filename never becomes a path: the temporary file has a
random name under the data directory, and is deleted when the request ends unless a service has
published it as a blob by then.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from typing import Any, NoReturn

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest, HttpResponse

from core.errors import GranaryError, InsufficientStorage
from datasets.storage import StorageUnavailable, tmp_dir

logger = logging.getLogger(__name__)

# Room for the multipart boundaries and small fields around the file.
MULTIPART_OVERHEAD = 1024 * 1024
TOO_LARGE_FLAG = "granary_upload_too_large"
REFUSAL = "granary_upload_refusal"
# A full disk or quota: the write errors that mean "no room", not "broken".
NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def too_large_message() -> str:
    limit = settings.GRANARY_MAX_UPLOAD_BYTES
    return f"The file is larger than the upload limit of {limit:,} bytes (GRANARY_MAX_UPLOAD_BYTES)."


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


class BlobUploadHandler(FileUploadHandler):
    chunk_size = 1024 * 1024

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.hasher = hashlib.sha256()
        self.received = 0
        try:
            self.incoming = IncomingFile(self.file_name or "upload", self.content_type or "", self.charset)
        except OSError as exc:  # no room even for an empty file (inodes), or tmp/ is unwritable
            self._refuse(exc)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self.received += len(raw_data)
        if self.received > settings.GRANARY_MAX_UPLOAD_BYTES:
            # Refuse while streaming (a chunked body has no Content-Length to check up front).
            self.incoming.close()
            if self.request is not None:
                setattr(self.request, TOO_LARGE_FLAG, True)
            raise StopUpload(connection_reset=True)
        self.hasher.update(raw_data)
        try:
            self.incoming.write(raw_data)
        except OSError as exc:
            self._refuse(exc)
        return None

    def file_complete(self, file_size: int) -> IncomingFile:
        try:
            # The last buffered bytes, and on file systems that allocate late (ext4, XFS) the
            # space itself, can fail here rather than in write().
            self.incoming.flush()
            os.fsync(self.incoming.fileno())
        except OSError as exc:
            self._refuse(exc)
        self.incoming.seek(0)
        self.incoming.size = file_size
        self.incoming.sha256 = self.hasher.hexdigest()
        return self.incoming

    def upload_interrupted(self) -> None:
        if hasattr(self, "incoming"):
            self.incoming.close()

    def _refuse(self, exc: OSError) -> NoReturn:
        """A write of the temporary file failed: delete it at once, so the space it took is free
        for the next upload, and stop reading the file, leaving the view a precise refusal."""
        incoming: IncomingFile | None = getattr(self, "incoming", None)
        if incoming is not None:
            incoming.discard()
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
        if self.request is not None:
            setattr(self.request, REFUSAL, refusal)
        # The rest of the body is read and dropped (not reset), so the client hears the 507
        # rather than a broken connection while it is still sending.
        raise StopUpload(connection_reset=False)


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
