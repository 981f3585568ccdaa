"""Pages of versions: uploading one, its page, its processing status."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from catalog.forms import (
    VersionUploadForm,
)
from catalog.presentation.graph import graph_drawing
from catalog.presentation.version_page import version_page_context, version_snippets
from catalog.views.common import htmx_redirect, portal_page
from catalog.views.viewer import viewer_context
from core.errors import GranaryError
from core.http import AuthenticatedHttpRequest
from datasets.access import dataset_get
from datasets.models import Version
from datasets.references import version_certified, version_resolve
from datasets.selectors import (
    version_alias_names,
)
from datasets.services.versions import version_upload
from datasets.uploads import too_large_message, upload_refusal, upload_was_too_large
from lineage.graph import lineage_graph_of_version
from lineage.openlineage import openlineage_namespace
from lineage.selectors import columns_with_lineage, version_reported_schema
from quality.selectors import quality_standing, validation_runs_of


@require_http_methods(["GET", "POST"])
def version_upload_form(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    dataset, _ = dataset_get(user=request.user, slug=slug, need="write")
    form = VersionUploadForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST":
        if upload_was_too_large(request):
            form.is_valid()  # the file field is empty: replace its error with the real one
            form.errors["file"] = form.error_class([too_large_message()])
            status = 413
        elif (refusal := upload_refusal(request)) is not None:  # the disk filled up
            form.is_valid()
            form.errors["file"] = form.error_class([refusal.detail])
            status = refusal.status
        elif form.is_valid():
            data = dict(form.cleaned_data)
            try:
                version = version_upload(dataset=dataset, user=request.user, upload=data.pop("file"), **data)
            except GranaryError as exc:
                form.add_service_error(exc)
                status = exc.status
            else:
                return htmx_redirect(request, version.get_absolute_url())
        if form.errors and status == 200:
            status = 400
    context = {"form": form, "dataset": dataset, "max_bytes": settings.GRANARY_MAX_UPLOAD_BYTES}
    return render(request, "catalog/version_upload.html", context, status=status)


def version_of(request: HttpRequest, slug: str, number: int) -> tuple[Any, Version]:
    dataset, access = dataset_get(user=request.user, slug=slug)
    return access, version_resolve(dataset=dataset, ref=str(number))


@portal_page
def version_detail(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    access, version = version_of(request, slug, number)
    context = {
        "version": version,
        "dataset": version.dataset,
        "access": access,
        "snippets": version_snippets(version=version, absolute=request.build_absolute_uri),
        "aliases": version_alias_names(dataset=version.dataset).get(version.pk, []),
    }
    context.update(version_page_context(version=version))
    context["quality_status"] = version.quality_status
    context["runs"] = validation_runs_of(version=version)[:5]
    context["certified"] = version_certified(dataset=version.dataset)
    context["standing"] = quality_standing(version=version)
    graph = lineage_graph_of_version(user=request.user, version=version)
    reported = version_reported_schema(
        user=request.user, version=version, namespace=openlineage_namespace(request)
    )
    context.update(lineage=graph, drawing=graph_drawing(graph), reported=reported)
    if "columns" in context:
        context["columns"] = columns_with_lineage(context["columns"], reported)
    status = 200
    if version.status == Version.Status.READY:
        grid_url = reverse("version-rows", args=[slug, number])
        viewer, status = viewer_context(request, version=version, page_url=request.path, grid_url=grid_url)
        context.update(viewer)
    return render(request, "catalog/version_detail.html", context, status=status)


@portal_page
def version_status(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    """The status panel alone, which the version page polls while the version is processing."""
    _, version = version_of(request, slug, number)
    response = render(request, "catalog/_version_status.html", {"version": version})
    if version.status != Version.Status.PROCESSING:
        # Finished: reload the page, which now has the schema, profile and rows to show.
        response["HX-Refresh"] = "true"
    return response
