"""Expectation suites and validation runs: the only place that talks to Great Expectations.

A suite is a list of GX expectation configurations stored per revision; a run validates one
revision against one version's Parquet copy, reading only the columns the suite names.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from datasets.errors import AccessDenied, InvalidInput, NotReady
from datasets.models import Dataset, SuiteRevision, ValidationRun, Version
from datasets.services import storage
from datasets.services.expectations import check, describe, referenced_columns

logger = logging.getLogger(__name__)

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
UNEXPECTED_EXAMPLES = 5


def suite_current(*, dataset: Dataset) -> SuiteRevision | None:
    return dataset.suite_revisions.order_by("-number").first()


def suite_save(*, dataset: Dataset, user: User | None, expectations: list[dict[str, Any]]) -> SuiteRevision:
    """Store a new revision of the suite (checked first) and validate `latest` against it."""
    clean = [_normalize(e, position=i) for i, e in enumerate(expectations, start=1)]
    latest = dataset.versions.filter(status=Version.Status.READY).order_by("-number").first()
    columns = [c["name"] for c in latest.schema] if latest else None
    for position, expectation in enumerate(clean, start=1):
        check(expectation, position=position, columns=columns)
        _check_with_gx(expectation, position=position)
    with transaction.atomic():
        locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
        number = (locked.suite_revisions.aggregate(top=Max("number"))["top"] or 0) + 1
        revision = SuiteRevision.objects.create(
            dataset=locked, number=number, expectations=clean, created_by=user
        )
        if latest is not None:
            validation_queue(version=latest, revision=revision, trigger="suite change", user=user)
    return revision


def suite_extend(*, dataset: Dataset, user: User | None, expectations: list[dict[str, Any]]) -> SuiteRevision:
    """A new revision: the current suite plus `expectations` (a form's check, chosen suggestions)."""
    current = suite_current(dataset=dataset)
    return suite_save(
        dataset=dataset, user=user, expectations=[*(current.expectations if current else []), *expectations]
    )


def suite_remove(*, dataset: Dataset, user: User | None, position: int) -> SuiteRevision:
    current = suite_current(dataset=dataset)
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
    revision = suite_current(dataset=dataset)
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
    meta = expectation.get("meta") or {}
    notes = expectation.get("notes")
    if notes:
        meta = {**meta, "notes": notes}
    if meta:
        out["meta"] = meta
    return out


def _check_with_gx(expectation: dict[str, Any], *, position: int) -> None:
    """Let GX itself judge the type and the parameters' types, and word its refusal."""
    _gx()
    from great_expectations.expectations.registry import get_expectation_impl

    kind = expectation["type"]
    try:
        implementation = get_expectation_impl(kind)
    except Exception:  # GX raises ExpectationNotFoundError
        raise InvalidInput(
            f"Expectation {position}: '{kind}' is not an expectation Great Expectations knows."
        ) from None
    try:
        implementation(**expectation["kwargs"], meta=expectation.get("meta"))
    except Exception as exc:  # pydantic's ValidationError, or GX's own
        raise InvalidInput(f"Expectation {position} ({kind}): {_first_pydantic_error(str(exc))}") from None


def _first_pydantic_error(message: str) -> str:
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    for index, line in enumerate(lines[:-1]):
        if "validation error" in line and index + 2 < len(lines):
            return f"'{lines[index + 1]}' {lines[index + 2].split('(type=')[0].strip()}."
    return lines[-1] if lines else "invalid parameters."


# --- suggest ---------------------------------------------------------------------------------------


def suite_suggest(*, version: Version, margin: float = 0.1) -> list[dict[str, Any]]:
    """A starter suite drafted from a version's profile, for its owner to review."""
    if version.status != Version.Status.READY:
        raise NotReady(f"{version.ref} is {version.status}: suggestions come from a ready version's profile.")
    rows = version.row_count or 0
    draft: list[dict[str, Any]] = [
        {
            "type": "expect_table_row_count_to_be_between",
            "kwargs": {"min_value": int(rows * (1 - margin)), "max_value": int(rows * (1 + margin)) + 1},
        }
    ]
    for column in version.profile.get("columns", []):
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


# --- runs ----------------------------------------------------------------------------------------


def validation_queue(
    *, version: Version, revision: SuiteRevision | None = None, trigger: str, user: User | None = None
) -> ValidationRun:
    """Queue a run of the suite (its current revision unless given) against a ready version."""
    if version.status != Version.Status.READY:
        raise NotReady(f"{version.ref} is {version.status}: only ready versions can be validated.")
    revision = revision or suite_current(dataset=version.dataset)
    if revision is None:
        raise InvalidInput(f"'{version.dataset.slug}' has no expectation suite yet: add expectations first.")
    run = ValidationRun.objects.create(version=version, revision=revision, trigger=trigger, created_by=user)
    transaction.on_commit(lambda: _send(run.pk))
    return run


def validation_queue_after_ingest(*, version_id: int) -> ValidationRun | None:
    version = Version.objects.select_related("dataset").get(pk=version_id)
    if version.status != Version.Status.READY or suite_current(dataset=version.dataset) is None:
        return None
    return validation_queue(version=version, trigger="ingest")


def validation_require_writer(*, allowed: bool, dataset: Dataset) -> None:
    if not allowed:
        raise AccessDenied(
            f"Running checks on '{dataset.slug}' needs the maintainer or owner role in its team."
        )


def _send(run_id: int) -> None:
    from datasets.tasks import validate_version

    validate_version.delay(run_id)


def validation_run(*, run_id: int) -> ValidationRun | None:
    """Run a queued (or, after a worker died, a running) validation to a terminal state."""
    started = timezone.now()
    claimed = ValidationRun.objects.filter(pk=run_id, status__in=["queued", "running"]).update(
        status=ValidationRun.Status.RUNNING, started_at=started
    )
    if not claimed:
        return ValidationRun.objects.filter(pk=run_id).first()
    run = ValidationRun.objects.select_related("version", "revision", "version__parquet_blob").get(pk=run_id)
    ValidationRun.objects.filter(pk=run_id).update(attempts=run.attempts + 1)
    try:
        outcome = _validate(run.version, run.revision.expectations)
    except InvalidInput as exc:
        _finish(run_id, status=ValidationRun.Status.ERROR, error=exc.detail)
    except Exception as exc:  # GX can fail in many ways; the run must still end
        logger.exception("validation run %s crashed", run_id)
        _finish(run_id, status=ValidationRun.Status.ERROR, error=f"Great Expectations failed: {exc}")
    else:
        passed = all(r["success"] for r in outcome.results)
        _finish(
            run_id,
            status=ValidationRun.Status.PASSED if passed else ValidationRun.Status.FAILED,
            results=outcome.results,
            evaluated=len(outcome.results),
            successful=sum(1 for r in outcome.results if r["success"]),
        )
    run = ValidationRun.objects.select_related("version__dataset").get(pk=run_id)
    transaction.on_commit(lambda: _announce(run.pk))
    return run


def _finish(run_id: int, **fields: Any) -> None:
    ValidationRun.objects.filter(pk=run_id, status=ValidationRun.Status.RUNNING).update(
        finished_at=timezone.now(), **fields
    )


def _announce(run_id: int) -> None:
    from datasets.services.webhooks import webhooks_announce_run

    webhooks_announce_run(run_id=run_id)


@dataclass
class _Outcome:
    results: list[dict[str, Any]]


def _validate(version: Version, expectations: list[dict[str, Any]]) -> _Outcome:
    if version.parquet_blob is None:
        raise InvalidInput(f"{version.ref} has no Parquet copy to validate.")
    columns = [c["name"] for c in version.schema]
    for position, expectation in enumerate(expectations, start=1):
        check(expectation, position=position, columns=columns)
    wanted = sorted({name for e in expectations for name in referenced_columns(e)}) or columns[:1]
    path = storage.blob_path(version.parquet_blob.sha256)
    # Expectations about the table's columns only need their names: give them every column,
    # without reading any data.
    about_columns = {
        "expect_table_columns_to_match_set",
        "expect_table_columns_to_match_ordered_list",
        "expect_column_to_exist",
    }
    data_positions = [i for i, e in enumerate(expectations) if e["type"] not in about_columns]
    name_positions = [i for i, e in enumerate(expectations) if e["type"] in about_columns]
    results: dict[int, dict[str, Any]] = {}
    if data_positions:
        checks = [expectations[i] for i in data_positions]
        if _fits_in_memory(version, wanted):
            frame = pq.read_table(path, columns=wanted).to_pandas()
            results.update(_run_gx(_pandas_batch(frame), checks, data_positions))
            del frame
        else:
            with _sqlite_copy(path, wanted) as database:
                results.update(_run_gx(_sqlite_batch(database), checks, data_positions))
    if name_positions:
        import pandas as pd

        empty = pd.DataFrame({name: [] for name in columns})
        checks = [expectations[i] for i in name_positions]
        results.update(_run_gx(_pandas_batch(empty), checks, name_positions))
    return _Outcome(results=[results[i] for i in range(len(expectations))])


def _fits_in_memory(version: Version, wanted: list[str]) -> bool:
    # GX on pandas holds about 55 to 64 bytes per cell, DataFrame included (bench/validate.py).
    estimate = (version.row_count or 0) * len(wanted) * settings.GRANARY_VALIDATION_BYTES_PER_CELL
    return estimate <= settings.GRANARY_VALIDATION_MEMORY_BYTES


@contextmanager
def _sqlite_copy(path: Any, columns: list[str]) -> Iterator[Path]:
    """The suite's columns of a Parquet copy in a temporary SQLite file, written batch by batch,
    for GX's SQL engine: exact results in bounded memory for versions too large for pandas."""
    import sqlite3

    workdir = Path(tempfile.mkdtemp(prefix="validate-", dir=storage.tmp_dir()))
    database = workdir / "version.sqlite3"
    try:
        with closing(sqlite3.connect(database)) as connection:
            connection.execute("PRAGMA journal_mode=OFF")
            connection.execute("PRAGMA synchronous=OFF")
            # No pre-buffering: it holds much of the file in memory (measured: 460 MB at 4M rows).
            for batch in pq.ParquetFile(path, pre_buffer=False).iter_batches(
                batch_size=100_000, columns=columns
            ):
                batch.to_pandas().to_sql("version", connection, if_exists="append", index=False)
            connection.commit()
        yield database
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


_gx_lock = threading.Lock()


def _gx() -> Any:
    import great_expectations as gx

    return gx


def gx_load() -> None:
    _gx()


def _pandas_batch(frame: Any) -> Any:
    def batch(context: Any) -> Any:
        asset = context.data_sources.add_pandas("granary").add_dataframe_asset("version")
        return asset.add_batch_definition_whole_dataframe("all").get_batch(
            batch_parameters={"dataframe": frame}
        )

    return batch


def _sqlite_batch(database: Path) -> Any:
    def batch(context: Any) -> Any:
        source = context.data_sources.add_sqlite("granary", connection_string=f"sqlite:///{database}")
        return (
            source.add_table_asset("version", table_name="version")
            .add_batch_definition_whole_table("all")
            .get_batch()
        )

    return batch


def _run_gx(
    batch_of: Any, expectations: list[dict[str, Any]], positions: list[int]
) -> dict[int, dict[str, Any]]:
    gx = _gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # An ephemeral context per run: nothing is written to disk and runs do not share state.
    with _gx_lock:
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        suite = context.suites.add(gx.ExpectationSuite(name="run", expectations=expectations))
        batch = batch_of(context)
    ids = [e.id for e in suite.expectations]
    result = batch.validate(
        suite, result_format={"result_format": "SUMMARY", "partial_unexpected_count": UNEXPECTED_EXAMPLES}
    )
    by_id = {r.expectation_config.id: r.to_json_dict() for r in result.results}
    out: dict[int, dict[str, Any]] = {}
    for position, expectation, expectation_id in zip(positions, expectations, ids, strict=True):
        raw = by_id[expectation_id]
        detail = raw.get("result") or {}
        info = raw.get("exception_info") or {}
        error = _exception_message(info)
        out[position] = {
            "type": expectation["type"],
            "kwargs": expectation["kwargs"],
            "description": describe(expectation),
            "success": bool(raw.get("success")) and not error,
            "observed_value": detail.get("observed_value"),
            "unexpected_count": detail.get("unexpected_count"),
            "unexpected_percent": detail.get("unexpected_percent"),
            "unexpected_examples": (detail.get("partial_unexpected_list") or [])[:UNEXPECTED_EXAMPLES],
            "element_count": detail.get("element_count"),
            "error": error,
        }
    return out


def _exception_message(info: dict[str, Any]) -> str:
    if info.get("raised_exception"):
        return str(info.get("exception_message") or "raised an exception")
    for value in info.values():  # keyed by metric when several metrics failed
        if isinstance(value, dict) and value.get("raised_exception"):
            return str(value.get("exception_message") or "raised an exception")
    return ""


def runs_requeue(*, older_than_minutes: int) -> list[int]:
    """Send again the runs still queued or running after this long (their task was lost)."""
    cutoff = timezone.now() - timedelta(minutes=older_than_minutes)
    stuck = list(
        ValidationRun.objects.filter(status__in=["queued", "running"], queued_at__lte=cutoff)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for run_id in stuck:
        _send(run_id)
    return stuck
