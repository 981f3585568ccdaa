"""What the discovery pages (the home page and a team's page) show around search results: facet,
sort and page links that keep the query in the URL, the type-ahead's fill-ins, the empty state,
and the home page's sections when nothing is searched for. The finding is `search.selectors`'."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.urls import reverse

from accounts.selectors import teams_of
from core.errors import InvalidInput
from core.types import AnyUser
from datasets.access import audience_of
from search.query import Filter, parse_query
from search.selectors import FACETS, SORTS, SearchHit, SearchResults, Suggestion, search_datasets

PER_PAGE = 20
SECTION_SIZE = 4
TEAM_SECTIONS = 3  # each team is one more search; a member of many teams sees the first three
POPULAR_TAGS = 12

FACET_TITLES = {
    "team": "Team",
    "tag": "Tag",
    "license": "Licence",
    "format": "Format",
    "certified": "Certified",
    "pii": "PII columns",
    "quality": "Quality checks",
    "visibility": "Visibility",
}
SORT_LABELS = {
    "relevance": "relevance",
    "popular": "most used",
    "updated": "recently updated",
    "name": "name",
}


@dataclass(frozen=True)
class Link:
    label: str
    href: str
    count: int = 0
    current: bool = False  # a selected facet value (its link removes it), the sort in use


@dataclass(frozen=True)
class FacetGroup:
    name: str
    title: str
    links: list[Link]


@dataclass(frozen=True)
class Section:
    title: str
    hits: list[SearchHit]
    href: str  # "see all": the search that lists the section's datasets
    total: int
    note: str = ""


def search_href(*, q: str = "", sort: str = "", page: int = 1) -> str:
    """A relative link to a search on the current page, the query and sort in the URL ("?" alone
    is the page without a search: an empty href would keep the current query)."""
    params = [(name, value) for name, value in (("q", q), ("sort", sort)) if value]
    if page > 1:
        params.append(("page", str(page)))
    return f"?{urlencode(params)}"


def page_number(text: str | None) -> int:
    """The `page` parameter; anything but a positive number is the first page, as Django's paginator does."""
    try:
        return max(1, int(text or 1))
    except ValueError:
        return 1


def search_page_context(
    *, user: AnyUser, q: str, sort: str, page: int, team: str = "", hidden_facets: tuple[str, ...] = ()
) -> tuple[dict[str, Any], int]:
    """A page of results with its sorts, pages, empty state and where its facets load from, and
    the status to answer with: 400 with the parser's message (for under the search box) when the
    query is malformed. `hidden_facets`: those the page leaves out (a team's page, its team);
    the sidebar's own request leaves out the team facet of a team's search."""
    context: dict[str, Any] = {"q": q, "sort": sort}
    try:
        results = search_datasets(
            user=user, q=q, sort=sort, page=page, per_page=PER_PAGE, team=team, facets=False
        )
    except InvalidInput as error:  # QuerySyntaxError, an unknown sort, a page too deep
        context["error"] = error.detail
        return context, 400
    context.update(
        results=results,
        # The sidebar comes in a second request (htmx), so that the results do not wait for it:
        # counting every match costs more than ranking a page of them.
        facets_href=facets_href(q=q, sort=sort, team=team),
        sort_links=_sort_links(results=results, q=q),
        previous_href=search_href(q=q, sort=sort, page=page - 1) if page > 1 else "",
        next_href=search_href(q=q, sort=sort, page=page + 1) if page < results.pages else "",
        first_href=search_href(q=q, sort=sort),
    )
    if results.did_you_mean:
        context["did_you_mean_href"] = search_href(q=results.did_you_mean, sort=sort)
    if results.total == 0:
        everything = search_datasets(user=user, per_page=1, team=team)
        context["popular_tags"] = [
            Link(label=value.label, href=search_href(q=value.query), count=value.count)
            for value in (everything.facets or {}).get("tag", [])[:POPULAR_TAGS]
        ]
    return context, 200


def facets_href(*, q: str, sort: str, team: str = "") -> str:
    """Where the sidebar of a search is loaded from (catalog.views.discovery.facets)."""
    params = [(name, value) for name, value in (("q", q), ("sort", sort), ("team", team)) if value]
    return reverse("search-facets") + f"?{urlencode(params)}"


