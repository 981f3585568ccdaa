"""Direct uploads: a large file goes from the client straight to object storage in presigned
parts, and `complete` makes it a version through the same service as any upload.

The bytes wait at a staging key until ingest has hashed them (datasets.services.staging); a
client that declares a digest it did not send gets a failed version and nothing stored.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.contrib.auth.models import User
from django.utils import timezone

from core.errors import Conflict, GranaryError, InvalidInput, NotFound, UploadTooLarge
from datasets import storage
from datasets.access import datasets_readable_by
from datasets.ingest import formats
from datasets.models import Dataset, DirectUpload, Version
from datasets.references import versions_resolve
from datasets.services.staging import staging_discard
from datasets.services.versions import MAX_UPSTREAMS, _safe_filename, version_create
from datasets.storage.multipart import (
    CRC32_HEADER,
    MAX_PART_BYTES,
    MIN_PART_BYTES,
    TARGET_PARTS,
    Bucket,
    bucket_of,
    multipart_abort,
    multipart_complete,
    multipart_create,
    part_count,
    part_size_for,
    part_urls,
)
from datasets.uploads import too_large_message

# SigV4 presigned URLs live at most 7 days.
MAX_URL_SECONDS = 7 * 24 * 3600
# A `complete` may start just before expiry and join parts for minutes: a completed upload with
# no version is taken for stuck (its cleanup failed) only this long after its expiry.
COMPLETED_GRACE = timedelta(hours=1)


class DirectUploadUnsupported(Conflict):
    code = "direct_upload_unsupported"


class TooManyUploads(GranaryError):
    status = 429
    code = "too_many_uploads"


@dataclass(frozen=True)
class Part:
    """Where one part goes, and the headers its PUT must send (those the URL signed)."""

    number: int
    url: str
    headers: dict[str, str]


@dataclass(frozen=True)
class Started:
    """An open upload and where its parts go (no parts: the bytes are here already)."""

    upload: DirectUpload
    parts: list[Part]


def direct_upload_create(
    *,
    dataset: Dataset,
    user: User,
    filename: str,
    size: int,
    sha256: str,
    message: str = "",
    derived_from: Sequence[str] = (),
    code_url: str = "",
    part_size: int | None = None,
    part_crc32: Sequence[str] = (),
) -> Started:
    """Open a direct upload of `size` bytes declared to hash to `sha256`, by a user who may write
    `dataset` (the caller checked). The same rules as an upload through the app apply now, so a
    client learns before sending a byte that these bytes are already a version here.

    `part_size`: the client's own (else the server's, `part_size_for`); `part_crc32`: each part's
    CRC32, base64, signed into its URL so that storage checks every part as it arrives."""
    bucket = _bucket()
    if size <= 0:
        raise InvalidInput("The file is empty (0 bytes).", field="size")
    if size > settings.GRANARY_MAX_UPLOAD_BYTES:
        raise UploadTooLarge(too_large_message(), field="size")
    if part_size is None:
        part_size = part_size_for(size, settings.GRANARY_DIRECT_UPLOAD_PART_BYTES)
    else:
        _check_part_size(size, part_size)
    parts = part_count(size, part_size)
    if part_crc32 and len(part_crc32) != parts:
        raise InvalidInput(
            f"The upload has {parts:,} parts of {part_size:,} bytes: send one CRC32 for each, in order "
            f"({len(part_crc32):,} sent).",
            field="part_crc32",
        )
    if len(derived_from) > MAX_UPSTREAMS:
        raise InvalidInput(f"Name at most {MAX_UPSTREAMS} upstream versions.", field="derived_from")
    versions_resolve(user=user, refs=derived_from)  # refused now rather than after the upload
    # Each open upload may hold its parts in staging until the sweeper runs: a few per user.
    limit = settings.GRANARY_DIRECT_UPLOADS_OPEN_MAX
    open_uploads = DirectUpload.objects.filter(
        created_by=user, state=DirectUpload.State.OPEN, expires_at__gt=timezone.now()
    )
    if open_uploads.count() >= limit:
        raise TooManyUploads(
            f"You have {limit} direct uploads open already: complete or abort one "
            "(DELETE its abort_url) before starting another.",
        )
    duplicate = dataset.versions.filter(blob_id=sha256).values_list("number", "blob__damage").first()
    if duplicate is not None:
        # Refused before a byte travels, so this upload cannot restore a damaged copy: one
        # through the app can (`--no-direct`), or a direct upload to another dataset.
        note = (
            "; its stored copy is damaged: upload the file through the app (granary push --no-direct) "
            "to restore it"
            if duplicate[1]
            else ""
        )
        raise Conflict(
            f"These bytes are already version {duplicate[0]} of '{dataset.slug}' (sha256 {sha256[:12]}…){note}.",
            field="sha256",
        )
    upload = DirectUpload(
        dataset=dataset,
        created_by=user,
        filename=_safe_filename(filename),
        size=size,
        sha256=sha256,
        message=message.strip(),
        derived_from=list(derived_from),
        code_url=code_url.strip(),
        part_size=part_size,
        expires_at=timezone.now() + timedelta(hours=settings.GRANARY_DIRECT_UPLOAD_HOURS),
    )
    # Bytes of a version this user can read anywhere need not travel again. Only then: a
    # digest alone must never be a way to copy data one may not read.
    if not _readable_copy(user=user, sha256=sha256):
        upload.staging_key = f"uploads/{upload.id}"
        upload.part_crc32 = list(part_crc32)
        upload.upload_id = multipart_create(bucket, upload.staging_key, crc32=bool(part_crc32))
    upload.save()
    return Started(upload=upload, parts=_parts(bucket, upload))


def direct_upload_get(*, dataset: Dataset, user: User, upload_id: uuid.UUID) -> DirectUpload:
    """The user's own upload to `dataset`; anyone else's is missing."""
    upload = DirectUpload.objects.filter(pk=upload_id, dataset=dataset, created_by=user).first()
    if upload is None:
        raise NotFound(f"No upload {upload_id} to '{dataset.slug}'.")
    return upload


def direct_upload_refresh(*, upload: DirectUpload) -> Started:
    """Fresh part URLs for an open upload (those given at first expire with short credentials)."""
    _require_open(upload)
    return Started(upload=upload, parts=_parts(_bucket(), upload))


def direct_upload_complete(*, upload: DirectUpload, user: User, etags: Sequence[str]) -> Version:
    """Join the parts and publish them as the next version, in `processing`: its ingest reads
    them once, and stores them under their digest only if it is the declared one."""
    _require_open(upload)
    bucket = _bucket()
    references = versions_resolve(user=user, refs=upload.derived_from)
    if upload.upload_id:
        expected = part_count(upload.size, upload.part_size)
        if len(etags) != expected:
            raise InvalidInput(
                f"The upload has {expected} parts: send the ETag of each, in order ({len(etags)} sent).",
                field="parts",
            )
        # Claimed first, so a second `complete` racing this one cannot make a second version.
        if not _claim(upload, DirectUpload.State.OPEN, DirectUpload.State.COMPLETED):
            raise Conflict("This upload is already being completed.")
        try:
            size = multipart_complete(bucket, upload.staging_key, upload.upload_id, etags, upload.part_crc32)
        except BaseException:
            # Wrong ETags, or storage failing: nothing is joined, so the client may try again.
            _claim(upload, DirectUpload.State.COMPLETED, DirectUpload.State.OPEN)
            raise
        if size != upload.size:
            _close(upload, DirectUpload.State.REJECTED)
            raise InvalidInput(
                f"The parts hold {size:,} bytes, not the {upload.size:,} declared: nothing was stored. "
                "Start the upload again.",
                field="parts",
            )
        try:  # what an upload through the app is refused for at once (a PDF, a truncated Parquet)
            formats.sniff(storage.backend().source(upload.staging_key))
        except storage.StorageUnavailable:
            # The store's fault, not the file's: the joined parts could not be sent again, so
            # they become the version, whose ingest checks the format once storage answers.
            pass
        except GranaryError as exc:
            _close(upload, DirectUpload.State.REJECTED)
            exc.field = "file"
            raise
    elif etags:
        raise InvalidInput(
            "These bytes are stored already: complete the upload with no parts.", field="parts"
        )
    elif not _readable_copy(user=user, sha256=upload.sha256):
        # Borrowed by digest because the user could read them when the upload started: access
        # lost (or the copy damaged) since must not still turn them into a version here.
        _close(upload, DirectUpload.State.REJECTED)
        raise Conflict(
            "The stored bytes this upload was to reuse are no longer readable to you: start the "
            "upload again and send the file.",
            field="sha256",
        )
    elif not _claim(upload, DirectUpload.State.OPEN, DirectUpload.State.COMPLETED):
        raise Conflict("This upload is already being completed.")
    try:
        return version_create(
            dataset=upload.dataset,
            user=user,
            path=None,
            sha256=upload.sha256,
            size=upload.size,
            filename=upload.filename,
            message=upload.message,
            derived_from=references,
            code_url=upload.code_url,
            staged=partial(_link, upload),
        )
    except BaseException:
        # Raised after the version committed (the database dropping as its ingest is sent): the
        # staged bytes are that version's, still to be checked against the declared digest.
        if DirectUpload.objects.filter(pk=upload.pk, version__isnull=False).exists():
            raise
        # No version (the same bytes became one meanwhile, a bad message...): the parts are
        # joined, so the upload cannot be retried; its bytes go.
        _close(upload, DirectUpload.State.REJECTED)
        raise


def direct_upload_abort(*, upload: DirectUpload) -> None:
    """Drop an open upload and the parts sent so far."""
    if upload.state != DirectUpload.State.OPEN:
        raise Conflict(f"This upload is {upload.state}: only an open one can be aborted.")
    if upload.upload_id:
        multipart_abort(_bucket(), upload.staging_key, upload.upload_id)
    _close(upload, DirectUpload.State.ABORTED)


def direct_uploads_sweep(*, now: datetime | None = None) -> int:
    """Abort open uploads past their expiry, close completed ones that never became a version,
    and delete staging objects left by finished ones (storage failed when they ended); returns
    how many uploads it closed or cleaned."""
    now = now or timezone.now()
    bucket = bucket_of(storage.backend())
    done = 0
    for upload in DirectUpload.objects.filter(state=DirectUpload.State.OPEN, expires_at__lte=now):
        if bucket is not None and upload.upload_id:
            multipart_abort(bucket, upload.staging_key, upload.upload_id)
        if _claim(upload, DirectUpload.State.OPEN, DirectUpload.State.EXPIRED):
            staging_discard(upload)
            done += 1
    # Completed with no version: version_create failed and so did the cleanup (the database
    # down). Nothing else ends it, and its client cannot retry it.
    stuck = DirectUpload.objects.filter(
        state=DirectUpload.State.COMPLETED, version__isnull=True, expires_at__lte=now - COMPLETED_GRACE
    )
    for upload in stuck:
        if bucket is not None and upload.upload_id:
            multipart_abort(bucket, upload.staging_key, upload.upload_id)  # if never joined
        changed = DirectUpload.objects.filter(
            pk=upload.pk, state=DirectUpload.State.COMPLETED, version__isnull=True
        ).update(state=DirectUpload.State.EXPIRED)
        if changed:
            staging_discard(upload)
            done += 1
    finished = [DirectUpload.State.REJECTED, DirectUpload.State.ABORTED, DirectUpload.State.EXPIRED]
    for upload in DirectUpload.objects.filter(state__in=finished).exclude(staging_key=""):
        staging_discard(upload)
        done += 1
    return done


def _bucket() -> Bucket:
    bucket = bucket_of(storage.backend())
    if bucket is None:
        raise DirectUploadUnsupported(
            "This server stores blobs on its own filesystem, so files cannot go to storage directly: "
            "upload through the app (POST /api/v1/datasets/<slug>/versions/)."
        )
    return bucket


def _parts(bucket: Bucket, upload: DirectUpload) -> list[Part]:
    if not upload.upload_id:
        return []
    seconds = int((upload.expires_at - timezone.now()).total_seconds())
    urls = part_urls(
        bucket,
        upload.staging_key,
        upload.upload_id,
        size=upload.size,
        part_size=upload.part_size,
        seconds=max(60, min(seconds, MAX_URL_SECONDS)),
        crc32s=upload.part_crc32,
    )
    # Each URL signed its part's declared checksum as a header: the PUT must send that value.
    crc32s = upload.part_crc32 or [None] * len(urls)
    return [
        Part(number=n, url=url, headers={CRC32_HEADER: crc} if crc else {})
        for n, (url, crc) in enumerate(zip(urls, crc32s, strict=True), start=1)
    ]


def _check_part_size(size: int, part_size: int) -> None:
    """A part size the client chose: within S3's bounds, and few enough parts to list."""
    if not MIN_PART_BYTES <= part_size <= MAX_PART_BYTES:
        raise InvalidInput(
            f"A part holds {MIN_PART_BYTES:,} to {MAX_PART_BYTES:,} bytes (S3's bounds); {part_size:,} asked.",
            field="part_size",
        )
    if part_count(size, part_size) > TARGET_PARTS:
        smallest = part_size_for(size, MIN_PART_BYTES)
        raise InvalidInput(
            f"{part_size:,}-byte parts make {part_count(size, part_size):,} parts; an upload has at most "
            f"{TARGET_PARTS:,}: use parts of at least {smallest:,} bytes.",
            field="part_size",
        )


def _readable_copy(*, user: User, sha256: str) -> bool:
    # Not a damaged blob's: its bytes must travel, to restore it (staging_accept).
    return Version.objects.filter(
        blob_id=sha256,
        blob__damage="",
        status=Version.Status.READY,
        dataset__in=datasets_readable_by(user),
    ).exists()


def _require_open(upload: DirectUpload) -> None:
    if upload.state != DirectUpload.State.OPEN:
        raise Conflict(f"This upload is {upload.state}.")
    if upload.expires_at <= timezone.now():
        raise Conflict("This upload has expired: start it again.")


def _claim(upload: DirectUpload, old: str, new: str) -> bool:
    changed = DirectUpload.objects.filter(pk=upload.pk, state=old).update(state=new)
    if changed:
        upload.state = new
    return changed == 1


def _close(upload: DirectUpload, state: str) -> None:
    DirectUpload.objects.filter(pk=upload.pk).update(state=state)
    upload.state = state
    staging_discard(upload)


def _link(upload: DirectUpload, version: Version) -> None:
    DirectUpload.objects.filter(pk=upload.pk).update(version=version)
    upload.version = version
