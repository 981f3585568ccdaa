"""Saving a SQL console query's result as a new version: checked and recorded when asked for
(`query_save`), run on an ingest worker (`query_save_run`), which writes the result as Parquet and
publishes it through `version_create` like any upload, so it is content-addressed, immutable, and
ingested and validated as usual. Its lineage is its own: derived from every version the query
read, with the saved query (and its SQL) as its code.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from core.database import DATABASE_ERRORS, transient
from core.errors import GranaryError, InvalidInput, NotFound
from core.leases import lease_hold
from core.outbox import outbox_due, outbox_send, outbox_sweep
from datasets import storage
from datasets.access import dataset_access, dataset_get
from datasets.models import Dataset, QuerySave, Version
from datasets.services.versions import version_create
from datasets.tasks import save_query
from datasets.viewer.query import query_audit, query_check

logger = logging.getLogger(__name__)

# The saved query's own address: the code that made its version (Version.code_url).
QUERY_SAVE_API = "api-query-save"
INTERNAL_ERROR = (
    "Granary could not save this query's result because of an internal error; it has been logged."
)


def query_save(
    *, user: Any, sql: str, dataset: Dataset | str, message: str = "", version: Version | None = None
) -> QuerySave:
    """Queue `sql`'s whole result to become the next version of `dataset` (a slug, or the
    dataset), which the user must be allowed to write; `version` is what the SQL reads as `data`.

    Everything that can be checked is checked now, with the console's own errors: the write
    right (NotFound / AccessDenied), the SQL (InvalidInput, also for an unknown column), each
    version it reads (NotFound / AccessDenied / NotReady). The versions it names are pinned now:
    `weather@latest` is the version the user was shown, whenever the worker runs.
    """
    slug = dataset.slug if isinstance(dataset, Dataset) else dataset
    target, _ = dataset_get(user=user, slug=slug, need="write")
    message = message.strip()
    if len(message) > 500:
        raise InvalidInput("The message is longer than 500 characters.", field="message")
    checked = query_check(user=user, sql=sql, version=version)
    _bind(statement=checked.statement, tables=checked.blobs)
    with transaction.atomic():
        save = QuerySave.objects.create(
            dataset=target,
            created_by=user,
            sql=checked.statement,
            message=message,
            reads={name: each.pk for name, each in checked.tables.items()},
        )
        query_audit(
            user=user,
            sql=checked.sql,
            read=checked.read,
            outcome="queued",
            action="query.save",
            save=save.pk,
            target=target.slug,
        )
        transaction.on_commit(partial(query_save_send, save_id=save.pk))
    return save


def _bind(*, statement: str, tables: dict[str, str]) -> None:
    """Bind the SQL against the versions' columns without running it, so an unknown column or a
    type error is a 400 now rather than a failed save later."""
    from datasets.viewer import engine  # DuckDB: loaded on the first query, not at start-up

    try:
        with engine.sandbox(tables) as connection, engine.time_limit(connection):
            engine.bind(connection, statement, tables)
    except OSError as exc:
        for sha256 in tables.values():
            if (unavailable := storage.blob_source(sha256).unavailable(exc)) is not None:
                raise unavailable from exc
        raise


def query_save_get(*, user: Any, save_id: int) -> QuerySave:
    """A save as its author sees it; once done, also to whoever may read the dataset it went to
    (its SQL is then the code of a version they read). Anyone else: NotFound."""
    save = (
        QuerySave.objects.select_related("dataset", "version__dataset", "created_by")
        .filter(pk=save_id)
        .first()
    )
    if save is not None and getattr(user, "is_authenticated", False):
        if save.created_by_id == user.pk or user.is_superuser:
            return save
        if save.status == QuerySave.Status.DONE and dataset_access(user=user, dataset=save.dataset).read:
            return save
    raise NotFound(f"No saved query {save_id}.")


def query_save_reads(*, save: QuerySave) -> list[Version]:
    """The versions the query reads, as pinned when it was saved."""
    ids = list(dict.fromkeys(save.reads.values()))
    found = Version.objects.select_related("dataset").in_bulk(ids)
    return [found[pk] for pk in ids if pk in found]


def query_save_url(*, save: QuerySave) -> str:
    return settings.GRANARY_SITE_URL.rstrip("/") + reverse(QUERY_SAVE_API, args=[save.pk])


def query_save_send(*, save_id: int) -> bool:
    """Put the save on the broker and note when; False if the broker is down (the sweeper sends
    it later: the committed row is its own outbox, as a version's ingest is)."""
    return outbox_send(QuerySave, save_id, save_query.delay)


def query_save_run(*, save_id: int) -> QuerySave | None:
    """Run a pending save once, under its lease: a second delivery while the first runs returns
    at once, and a worker that dies leaves the lease to run out and the sweeper to send it again.
    """
    with lease_hold(QuerySave.objects.filter(status=QuerySave.Status.PENDING), pk=save_id) as held:
        if not held:
            logger.info("Query save %s is running elsewhere, or is done: skipping", save_id)
            return None
        _run(save_id)
    return QuerySave.objects.get(pk=save_id)


def _run(save_id: int) -> None:
    from datasets.viewer.export import result_write  # DuckDB and pyarrow: in the worker only

    save = QuerySave.objects.select_related("dataset", "created_by").get(pk=save_id)
    workdir = Path(tempfile.mkdtemp(prefix=f"query-save-{save_id}-", dir=storage.tmp_dir()))
    try:
        user = _author(save)
        tables = _pinned(save, user)
        path = workdir / "result.parquet"
        result_write(
            statement=save.sql,
            tables={name: str(each.parquet_blob_id) for name, each in tables.items()},
            path=path,
            format="parquet",
            most=None,
            seconds=settings.GRANARY_QUERY_SAVE_TIMEOUT_SECONDS,
        )
        read = list(dict.fromkeys(tables.values()))
        with transaction.atomic():
            version = version_create(
                dataset=save.dataset,
                user=user,
                path=path,
                sha256=storage.file_sha256(path),
                size=path.stat().st_size,
                filename=f"query-{save_id}.parquet",
                message=save.message or _default_message(read),
                derived_from=read,
                code_url=query_save_url(save=save),
            )
            QuerySave.objects.filter(pk=save_id, status=QuerySave.Status.PENDING).update(
                status=QuerySave.Status.DONE, version=version, finished_at=timezone.now()
            )
    except storage.StorageUnavailable as exc:
        # The store, not the query: back to the outbox, sent again by the sweeper.
        logger.error("Query save %s stopped: %s", save_id, exc.detail)
        QuerySave.objects.filter(pk=save_id, status=QuerySave.Status.PENDING).update(sent_at=None)
        raise
    except GranaryError as exc:
        _fail(save_id, exc.detail)
    except DATABASE_ERRORS as exc:
        if transient(exc):
            raise  # the database, not the query: the task retries, and the save stays pending
        logger.exception("Query save %s failed unexpectedly", save_id)  # it would fail again
        _fail(save_id, INTERNAL_ERROR)
    except Exception:
        logger.exception("Query save %s failed unexpectedly", save_id)
        _fail(save_id, INTERNAL_ERROR)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _author(save: QuerySave) -> User:
    user = save.created_by
    if user is None or not user.is_active:
        raise InvalidInput("The account that saved this query is gone or disabled.")
    if not dataset_access(user=user, dataset=save.dataset).write:
        raise InvalidInput(f"{user.get_username()} may no longer write '{save.dataset.slug}'.")
    return user


def _pinned(save: QuerySave, user: User) -> dict[str, Version]:
    """The versions pinned at save time, checked again: access can be lost while a save waits."""
    found = Version.objects.select_related("dataset").in_bulk(list(save.reads.values()))
    tables: dict[str, Version] = {}
    for name, pk in save.reads.items():
        each = found.get(pk)
        if each is None or not dataset_access(user=user, dataset=each.dataset).read:
            raise InvalidInput(f"'{name}' is no longer a version {user.get_username()} may read.")
        if each.status != Version.Status.READY or each.parquet_blob_id is None:
            raise InvalidInput(f"'{name}' ({each.ref}) has no Parquet copy to read any more.")
        tables[name] = each
    return tables


def _default_message(read: list[Version]) -> str:
    names = ", ".join(each.ref for each in read[:10]) + (", …" if len(read) > 10 else "")
    return (f"Saved from a SQL query over {names}" if names else "Saved from a SQL query")[:500]


def _fail(save_id: int, error: str) -> None:
    QuerySave.objects.filter(pk=save_id, status=QuerySave.Status.PENDING).update(
        status=QuerySave.Status.FAILED, error=error or "The query failed.", finished_at=timezone.now()
    )


def query_saves_requeue() -> list[int]:
    """Send again the pending saves nobody holds that were never sent, whose worker died (lease
    expired after the last send), or whose send was lost (GRANARY_STUCK_AFTER_MINUTES ago); each
    claimed by a conditional update of `sent_at`, so two sweepers send it once."""
    due = QuerySave.objects.filter(status=QuerySave.Status.PENDING).filter(outbox_due(created="created_at"))
    return outbox_sweep(due, save_query.delay)