def facets_context(*, user: AnyUser, q: str, sort: str, team: str = "") -> dict[str, Any]:
    """The sidebar of a search on its own: its facet groups (the team's page has no team facet).
    Raises InvalidInput for a malformed query, as the search itself does."""
    results = search_datasets(user=user, q=q, sort=sort, per_page=1, team=team, facets=True)
    return {"facet_groups": facet_groups(results=results, sort=sort, hidden=("team",) if team else ())}


def facet_groups(*, results: SearchResults, sort: str = "", hidden: tuple[str, ...] = ()) -> list[FacetGroup]:
    """The sidebar: each facet's values as links that add their filter to the query (or remove it
    when it is selected), in the selector's order, without the facets that have no values."""
    groups = []
    for name in FACETS:
        values = (results.facets or {}).get(name, [])
        if name in hidden or not values:
            continue
        links = [
            Link(
                label=value.label,
                href=search_href(q=value.query, sort=sort),
                count=value.count,
                current=value.selected,
            )
            for value in values
        ]
        groups.append(FacetGroup(name=name, title=FACET_TITLES.get(name, name), links=links))
    return groups


def _sort_links(*, results: SearchResults, q: str) -> list[Link]:
    # Relevance ranks by the words typed: without any, it would be an arbitrary order.
    ranked = bool(parse_query(q).positive_words)
    return [
        Link(label=SORT_LABELS[sort], href=search_href(q=q, sort=sort), current=sort == results.sort)
        for sort in SORTS
        if ranked or sort != "relevance"
    ]


def discovery_context(*, user: AnyUser) -> dict[str, Any]:
    """The home page without a search: certified and most used datasets, the recently updated and
    a few of each of the user's teams' (the whole catalog's facets load beside them). A bounded
    number of searches: two, and one per team up to TEAM_SECTIONS."""
    audience = audience_of(user)  # once for the page's searches, not once each
    certified = search_datasets(
        user=user, q="certified:yes", sort="popular", per_page=SECTION_SIZE, facets=False, audience=audience
    )
    recent = search_datasets(
        user=user, sort="updated", per_page=SECTION_SIZE, facets=False, audience=audience
    )
    sections = [
        Section(
            title="Certified and most used",
            note="Certified datasets, the most checked out in the last 90 days first.",
            hits=certified.hits,
            href=search_href(q="certified:yes", sort="popular"),
            total=certified.total,
        ),
        Section(
            title="Recently updated", hits=recent.hits, href=search_href(sort="updated"), total=recent.total
        ),
    ]
    team_sections = []
    for team in teams_of(user=user).order_by("name")[:TEAM_SECTIONS]:
        q = Filter("team", team.slug).text()
        found = search_datasets(
            user=user, q=q, sort="popular", per_page=SECTION_SIZE, facets=False, audience=audience
        )
        team_sections.append(
            Section(title=team.name, hits=found.hits, href=search_href(q=q), total=found.total)
        )
    return {
        "q": "",
        "sort": "",
        "discovery": True,
        "sections": sections,
        "team_sections": team_sections,
        "catalog_total": recent.total,
        "facets_href": facets_href(q="", sort=""),
    }


@dataclass(frozen=True)
class SuggestionLink:
    kind: str
    label: str
    detail: str  # a dataset's slug; the filter a tag or column suggestion stands for
    href: str
    fill: str  # what a tag or column suggestion puts in the box instead of the word being typed


def suggestion_links(*, q: str, suggestions: list[Suggestion]) -> list[SuggestionLink]:
    """Type-ahead entries: a dataset opens its page; a tag or column turns the word being typed
    into its filter (`weather cli` and the tag climate: `weather tag:climate`)."""
    typed = q.rstrip().rsplit(None, 1)
    before = typed[0] if len(typed) == 2 else ""
    if before.count('"') % 2:  # the word was typed inside a phrase: close it before the filter
        before += '"'
    before += " " if before else ""
    # A negated word or filter being typed stays negated (`-tag:dep` and deprecated: `-tag:deprecated`).
    negated = "-" if typed and typed[-1].startswith("-") else ""
    links = []
    for suggestion in suggestions:
        if suggestion.kind == "dataset":
            links.append(
                SuggestionLink(
                    kind="dataset",
                    label=suggestion.label,
                    detail=suggestion.value,
                    href=suggestion.url,
                    fill="",
                )
            )
            continue
        condition = Filter(suggestion.kind, suggestion.value).text()
        fill = before + negated + condition
        links.append(
            SuggestionLink(
                kind=suggestion.kind,
                label=suggestion.value,
                detail=condition,
                href=search_href(q=fill),
                fill=fill,
            )
        )
    return links
