"""Pages of datasets: a dataset's page, registering and editing one, its column docs and usage."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from accounts.selectors import (
    owners_of_teams_of,
    teams_writable_by,
)
from catalog.forms import (
    AccessRequestForm,
    ColumnDocFormSet,
    DatasetEditForm,
    DatasetForm,
)
from catalog.presentation.charts import quality_bars
from catalog.presentation.markdown import markdown_render
from catalog.views.common import form_submit, portal_page
from catalog.views.viewer import viewer_context
from core.http import AuthenticatedHttpRequest
from datasets.access import Access, dataset_get
from datasets.models import Dataset
from datasets.references import version_certified, version_latest
from datasets.selectors import (
    access_requests_by,
    checkout_count,
    checkout_readable_items,
    checkouts_of,
    column_docs,
    version_alias_names,
    versions_of,
)
from datasets.services.columns import column_docs_set
from datasets.services.croissant import dataset_schema_org
from datasets.services.datasets import dataset_create, dataset_update
from lineage.graph import lineage_graph
from quality.selectors import quality_history, suite_revision_current

VERSIONS_PER_PAGE = 25


@portal_page
def dataset_detail(request: HttpRequest, slug: str) -> HttpResponse:
    dataset, access = dataset_get(user=request.user, slug=slug, need="discover")
    return detail_page(request, dataset, access, access_form=None)


def detail_page(
    request: HttpRequest, dataset: Dataset, access: Access, *, access_form: AccessRequestForm | None
) -> HttpResponse:
    context: dict[str, Any] = {"dataset": dataset, "access": access}
    status = 200
    if access.restricted_only and request.user.is_authenticated:
        mine = access_requests_by(user=request.user, dataset=dataset)
        context["my_request"] = mine.first()
        context["access_form"] = access_form or AccessRequestForm()
    if access.read:
        latest = version_latest(dataset=dataset)
        context["readme_html"] = markdown_render(dataset.readme)
        # The newest page only: a dataset may have thousands of versions.
        context["versions"] = Paginator(versions_of(dataset=dataset), VERSIONS_PER_PAGE).get_page(
            request.GET.get("versions_page")
        )
        context["latest"] = latest
        context["certified"] = version_certified(dataset=dataset)
        context["suite"] = suite_revision_current(dataset=dataset)
        context["quality_bars"] = quality_bars(quality_history(dataset=dataset))
        context["lineage"] = lineage_graph(user=request.user, dataset=dataset, depth=1)
        context["alias_names"] = version_alias_names(
            dataset=dataset, computed={"latest": latest, "certified": context["certified"]}
        )
        context["checkout_count"] = dataset.checkout_count
        context["schema_org"] = dataset_schema_org(
            dataset=dataset, version=latest, absolute=request.build_absolute_uri
        )
        if latest is not None:  # the data viewer over @latest
            grid_url = reverse("dataset-rows", args=[dataset.slug])
            viewer, status = viewer_context(request, version=latest, page_url=request.path, grid_url=grid_url)
            context.update(viewer)
    if access_form is not None and access_form.errors:
        status = 400
    return render(request, "catalog/dataset_detail.html", context, status=status)


@require_http_methods(["GET", "POST"])
def dataset_new(request: AuthenticatedHttpRequest) -> HttpResponse:
    teams = teams_writable_by(user=request.user)
    form = DatasetForm(request.POST or None, teams=teams)
    dataset = form_submit(
        request,
        form,
        lambda data: dataset_create(user=request.user, **data),
        success=lambda dataset: f"Registered {dataset.slug}. Upload its first version.",
    )
    if dataset:
        return redirect("version-upload", dataset.slug)
    context: dict[str, Any] = {"form": form, "teams": teams}
    if not teams:  # say whom to ask rather than show a form with no team to choose
        context["team_owners"] = owners_of_teams_of(user=request.user)
    status = 400 if form.errors else 200
    return render(request, "catalog/dataset_form.html", context, status=status)


@require_http_methods(["GET", "POST"])
def dataset_edit(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    dataset, _ = dataset_get(user=request.user, slug=slug, need="write")
    initial = {
        "title": dataset.title,
        "summary": dataset.summary,
        "readme": dataset.readme,
        "tags": ", ".join(tag.name for tag in dataset.tags.all()),
        "license": dataset.license,
        "visibility": dataset.visibility,
        "status": dataset.status,
    }
    form = DatasetEditForm(request.POST or None, initial=initial)
    if form_submit(
        request,
        form,
        lambda data: dataset_update(dataset=dataset, changes=data, user=request.user),
        success="Saved.",
    ):
        return redirect(dataset)
    status = 400 if form.errors else 200
    return render(request, "catalog/dataset_form.html", {"form": form, "dataset": dataset}, status=status)


@require_http_methods(["GET", "POST"])
def column_docs_edit(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    """Maintainers describe the latest version's columns; descriptions follow columns by name."""
    dataset, _ = dataset_get(user=request.user, slug=slug, need="write")
    latest = version_latest(dataset=dataset)
    docs = column_docs(dataset=dataset)
    names = [c["name"] for c in latest.schema] if latest else []
    names += [name for name in docs if name not in names]  # documented, but not in the latest
    initial = [
        {"name": n, "description": docs[n].description if n in docs else "", "pii": n in docs and docs[n].pii}
        for n in names
    ]
    formset = ColumnDocFormSet(request.POST or None, initial=initial)
    if request.method == "POST" and formset.is_valid():
        column_docs_set(dataset=dataset, user=request.user, docs=[f.cleaned_data for f in formset.forms])
        messages.success(request, "Column documentation saved.")
        return redirect(dataset)
    types = {c["name"]: c["type"] for c in latest.schema} if latest else {}
    rows = [
        (form, types.get(form.initial.get("name", ""), "not in the latest version")) for form in formset.forms
    ]
    context = {"dataset": dataset, "formset": formset, "rows": rows, "latest": latest}
    return render(
        request,
        "catalog/column_docs.html",
        context,
        status=400 if formset.errors and any(formset.errors) else 200,
    )


@portal_page
def dataset_usage(request: HttpRequest, slug: str) -> HttpResponse:
    """The Usage tab: who checked out which version of the dataset, for what and which model."""
    dataset, access = dataset_get(user=request.user, slug=slug)
    page = Paginator(checkouts_of(dataset=dataset), 50).get_page(request.GET.get("page"))
    context = {
        "dataset": dataset,
        "access": access,
        "page": page,
        "checkout_count": checkout_count(dataset=dataset),
    }
    return render(request, "catalog/dataset_usage.html", context)


@portal_page
def checkout_detail(request: HttpRequest, checkout_id: str) -> HttpResponse:
    """One checkout, for the people who may read its data: who pulled which versions, when, and
    for which model; the API's manifest is a link away."""
    checkout, items = checkout_readable_items(user=request.user, checkout_id=checkout_id)
    return render(request, "catalog/checkout_detail.html", {"checkout": checkout, "items": items})
