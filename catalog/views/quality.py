"""Quality pages: a dataset's suite (add, remove, suggest, import checks), running checks, a run's report."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from catalog.views.common import portal_page
from core.errors import AccessDenied, GranaryError
from core.http import AuthenticatedHttpRequest
from core.validation import whole_number
from datasets.access import dataset_get
from datasets.references import version_latest, version_resolve
from quality import services as quality
from quality.expectations import describe
from quality.forms import ExpectationForm, SuiteImportForm
from quality.models import ValidationRun
from quality.selectors import suite_revision_current, validation_run_get


@portal_page
def suite_page(request: HttpRequest, slug: str) -> HttpResponse:
    dataset, access = dataset_get(user=request.user, slug=slug)
    latest = version_latest(dataset=dataset)
    schema = latest.schema if latest else []
    form = ExpectationForm(request.POST or None, schema=schema)
    revision = suite_revision_current(dataset=dataset)
    status = 200
    if request.method == "POST":
        if not access.write or not isinstance(request.user, User):  # the page itself is open to readers
            raise AccessDenied(
                f"Changing the checks of '{slug}' needs the maintainer or owner role in its team."
            )
        if form.is_valid():
            try:
                quality.suite_extend(dataset=dataset, user=request.user, expectations=[form.expectation()])
            except GranaryError as exc:  # under the field it is about, when it is this check's
                form.add_service_error(exc, position=len(revision.expectations if revision else []) + 1)
            else:
                messages.success(
                    request, "Check added: a new suite revision; the latest version is being validated."
                )
                return redirect("suite", dataset.slug)
        status = 400
    expectations = [
        {"position": i, "text": describe(e), "type": e["type"], "notes": e.get("meta", {}).get("notes", "")}
        for i, e in enumerate(revision.expectations if revision else [], start=1)
    ]
    context = {
        "dataset": dataset,
        "access": access,
        "revision": revision,
        "expectations": expectations,
        "form": form,
        "import_form": SuiteImportForm(),
        "latest": latest,
    }
    return render(request, "catalog/suite.html", context, status=status)


@require_POST
def suite_remove(request: AuthenticatedHttpRequest, slug: str, position: int) -> HttpResponse:
    dataset, _ = dataset_get(user=request.user, slug=slug, need="write")
    quality.suite_remove(dataset=dataset, user=request.user, position=position)
    messages.success(request, f"Check {position} removed: a new suite revision.")
    return redirect("suite", dataset.slug)


@require_http_methods(["GET", "POST"])
def suite_suggest(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    """A starter suite from the latest version's profile; saved only when the owner confirms."""
    dataset, _ = dataset_get(user=request.user, slug=slug, need="write")
    version = version_resolve(dataset=dataset, ref="latest")
    draft = quality.suite_suggest(version=version)
    if request.method == "POST":
        kept = {whole_number(i) for i in request.POST.getlist("keep")}
        chosen = [expectation for i, expectation in enumerate(draft) if i in kept]
        quality.suite_extend(dataset=dataset, user=request.user, expectations=chosen)
        messages.success(request, f"Added {len(chosen)} suggested checks.")
        return redirect("suite", dataset.slug)
    rows = [{"index": i, "text": describe(e)} for i, e in enumerate(draft)]
    return render(
        request, "catalog/suite_suggest.html", {"dataset": dataset, "version": version, "rows": rows}
    )


@require_POST
def suite_import(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    dataset, _ = dataset_get(user=request.user, slug=slug, need="write")
    form = SuiteImportForm(request.POST)
    if form.is_valid():
        try:
            quality.suite_import(
                dataset=dataset, user=request.user, data=json.loads(form.cleaned_data["suite"])
            )
        except json.JSONDecodeError as exc:
            messages.error(request, f"That is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.")
        except GranaryError as exc:
            messages.error(request, exc.detail)
        else:
            messages.success(request, "Suite imported as a new revision.")
    return redirect("suite", dataset.slug)


@require_POST
def version_validate(request: AuthenticatedHttpRequest, slug: str, number: int) -> HttpResponse:
    dataset, _ = dataset_get(user=request.user, slug=slug, need="write")
    version = version_resolve(dataset=dataset, ref=str(number))
    run = quality.validation_queue(version=version, trigger="on demand", user=request.user)
    return redirect(run)


@portal_page
def validation_report(request: HttpRequest, slug: str, number: int, run_id: int) -> HttpResponse:
    dataset, _ = dataset_get(user=request.user, slug=slug)
    version = version_resolve(dataset=dataset, ref=str(number))
    run = validation_run_get(version=version, run_id=run_id)
    current = suite_revision_current(dataset=dataset)
    context: dict[str, Any] = {
        "dataset": dataset,
        "version": version,
        "run": run,
        "finished": run.status in ValidationRun.TERMINAL,
        "stale": current is not None and current.pk != run.revision_id,
    }
    response = render(request, "catalog/validation_report.html", context)
    if request.headers.get("HX-Request") and run.status in ValidationRun.TERMINAL:
        response["HX-Refresh"] = "true"
    return response
