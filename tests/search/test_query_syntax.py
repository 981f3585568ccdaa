"""The search box's language on the fixture catalog: each filter, negation, phrases, the prefix on
the last word, one forgiven typo with its "did you mean", and malformed queries, which are a 400
through the API that says where and what was expected, never a 500."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from core.errors import InvalidInput
from datasets.models import Dataset
from search.indexer import search_index_dataset
from search.selectors import search_datasets
from tests.search.catalog import INTERNAL, PUBLIC, RESTRICTED, SPECS, Catalog


def found(catalog: Catalog, q: str, user: str = "otto") -> set[str]:
    results = search_datasets(user=catalog.users[user], q=q, per_page=100)
    assert results.total == len(results.hits)
    return {hit.dataset.slug for hit in results.hits}


def public(**where: Any) -> set[str]:
    """The public datasets of the catalog whose spec has these values: what an outsider's filter on
    data fields finds (a restricted dataset's tags, licence, format and quality are not theirs to
    filter on)."""
    return {
        spec.slug
        for spec in SPECS
        if spec.visibility == PUBLIC and all(getattr(spec, name) == value for name, value in where.items())
    }


# --- filters ------------------------------------------------------------------------------------


def test_a_column_filter_finds_the_datasets_with_that_column(catalog: Catalog) -> None:
    assert found(catalog, "column:email") == {"newsletter-subscribers", "support-tickets"}


def test_a_column_filter_looks_at_the_latest_ready_version_only(catalog: Catalog) -> None:
    # weather-stations' first version named it tmax; the latest calls it temp_max.
    assert found(catalog, "column:tmax") == set()
    assert "weather-stations" in found(catalog, "column:temp_max")


def test_a_version_still_processing_leaves_the_ready_columns_searchable(catalog: Catalog) -> None:
    assert found(catalog, "column:session_id") == {"clickstream-events"}


def test_a_tag_filter_finds_the_tagged_datasets(catalog: Catalog) -> None:
    tagged = {spec.slug for spec in SPECS if "time-series" in spec.tags and spec.visibility == PUBLIC}
    assert found(catalog, "tag:time-series") == tagged
    assert len(tagged) == 7


def test_a_team_filter_finds_the_teams_datasets(catalog: Catalog) -> None:
    assert found(catalog, "team:mobility") == public(team="mobility")
    assert found(catalog, "team:mobility") == {
        "taxi-trips-2023",
        "taxi-trips-2024",
        "city-bike-oslo",
        "city-bike-bergen",
        "gtfs-stops",
    }


def test_a_licence_filter_ignores_case(catalog: Catalog) -> None:
    assert found(catalog, "license:cc-by-4.0") == public(license="CC-BY-4.0")
    assert found(catalog, "license:CC-BY-4.0") == public(license="CC-BY-4.0")


def test_a_format_filter_finds_that_format(catalog: Catalog) -> None:
    assert found(catalog, "format:jsonl") == {
        "coco-captions",
        "coco-boxes",
        "speech-transcripts",
        "clickstream-events",
    }


def test_certified_yes_finds_the_datasets_whose_latest_version_passed(catalog: Catalog) -> None:
    assert found(catalog, "certified:yes") == public(quality="passed")
    assert "city-bike-bergen" in found(catalog, "certified:no")
    assert not found(catalog, "certified:no") & public(quality="passed")


def test_pii_yes_finds_datasets_with_a_column_flagged_personal(catalog: Catalog) -> None:
    assert found(catalog, "pii:yes") == {"newsletter-subscribers"}
    assert "newsletter-subscribers" not in found(catalog, "pii:no")
    assert "support-tickets" in found(catalog, "pii:no")  # an email column, but not personal


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("quality:failing", {"credit-card-fraud"}),
        ("quality:passing", public(quality="passed")),
        ("quality:none", public(quality=None)),
    ],
    ids=["failing", "passing", "none"],
)
def test_a_quality_filter_finds_the_datasets_of_that_status(
    catalog: Catalog, q: str, expected: set[str]
) -> None:
    assert found(catalog, q) == expected


def test_a_visibility_filter_finds_what_the_user_may_see_of_that_visibility(catalog: Catalog) -> None:
    restricted = {spec.slug for spec in SPECS if spec.visibility == RESTRICTED}
    assert found(catalog, "visibility:restricted") == restricted
    assert found(catalog, "visibility:internal") == set()
    assert found(catalog, "visibility:internal", user="carla") == {
        spec.slug for spec in SPECS if spec.visibility == INTERNAL and spec.team == "commerce"
    }


def test_an_updated_filter_compares_with_the_days_date(catalog: Catalog) -> None:
    # The latest versions of churn-predictions and fx-rates became ready on 23 and 27 November.
    assert found(catalog, "updated:>2026-11-22") == {"churn-predictions", "fx-rates"}
    assert found(catalog, "updated:>=2026-11-23") == {"churn-predictions", "fx-rates"}
    assert found(catalog, "updated:2026-11-23") == {"churn-predictions"}
    assert found(catalog, "updated:<2026-01-01") == {"iris", "old-sentiment-corpus", "covid-cases"}


def test_a_rows_filter_compares_the_row_count(catalog: Catalog) -> None:
    big = found(catalog, "rows:>50000000")
    assert {"wiki-paragraphs", "clickstream-events", "solar-generation"} <= big
    assert "taxi-trips-2024" not in big  # 41 million
    assert found(catalog, "rows:<=344") == {"palmer-penguins", "iris", "heart-disease"}
    assert found(catalog, "rows:1,461") == {"seattle-weather"}


@pytest.mark.parametrize("operator", ["", ">", ">=", "<", "<="])
def test_an_updated_filter_takes_the_last_and_first_days_of_the_calendar(
    catalog: Catalog, api: Callable[[Any], APIClient], operator: str
) -> None:
    everything = found(catalog, "updated:>=2000-01-01")  # what an outsider may filter by date
    assert everything
    late = found(catalog, f"updated:{operator}9999-12-31")
    early = found(catalog, f"updated:{operator}0001-01-01")
    assert late == (everything if operator in ("<", "<=") else set())
    assert early == (everything if operator in (">", ">=") else set())
    response = api(catalog.users["otto"]).get(
        "/api/v1/search/", {"q": f"weather updated:{operator}9999-12-31"}
    )
    assert response.status_code == 200, response.content


def test_a_negated_rows_filter_keeps_the_datasets_without_a_row_count(catalog: Catalog) -> None:
    # A dataset with no ready version has no rows to compare: `-rows:>N` does not exclude it.
    empty = Dataset.objects.create(
        slug="empty-shelf", title="Empty shelf", team=catalog.teams["climate"], visibility=PUBLIC
    )
    search_index_dataset(dataset_id=empty.pk)
    assert "empty-shelf" in found(catalog, "")
    assert "empty-shelf" not in found(catalog, "rows:>=0")
    assert "empty-shelf" in found(catalog, "-rows:>=0")
    assert found(catalog, "-rows:>100000000000") == found(catalog, "")


def test_filters_combine_with_words(catalog: Catalog) -> None:
    assert found(catalog, "trips format:csv certified:yes") == {"city-bike-oslo"}


# --- negation -----------------------------------------------------------------------------------


def test_a_negated_filter_excludes_its_matches(catalog: Catalog) -> None:
    assert found(catalog, "tag:sentiment -tag:deprecated") == {"product-reviews"}
    assert found(catalog, "tag:sentiment") == {"product-reviews", "old-sentiment-corpus"}


def test_a_negated_word_excludes_the_datasets_that_have_it(catalog: Catalog) -> None:
    assert "seattle-weather" in found(catalog, "weather")
    assert "seattle-weather" not in found(catalog, "weather -seattle")
    assert "weather-stations" in found(catalog, "weather -seattle")


def test_a_negated_word_excludes_beside_filters_alone(catalog: Catalog) -> None:
    # With no word to search for, the exclusion was dropped: `tag:nlp -draft` listed the draft.
    everything = found(catalog, "tag:nlp", "nils")
    assert "legal-clauses" in everything
    assert found(catalog, "tag:nlp -draft", "nils") == everything - {"legal-clauses"}
    assert found(catalog, "visibility:internal -draft -clauses", "nils") == found(
        catalog, "visibility:internal", "nils"
    ) - {"legal-clauses"}


def test_a_negated_word_alone_excludes_a_restricted_dataset_by_its_card_only(catalog: Catalog) -> None:
    # HaplotypeCaller is in the README of genomics-variants, which an outsider may not read: to
    # exclude it by that word would tell them what the README says.
    assert "genomics-variants" in found(catalog, "visibility:restricted -haplotypecaller", "otto")
    assert "genomics-variants" not in found(catalog, "visibility:restricted -haplotypecaller", "hugo")
    assert "genomics-variants" not in found(catalog, "visibility:restricted -variants", "otto")  # its title


def test_a_negated_column_filter_excludes_the_datasets_with_that_column(catalog: Catalog) -> None:
    assert found(catalog, "trips -column:tip") == {"city-bike-oslo", "city-bike-bergen"}


# --- phrases, prefix, typos ---------------------------------------------------------------------


def test_a_phrase_needs_its_words_side_by_side_and_in_order(catalog: Catalog) -> None:
    assert found(catalog, '"credit card"') == {"credit-card-fraud"}
    # Unquoted, the words may be anywhere: the loyalty cards' summary has both, apart.
    assert {"credit-card-fraud", "loyalty-cards"} <= found(catalog, "credit card")
    assert found(catalog, '"card credit"') == set()


def test_the_last_word_is_a_prefix_while_it_is_being_typed(catalog: Catalog) -> None:
    assert {"sea-surface-temperature", "weather-stations", "energy-load"} <= found(catalog, "temperat")


def test_a_finished_word_is_not_a_prefix(catalog: Catalog) -> None:
    assert found(catalog, "temperat ") == set()


def test_only_the_last_word_is_a_prefix(catalog: Catalog) -> None:
    assert found(catalog, "temperat hourly") == set()
    assert "energy-load" in found(catalog, "hourly temperat")


def test_symbols_beside_words_or_filters_are_passed_over(catalog: Catalog) -> None:
    assert found(catalog, "weather & 🌧 stations") == found(catalog, "weather stations")
    assert found(catalog, "🌧 tag:weather") == found(catalog, "tag:weather") != set()


@pytest.mark.parametrize(
    "q",
    [
        "🌧",
        "& /",
        "weather " + "a" * 150,
        "tag:weather " + "a" * 101,
        "weather-" + "a" * 150,  # a run too long beside a word it would have been searched with
        '"weather ' + "a" * 150 + '"',
    ],
)
def test_a_query_with_nothing_searchable_in_a_word_finds_nothing_rather_than_everything(
    catalog: Catalog, q: str
) -> None:
    """A word too long to be indexed (over 100 letters: a hash, base64) can match nothing, and
    symbols alone are nothing to look for: neither means the whole catalog."""
    results = search_datasets(user=catalog.users["otto"], q=q)
    assert (results.total, results.hits) == (0, [])


def test_excluding_only_a_word_too_long_to_be_indexed_is_refused_as_excluding_only_words(
    catalog: Catalog,
) -> None:
    with pytest.raises(InvalidInput, match="only excludes words"):
        search_datasets(user=catalog.users["otto"], q="-" + "a" * 150)
    assert found(catalog, "tag:weather -" + "a" * 150) == found(catalog, "tag:weather")


def test_one_typo_in_a_long_word_is_forgiven_with_a_did_you_mean(catalog: Catalog) -> None:
    results = search_datasets(user=catalog.users["otto"], q="penguns")
    assert results.did_you_mean == "penguins"
    assert results.corrected is True
    assert results.hits[0].dataset.slug == "palmer-penguins"


def test_a_typo_with_two_wrong_letters_is_not_forgiven(catalog: Catalog) -> None:
    results = search_datasets(user=catalog.users["otto"], q="pengwns")
    assert results.hits == [] and results.total == 0
    assert results.did_you_mean is None


def test_a_typo_in_a_short_word_is_not_forgiven(catalog: Catalog) -> None:
    # "vegs" is one letter from "vega", but four-letter words must be typed right.
    results = search_datasets(user=catalog.users["otto"], q="vegs ")
    assert results.hits == [] and results.did_you_mean is None


def test_a_word_that_matches_gets_no_did_you_mean(catalog: Catalog) -> None:
    results = search_datasets(user=catalog.users["otto"], q="weather")
    assert results.did_you_mean is None and results.corrected is False


# --- malformed queries, through the API -----------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "position", "expected"),
    [
        ('weather "daily rain', 9, "closing"),
        ("colour:red", 1, "column:"),
        ("rows:>abc", 7, "whole number"),
        ("updated:>2026-13-45", 10, "YYYY-MM-DD"),
        ("tag:", 5, "tag:nlp"),
        ('tag:"" weather', 5, "tag:nlp"),
        ("certified:maybe", 11, "certified:yes"),
        ("quality:great", 9, "quality:passing"),
        ("weather -", 9, "after '-'"),
    ],
    ids=[
        "an unclosed quote",
        "an unknown filter",
        "a row count that is not a number",
        "a date that does not exist",
        "an empty filter value",
        "an empty quoted filter value",
        "a yes or no filter with another word",
        "a quality that is not one",
        "a dash with nothing after it",
    ],
)
def test_a_malformed_query_is_a_400_naming_the_position_and_what_was_expected(
    catalog: Catalog, api: Callable[[Any], APIClient], q: str, position: int, expected: str
) -> None:
    response = api(catalog.users["otto"]).get("/api/v1/search/", {"q": q})
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid_query"
    assert body["detail"].startswith(f"At character {position}:"), body["detail"]
    assert "expected" in body["detail"] and expected in body["detail"], body["detail"]


@pytest.mark.parametrize(
    "q",
    ['"', "-", "::", "tag:::", "rows:>", "updated:>", '-"', "\\", "'", "column:\x00", "a" * 600, "-tag:"],
    ids=repr,
)
def test_odd_input_is_answered_and_never_a_500(
    catalog: Catalog, api: Callable[[Any], APIClient], q: str
) -> None:
    response = api(catalog.users["otto"]).get("/api/v1/search/", {"q": q})
    assert response.status_code in (200, 400), response.content
    body = response.json()
    if response.status_code == 400 and body["code"] == "invalid_query":
        assert body["detail"].startswith("At character"), body["detail"]


def test_a_valid_query_through_the_api_answers_its_results(
    catalog: Catalog, api: Callable[[Any], APIClient]
) -> None:
    response = api(catalog.users["otto"]).get("/api/v1/search/", {"q": "vega"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["total"] == 1
    assert [hit["slug"] for hit in body["results"]] == ["seattle-weather"]


# --- sorts and facet links ---------------------------------------------------------------------


def test_each_sort_orders_as_it_says(catalog: Catalog) -> None:
    def order(sort: str) -> list[str]:
        hits = search_datasets(user=catalog.users["otto"], q="team:mobility", sort=sort).hits
        return [hit.dataset.slug for hit in hits]

    assert order("popular")[:2] == ["taxi-trips-2024", "taxi-trips-2023"]  # 4 and 1 in 90 days
    assert order("updated")[0] == "gtfs-stops"
    assert order("name") == [
        "city-bike-bergen",
        "city-bike-oslo",
        "taxi-trips-2023",
        "taxi-trips-2024",
        "gtfs-stops",
    ]
    default = search_datasets(user=catalog.users["otto"], q="")
    assert default.sort == "popular" and default.hits[0].dataset.slug == "seattle-weather"  # 12 checkouts
    assert search_datasets(user=catalog.users["otto"], q="weather").sort == "relevance"


def test_a_facet_link_adds_its_filter_and_a_selected_one_removes_it(catalog: Catalog) -> None:
    results = search_datasets(user=catalog.users["otto"], q="weather")
    tutorial = next(value for value in results.facets["tag"] if value.value == "tutorial")
    assert (tutorial.count, tutorial.selected) == (1, False)
    assert tutorial.query == "tag:tutorial weather"  # the word still ends the text: a prefix
    narrowed = search_datasets(user=catalog.users["otto"], q=tutorial.query)
    assert [hit.dataset.slug for hit in narrowed.hits] == ["seattle-weather"]
    selected = next(value for value in narrowed.facets["tag"] if value.value == "tutorial")
    assert selected.selected and selected.query == "weather"


@pytest.mark.parametrize(
    "q",
    ["temperat", "weather ", "tag:time-series temperat", "-seattle weath", '"daily" rain', "hourly temperat"],
)
def test_each_facet_link_finds_as_many_datasets_as_its_count(catalog: Catalog, q: str) -> None:
    # A word being typed is a prefix; a link that put its filter after it made it a whole word,
    # and `temperat` with its team's link found nothing.
    results = search_datasets(user=catalog.users["otto"], q=q)
    assert results.total > 0
    for name, values in results.facets.items():
        for value in values:
            linked = search_datasets(user=catalog.users["otto"], q=value.query, facets=False)
            expected = results.total if value.selected else value.count
            if value.selected:  # its link removes it: the search without that filter finds more
                assert linked.total >= expected, (name, value.value, value.query)
            else:
                assert linked.total == expected, (name, value.value, value.query)
            assert not linked.corrected, value.query


def test_removing_a_filter_keeps_a_finished_word_whole(catalog: Catalog) -> None:
    narrowed = search_datasets(user=catalog.users["otto"], q="temperature tag:time-series")
    selected = next(value for value in narrowed.facets["tag"] if value.selected)
    assert selected.query == "temperature "  # not `temperature`, which would be a prefix again
    assert found(catalog, selected.query) == found(catalog, "temperature ")


def test_a_word_before_a_filter_is_whole_even_when_the_filter_ends_with_it(catalog: Catalog) -> None:
    # `temperat` before a filter is finished: the text ends with the tag's value, not the word.
    assert found(catalog, "temperat tag:time-series") == set()
    assert found(catalog, "tag:time-series temperat") != set()
    assert found(catalog, "temperat tag:temperat") == set()


def test_an_unknown_sort_is_a_400_naming_the_sorts(catalog: Catalog, api: Callable[[Any], APIClient]) -> None:
    response = api(catalog.users["otto"]).get("/api/v1/search/", {"q": "weather", "sort": "best"})
    assert response.status_code == 400
    assert "relevance" in response.json()["detail"]
