"""The links of a facet's values: the query with the value's filter added, or removed when it is
selected, written so that it parses back to the query plus (or minus) that filter. No database:
pytest-django runs such tests after those that use it, so they live apart from the modules whose
fixture catalog would still be built when they ran."""

from __future__ import annotations

import pytest

from search.query import Filter, parse_query


@pytest.mark.parametrize(
    "q", ['column:"a\u00a0b" weath', 'license:"x\ty" -"daily rain" weather ', "ice tag:ice", "rain -rain"]
)
def test_a_facet_link_parses_back_to_the_query_plus_its_filter(q: str) -> None:
    # A value with a non-breaking space or a tab was written unquoted and came back as two parts.
    query = parse_query(q)
    linked = parse_query(query.with_filter(Filter("tag", "nlp")))
    assert linked.words == query.words
    assert linked.filters == (*query.filters, Filter("tag", "nlp"))


@pytest.mark.parametrize(
    "q",
    [
        "",
        "weath",
        "weather ",
        'tag:nlp "daily rain"',
        "visibility:internal -tag:old rain",
        "quality:failing team:x",
        "rows:>5 certified:yes pii:no",
        '-visibility:internal updated:>2026-01-01 "daily rain" weath',
    ],
)
def test_the_links_of_a_facets_values_are_the_query_with_each_filter_added_or_removed(q: str) -> None:
    # The sidebar's links are rendered from shared parts: they must be what with_filter says.
    query = parse_query(q)
    for name, values in {
        "tag": ["nlp", "old", "new tag"],
        "visibility": ["internal", "public"],
        "quality": ["failing", "passing"],
        "team": ["x", "y"],
        "certified": ["yes", "no"],
        "pii": ["yes", "no"],
    }.items():
        link = query.filter_links(name)
        for value in values:
            assert link(value) == query.with_filter(Filter(name, value)), (q, name, value)
