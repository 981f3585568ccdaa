"""Reads of reported lineage beside the graph: a run and its datasets, a dataset's external names,
and the column-level lineage a version's producing run reported. What reaches a user passes
through `datasets_readable_by`, as in lineage.graph."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.db.models import Q
from django.urls import reverse

from core.errors import NotFound
from core.types import AnyUser
from datasets.access import datasets_readable_by
from datasets.models import DATASET_PAGE, Dataset, Version
from lineage.graph import COMPLETE
from lineage.models import ExternalDataset, Run, RunDataset
from lineage.services import namespace_is_granary


@dataclass
class RunLineage:
    run: Run
    inputs: list[tuple[RunDataset, bool]]  # each with whether the user may see it
    outputs: list[tuple[RunDataset, bool]]


def run_get(*, user: AnyUser, run_id: UUID | str) -> RunLineage:
    """A run and its datasets; a run the user may not see (none of its Granary datasets readable)
    is reported missing."""
    run = Run.objects.select_related("job").filter(run_id=run_id).first()
    if run is None:
        raise NotFound(f"No run {run_id}.")
    rows = list(
        run.datasets.select_related("dataset", "version__dataset", "external__dataset").order_by(
            "namespace", "name"
        )
    )
    granary = {row.dataset_id for row in rows if row.dataset_id}
    linked = {row.external.dataset_id for row in rows if row.external and row.external.dataset_id}
    readable = set(datasets_readable_by(user).filter(pk__in=granary | linked).values_list("pk", flat=True))
    if granary and not granary & readable:
        raise NotFound(f"No run {run_id}.")

    def visible(row: RunDataset) -> bool:
        owner = row.dataset_id or (row.external.dataset_id if row.external else None)
        return owner is None or owner in readable

    def shown(role: str) -> list[tuple[RunDataset, bool]]:
        return [(row, visible(row)) for row in rows if row.role == role]

    return RunLineage(run=run, inputs=shown(RunDataset.Role.INPUT), outputs=shown(RunDataset.Role.OUTPUT))


def external_names_of(*, dataset: Dataset) -> list[ExternalDataset]:
    return list(dataset.external_names.order_by("namespace", "name"))


@dataclass
class ColumnSource:
    label: str  # "raw_events.user_id", or "restricted"
    url: str
    transformations: list[dict[str, str]]


@dataclass
class ReportedColumn:
    name: str
    type: str
    sources: list[ColumnSource]
    how: str  # the facet's transformationDescription


@dataclass
class ReportedSchema:
    run: Run
    columns: list[ReportedColumn]


def version_reported_schema(*, user: AnyUser, version: Version, namespace: str) -> ReportedSchema | None:
    """The schema and column lineage (which input columns feed each column) that the latest
    COMPLETE run writing `version` reported, with sources the user may not read as "restricted"."""
    row = (
        RunDataset.objects.select_related("run__job")
        .filter(role=RunDataset.Role.OUTPUT, version=version, run__state=COMPLETE)
        .filter(Q(schema__isnull=False) | Q(column_lineage__isnull=False))
        .order_by("-run__state_time")
        .first()
    )
    if row is None:
        return None
    lineage: dict[str, Any] = row.column_lineage or {}
    names = {(src["namespace"], src["name"]) for entry in lineage.values() for src in entry["inputFields"]}
    where = _granary_names(user, names, namespace)

    def sources(column: str) -> list[ColumnSource]:
        found = []
        for src in lineage.get(column, {}).get("inputFields", []):
            slug = where.get((src["namespace"], src["name"]))
            if slug is None:
                label, url = f"{src['namespace']}/{src['name']}.{src['field']}", ""
            elif slug == "":
                label, url = "restricted", ""
            else:
                label, url = f"{slug}.{src['field']}", reverse(DATASET_PAGE, args=[slug])
            found.append(ColumnSource(label, url, src.get("transformations") or []))
        return found

    types = {field["name"]: field.get("type", "") for field in row.schema or []}
    names_in_order = [*types, *sorted(set(lineage) - set(types))]
    columns = [
        ReportedColumn(
            name,
            types.get(name, ""),
            sources(name),
            lineage.get(name, {}).get("transformationDescription", ""),
        )
        for name in names_in_order
    ]
    return ReportedSchema(run=row.run, columns=columns)


def columns_with_lineage(
    columns: list[dict[str, Any]], reported: ReportedSchema | None
) -> list[dict[str, Any]]:
    """The ingested schema's columns, each with the reported lineage of the column of that name."""
    by_name = {column.name: column for column in reported.columns} if reported else {}
    return [{**column, "lineage": by_name.get(column["name"])} for column in columns]


def _granary_names(user: AnyUser, names: set[tuple[str, str]], namespace: str) -> dict[tuple[str, str], str]:
    """For each OpenLineage (namespace, name) that is a Granary dataset: its slug if the user may
    read it, "" if not. Names that are not Granary datasets are left out."""
    slugs = {name: name.partition("@")[0] for ns, name in names if namespace_is_granary(ns, namespace)}
    linked = ExternalDataset.objects.filter(dataset__isnull=False).filter(
        Q(*[Q(namespace=ns, name=name) for ns, name in names], _connector=Q.OR) if names else Q(pk=None)
    )
    dataset_of = {(x.namespace, x.name): x.dataset_id for x in linked}
    by_slug = dict(Dataset.objects.filter(slug__in=slugs.values()).values_list("slug", "pk"))
    readable = dict(
        datasets_readable_by(user)
        .filter(pk__in=[*dataset_of.values(), *by_slug.values()])
        .values_list("pk", "slug")
    )
    found: dict[tuple[str, str], str] = {}
    for ns, name in names:
        pk = by_slug.get(slugs[name]) if name in slugs and namespace_is_granary(ns, namespace) else None
        pk = pk or dataset_of.get((ns, name))
        if pk is not None:
            found[(ns, name)] = readable.get(pk, "")
    return found
