"""The Aliases tab: named aliases, moved by maintainers, with their history."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from catalog.forms import (
    AliasForm,
)
from catalog.views.common import form_submit, portal_page
from core.http import AuthenticatedHttpRequest
from datasets.access import dataset_get
from datasets.models import Dataset
from datasets.references import version_certified, version_latest, version_resolve, versions_ready
from datasets.selectors import (
    alias_history,
    aliases_of,
)
from datasets.services.aliases import alias_delete, alias_set


@portal_page
def dataset_aliases(request: HttpRequest, slug: str) -> HttpResponse:
    """Named aliases and their history; maintainers also get the form to set or move one."""
    dataset, access = dataset_get(user=request.user, slug=slug)
    return _aliases_page(request, dataset, access, form=None)


@require_POST
def dataset_alias_set(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    dataset, access = dataset_get(user=request.user, slug=slug, need="write")
    form = AliasForm(request.POST, versions=versions_ready(dataset=dataset))
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
    request: HttpRequest, dataset: Dataset, access: Any, *, form: AliasForm | None
) -> HttpResponse:
    if form is None and access.write:
        form = AliasForm(versions=versions_ready(dataset=dataset))
    context = {
        "dataset": dataset,
        "access": access,
        "form": form,
        "aliases": aliases_of(dataset=dataset),
        "latest": version_latest(dataset=dataset),
        "certified": version_certified(dataset=dataset),
        "history": alias_history(dataset=dataset)[:200],
    }
    status = 400 if form is not None and form.errors else 200
    return render(request, "catalog/dataset_aliases.html", context, status=status)


@require_POST
def dataset_alias_delete(request: AuthenticatedHttpRequest, slug: str, name: str) -> HttpResponse:
    dataset, _ = dataset_get(user=request.user, slug=slug, need="write")
    alias_delete(dataset=dataset, user=request.user, name=name)
    messages.success(request, f"Removed {dataset.slug}@{name}.")
    return redirect("dataset-aliases", dataset.slug)
