"""Serving a version's stored bytes: streamed, resumable, and labelled with their sha256."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import IO

from django.conf import settings
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse

from core.errors import InvalidInput, NotReady
from datasets import storage
from datasets.models import Version

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
FORMATS = ("original", "parquet", "csv", "jsonl")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "tsv": "text/tab-separated-values; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
    "jsonl": "application/jsonl; charset=utf-8",
}


@dataclass(frozen=True)
class ByteRange:
    start: int
    length: int


class _Slice:
    """A window of an open file. It keeps `fileno`, so a WSGI server can still use sendfile
    (gunicorn limits it to the Content-Length), and reads stop at the window's end otherwise."""

    def __init__(self, handle: IO[bytes], start: int, length: int) -> None:
        handle.seek(start)
        self._handle = handle
        self._left = length

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        size = self._left if size < 0 else min(size, self._left)
        data = self._handle.read(size)
        self._left -= len(data)
        return data

    def fileno(self) -> int:
        return self._handle.fileno()

    def close(self) -> None:
        self._handle.close()


def parse_range(header: str, size: int) -> ByteRange | None:
    """A single `bytes=` range, or None to serve the whole file (multiple ranges included)."""
    match = _RANGE.match(header.strip())
    if not match or not any(match.groups()):
        return None
    first, last = match.groups()
    if first:
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
    else:  # a suffix: the last N bytes
        start = max(0, size - int(last))
        end = size - 1
    if start >= size or end < start:
        return ByteRange(start=size, length=0)  # unsatisfiable
    return ByteRange(start=start, length=end - start + 1)


def version_download_response(
    *, request: HttpRequest, version: Version, format: str = "original", columns: list[str] | None = None
) -> HttpResponseBase:
    """A ready version's data: its original bytes, its Parquet copy, or an export.

    Stored files (the original, the whole Parquet copy) carry their sha256 as ETag and answer
    Range requests; exports of other formats or a subset of columns stream from the Parquet copy.
    """
    if version.status != Version.Status.READY:
        raise NotReady(
            f"{version.dataset.slug}@{version.number} is {version.status}"
            + (f" ({version.failure_reason})" if version.failure_reason else "")
            + ": only ready versions can be downloaded."
        )
    if format not in FORMATS:
        raise InvalidInput(f"format={format!r} is not a format: use {', '.join(FORMATS)}.", field="format")
    if format == "original":
        if columns:
            raise InvalidInput(
                "columns= needs format=parquet, csv or jsonl: the original is served whole.", field="columns"
            )
        content_type = (
            "application/gzip" if version.compression == "gzip" else CONTENT_TYPES.get(version.format)
        )
        return blob_response(
            request=request,
            sha256=version.sha256,
            size=version.size,
            filename=version.download_filename(),
            content_type=content_type or "application/octet-stream",
        )
    if version.parquet_blob is None:
        raise NotReady(f"{version.dataset.slug}@{version.number} has no Parquet copy to export from.")
    if format == "parquet" and not columns:
        return blob_response(
            request=request,
            sha256=version.parquet_blob.sha256,
            size=version.parquet_blob.size,
            filename=version.download_filename("parquet"),
            content_type=CONTENT_TYPES["parquet"],
        )
    from datasets.ingest.export import export_stream  # pyarrow: loaded on the first export

    chunks = export_stream(
        sha256=version.parquet_blob.sha256,
        format=format,
        columns=_check_columns(version, columns),
    )
    response = StreamingHttpResponse(chunks, content_type=CONTENT_TYPES[format])
    response["Content-Disposition"] = f'attachment; filename="{version.download_filename(format)}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["X-Granary-Source-Sha256"] = version.parquet_blob.sha256
    response["Cache-Control"] = "private"
    return response


def _check_columns(version: Version, columns: list[str] | None) -> list[str] | None:
    if not columns:
        return None
    known = [column["name"] for column in version.schema]
    unknown = [name for name in columns if name not in known]
    if unknown:
        raise InvalidInput(
            f"No column {', '.join(repr(n) for n in unknown)} in {version.dataset.slug}@{version.number}; "
            f"its columns are {', '.join(known)}.",
            field="columns",
        )
    return columns


def blob_response(
    *, request: HttpRequest, sha256: str, size: int, filename: str, content_type: str
) -> HttpResponseBase:
    """A stored blob, streamed, with its sha256 as ETag and digests, and Range support."""
    etag = f'"{sha256}"'
    digest_b64 = base64.b64encode(bytes.fromhex(sha256)).decode()
    if _matches(request.headers.get("If-None-Match", ""), sha256):
        response: HttpResponseBase = HttpResponse(status=304)
        response["ETag"] = etag
        return response
    wanted = parse_range(request.headers.get("Range", ""), size)
    if wanted is not None and request.headers.get("If-Range", etag) != etag:
        wanted = None  # the client's copy is of other bytes: send them all
    if wanted is not None and wanted.length == 0:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    if settings.GRANARY_SENDFILE:
        response = _sendfile_response(sha256)
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
    elif wanted is not None:
        handle = storage.blob_open(sha256)  # FileResponse closes it
        response = FileResponse(
            _Slice(handle, wanted.start, wanted.length), as_attachment=True, filename=filename
        )
        response.status_code = 206
        response["Content-Length"] = str(wanted.length)
        response["Content-Range"] = f"bytes {wanted.start}-{wanted.start + wanted.length - 1}/{size}"
    else:
        handle = storage.blob_open(sha256)
        response = FileResponse(handle, as_attachment=True, filename=filename)
        response["Content-Length"] = str(size)
        response["Content-Digest"] = f"sha-256=:{digest_b64}:"
    response["Content-Type"] = content_type
    response["ETag"] = etag
    if not settings.GRANARY_SENDFILE:  # the front server announces ranges itself
        response["Accept-Ranges"] = "bytes"
    # The digest of the whole file, whatever range was sent (RFC 9530), and its older spelling.
    response["Repr-Digest"] = f"sha-256=:{digest_b64}:"
    response["Digest"] = f"SHA-256={digest_b64}"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=31536000, immutable"
    return response


def _matches(if_none_match: str, sha256: str) -> bool:
    """Whether an If-None-Match header names these bytes (weak comparison, as RFC 9110 asks)."""
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or f'"{sha256}"' in tags


def _sendfile_response(sha256: str) -> HttpResponse:
    """Hand the file to the front server; it sends the bytes and answers Range itself."""
    response = HttpResponse()
    if settings.GRANARY_SENDFILE == "x-accel-redirect":
        prefix = settings.GRANARY_SENDFILE_PREFIX.rstrip("/")
        response["X-Accel-Redirect"] = f"{prefix}/{storage.blob_key(sha256)}"
    else:
        response["X-Sendfile"] = str(storage.blob_path(sha256))
    return response
