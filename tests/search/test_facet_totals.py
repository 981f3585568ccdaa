"""A search asked with its facets takes its total from them (their visibility counts add up to
it) instead of counting apart: the total and the page must be those of the same search asked
without facets, for every persona and every kind of query, a misspelt one (whose facets are
those of the corrected query) and a page past the end included."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.test import override_settings

from datasets.access import dataset_access
from datasets.services.access_requests import access_request_create, access_request_decide
from search.selectors import search_datasets
from tests.search.catalog import Catalog

QUERIES = [
    "weather",  # words: matched by whole text and, for outsiders, by restricted cards
    "temperat",  # a prefix
    "patient",  # a restricted dataset's card word
    "card",  # names that fill a page, one of them a restricted card (counted apart from the page)
    "diagnosis_code",  # a restricted dataset's column: its readers alone find it
    "wether",  # misspelt: the corrected query's results and facets
    "zzzqqq",  # nothing at all
    "tag:nlp",
    "tag:clinical -certified:yes",
    "column:email",
    "column:email pii:yes",
    "visibility:restricted",
    "sales -tag:deprecated",
    "quality:failing",
]


def both_ways(user: User | AnonymousUser, q: str, **options: object) -> None:
    plain = search_datasets(user=user, q=q, facets=False, **options)  # type: ignore[arg-type]
    faceted = search_datasets(user=user, q=q, facets=True, **options)  # type: ignore[arg-type]
    assert faceted.facets is not None
    assert faceted.total == plain.total, (user, q, options)
    assert [(h.dataset.slug, round(h.score, 9)) for h in faceted.hits] == [
        (h.dataset.slug, round(h.score, 9)) for h in plain.hits
    ], (user, q, options)
    assert (faceted.did_you_mean, faceted.corrected) == (plain.did_you_mean, plain.corrected)
    assert sum(v.count for v in faceted.facets["visibility"]) == faceted.total, (user, q, options)


@pytest.mark.parametrize("sort", ["", "popular", "updated", "name", "relevance"])
@override_settings(GRANARY_ANONYMOUS_READ=True)
def test_a_faceted_search_has_the_total_and_page_of_the_same_search_without_facets(
    catalog: Catalog, sort: str
) -> None:
    users: list[User | AnonymousUser] = [*catalog.users.values(), AnonymousUser()]
    gina = catalog.users["gina"]
    dataset = catalog["patient-visits"]
    request = access_request_create(
        user=gina, dataset=dataset, access=dataset_access(user=gina, dataset=dataset), reason="A study"
    )
    access_request_decide(user=catalog.users["hugo"], request=request, approve=True)
    for user in users:
        for q in QUERIES:
            both_ways(user, q, sort=sort, per_page=2)
    hugo = catalog.users["hugo"]
    both_ways(hugo, "weather", sort=sort, per_page=1, page=2)
    both_ways(hugo, "weather", sort=sort, per_page=50, page=3)  # past the end: no hits, the total
    both_ways(hugo, "tag:nlp", sort=sort, team="nlp")


def test_a_misspelt_search_counts_the_facets_of_what_it_shows(catalog: Catalog) -> None:
    results = search_datasets(user=catalog.users["wendy"], q="wether")
    assert results.corrected and results.total > 0
    assert results.facets is not None
    assert sum(v.count for v in results.facets["visibility"]) == results.total
    assert "climate" in {v.value for v in results.facets["team"]}
