"""Upload handling: every uploaded file streams to disk while its sha256 and size are computed.

Nothing is held in memory and the user's filename never becomes a path: the temporary file has a
random name under the data directory, and is deleted when the request ends unless a service has
published it as a blob by then.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest, HttpResponse

from datasets.storage import tmp_dir

# Room for the multipart boundaries and small fields around the file.
MULTIPART_OVERHEAD = 1024 * 1024
TOO_LARGE_FLAG = "granary_upload_too_large"


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


class BlobUploadHandler(FileUploadHandler):
    chunk_size = 1024 * 1024

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.incoming = IncomingFile(self.file_name or "upload", self.content_type or "", self.charset)
        self.hasher = hashlib.sha256()
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self.received += len(raw_data)
        if self.received > settings.GRANARY_MAX_UPLOAD_BYTES:
            # Refuse while streaming (a chunked body has no Content-Length to check up front).
            self.incoming.close()
            if self.request is not None:
                setattr(self.request, TOO_LARGE_FLAG, True)
            raise StopUpload(connection_reset=True)
        self.hasher.update(raw_data)
        self.incoming.write(raw_data)
        return None

    def file_complete(self, file_size: int) -> IncomingFile:
        self.incoming.flush()
        os.fsync(self.incoming.fileno())
        self.incoming.seek(0)
        self.incoming.size = file_size
        self.incoming.sha256 = self.hasher.hexdigest()
        return self.incoming

    def upload_interrupted(self) -> None:
        if hasattr(self, "incoming"):
            self.incoming.close()


def upload_was_too_large(request: HttpRequest) -> bool:
    return bool(getattr(request, TOO_LARGE_FLAG, False))


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
