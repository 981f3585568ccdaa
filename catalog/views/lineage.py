"""Lineage pages: a dataset's graph, a version's impact, a run, and the external names linked to a dataset."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from catalog.forms import (
    ExternalNameForm,
)
from catalog.presentation.graph import graph_drawing
from catalog.views.common import form_submit, portal_page
from catalog.views.versions import version_of
from core.http import AuthenticatedHttpRequest
from datasets.access import Access, dataset_get
from lineage.graph import lineage_graph, lineage_impact, lineage_params
from lineage.selectors import external_names_of, run_get
from lineage.services import external_name_link, external_name_unlink


@portal_page
def dataset_lineage(request: HttpRequest, slug: str) -> HttpResponse:
    """The lineage tab: the graph, with depth and direction controls, and the external names."""
    dataset, access = dataset_get(user=request.user, slug=slug)
    return _lineage_page(request, dataset, access)


def _lineage_page(
    request: HttpRequest, dataset: Any, access: Access, form: ExternalNameForm | None = None
) -> HttpResponse:
    direction, depth = lineage_params(request.GET)
    graph = lineage_graph(user=request.user, dataset=dataset, direction=direction, depth=depth)
    context = {
        "dataset": dataset,
        "access": access,
        "graph": graph,
        "drawing": graph_drawing(graph),
        "direction": direction,
        "depth": depth,
        "depths": range(1, 11),
        "external_names": external_names_of(dataset=dataset),
        "form": form or ExternalNameForm(),
    }
    return render(request, "catalog/dataset_lineage.html", context, status=400 if form else 200)


@require_POST
def external_name_add(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    dataset, access = dataset_get(user=request.user, slug=slug, need="write")
    form = ExternalNameForm(request.POST)
    linked = form_submit(
        request,
        form,
        lambda data: external_name_link(dataset=dataset, **data),
        success=lambda external: f"Events naming {external} now count as {dataset.slug}.",
    )
    if linked:
        return redirect("dataset-lineage", dataset.slug)
    return _lineage_page(request, dataset, access, form=form)


@require_POST
def external_name_remove(request: AuthenticatedHttpRequest, slug: str, external_id: int) -> HttpResponse:
    dataset, _ = dataset_get(user=request.user, slug=slug, need="write")
    external = external_name_unlink(dataset=dataset, external_id=external_id)
    messages.success(request, f"{external} is an external dataset again.")
    return redirect("dataset-lineage", dataset.slug)


@portal_page
def version_impact(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    """What depends on this version, at any depth."""
    _, version = version_of(request, slug, number)
    impact = lineage_impact(user=request.user, version=version)
    return render(
        request,
        "catalog/version_impact.html",
        {"version": version, "dataset": version.dataset, "impact": impact},
    )


@portal_page
def run_detail(request: HttpRequest, run_uuid: str) -> HttpResponse:
    """A job's run as OpenLineage reported it: state, times, code, what it read and wrote."""
    found = run_get(user=request.user, run_id=run_uuid)
    return render(request, "catalog/run_detail.html", {"lineage": found})
