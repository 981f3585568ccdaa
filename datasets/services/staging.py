"""A direct upload's bytes between `complete` and ingest: read from their staging key, then moved
to their content-addressed key once ingest has hashed them to the declared sha256, or deleted.

Used by ingest (datasets.services.versions), which must not import the direct upload service
that creates versions through it.
"""

from __future__ import annotations

import logging

from datasets import storage
from datasets.models import Blob, DirectUpload
from datasets.services.integrity import blob_restore_verified
from datasets.storage import Source
from datasets.storage.multipart import bucket_of, object_promote

logger = logging.getLogger(__name__)


def staging_source(*, version_id: int) -> Source | None:
    """The unverified bytes of `version_id` if it is a direct upload awaiting ingest, else None
    (its bytes are a blob). FileNotFoundError if its staging object is gone."""
    upload = DirectUpload.objects.filter(version_id=version_id).values_list("state", "staging_key").first()
    if upload is None or upload[0] == DirectUpload.State.VERIFIED:
        return None
    state, key = upload
    if state != DirectUpload.State.COMPLETED:
        # Its unverified bytes were thrown away: the blob its digest names is not what the
        # client sent, and must never stand in for them.
        raise FileNotFoundError(f"the staged bytes of version {version_id} are gone ({state})")
    return storage.backend().source(key) if key else None


def staging_accept(*, version_id: int, sha256: str) -> None:
    """Ingest hashed the staged bytes to `sha256`, the digest declared: store them as that blob
    (a server-side copy, never over bytes already there) and drop the staging object."""
    upload = DirectUpload.objects.filter(version_id=version_id, state=DirectUpload.State.COMPLETED).first()
    if upload is None or not upload.staging_key:
        return
    backend = storage.backend()
    bucket = bucket_of(backend)
    if bucket is None:  # the storage changed under a pending upload: nothing can copy it
        raise FileNotFoundError(f"{upload.staging_key} is not on object storage")
    target = storage.blob_key(sha256)

    def promote() -> None:
        object_promote(bucket, source=upload.staging_key, target=target, size=upload.size)

    # Verified bytes of a blob marked damaged replace its bad ones, as an upload's would; else
    # they are copied only where nothing is (bytes already there are the same, and whole).
    if not blob_restore_verified(sha256=sha256, put=promote):
        promote()
    # The bytes are verified now: their size corrects one a refused claim of the digest left.
    Blob.objects.filter(sha256=sha256).exclude(size=upload.size).update(size=upload.size)
    DirectUpload.objects.filter(pk=upload.pk, state=DirectUpload.State.COMPLETED).update(
        state=DirectUpload.State.VERIFIED
    )
    staging_discard(upload)


def staging_mismatch(*, declared: str, actual: str) -> str:
    """The failure reason of a version whose uploaded bytes were not the ones declared."""
    return (
        f"The uploaded bytes hash to sha256 {actual}, not {declared} as declared when the upload "
        "was created: nothing was stored. Upload the file again."
    )


def staging_drop(*, version_id: int) -> None:
    """Ingest failed the version (a digest that did not match, or bytes it could not read): the
    staged bytes are never stored, and go."""
    upload = DirectUpload.objects.filter(version_id=version_id, state=DirectUpload.State.COMPLETED).first()
    if upload is None:
        return
    DirectUpload.objects.filter(pk=upload.pk, state=DirectUpload.State.COMPLETED).update(
        state=DirectUpload.State.REJECTED
    )
    staging_discard(upload)


def staging_discard(upload: DirectUpload) -> None:
    """Delete the staging object of an upload that is over, and forget its key; if storage
    fails, the key stays for the sweeper (direct_uploads_sweep) to try again."""
    if not upload.staging_key:
        return
    try:
        storage.backend().discard(upload.staging_key)
    except storage.StorageUnavailable:
        logger.warning("Could not delete %s of a finished direct upload", upload.staging_key, exc_info=True)
        return
    DirectUpload.objects.filter(pk=upload.pk).update(staging_key="")
