"""Writes for versions: publishing an upload as a new immutable version, and ingesting it."""

from __future__ import annotations

import gc
import logging
import shutil
import tempfile
from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import partial
from pathlib import Path

from django.contrib.auth.models import User
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from audit.services import audit_record
from core.coalesce import coalesced
from core.database import DATABASE_ERRORS, transient
from core.errors import Conflict, EmptyUpload, GranaryError, InsufficientStorage, InvalidInput
from core.jsonvalues import without_nul
from core.leases import lease_hold
from core.outbox import outbox_due, outbox_send, outbox_sweep
from core.validation import validate
from datasets import storage
from datasets.ingest import formats
from datasets.ingest.sources import local_source
from datasets.models import Blob, Dataset, Version
from datasets.references import versions_resolve
from datasets.services.integrity import blob_damage_record, blob_restore
from datasets.services.staging import staging_accept, staging_drop, staging_mismatch, staging_source
from datasets.services.summary import dataset_summary_refresh
from datasets.signals import version_status_changed
from datasets.tasks import ingest_version
from datasets.uploads import NO_ROOM, IncomingFile, StreamedFile

logger = logging.getLogger(__name__)

# Where code lives: web pages and the URLs git clones from.
code_url_validator = URLValidator(
    schemes=["http", "https", "git", "ssh", "git+https", "git+ssh"],
    message="Give the code's URL, e.g. https://github.com/org/repo/commit/<sha> or git+ssh://…",
)
MAX_UPSTREAMS = 100
INTERNAL_ERROR = "Granary could not process this file because of an internal error; it has been logged."


