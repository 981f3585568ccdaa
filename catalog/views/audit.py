"""The Audit tab: what happened to a dataset, for its team's owners."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render

from core.http import AuthenticatedHttpRequest
from datasets.access import dataset_get
from datasets.selectors import audit_events_visible_to


def dataset_audit(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    dataset, access = dataset_get(user=request.user, slug=slug, need="discover")
    events = audit_events_visible_to(user=request.user, dataset=slug, action=request.GET.get("action", ""))
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    context = {"dataset": dataset, "access": access, "page": page, "action": request.GET.get("action", "")}
    return render(request, "catalog/dataset_audit.html", context)
