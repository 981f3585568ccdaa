"""The Aliases tab: named aliases, moved by maintainers, with their history."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from catalog.forms import (
    AliasForm,
)
from catalog.views.common import form_submit, portal_page
from core.errors import GranaryError
from core.http import AuthenticatedHttpRequest
from datasets.access import dataset_get
from datasets.models import Alias, Dataset, Version
from datasets.references import version_certified, version_latest, version_resolve, versions_ready
from datasets.selectors import (
    alias_get,
    alias_history,
    aliases_of,
)
from datasets.services.aliases import alias_delete, alias_name_check, alias_set


@portal_page
def dataset_aliases(request: HttpRequest, slug: str) -> HttpResponse:
    """Named aliases and their history; maintainers also get the form to set or move one."""
    dataset, access = dataset_get(user=request.user, slug=slug)
    return _aliases_page(request, dataset, access, form=None)


def alias_target_warning(version: Version) -> str:
    """Why pointing an alias at `version` deserves a second look, or "" when it passed its checks.

    Pipelines pull `@prod` without looking: a version that failed (or never passed) the checks
    should get there only on purpose."""
    status = version.quality_status
    if status == "passed":
        return ""
    if status == "failed":
        return f"v{version.number} failed its quality checks."
    if status == "error":
        return f"v{version.number}'s last quality check run ended in an error: it has not passed."
    if status in ("queued", "running"):
        return f"v{version.number}'s quality checks are still running: it has not passed them yet."
    if status is None:
        return f"v{version.number} has never passed a quality check: this dataset has no checks."
    return f"v{version.number} has no passing quality check run."


@require_POST
def dataset_alias_set(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    dataset, access = dataset_get(user=request.user, slug=slug, need="write")
    form = AliasForm(request.POST, versions=versions_ready(dataset=dataset))
    if form.is_valid() and request.POST.get("confirm") != "1":
        try:  # a name the service would refuse is said before any warning about the version
            alias_name_check(form.cleaned_data["name"])
            target = version_resolve(dataset=dataset, ref=str(form.cleaned_data["version"]))
        except GranaryError as exc:
            form.add_service_error(exc)
        else:
            warning = alias_target_warning(target)
            if warning:  # nothing moves until the maintainer submits again, with confirm=1
                return _aliases_page(request, dataset, access, form=form, warning=warning, target=target)
    moved = form_submit(
        request,
        form,
        lambda data: alias_set(
            dataset=dataset,
            user=request.user,
            name=data["name"],
            version=version_resolve(dataset=dataset, ref=str(data["version"])),
        ),
        success=lambda moved: (
            f"{moved[0]} now names v{moved[0].version.number}." if moved[1] else "No change."
        ),
    )
    if moved:
        return redirect("dataset-aliases", dataset.slug)
    return _aliases_page(request, dataset, access, form=form)


def _aliases_page(
    request: HttpRequest,
    dataset: Dataset,
    access: Any,
    *,
    form: AliasForm | None,
    warning: str = "",
    target: Version | None = None,
    removing: Alias | None = None,
) -> HttpResponse:
    if form is None and access.write:
        form = AliasForm(versions=versions_ready(dataset=dataset))
    context = {
        "dataset": dataset,
        "access": access,
        "form": form,
        "warning": warning,
        "target": target,
        "removing": removing,
        "aliases": aliases_of(dataset=dataset),
        "latest": version_latest(dataset=dataset),
        "certified": version_certified(dataset=dataset),
        "history": alias_history(dataset=dataset)[:200],
    }
    status = 400 if form is not None and form.errors else 200
    return render(request, "catalog/dataset_aliases.html", context, status=status)


@require_http_methods(["GET", "POST"])
def dataset_alias_delete(request: AuthenticatedHttpRequest, slug: str, name: str) -> HttpResponse:
    """GET asks to confirm (a plain link works without JavaScript); POST removes."""
    dataset, access = dataset_get(user=request.user, slug=slug, need="write")
    if request.method == "GET":
        return _aliases_page(
            request, dataset, access, form=None, removing=alias_get(dataset=dataset, name=name)
        )
    alias_delete(dataset=dataset, user=request.user, name=name)
    messages.success(request, f"Removed {dataset.slug}@{name}.")
    return redirect("dataset-aliases", dataset.slug)
