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
from catalog.views.common import me, portal_page
from core.errors import GranaryError
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
    dataset, access = dataset_get(user=me(request), slug=slug)
    return _aliases_page(request, dataset, access, form=None)


@require_POST
def dataset_alias_set(request: HttpRequest, slug: str) -> HttpResponse:
    dataset, access = dataset_get(user=me(request), slug=slug, need="write")
    form = AliasForm(request.POST, versions=versions_ready(dataset=dataset))
    if form.is_valid():
        try:
            version = version_resolve(dataset=dataset, ref=str(form.cleaned_data["version"]))
            alias, changed = alias_set(
                dataset=dataset, user=me(request), name=form.cleaned_data["name"], version=version
            )
        except GranaryError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, f"{alias} now names v{version.number}." if changed else "No change.")
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
def dataset_alias_delete(request: HttpRequest, slug: str, name: str) -> HttpResponse:
    dataset, _ = dataset_get(user=me(request), slug=slug, need="write")
    alias_delete(dataset=dataset, user=me(request), name=name)
    messages.success(request, f"Removed {dataset.slug}@{name}.")
    return redirect("dataset-aliases", dataset.slug)
