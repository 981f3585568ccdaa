"""Serving a version's stored bytes: streamed, resumable, and labelled with their sha256.

Where the store can hand out short-lived URLs (S3) a download is a redirect to one, so the bytes
never pass through the app; otherwise (the filesystem, or GRANARY_DOWNLOAD_MODE=stream for
clients that cannot reach the store) the app streams them, and verifies a whole file's sha256 as
it goes. A blob known to be damaged is never served.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, BinaryIO

from django.conf import settings
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.utils.http import content_disposition_header

from core.errors import BlobDamaged, InvalidInput, NotReady
from datasets import storage
from datasets.models import Blob, Version
from datasets.services.integrity import blob_damage_record, blob_served_check

logger = logging.getLogger(__name__)

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
CHUNK = 1024 * 1024
# Each read of an object-storage source is a ranged GET: bigger reads, fewer round trips.
REMOTE_CHUNK = 8 * CHUNK
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
            blob=version.blob,
            filename=version.download_filename(),
            content_type=content_type or "application/octet-stream",
        )
    if version.parquet_blob is None:
        raise NotReady(f"{version.dataset.slug}@{version.number} has no Parquet copy to export from.")
    if format == "parquet" and not columns:
        return blob_response(
            request=request,
            blob=version.parquet_blob,
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


def blob_response(*, request: HttpRequest, blob: Blob, filename: str, content_type: str) -> HttpResponseBase:
    """A stored blob with its sha256 as ETag and digests, and Range support: a redirect to the
    store, the front server's sendfile, or streamed by the app (a whole file verified)."""
    sha256, size = blob.sha256, blob.size
    etag = f'"{sha256}"'
    digest_b64 = base64.b64encode(bytes.fromhex(sha256)).decode()
    if _matches(request.headers.get("If-None-Match", ""), sha256):
        response: HttpResponseBase = HttpResponse(status=304)
        response["ETag"] = etag
        return response
    blob_served_check(blob=blob)  # a damaged blob: a 503 naming the damage, not its bytes
    backend = storage.backend()
    key = storage.blob_key(sha256)
    local = backend.local_path(key)
    url = None
    if settings.GRANARY_DOWNLOAD_MODE == "redirect" and local is None:
        url = backend.presigned_url(key, seconds=settings.GRANARY_PRESIGNED_URL_SECONDS, filename=filename)
    wanted = parse_range(request.headers.get("Range", ""), size)
    if wanted is not None and request.headers.get("If-Range", etag) != etag:
        wanted = None  # the client's copy is of other bytes: send them all
    if url is not None:
        # The store answers the GET, Range included; the URL outlives this answer by minutes only.
        response = HttpResponse(status=307)
        response["Location"] = url
        response["Cache-Control"] = "private, no-store"
    elif wanted is not None and wanted.length == 0:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    elif settings.GRANARY_SENDFILE and local is not None:
        response = _sendfile_response(sha256)
        response["Content-Disposition"] = _attachment(filename)
    elif wanted is not None:
        response = _range_response(blob, local is not None, wanted, filename)
        response["Content-Range"] = f"bytes {wanted.start}-{wanted.start + wanted.length - 1}/{size}"
    else:
        chunks = _verified_chunks(handle=_opened(blob, storage.blob_open), blob=blob)
        response = StreamingHttpResponse(chunks)
        response["Content-Disposition"] = _attachment(filename)
        response["Content-Length"] = str(size)
        response["Content-Digest"] = f"sha-256=:{digest_b64}:"
    if url is None:
        response["Content-Type"] = content_type
        response["Cache-Control"] = "private, max-age=31536000, immutable"
        if not (settings.GRANARY_SENDFILE and local is not None):  # the front server says it itself
            response["Accept-Ranges"] = "bytes"
    response["ETag"] = etag
    # The digest of the whole file, whatever range was sent (RFC 9530), and its older spelling.
    response["Repr-Digest"] = f"sha-256=:{digest_b64}:"
    response["Digest"] = f"SHA-256={digest_b64}"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _attachment(filename: str) -> str:
    return content_disposition_header(True, filename) or "attachment"


def _opened(blob: Blob, opener: Callable[[str], BinaryIO]) -> BinaryIO:
    """`opener(sha256)`; a blob that turns out missing is marked so, and the answer is a 503."""
    try:
        return opener(blob.sha256)
    except FileNotFoundError:
        detail = f"{storage.blob_key(blob.sha256)} does not exist"
        logger.error("Download of blob sha256:%s refused: %s", blob.sha256, detail)
        raise BlobDamaged(
            blob_damage_record(sha256=blob.sha256, damage="missing", detail=detail), damage="missing"
        ) from None


def _range_response(blob: Blob, local: bool, wanted: ByteRange, filename: str) -> HttpResponseBase:
    """Part of a blob, which no digest covers. On disk, a window of the file (sendfile can still
    send it); elsewhere, seeks and reads of the store's source (ranged GETs on S3)."""
    response: HttpResponseBase
    if local:
        handle = _opened(blob, storage.blob_open)  # FileResponse closes it
        response = FileResponse(
            _Slice(handle, wanted.start, wanted.length), as_attachment=True, filename=filename
        )
    else:
        handle = _opened(blob, lambda sha256: storage.blob_source(sha256).open())
        response = StreamingHttpResponse(_window(handle, wanted.start, wanted.length))
        response["Content-Disposition"] = _attachment(filename)
    response.status_code = 206
    response["Content-Length"] = str(wanted.length)
    return response


def _window(handle: BinaryIO, start: int, length: int) -> Iterator[bytes]:
    try:
        handle.seek(start)
        while length > 0:
            data = handle.read(min(REMOTE_CHUNK, length))
            if not data:
                return  # shorter than recorded: the response ends short, and the client notices
            length -= len(data)
            yield data
    finally:
        handle.close()


def _verified_chunks(*, handle: BinaryIO, blob: Blob) -> Iterator[bytes]:
    """The blob's bytes, hashed as they go out, with the last chunk held back until the digest
    is known: on a mismatch the response stops short of its Content-Length and the connection
    is dropped, so no client can take the bytes for whole and good. The blob is marked corrupt,
    so the next request gets a 503 instead. Reading stops at the recorded size."""
    digest = hashlib.sha256()
    left = blob.size
    try:
        held = b""
        while left > 0:
            data = handle.read(min(CHUNK, left))
            if not data:
                break
            left -= len(data)
            digest.update(data)
            if held:
                yield held
            held = data
        if left or digest.hexdigest() != blob.sha256:
            detail = f"it ended {left:,} bytes short" if left else f"its bytes hash to {digest.hexdigest()}"
            logger.error("Download of blob sha256:%s aborted: %s", blob.sha256, detail)
            damage = blob_damage_record(sha256=blob.sha256, damage="corrupt", detail=detail)
            raise BlobDamaged(damage, damage="corrupt")
        if held:
            yield held
    finally:
        handle.close()


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
