"""Expectation suites and validation runs: editing a dataset's suite (each edit a new revision),
queuing runs, carrying a run to its end, and recording each version's standing on it.

Great Expectations itself is only in quality.runner, imported when a check is made.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta
from functools import partial
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Max, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from audit.services import audit_record
from core.coalesce import coalesced
from core.database import DATABASE_ERRORS, transient
from core.errors import InvalidInput, NotReady
from core.jsonvalues import without_nul
from core.leases import lease_hold
from core.outbox import outbox_due, outbox_send, outbox_sweep
from core.types import ProfileDict
from datasets.models import Dataset, Version
from datasets.references import version_certified, version_latest
from datasets.services.summary import dataset_summary_refresh
from datasets.storage import StorageUnavailable
from quality.expectations import check, needs_gx_check
from quality.models import SuiteRevision, ValidationRun
from quality.selectors import suite_revision_current
from quality.tasks import validate_version
from webhooks.models import WebhookDelivery
from webhooks.services import absolute_url, webhooks_publish

logger = logging.getLogger(__name__)
INTERNAL_ERROR = "Granary could not record this run because of an internal error; it has been logged."


# Keys GX writes into a suite and its expectations; anything else is from another tool.
_SUITE_KEYS = {
    "name",
    "id",
    "expectations",
    "meta",
    "notes",
    "data_asset_type",
    "ge_cloud_id",
    "expectation_suite_name",
}


_EXPECTATION_KEYS = {
    "type",
    "expectation_type",
    "kwargs",
    "meta",
    "id",
    "notes",
    "description",
    "rendered_content",
    "severity",
}


def suite_save(*, dataset: Dataset, user: User | None, expectations: list[dict[str, Any]]) -> SuiteRevision:
    """Store a new revision of the suite (checked first) and validate `latest` against it."""
    clean = [_normalize(e, position=i) for i, e in enumerate(expectations, start=1)]
    latest = version_latest(dataset=dataset)
    columns = [c["name"] for c in latest.schema] if latest else None
    for position, expectation in enumerate(clean, start=1):
        check(expectation, position=position, columns=columns)
        if needs_gx_check(expectation):
            # Loads Great Expectations (seconds, once per process): only for an expectation the
            # table in quality.expectations does not describe, never for the form's checks.
            from quality.runner import gx_check

            gx_check(expectation, position=position)
    # The queued run and the refreshed standing each announce the dataset: one re-index.
    with transaction.atomic(), coalesced():
        locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
        number = (locked.suite_revisions.aggregate(top=Max("number"))["top"] or 0) + 1
        revision = SuiteRevision.objects.create(
            dataset=locked, number=number, expectations=clean, created_by=user
        )
        audit_record(
            action="suite.change",
            actor=user,
            dataset=locked,
            detail={"revision": number, "expectations": len(clean)},
        )
        if latest is not None:
            validation_queue(version=latest, revision=revision, trigger="suite change", user=user)
        # Every version now stands against the new revision: unchecked, or queued for `latest`.
        versions_quality_refresh(dataset_id=locked.pk)
    return revision


def suite_extend(*, dataset: Dataset, user: User | None, expectations: list[dict[str, Any]]) -> SuiteRevision:
    """A new revision: the current suite plus `expectations` (a form's check, chosen suggestions)."""
    current = suite_revision_current(dataset=dataset)
    return suite_save(
        dataset=dataset, user=user, expectations=[*(current.expectations if current else []), *expectations]
    )


def suite_remove(*, dataset: Dataset, user: User | None, position: int) -> SuiteRevision:
    current = suite_revision_current(dataset=dataset)
    expectations = list(current.expectations) if current else []
    if not 1 <= position <= len(expectations):
        raise InvalidInput(f"The suite has no expectation {position}.")
    del expectations[position - 1]
    return suite_save(dataset=dataset, user=user, expectations=expectations)


def suite_import(*, dataset: Dataset, user: User | None, data: Any) -> SuiteRevision:
    """Import GX suite JSON (as `suite.to_json_dict()` writes it) as a new revision."""
    if not isinstance(data, dict):
        raise InvalidInput(
            "A suite is a JSON object with an 'expectations' list, as Great Expectations exports it."
        )
    unknown = sorted(set(data) - _SUITE_KEYS)
    if unknown:
        raise InvalidInput(
            f"Unknown suite field {', '.join(repr(k) for k in unknown)}: is this Great Expectations suite JSON?"
        )
    expectations = data.get("expectations")
    if not isinstance(expectations, list):
        raise InvalidInput("The suite has no 'expectations' list.")
    return suite_save(dataset=dataset, user=user, expectations=expectations)


def suite_export(*, dataset: Dataset) -> dict[str, Any]:
    revision = suite_revision_current(dataset=dataset)
    return {
        "name": dataset.slug,
        "expectations": revision.expectations if revision else [],
        "meta": {"granary_revision": revision.number if revision else None},
    }


def _normalize(expectation: Any, *, position: int) -> dict[str, Any]:
    if not isinstance(expectation, dict):
        raise InvalidInput(f"Expectation {position} is not an object with 'type' and 'kwargs'.")
    unknown = sorted(set(expectation) - _EXPECTATION_KEYS)
    if unknown:
        raise InvalidInput(f"Expectation {position}: unknown field {', '.join(repr(k) for k in unknown)}.")
    kind = expectation.get("type") or expectation.get("expectation_type")  # GX 0.x spelling
    if not isinstance(kind, str) or not kind:
        raise InvalidInput(f"Expectation {position} has no 'type'.")
    out: dict[str, Any] = {"type": kind, "kwargs": expectation.get("kwargs", {})}
    meta = expectation.get("meta")
    meta = {} if meta is None else meta
    if not isinstance(meta, dict):
        raise InvalidInput(f"Expectation {position}: 'meta' must be an object.")
    notes = expectation.get("notes")
    if notes:
        meta = {**meta, "notes": notes}
    if meta:
        out["meta"] = meta
    return out


def suite_suggest(*, version: Version, margin: float = 0.1) -> list[dict[str, Any]]:
    """A starter suite drafted from a version's profile, for its owner to review: checks of a kind
    the current suite already has for the same column (or table) are left out."""
    current = suite_revision_current(dataset=version.dataset)
    have = {_subject(e) for e in (current.expectations if current else [])}
    return [e for e in _draft(version=version, margin=margin) if _subject(e) not in have]


def _subject(expectation: dict[str, Any]) -> tuple[str, str | None]:
    """What a check is about: its type and its column (None for the table)."""
    column = expectation.get("kwargs", {}).get("column")
    return expectation.get("type", ""), column if isinstance(column, str) else None


def _draft(*, version: Version, margin: float) -> list[dict[str, Any]]:
    if version.status != Version.Status.READY:
        raise NotReady(f"{version.ref} is {version.status}: suggestions come from a ready version's profile.")
    rows = version.row_count or 0
    draft: list[dict[str, Any]] = [
        {
            "type": "expect_table_row_count_to_be_between",
            "kwargs": {"min_value": int(rows * (1 - margin)), "max_value": int(rows * (1 + margin)) + 1},
        }
    ]
    profile: ProfileDict = version.profile
    for column in profile.get("columns", []):
        name = column["name"]
        if column.get("count", 0) == 0:
            continue
        if column.get("nulls", 0) == 0:
            draft.append({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": name}})
        kind = column.get("type")
        if kind in ("integer", "float") and column.get("min") is not None:
            low, high = column["min"], column["max"]
            pad = (high - low) * margin or abs(high) * margin or 1
            bounds = (low - pad, high + pad) if kind == "float" else (int(low - pad), int(high + pad) + 1)
            # The margin must not cross zero: a column never negative (rainfall, counts) keeps a
            # lower bound of 0, one never positive an upper bound of 0.
            if low >= 0:
                bounds = (max(bounds[0], 0), bounds[1])
            if high <= 0:
                bounds = (bounds[0], min(bounds[1], 0))
            draft.append(
                {
                    "type": "expect_column_values_to_be_between",
                    "kwargs": {"column": name, "min_value": bounds[0], "max_value": bounds[1]},
                }
            )
        distinct = column.get("distinct", {})
        top = column.get("top", {})
        if (
            kind in ("string", "boolean")
            and not distinct.get("approximate")
            and 0 < distinct.get("value", 0) <= 20
            and not top.get("approximate")
        ):
            values = [v["value"] for v in top.get("values", [])]
            if len(values) == distinct["value"]:
                draft.append(
                    {
                        "type": "expect_column_values_to_be_in_set",
                        "kwargs": {"column": name, "value_set": values},
                    }
                )
    return draft


def validation_queue(
    *, version: Version, revision: SuiteRevision | None = None, trigger: str, user: User | None = None
) -> ValidationRun:
    """Queue a run of the suite (its current revision unless given) against a ready version."""
    if version.status != Version.Status.READY:
        raise NotReady(f"{version.ref} is {version.status}: only ready versions can be validated.")
    revision = revision or suite_revision_current(dataset=version.dataset)
    if revision is None:
        raise InvalidInput(f"'{version.dataset.slug}' has no expectation suite yet: add expectations first.")
    with transaction.atomic():
        run = ValidationRun.objects.create(
            version=version, revision=revision, trigger=trigger, created_by=user
        )
        versions_quality_refresh(dataset_id=version.dataset_id, version_ids=[version.pk])
    transaction.on_commit(partial(_send, run.pk))
    return run


def version_status_followed(*, version: Version) -> ValidationRun | None:
    """A version was created or finished ingest: record its standing against the suite, and
    validate it if it is ready and its dataset has a suite."""
    if version.status == Version.Status.READY and suite_revision_current(dataset=version.dataset):
        return validation_queue(version=version, trigger="ingest")
    versions_quality_refresh(dataset_id=version.dataset_id, version_ids=[version.pk])
    return None


def _send(run_id: int) -> bool:
    """Put the run on the broker and note when; False if the broker is down (the run is its own
    outbox: the sweeper, runs_requeue, sends it once Redis answers again)."""
    return outbox_send(ValidationRun, run_id, validate_version.delay)


def validation_run_leased(*, run_id: int) -> ValidationRun | None:
    """`validation_run` under the run's lease (core.leases): a duplicate delivery while it runs
    returns at once; if the worker dies, the lease runs out and the sweeper sends it again."""
    unfinished = ValidationRun.objects.filter(
        status__in=[ValidationRun.Status.QUEUED, ValidationRun.Status.RUNNING]
    )
    with lease_hold(unfinished, pk=run_id) as held:
        if not held:
            logger.info("Run %s is running elsewhere, or is done: skipping", run_id)
            return None
        return validation_run(run_id=run_id)


def validation_run(*, run_id: int) -> ValidationRun | None:
    """Run a queued (or, after a worker died, a running) validation to a terminal state."""
    started = timezone.now()
    with transaction.atomic():
        claimed = ValidationRun.objects.filter(pk=run_id, status__in=["queued", "running"]).update(
            status=ValidationRun.Status.RUNNING, started_at=started
        )
        found = ValidationRun.objects.select_related("version", "revision", "version__parquet_blob")
        run = found.filter(pk=run_id).first()
        if run is not None:
            # Also when the run had ended already: a worker that died between ending the run and
            # recording it on the version left the version behind, and this redelivery mends it.
            versions_quality_refresh(dataset_id=run.version.dataset_id, version_ids=[run.version_id])
    if not claimed or run is None:
        return run
    ValidationRun.objects.filter(pk=run_id).update(attempts=run.attempts + 1)
    try:
        _validate_and_record(run)
    except DATABASE_ERRORS as exc:
        if transient(exc):
            raise  # the database, not the data: the task retries, and the run resumes
        # A result the database refuses refuses it on every retry: left running, the run would be
        # sent again for ever.
        logger.exception("validation run %s could not be recorded", run_id)
        _finish(run_id, status=ValidationRun.Status.ERROR, error=INTERNAL_ERROR)
    run = ValidationRun.objects.select_related("version__dataset").get(pk=run_id)
    transaction.on_commit(partial(webhooks_announce_run, run_id=run.pk))
    return run


def _validate_and_record(run: ValidationRun) -> None:
    """Validate the run's version with real Great Expectations and record how it went."""
    from quality import runner  # Great Expectations loads with it

    run_id = run.pk
    try:
        outcome = runner.validate(run.version, run.revision.expectations)
    except StorageUnavailable as exc:
        # The store, not the data: the run is queued again and back in the outbox, so the sweeper
        # (runs_requeue) sends it within GRANARY_SWEEP_SECONDS of this task's end.
        logger.error("Validation run %s stopped: %s", run_id, exc.detail)
        with transaction.atomic():
            ValidationRun.objects.filter(pk=run_id, status=ValidationRun.Status.RUNNING).update(
                status=ValidationRun.Status.QUEUED, started_at=None, sent_at=None
            )
            versions_quality_refresh(dataset_id=run.version.dataset_id, version_ids=[run.version_id])
        raise
    except InvalidInput as exc:
        _finish(run_id, status=ValidationRun.Status.ERROR, error=without_nul(exc.detail))
    except Exception as exc:  # GX can fail in many ways; the run must still end
        logger.exception("validation run %s crashed", run_id)
        _finish(
            run_id, status=ValidationRun.Status.ERROR, error=without_nul(f"Great Expectations failed: {exc}")
        )
    else:
        passed = all(r["success"] for r in outcome.results)
        _finish(
            run_id,
            status=ValidationRun.Status.PASSED if passed else ValidationRun.Status.FAILED,
            results=outcome.results,
            evaluated=len(outcome.results),
            successful=sum(1 for r in outcome.results if r["success"]),
        )


def _finish(run_id: int, **fields: Any) -> None:
    """End the run and record its outcome on the version, together or not at all. The lease goes
    in the same statement: a worker killed between ending the run and releasing its lease left a
    finished run that still named a dead holder."""
    with transaction.atomic():
        ValidationRun.objects.filter(pk=run_id, status=ValidationRun.Status.RUNNING).update(
            finished_at=timezone.now(), lease_until=None, lease_owner="", **fields
        )
        run = ValidationRun.objects.select_related("version").get(pk=run_id)
        versions_quality_refresh(dataset_id=run.version.dataset_id, version_ids=[run.version_id])


def versions_quality_refresh(*, dataset_id: int, version_ids: Iterable[int] | None = None) -> None:
    """Record on each version (the dataset's, or those given) the status of its latest run against
    the dataset's current suite: "unchecked" before any run, None while there is no suite.

    The one definition of a version's quality status, and so of `@certified`; called whenever a
    run is queued, starts or ends, and when the suite changes. The dataset row is locked first,
    so two runs ending at once cannot leave the older result on the version.
    """
    with transaction.atomic():
        dataset = Dataset.objects.select_for_update().get(pk=dataset_id)
        versions = Version.objects.filter(dataset_id=dataset_id)
        if version_ids is not None:
            versions = versions.filter(pk__in=list(version_ids))
        revision = suite_revision_current(dataset=dataset)
        if revision is None:
            versions.exclude(quality_status=None).update(quality_status=None)
        else:
            latest_run = (
                ValidationRun.objects.filter(version_id=OuterRef("pk"), revision_id=revision.pk)
                .order_by("-queued_at", "-pk")
                .values("status")[:1]
            )
            versions.update(quality_status=Coalesce(Subquery(latest_run), Value("unchecked")))
        dataset_summary_refresh(dataset_id=dataset_id)  # the certified version may have changed


def datasets_quality_refresh() -> int:
    """Refresh every dataset's versions (`manage.py quality_refresh`); returns how many datasets."""
    dataset_ids = list(Dataset.objects.order_by("pk").values_list("pk", flat=True))
    for dataset_id in dataset_ids:
        versions_quality_refresh(dataset_id=dataset_id)
    return len(dataset_ids)


def webhooks_announce_run(*, run_id: int) -> list[WebhookDelivery]:
    """Queue the events a finished run causes: `validation.failed`, or `version.certified` when
    the run made its version the dataset's newest certified one."""
    run = ValidationRun.objects.select_related("version__dataset__team", "version__blob", "revision").get(
        pk=run_id
    )
    version = run.version
    dataset = version.dataset
    if run.status in (ValidationRun.Status.FAILED, ValidationRun.Status.ERROR):
        event = "validation.failed"
    elif (
        run.status == ValidationRun.Status.PASSED
        and (certified := version_certified(dataset=dataset))
        and certified.pk == version.pk
    ):
        event = "version.certified"
    else:
        return []
    payload = {
        "event": event,
        "dataset": dataset.slug,
        "version": version.number,
        "ref": version.ref,
        "sha256": version.sha256,
        "run": run.pk,
        "status": run.status,
        "suite_revision": run.revision.number,
        "report_url": absolute_url(run.get_absolute_url()),
        "sent_at": timezone.now().isoformat(),
    }
    return webhooks_publish(team=dataset.team, event=event, payload=payload)


def runs_requeue(*, older_than_minutes: int | None = None) -> list[int]:
    """Send again the runs left queued or running with no live task; returns their ids.

    As datasets.services.versions.versions_requeue: without `older_than_minutes` (the sweeper),
    runs nobody holds that were never sent, whose worker died after the last send, or whose send
    was lost; with it (`manage.py requeue_stuck`), every unfinished run queued that long ago.
    """
    now = timezone.now()
    unfinished = ValidationRun.objects.filter(
        status__in=[ValidationRun.Status.QUEUED, ValidationRun.Status.RUNNING]
    )
    if older_than_minutes is not None:
        due = unfinished.filter(queued_at__lte=now - timedelta(minutes=older_than_minutes))
    else:
        due = unfinished.filter(outbox_due(created="queued_at"))
    return outbox_sweep(due, validate_version.delay)
