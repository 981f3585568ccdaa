"""The home page, where datasets are discovered: a search with facets, or, with nothing searched
for, sections of certified, recent and the user's teams' datasets; and the type-ahead under its box."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from catalog.presentation.discovery import (
    discovery_context,
    facets_context,
    page_number,
    search_page_context,
    suggestion_links,
)
from catalog.views.common import portal_page
from core.errors import InvalidInput
from search.selectors import search_suggest


@portal_page
@require_safe
def home(request: HttpRequest) -> HttpResponse:
    params = request.GET
    q, sort = params.get("q", ""), params.get("sort", "")
    if not q.strip() and not sort and "page" not in params:
        return render(request, "catalog/home.html", discovery_context(user=request.user))
    context, status = search_page_context(
        user=request.user, q=q, sort=sort, page=page_number(params.get("page"))
    )
    return render(request, "catalog/home.html", context, status=status)


@portal_page
@require_safe
def suggestions(request: HttpRequest) -> HttpResponse:
    """An HTML fragment for htmx: what completes the text being typed in a search box."""
    q = request.GET.get("q", "")
    found = search_suggest(user=request.user, q=q) if q.strip() else []
    links = suggestion_links(q=q, suggestions=found)
    return render(request, "catalog/_suggestions.html", {"suggestions": links, "q": q})


@portal_page
@require_safe
def facets(request: HttpRequest) -> HttpResponse:
    """An HTML fragment for htmx: the facet sidebar of a search, loaded after its results."""
    params = request.GET
    try:
        context = facets_context(
            user=request.user, q=params.get("q", ""), sort=params.get("sort", ""), team=params.get("team", "")
        )
    except InvalidInput:  # the page itself says what is wrong with the query
        return HttpResponse(status=400)
    return render(request, "catalog/_facets.html", context)
