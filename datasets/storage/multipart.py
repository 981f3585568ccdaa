"""Presigned multipart uploads straight from a client to object storage, and their promotion.

A direct upload lands at a staging key (`uploads/<uuid>`), never at a content-addressed one: the
digest a client declares is only a claim until ingest has hashed the bytes, and only then are
they copied (conditionally, `If-None-Match: *`) to `blobs/sha256/...`. Works on any backend
with a boto3 `client`, a `bucket` and `full_key` (S3Storage); the filesystem has none.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from core.errors import InvalidInput
from datasets.storage import Storage, StorageUnavailable

logger = logging.getLogger(__name__)

MIB = 1024**2
MAX_PART_BYTES = 5 * 1024**3  # S3's ceiling for one part
MIN_PART_BYTES = 5 * MIB  # S3's floor for every part but the last
MAX_PARTS = 10_000
# Parts grow past this count: every part is a presigned URL in the answer that opens the upload
# (about 600 bytes and a signature each), so 1,000 keep it small while boto3's 8 MiB parts
# still serve files up to 8 GB; a 100 GB file goes in 100 MiB parts, ten at a time.
TARGET_PARTS = 1_000
# CopyObject copies at most 5 GiB in one request; above that the copy goes in parts too.
COPY_LIMIT = 5 * 1024**3
COPY_PART_BYTES = 512 * MIB
# The header a part's PUT carries its CRC32 in (base64 of the 4 big-endian bytes), when signed.
CRC32_HEADER = "x-amz-checksum-crc32"
_BAD_PARTS = {
    "BadDigest",
    "InvalidPart",
    "InvalidPartOrder",
    "EntityTooSmall",
    "NoSuchUpload",
    "MalformedXML",
}
_TAKEN = {"PreconditionFailed", "ConditionalRequestConflict"}


@dataclass(frozen=True)
class Bucket:
    """Where presigned multipart uploads go: the storage's own client, bucket and key prefix."""

    client: Any
    name: str
    storage: Any

    def key(self, key: str) -> str:
        return str(self.storage.full_key(key))


def bucket_of(storage: Storage) -> Bucket | None:
    """The storage's bucket if clients can upload to it directly; None on the filesystem."""
    client = getattr(storage, "client", None)
    name = getattr(storage, "bucket", None)
    if client is None or not name or not hasattr(storage, "full_key"):
        return None
    return Bucket(client=client, name=name, storage=storage)


def part_size_for(size: int, preferred: int) -> int:
    """`preferred` (at least S3's 5 MiB), grown in whole MiB until `size` fits in 1,000 parts
    (S3 takes 10,000)."""
    part = max(preferred, MIN_PART_BYTES)
    if math.ceil(size / part) > TARGET_PARTS:
        part = math.ceil(size / TARGET_PARTS / MIB) * MIB
    return part


def part_count(size: int, part_size: int) -> int:
    return max(1, math.ceil(size / part_size))


def multipart_create(bucket: Bucket, key: str, *, crc32: bool = False) -> str:
    """Start a multipart upload at `key`; its upload id. `crc32`: every part will carry its
    CRC32 (`part_urls`' `crc32s`), which storage checks as the part arrives and keeps, joined,
    as the object's checksum. Without, S3 computes a whole-object CRC64NVME itself as it joins
    the parts (moto does it by copying the object twice: 5-9 s of a 1 GiB `complete`)."""
    extra = {"ChecksumAlgorithm": "CRC32"} if crc32 else {}
    with _errors(key):
        answer = bucket.client.create_multipart_upload(Bucket=bucket.name, Key=bucket.key(key), **extra)
    return str(answer["UploadId"])


def part_urls(
    bucket: Bucket,
    key: str,
    upload_id: str,
    *,
    size: int,
    part_size: int,
    seconds: int,
    crc32s: Sequence[str] = (),
) -> list[str]:
    """A presigned PUT URL for each part of a `size`-byte upload. Signing is local: no request is made.

    Each URL signs its part's exact Content-Length, so storage refuses a body of any other size:
    otherwise a writer could park up to 5 GiB per part in staging until the sweeper runs, the
    declared size being checked only when the parts are joined. With `crc32s` (base64, one per
    part) each URL also signs its part's `x-amz-checksum-crc32` header, which the client must
    send (`CRC32_HEADER`) and storage checks against the bytes. (moto 5.2 checks neither
    signatures nor part checksums, so only real S3 and its kin enforce these.)"""
    with _errors(key):
        return [
            str(
                bucket.client.generate_presigned_url(
                    "upload_part",
                    Params={
                        "Bucket": bucket.name,
                        "Key": bucket.key(key),
                        "UploadId": upload_id,
                        "PartNumber": number,
                        "ContentLength": min(part_size, size - (number - 1) * part_size),
                        **({"ChecksumCRC32": crc32s[number - 1]} if crc32s else {}),
                    },
                    ExpiresIn=seconds,
                )
            )
            for number in range(1, part_count(size, part_size) + 1)
        ]