def _safe_filename(name: str) -> str:
    """The user's filename, for display and Content-Disposition only: never a path."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable() and ch not in "\x00\"'<>|:*?")
    name = name.strip(" .")
    return name[:200]


def version_create(
    *,
    dataset: Dataset,
    user: User,
    path: Path | None,
    sha256: str,
    size: int,
    filename: str = "",
    message: str = "",
    derived_from: Sequence[Version] = (),
    code_url: str = "",
    staged: Callable[[Version], None] | None = None,
    streamed: StreamedFile | None = None,
) -> Version:
    """Publish the finished upload at `path` as the next version of `dataset`, in `processing`.

    The blob is linked into place inside the transaction that creates the version's row; if the
    transaction fails, a blob that it created is removed again, so a row and its bytes appear
    together or not at all. Ingest is queued only once the row is committed. `derived_from` and
    `code_url` are its declared lineage, fixed with the version.

    Without `path`, the bytes are a direct upload's, still at their staging key: nothing is
    stored here, and `staged` links the version to them in the same transaction, so ingest (which
    verifies them before they reach the blob's key) finds them whenever it runs.

    A `streamed` upload (no `path`) was sent to storage while it arrived, its digest checked: its
    multipart upload is completed in place of the put, and dropped (by its request) otherwise.
    """
    if size == 0:
        raise EmptyUpload("The file is empty (0 bytes).", field="file")
    if len(message) > 500:
        raise InvalidInput("The message is longer than 500 characters.", field="message")
    code_url = code_url.strip()
    if code_url:
        if len(code_url) > 500:
            raise InvalidInput("The code URL is longer than 500 characters.", field="code_url")
        validate(code_url_validator, code_url, field="code_url")
    _check_upstreams(derived_from)
    received: storage.Source | None = streamed.ends if streamed is not None else None
    if path is not None:
        received = local_source(path)
    if received is not None:
        try:
            formats.sniff(received)
        except GranaryError as exc:
            exc.field = "file"
            raise
    # The same bytes as a blob found damaged: this upload is the good copy that restores it.
    restored = path is not None and blob_restore(sha256=sha256, source=path)
    created_blob = False
    try:
        # The dataset's search document is rewritten once, at the end (core.coalesce), not for
        # each of the three announcements below.
        with transaction.atomic(), coalesced():
            locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
            duplicate = locked.versions.filter(blob_id=sha256).values_list("number", flat=True).first()
            if duplicate is not None:
                note = "; its stored copy was damaged, and this upload has restored it" if restored else ""
                raise Conflict(
                    f"These bytes are already version {duplicate} of '{locked.slug}' (sha256 {sha256[:12]}…){note}.",
                    field="file",
                )
            number = (locked.versions.aggregate(top=Max("number"))["top"] or 0) + 1
            blob, _ = Blob.objects.get_or_create(sha256=sha256, defaults={"size": size})
            if received is not None and blob.size != size:
                # The row's size was only claimed, by a direct upload refused since (staging):
                # the bytes hashed here are the authority, as no two sizes share a digest.
                Blob.objects.filter(pk=blob.pk).update(size=size)
            if path is not None:
                created_blob = storage.blob_put(source=path, sha256=sha256)
            elif streamed is not None:
                created_blob = streamed.pending.complete()
            version = Version.objects.create(
                dataset=locked,
                number=number,
                blob=blob,
                size=size,
                original_filename=_safe_filename(filename),
                message=message.strip(),
                created_by=user,
                code_url=code_url,
            )
            version.derived_from.set(derived_from)
            if staged is not None:
                staged(version)
            audit_record(action="version.create", actor=user, version=version, detail={"sha256": sha256})
            version_status_changed.send(sender=Version, version=version)
            version.refresh_from_db(fields=["quality_status"])  # as the listeners recorded it
            dataset_summary_refresh(dataset_id=locked.pk)
            transaction.on_commit(partial(version_send, version_id=version.pk))
    except IntegrityError:
        _discard_if_orphan(sha256, created_blob)
        raise Conflict("Another upload to this dataset finished at the same moment: try again.") from None
    except BaseException:
        _discard_if_orphan(sha256, created_blob)
        raise
    return version


def version_upload(
    *,
    dataset: Dataset,
    user: User,
    upload: IncomingFile | StreamedFile,
    message: str = "",
    derived_from: Sequence[str] = (),
    code_url: str = "",
) -> Version:
    """Publish a file that arrived through the upload handler (API or portal) as a new version.

    `derived_from` holds references (`raw@12`, `users@latest`, `x@sha256:<hex>`), resolved here,
    once, to the exact versions the uploader may read.
    """
    if len(derived_from) > MAX_UPSTREAMS:
        raise InvalidInput(f"Name at most {MAX_UPSTREAMS} upstream versions.", field="derived_from")
    streamed = upload if isinstance(upload, StreamedFile) else None
    return version_create(
        dataset=dataset,
        user=user,
        path=None if isinstance(upload, StreamedFile) else Path(upload.temporary_file_path()),
        streamed=streamed,
        sha256=upload.sha256,
        size=upload.size or 0,
        filename=upload.name or "",
        message=message,
        derived_from=versions_resolve(user=user, refs=derived_from),
        code_url=code_url,
    )


def _check_upstreams(upstreams: Sequence[Version]) -> None:
    if len(upstreams) > MAX_UPSTREAMS:
        raise InvalidInput(f"Name at most {MAX_UPSTREAMS} upstream versions.", field="derived_from")
    for upstream in upstreams:
        if upstream.status == Version.Status.FAILED:
            raise InvalidInput(
                f"'{upstream.ref}' failed to ingest, so nothing can be derived from it.",
                field="derived_from",
            )


def _discard_if_orphan(sha256: str, created: bool) -> None:
    if created and not Blob.objects.filter(sha256=sha256).exists():
        storage.blob_discard(sha256)


def version_ingest(*, version_id: int) -> Version | None:
    """Read a `processing` version once: verify its sha256, infer its schema, profile its
    columns, keep a preview and a normalized Parquet copy, then finish it `ready` or `failed`.

    Runs in a worker and may run twice for one version (a redelivered task): only a version still
    in `processing` is touched, and the final state change is conditional on that. Whatever
    happens, the working directory goes; a Parquet copy is published only for a ready version.
    """
    # pyarrow loads with the reader: in workers, never at web start-up.
    from datasets.ingest.reader import ingest_file

    version = Version.objects.select_related("blob").filter(pk=version_id).first()
    if version is None or version.status != Version.Status.PROCESSING:
        return version
    workdir = Path(tempfile.mkdtemp(prefix=f"ingest-{version_id}-", dir=storage.tmp_dir()))
    failed = False
    staged = None
    try:
        # A direct upload's bytes are read where the client put them, and become the blob only
        # once they hash to the digest it declared (datasets.services.staging).
        staged = staging_source(version_id=version_id)
        result = ingest_file(
            source=staged or storage.blob_source(version.sha256),
            workdir=workdir,
            progress=partial(_progress, version_id),
        )
        if result.sha256 != version.sha256:
            if staged is not None:
                raise InvalidInput(staging_mismatch(declared=version.sha256, actual=result.sha256))
            blob_damage_record(
                sha256=version.sha256, damage="corrupt", detail=f"its bytes hash to {result.sha256}"
            )
            raise InvalidInput(
                f"The stored bytes hash to {result.sha256}, not {version.sha256}: the blob is corrupt."
            )
        if staged is not None:
            staging_accept(version_id=version_id, sha256=result.sha256)
        # A Parquet upload that already is what its copy would be is its own copy (same digest).
        parquet = version.blob if result.parquet_path is None else _publish(result.parquet_path)
        _finish(
            version_id,
            status=Version.Status.READY,
            format=result.detected.format,
            compression=result.detected.compression,
            row_count=result.rows,
            schema=result.schema,
            profile=result.profile,
            preview=result.preview,
            parquet_blob=parquet,
        )
    except FileNotFoundError:
        _finish(version_id, status=Version.Status.FAILED, failure_reason="The stored file is missing.")
    except storage.StorageUnavailable as exc:
        # The store, not the file: the version stays processing (a direct upload's staged bytes
        # stay too), and goes back to the outbox, so the sweeper sends it again within
        # GRANARY_SWEEP_SECONDS of this task's end, and again after each failure until it answers.
        logger.error("Ingest of version %s stopped: %s", version_id, exc.detail)
        Version.objects.filter(pk=version_id, status=Version.Status.PROCESSING).update(sent_at=None)
        raise
    except GranaryError as exc:
        _finish(version_id, status=Version.Status.FAILED, failure_reason=exc.detail)
        failed = True
    except DATABASE_ERRORS as exc:
        if transient(exc):
            raise  # the database, not the file: the task retries, and the version stays processing
        # A statement the database refuses (a limit Granary does not know of yet) refuses it again
        # on every retry: left processing, the version would be requeued into it for ever.
        logger.exception("Ingest of version %s failed unexpectedly", version_id)
        _finish(version_id, status=Version.Status.FAILED, failure_reason=INTERNAL_ERROR)
        failed = True
    except OSError as exc:
        if exc.errno not in NO_ROOM:
            logger.exception("Ingest of version %s failed unexpectedly", version_id)
            _finish(version_id, status=Version.Status.FAILED, failure_reason=INTERNAL_ERROR)
            failed = True
        else:
            # The machine's disk is full, not the file wrong: the version stays processing, and
            # the sweeper sends it again (versions_requeue) once this task has ended.
            logger.error("Ingest of version %s stopped: no room under %s (%s)", version_id, workdir, exc)
            raise InsufficientStorage(
                f"Ingest of version {version_id} stopped: the disk under {storage.tmp_dir()} is full."
            ) from exc
    except Exception:
        # A bug in the reader or the profiler (or a limit they do not know of yet): left
        # processing, the version would be requeued into the same exception for ever.
        logger.exception("Ingest of version %s failed unexpectedly", version_id)
        _finish(version_id, status=Version.Status.FAILED, failure_reason=INTERNAL_ERROR)
        failed = True
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if staged is not None and Version.objects.filter(pk=version_id, status=Version.Status.FAILED).exists():
        staging_drop(version_id=version_id)
    if failed:
        # A read that stopped early leaves pyarrow readers in reference cycles (through the
        # traceback); freed later, at interpreter exit, their threads abort the process.
        gc.collect()
    return Version.objects.select_related("dataset").get(pk=version_id)


def _progress(version_id: int, bytes_read: int, rows: int) -> None:
    Version.objects.filter(pk=version_id, status=Version.Status.PROCESSING).update(
        bytes_read=bytes_read, rows_processed=rows
    )


def _publish(path: Path) -> Blob:
    sha256 = storage.file_sha256(path)
    blob, _ = Blob.objects.get_or_create(sha256=sha256, defaults={"size": path.stat().st_size})
    storage.blob_put(source=path, sha256=sha256)
    return blob


def _finish(version_id: int, **fields: object) -> bool:
    """End ingest (once), refresh the dataset's list fields and announce it, together or not at
    all: a worker that died between the end and its announcement would have left a ready version
    that was never validated, and no sweep sends a version that is not processing.

    What hears the announcement runs in this transaction: if it raises, a ready end rolls back and
    the caller's handlers end the version failed. If it raises for the failure too (a bug there),
    the version still ends failed, unannounced: back in processing, the sweeper would send it
    round the same error for ever."""
    try:
        return _end(version_id, fields, announce=True)
    except Exception as exc:
        if fields.get("status") != Version.Status.FAILED or (
            isinstance(exc, DATABASE_ERRORS) and transient(exc)
        ):
            raise
        logger.exception("Announcing that version %s failed raised: it ends failed, unannounced", version_id)
        return _end(version_id, fields, announce=False)


def _end(version_id: int, fields: dict[str, object], *, announce: bool) -> bool:
    with transaction.atomic(), coalesced():
        # The dataset is locked before the version, in the order of the quality service, which
        # updates versions under the same lock: the other order could deadlock with it.
        dataset_id = Version.objects.filter(pk=version_id).values_list("dataset_id", flat=True).get()
        list(Dataset.objects.select_for_update(no_key=True).filter(pk=dataset_id).values_list("pk"))
        if isinstance(fields.get("failure_reason"), str):  # it may quote a column name, NUL and all
            fields["failure_reason"] = without_nul(fields["failure_reason"])
        changed = Version.objects.filter(pk=version_id, status=Version.Status.PROCESSING).update(
            status_changed_at=timezone.now(), **fields
        )
        if changed and announce:
            dataset_summary_refresh(dataset_id=dataset_id)
            version = Version.objects.select_related("dataset").get(pk=version_id)
            version_status_changed.send(sender=Version, version=version)
    return changed == 1


def version_send(*, version_id: int) -> bool:
    """Put the version's ingest on the broker and note when; False if the broker is down.

    The committed version is its own outbox: one never sent (Redis down at upload) has no
    `sent_at`, and the sweeper sends it once Redis answers again, so an accepted upload is never
    lost and never needs uploading again.
    """
    return outbox_send(Version, version_id, ingest_version.delay)


def version_ingest_leased(*, version_id: int) -> Version | None:
    """`version_ingest` under the version's lease (core.leases): a second delivery of the same
    message while the first still runs returns at once, and if this worker dies mid-way the
    lease runs out and the sweeper sends the version again."""
    with lease_hold(Version.objects.filter(status=Version.Status.PROCESSING), pk=version_id) as held:
        if not held:
            logger.info("Version %s is being ingested elsewhere, or is done: skipping", version_id)
            return None
        return version_ingest(version_id=version_id)


def versions_requeue(*, older_than_minutes: int | None = None) -> list[int]:
    """Send ingest again for versions left `processing` with no live task; returns their ids.

    Without `older_than_minutes` (the sweeper: Celery beat and worker start), those nobody holds
    that were never sent, whose worker died after the last send (lease expired), or whose send
    was lost (GRANARY_STUCK_AFTER_MINUTES ago). With it (`manage.py requeue_stuck`), every
    version processing for that long. Each is claimed by a conditional update of `sent_at`, so
    two sweepers send it once; a duplicate delivery does no harm (the lease, then the status).
    """
    now = timezone.now()
    processing = Version.objects.filter(status=Version.Status.PROCESSING)
    if older_than_minutes is not None:
        due = processing.filter(status_changed_at__lte=now - timedelta(minutes=older_than_minutes))
    else:
        due = processing.filter(outbox_due(created="created_at"))
    return outbox_sweep(due, ingest_version.delay)
