"""The Access tab: asking for a restricted dataset's data, and its owners' decisions."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from catalog.forms import (
    AccessDecisionForm,
    AccessRequestForm,
)
from catalog.views.common import form_submit, portal_page
from catalog.views.datasets import detail_page
from core.http import AuthenticatedHttpRequest
from datasets.access import dataset_get
from datasets.models import Dataset
from datasets.selectors import (
    access_request_get,
    access_requests_of,
    access_requests_pending_for,
)
from datasets.services.access_requests import access_request_create, access_request_settle


@require_POST
def dataset_access_request(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    """Ask a restricted dataset's owners for its data, with a reason."""
    dataset, access = dataset_get(user=request.user, slug=slug, need="discover")
    if access.read:  # the page shows no form to those who read already: say so there
        messages.info(request, f"You can already read '{dataset.slug}': there is nothing to ask for.")
        return redirect("dataset-detail", dataset.slug)
    form = AccessRequestForm(request.POST)
    asked = form_submit(
        request,
        form,
        lambda data: access_request_create(
            user=request.user, dataset=dataset, access=access, reason=data["reason"]
        ),
        success=f"Asked the {dataset.team.slug} team's owners for access.",
    )
    if asked:
        return redirect("dataset-detail", dataset.slug)
    return detail_page(request, dataset, access, access_form=form)


WAITING_PAGE_SIZE = 50


def access_requests_waiting(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Every access request waiting for this user's decision, across the teams they own."""
    waiting = access_requests_pending_for(user=request.user).select_related("dataset", "user")
    page = Paginator(waiting, WAITING_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "catalog/access_requests.html", {"page": page})


@portal_page
def dataset_access(request: HttpRequest, slug: str) -> HttpResponse:
    """The Access tab, for the team's owners: requests for the data, and every decision."""
    dataset, access = dataset_get(user=request.user, slug=slug, need="decide")
    return _access_page(request, dataset, access, form=None)


@require_POST
def dataset_access_decide(request: AuthenticatedHttpRequest, slug: str, request_id: int) -> HttpResponse:
    dataset, access = dataset_get(user=request.user, slug=slug, need="decide")
    asked = access_request_get(dataset=dataset, request_id=request_id)
    form = AccessDecisionForm(request.POST)
    decided = form_submit(
        request,
        form,
        lambda data: access_request_settle(
            user=request.user, request=asked, decision=data["decision"], note=data["note"]
        ),
        success=lambda decided: f"{decided.user.username}'s request is {decided.status}.",
    )
    if decided:
        return redirect("dataset-access", dataset.slug)
    return _access_page(request, dataset, access, form=form)


def _access_page(
    request: HttpRequest,
    dataset: Dataset,
    access: Any,
    *,
    form: AccessDecisionForm | None,
) -> HttpResponse:
    context = {
        "dataset": dataset,
        "access": access,
        "requests": access_requests_of(dataset=dataset)[:200],
        "form": form,
    }
    return render(request, "catalog/dataset_access.html", context, status=400 if form is not None else 200)