def multipart_complete(
    bucket: Bucket, key: str, upload_id: str, etags: Sequence[str], crc32s: Sequence[str] = ()
) -> int:
    """Join the parts (ETag of part 1, 2, ...; with their CRC32s if the upload was created with
    them) into the object at `key`; its size in bytes.

    Raises InvalidInput when storage refuses the parts (a wrong ETag, a part missing or too small):
    the client's mistake, and the upload stays open for a corrected list."""
    parts: list[dict[str, Any]] = [
        {"PartNumber": number, "ETag": etag} for number, etag in enumerate(etags, start=1)
    ]
    for part, crc32 in zip(parts, crc32s, strict=False):
        part["ChecksumCRC32"] = crc32
    try:
        with _errors(key, refused=_BAD_PARTS):
            bucket.client.complete_multipart_upload(
                Bucket=bucket.name, Key=bucket.key(key), UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
    except _Refused as exc:
        raise InvalidInput(
            f"Storage refused the parts ({exc.code}): {exc.message} Send each part's ETag, as its "
            "PUT answered, for parts 1 to N.",
            field="parts",
        ) from None
    return object_size(bucket, key)


def multipart_abort(bucket: Bucket, key: str, upload_id: str) -> None:
    """Drop the upload and the parts stored so far (storage bills them until then)."""
    try:
        with _errors(key, refused={"NoSuchUpload"}):
            bucket.client.abort_multipart_upload(Bucket=bucket.name, Key=bucket.key(key), UploadId=upload_id)
    except _Refused:
        pass  # already completed or aborted


def object_size(bucket: Bucket, key: str) -> int:
    with _errors(key):
        return int(bucket.client.head_object(Bucket=bucket.name, Key=bucket.key(key))["ContentLength"])


def object_promote(bucket: Bucket, *, source: str, target: str, size: int) -> bool:
    """Copy `source` to `target` inside storage unless `target` exists; True if it was new.

    The copy is conditional, so bytes already at `target` (the same digest, uploaded meanwhile)
    are never replaced. Not every S3 implementation honours If-None-Match on a copy (moto 5
    ignores it), so a HEAD goes first: a race past both would rewrite the same verified bytes,
    since the target's name is their digest. The caller removes `source` afterwards."""
    if _exists(bucket, target):
        return False
    try:
        with _errors(target, refused=_TAKEN):
            if size <= COPY_LIMIT:
                bucket.client.copy_object(
                    Bucket=bucket.name,
                    Key=bucket.key(target),
                    CopySource={"Bucket": bucket.name, "Key": bucket.key(source)},
                    IfNoneMatch="*",
                )
            else:
                _copy_in_parts(bucket, source=source, target=target, size=size)
    except _Refused:
        return False
    return True


def _exists(bucket: Bucket, key: str) -> bool:
    try:
        object_size(bucket, key)
    except FileNotFoundError:
        return False
    return True


def _copy_in_parts(bucket: Bucket, *, source: str, target: str, size: int) -> None:
    part = max(COPY_PART_BYTES, math.ceil(size / MAX_PARTS))
    upload_id = bucket.client.create_multipart_upload(Bucket=bucket.name, Key=bucket.key(target))["UploadId"]
    try:
        parts = []
        for number, start in enumerate(range(0, size, part), start=1):
            answer = bucket.client.upload_part_copy(
                Bucket=bucket.name,
                Key=bucket.key(target),
                UploadId=upload_id,
                PartNumber=number,
                CopySource={"Bucket": bucket.name, "Key": bucket.key(source)},
                CopySourceRange=f"bytes={start}-{min(start + part, size) - 1}",
            )
            parts.append({"PartNumber": number, "ETag": answer["CopyPartResult"]["ETag"]})
        bucket.client.complete_multipart_upload(
            Bucket=bucket.name,
            Key=bucket.key(target),
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},
            IfNoneMatch="*",
        )
    except BaseException:
        multipart_abort(bucket, target, upload_id)
        raise


class _Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(code)
        self.code = code
        self.message = message


@contextmanager
def _errors(key: str, *, refused: set[str] | frozenset[str] = frozenset()) -> Iterator[None]:
    """botocore's errors as ours: the codes in `refused` as _Refused, for the caller to judge;
    a missing key as FileNotFoundError; anything else from storage as StorageUnavailable."""
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        if code in refused:
            raise _Refused(code, str(error.get("Message") or "")) from None
        if code in ("NoSuchKey", "404", "NotFound"):
            raise FileNotFoundError(f"{key} does not exist") from None
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        raise StorageUnavailable(
            f"Object storage answered {status or '?'} {code or 'error'} for {key}: {error.get('Message') or exc}"
        ) from exc
    except BotoCoreError as exc:
        # botocore's message names the endpoint, bucket and prefix: the log's, not a client's.
        logger.warning("Object storage is unreachable: %s", exc)
        raise StorageUnavailable(f"Object storage is unreachable ({type(exc).__name__}).") from exc
