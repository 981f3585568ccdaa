"""Reads of suites and validation runs."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from core.errors import NotFound
from datasets.models import Dataset, Version
from quality.models import SuiteRevision, ValidationRun


def suite_revision_current(*, dataset: Dataset) -> SuiteRevision | None:
    return SuiteRevision.objects.filter(dataset=dataset).order_by("-number").first()


def validation_runs_of(*, version: Version) -> QuerySet[ValidationRun]:
    return version.validation_runs.select_related("revision", "created_by").order_by("-queued_at", "-pk")


def validation_run_get(*, version: Version, run_id: int) -> ValidationRun:
    run = validation_runs_of(version=version).filter(pk=run_id).first()
    if run is None:
        raise NotFound(f"{version.ref} has no validation run {run_id}.")
    return run


def quality_history(*, dataset: Dataset, limit: int = 30) -> list[dict[str, Any]]:
    """Per version (oldest first), the pass rate of its latest finished run, for the chart."""
    history = []
    finished = ValidationRun.objects.filter(version__dataset=dataset, status__in=ValidationRun.TERMINAL)
    latest_by_version: dict[int, ValidationRun] = {}
    for run in finished.select_related("version", "revision").order_by("queued_at", "pk"):
        latest_by_version[run.version.number] = run
    for number in sorted(latest_by_version)[-limit:]:
        run = latest_by_version[number]
        rate = run.successful / run.evaluated if run.evaluated else 0.0
        history.append(
            {
                "version": number,
                "status": run.status,
                "pass_rate": rate,
                "revision": run.revision.number,
                "run": run.pk,
            }
        )
    return history


def quality_standing(*, version: Version) -> dict[str, Any] | None:
    """Why a version stands where it does against the current suite: None without a suite; else
    the current revision's number and, when the version has no run against that revision, its
    latest finished run under an earlier one (a pass there does not certify it now)."""
    current = suite_revision_current(dataset=version.dataset)
    if current is None:
        return None
    if version.validation_runs.filter(revision=current).exists():
        return {"current": current.number, "earlier_run": None}
    earlier = validation_runs_of(version=version).filter(status__in=ValidationRun.TERMINAL).first()
    return {"current": current.number, "earlier_run": earlier}
