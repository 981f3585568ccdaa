"""Writes for lineage: recording OpenLineage run events, and linking external names to datasets.

Lineage that an uploader declares lives on the version itself (`datasets`: `derived_from`,
`code_url`); what pipelines report arrives here as OpenLineage RunEvents.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from accounts.models import Team, role_may_write
from accounts.scopes import token_may_change
from accounts.selectors import team_role, teams_of
from core.errors import AccessDenied, Conflict, GranaryError, InvalidInput, NotFound
from datasets.access import dataset_access
from datasets.models import Dataset, Version
from datasets.references import version_latest, version_resolve
from lineage.models import ExternalDataset, Job, Run, RunDataset, RunEvent
from lineage.openlineage import DatasetRef, ParsedEvent, run_event_parse

TERMINAL = {Run.State.COMPLETE.value, Run.State.ABORT.value, Run.State.FAIL.value}


@dataclass(frozen=True)
class Recorded:
    run: Run
    created: bool  # False: the very same event had been received before


@dataclass(frozen=True)
class Match:
    """Where one dataset of an event lands: a Granary dataset (and version, when known) or an
    external dataset, created on demand."""

    ref: DatasetRef
    role: str
    dataset: Dataset | None = None
    version: Version | None = None


def namespace_is_granary(namespace: str, granary: str) -> bool:
    return namespace.rstrip("/").lower() == granary.rstrip("/").lower()


def run_event_record(*, user: User, payload: Any, namespace: str) -> Recorded:
    """Record one RunEvent: its job, its run's state and times, and the datasets it names.

    `namespace` is Granary's OpenLineage namespace: there a dataset's name is its slug (or
    `slug@ref`). Elsewhere a name counts as a Granary dataset when it is linked to one, and is an
    external dataset otherwise. The same event received twice is stored once. Naming a dataset the
    user may discover but not read (inputs) or write (outputs) is refused; one they may not even
    discover is kept as an external name, so the answer tells nothing about it.

    A run and a job belong to whoever reported them first (`_owner`); an event for one that the
    user may not report for (`_may_report`) is refused before anything is stored.
    """
    event = run_event_parse(payload)
    digest = hashlib.sha256(
        json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    ).hexdigest()
    known = RunEvent.objects.filter(digest=digest).select_related("run__job", "run__team").first()
    if known is not None:
        _require_reporter(user=user, owned=known.run, what=f"run {known.run.run_id}", field="run.runId")
        return Recorded(run=known.run, created=False)
    matches = [
        *(
            _match(user=user, ref=ref, role=RunDataset.Role.INPUT, namespace=namespace)
            for ref in event.inputs
        ),
        *(
            _match(user=user, ref=ref, role=RunDataset.Role.OUTPUT, namespace=namespace)
            for ref in event.outputs
        ),
    ]
    with transaction.atomic():
        run = _run(event=event, user=user, team=_owner(user=user, matches=matches))
        try:
            with transaction.atomic():
                RunEvent.objects.create(
                    run=run,
                    event_type=event.event_type,
                    event_time=event.event_time,
                    digest=digest,
                    payload=payload,
                    received_by=user,
                )
        except IntegrityError:  # the same event, received twice at the same moment
            return Recorded(run=run, created=False)
        _run_advance(run=run, event=event)
        for match in matches:
            _remember(run=run, match=match, completes=event.event_type == Run.State.COMPLETE)
    return Recorded(run=run, created=True)


def _match(*, user: User, ref: DatasetRef, role: str, namespace: str) -> Match:
    version_ref = ref.version
    where = f"{ref.path}.facets.version.datasetVersion"
    dataset: Dataset | None
    if namespace_is_granary(ref.namespace, namespace):
        slug, _, named_ref = ref.name.partition("@")
        dataset = Dataset.objects.select_related("team").filter(slug=slug).first()
        if named_ref:
            version_ref, where = named_ref, f"{ref.path}.name"
    else:
        linked = ExternalDataset.objects.filter(namespace=ref.namespace, name=ref.name).first()
        dataset = linked.dataset if linked else None
    if dataset is None:
        return Match(ref=ref, role=role)
    access = dataset_access(user=user, dataset=dataset)
    allowed = access.read if role == RunDataset.Role.INPUT else access.write
    if not allowed:
        if not access.discover:
            return Match(ref=ref, role=role)  # as good as unknown to this user
        need = "read" if role == RunDataset.Role.INPUT else "write (maintainer or owner role in its team)"
        raise AccessDenied(f"{ref.path}: '{dataset.slug}' is a dataset you may not {need}.", field=ref.path)
    return Match(ref=ref, role=role, dataset=dataset, version=_version(dataset, version_ref, role, where))


def _version(dataset: Dataset, ref: str, role: str, where: str) -> Version | None:
    """The version an event means: the one it names, else for an input the newest ready one (what
    a reader gets), for an output the newest one not failed (what the job just uploaded)."""
    if ref:
        try:
            return version_resolve(dataset=dataset, ref=ref)
        except GranaryError as exc:
            raise InvalidInput(f"{where}: {exc.detail}", field=where) from None
    if role == RunDataset.Role.INPUT:
        return version_latest(dataset=dataset)
    return dataset.versions.exclude(status=Version.Status.FAILED).order_by("-number").first()


def _run(*, event: ParsedEvent, user: User, team: Team | None) -> Run:
    """The event's run (and job), created as `team`'s and the user's when new; one that belongs to
    someone the user may not report for is refused before anything of it changes."""
    known = Run.objects.select_related("team").filter(run_id=event.run_id).first()
    if known is not None:  # the run's owners answer first: they are who the event is about
        _require_reporter(user=user, owned=known, what=f"run {event.run_id}", field="run.runId")
    owner = {"team": team, "created_by": user}
    job, _ = Job.objects.select_related("team").get_or_create(
        namespace=event.job_namespace, name=event.job_name, defaults=owner
    )
    _require_reporter(user=user, owned=job, what=str(job), field="job")
    run, _ = Run.objects.get_or_create(
        run_id=event.run_id,
        defaults={"job": job, "state": event.event_type, "state_time": event.event_time, **owner},
    )
    # Only the run's row: PostgreSQL cannot lock the nullable side of the join to its team.
    run = Run.objects.select_for_update(of=("self",)).select_related("job", "team").get(pk=run.pk)
    # Again under the lock: another user's first event may have created the run meanwhile.
    _require_reporter(user=user, owned=run, what=f"run {event.run_id}", field="run.runId")
    if run.job_id != job.pk:
        raise Conflict(f"run.runId: run {event.run_id} belongs to job {run.job}.", field="run.runId")
    changes = {
        name: value
        for name, value in (("code_url", event.job_code_url), ("description", event.job_description))
        if value and getattr(job, name) != value
    }
    if changes:
        Job.objects.filter(pk=job.pk).update(**changes)
    return run


def _owner(*, user: User, matches: list[Match]) -> Team | None:
    """The team a run or job that this event creates belongs to: the team of its first Granary
    output (which `_match` has checked the user may write), else the user's team when they are in
    exactly one, else none (the reporter alone)."""
    for match in matches:
        if match.role == RunDataset.Role.OUTPUT and match.dataset is not None:
            return match.dataset.team
    teams = list(teams_of(user=user)[:2])
    return teams[0] if len(teams) == 1 else None


def _may_report(*, user: User, owned: Job | Run) -> bool:
    """Who may report events for a run or job: the maintainers and owners of its team, its first
    reporter while they stay in that team (or alone, when it has no team), and superusers."""
    if owned.team_id is not None and not token_may_change(user=user, team_id=owned.team_id):
        return False  # a token limited to another team changes none of this team's lineage
    if user.is_superuser:
        return True
    role = team_role(user=user, team=owned.team) if owned.team else ""
    if role_may_write(role):
        return True
    return owned.created_by_id == user.pk and (owned.team is None or bool(role))


def _require_reporter(*, user: User, owned: Job | Run, what: str, field: str) -> None:
    if _may_report(user=user, owned=owned):
        return
    if owned.team is not None:
        reason = (
            f"belongs to the {owned.team.slug} team, which reported it first: events for it come "
            "from that team's maintainers and owners."
        )
    else:
        reason = "belongs to the user who reported it first: events for it come from them alone."
    raise AccessDenied(f"{field}: {what} {reason}", field=field)


def _run_advance(*, run: Run, event: ParsedEvent) -> None:
    """Move the run's state on. Events may arrive out of order: a terminal state (COMPLETE, ABORT,
    FAIL) is never replaced by a non-terminal one, and otherwise the later event wins."""
    new, old = event.event_type, run.state
    later = event.event_time >= run.state_time
    takes = (new in TERMINAL and old not in TERMINAL) or ((new in TERMINAL) == (old in TERMINAL) and later)
    changes: dict[str, Any] = {}
    if takes:
        changes.update(state=new, state_time=event.event_time)
        if new in TERMINAL:
            changes["ended_at"] = event.event_time
    if new == Run.State.START and (run.started_at is None or event.event_time < run.started_at):
        changes["started_at"] = event.event_time
    if event.error_message:
        changes["error_message"] = event.error_message
    if changes:
        Run.objects.filter(pk=run.pk).update(**changes)
        for name, value in changes.items():
            setattr(run, name, value)


def _remember(*, run: Run, match: Match, completes: bool) -> None:
    """Keep a dataset of the run. An input keeps the version it was first matched to (what the run
    read when it started); an output takes the one matched when the run completes."""
    ref = match.ref
    external = None
    if match.dataset is None:
        external, _ = ExternalDataset.objects.get_or_create(namespace=ref.namespace, name=ref.name)
    target = {"dataset": match.dataset, "version": match.version, "external": external}
    facets = {
        name: value
        for name, value in (("schema", ref.schema), ("column_lineage", ref.column_lineage))
        if value is not None
    }
    row, created = RunDataset.objects.get_or_create(
        run=run, role=match.role, namespace=ref.namespace, name=ref.name, defaults={**target, **facets}
    )
    if created:
        return
    changes: dict[str, Any] = dict(facets)
    if match.role == RunDataset.Role.OUTPUT and completes:
        changes.update(target)
    if changes:
        RunDataset.objects.filter(pk=row.pk).update(**changes)


def external_name_link(*, dataset: Dataset, namespace: str, name: str) -> ExternalDataset:
    """Make events that name `namespace` + `name` count as `dataset`, including those already
    received. The caller has checked write access to the dataset."""
    namespace, name = namespace.strip(), name.strip()
    for field, value in (("namespace", namespace), ("name", name)):
        if not value:
            raise InvalidInput(f"Give the external dataset's {field}.", field=field)
        if len(value) > 1000:
            raise InvalidInput(f"The {field} is longer than 1000 characters.", field=field)
    with transaction.atomic():
        external, _ = ExternalDataset.objects.select_for_update().get_or_create(
            namespace=namespace, name=name
        )
        if external.dataset_id not in (None, dataset.pk):
            raise Conflict(f"{namespace}/{name} is already linked to another dataset.", field="name")
        if external.dataset_id is None:
            ExternalDataset.objects.filter(pk=external.pk).update(dataset=dataset)
            external.dataset = dataset
    return external


def external_name_unlink(*, dataset: Dataset, external_id: int) -> ExternalDataset:
    external = ExternalDataset.objects.filter(pk=external_id, dataset=dataset).first()
    if external is None:
        raise NotFound(f"'{dataset.slug}' has no external name {external_id}.")
    ExternalDataset.objects.filter(pk=external.pk).update(dataset=None)
    external.dataset = None
    return external
