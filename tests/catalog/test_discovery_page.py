"""The home page as a discovery page, and a team's page, on the search fixture catalog
(tests/search/catalog.py): the query in the URL, facet links, sorts and pages, a malformed query,
"did you mean", the empty state, the sections shown without a query, what a restricted card and
an internal dataset of another team show, the type-ahead, and how many queries a page takes."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import Membership
from datasets.models import Tag
from datasets.services.datasets import dataset_update
from search.indexer import search_index_dataset
from tests.factories import DatasetFactory
from tests.search import catalog as catalog_fixtures
from tests.search.catalog import Catalog

pytestmark = pytest.mark.django_db

# The search tests' catalog, built once for this module (tests/search/catalog.py).
catalog = catalog_fixtures.catalog
catalog_built = catalog_fixtures.catalog_built
catalog_only_where_asked = catalog_fixtures.catalog_only_where_asked


@pytest.fixture
def browse(client: Client, catalog: Catalog) -> Any:
    """GET a portal address as one of the catalog's people: (status, page text with entities decoded)."""

    def get(username: str, path: str, **params: str) -> tuple[int, str]:
        client.force_login(catalog.users[username])
        response = client.get(path, params)
        page = response.content.decode()
        lazy = LAZY_FACETS.search(page)
        if lazy:  # as htmx does once the page has loaded: the sidebar takes the placeholder's place
            sidebar = client.get(html.unescape(lazy.group(1)))
            assert sidebar.status_code == 200
            page = page.replace(lazy.group(0), sidebar.content.decode())
        return response.status_code, html.unescape(page)

    return get


LAZY_FACETS = re.compile(r'<aside [^>]*hx-get="([^"]+)" hx-trigger="load"[^>]*></aside>')


def links(page: str, css_class: str) -> dict[str, str]:
    """Text -> href of the links in elements of `css_class` (facets, sorts, suggestions)."""
    found = {}
    for block in re.findall(rf'class="[^"]*\b{css_class}\b[^"]*".*?</(?:section|nav|ul|aside)>', page, re.S):
        for href, text in re.findall(r'<a href="([^"]*)"[^>]*>(.*?)</a>', block, re.S):
            found[re.sub(r"<[^>]+>|✕", "", text).strip()] = href
    return found


def titles(page: str) -> list[str]:
    return re.findall(r'class="dataset-title" href="/datasets/([^/]+)/"', page)


def search_box(page: str) -> str:
    return re.search(r'<form class="discovery-search".*?</form>', page, re.S).group(0)


# --- the query in the URL, facets, sorts and pages -----------------------------------------------


def test_the_results_come_first_and_the_facet_sidebar_loads_beside_them(
    client: Client, catalog: Catalog
) -> None:
    client.force_login(catalog.users["otto"])
    page = client.get("/", {"q": "trips", "sort": "name"}).content.decode()
    assert titles(page) and 'class="facet ' not in page
    assert LAZY_FACETS.search(page).group(1) == "/search/facets/?q=trips&amp;sort=name"
    sidebar = client.get("/search/facets/", {"q": "trips", "sort": "name"}).content.decode()
    assert "<html" not in sidebar and '<section class="facet facet-team">' in sidebar
    team_page = client.get("/teams/health/").content.decode()
    assert LAZY_FACETS.search(team_page).group(1) == "/search/facets/?team=health"
    # A malformed query: the page says what is wrong; the sidebar has nothing to add.
    assert client.get("/", {"q": "rows:>lots"}).status_code == 400
    assert not LAZY_FACETS.search(client.get("/", {"q": "rows:>lots"}).content.decode())
    assert client.get("/search/facets/", {"q": "rows:>lots"}).status_code == 400


def test_the_query_and_the_sort_stay_in_the_url_from_page_to_page(browse: Any) -> None:
    status, page = browse("otto", "/", q="visibility:public", sort="name")
    assert status == 200
    box = search_box(page)
    assert 'value="visibility:public"' in box and '<input type="hidden" name="sort" value="name">' in box
    assert "page 1 of 3" in page
    assert 'href="?q=visibility%3Apublic&sort=name&page=2" rel="next"' in page
    status, second = browse("otto", "/", q="visibility:public", sort="name", page="2")
    assert 'href="?q=visibility%3Apublic&sort=name" rel="prev"' in second
    assert 'href="?q=visibility%3Apublic&sort=name&page=3" rel="next"' in second
    assert len(titles(page)) == 20 and titles(second) and not set(titles(page)) & set(titles(second))
    assert links(page, "sorts") == {
        "most used": "?q=visibility%3Apublic&sort=popular",
        "recently updated": "?q=visibility%3Apublic&sort=updated",
        "name": "?q=visibility%3Apublic&sort=name",
    }


def test_relevance_is_offered_as_a_sort_when_words_are_searched(browse: Any) -> None:
    _, page = browse("otto", "/", q="weather")
    assert links(page, "sorts")["relevance"] == "?q=weather&sort=relevance"
    assert 'href="?q=weather&sort=relevance" aria-current="true"' in page


def test_a_facet_link_adds_its_filter_and_the_selected_one_removes_it(browse: Any) -> None:
    _, page = browse("otto", "/", q="trips")
    team = links(page, "facet-team")
    assert team["Urban Mobility"] == "?q=team%3Amobility+trips"
    assert re.search(r"Urban Mobility</a> <span class=\"count\">\d+</span>", page)

    _, narrowed = browse("otto", "/", q="trips team:mobility")
    assert set(titles(narrowed)) == {
        "city-bike-oslo",
        "city-bike-bergen",
        "taxi-trips-2023",
        "taxi-trips-2024",
    }
    assert '<a href="?q=trips+" class="selected" aria-current="true"' in narrowed  # the link removes it
    for slug in titles(narrowed):
        assert "/teams/mobility/" in narrowed.split(f'href="/datasets/{slug}/"')[1].split("</li>")[0]


def test_a_facet_link_keeps_the_sort_chosen(browse: Any) -> None:
    _, page = browse("otto", "/", q="trips", sort="name")
    assert links(page, "facet-team")["Urban Mobility"] == "?q=team%3Amobility+trips&sort=name"


def test_a_result_card_shows_matched_columns_and_whether_they_hold_pii(browse: Any) -> None:
    _, page = browse("otto", "/", q="column:email")
    card = page.split('href="/datasets/newsletter-subscribers/"')[1].split("</li>\n</ul>")[0]
    assert (
        'column <code>email</code> <span class="muted">string</span>, <span class="badge badge-pii">PII</span>'
        in card
    )
    assert "latest v1" in card


def test_a_result_card_links_its_tags_to_their_filter_in_name_order(browse: Any) -> None:
    _, page = browse("otto", "/", q="column:email")
    card = page.split('href="/datasets/newsletter-subscribers/"')[1].split("result-card")[0]
    assert re.findall(r'<a class="tag" href="\?q=tag:([^"]+)">#([^<]+)</a>', card) == [
        ("marketing", "marketing"),
        ("pii", "pii"),
    ]


def test_the_snippet_is_escaped_and_only_its_highlights_are_markup(client: Client, catalog: Catalog) -> None:
    dataset = catalog["seattle-weather"]
    dataset_update(
        dataset=dataset, changes={"summary": "Daily weather <script>alert(1)</script> & rain"}, user=None
    )
    search_index_dataset(dataset_id=dataset.pk)
    client.force_login(catalog.users["otto"])
    page = client.get("/", {"q": "weather"}).content.decode()
    card = page.split('href="/datasets/seattle-weather/"')[1].split("</li>")[0]
    assert "Daily <mark>weather</mark> &lt;script&gt;alert(1)&lt;/script&gt; &amp; rain" in card
    assert "<script>alert" not in page


# --- errors, corrections and the empty state ------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "message"),
    [
        ("tag:", "At character 5: expected a value after 'tag:', e.g. tag:nlp."),
        ('weather "daily', "At character 9: this quote is never closed"),
        ("colour:red", "At character 1: unknown filter 'colour:'"),
    ],
)
def test_a_malformed_query_is_a_400_with_the_message_under_the_box(browse: Any, q: str, message: str) -> None:
    status, page = browse("otto", "/", q=q)
    assert status == 400
    error = re.search(r'<p class="field-error search-error" id="search-error" role="alert">(.*?)</p>', page)
    assert error and error.group(1).startswith(message)
    assert f'value="{q}"' in search_box(page)  # to be corrected in place


def test_an_unknown_sort_is_a_400_that_names_the_sorts(browse: Any) -> None:
    status, page = browse("otto", "/", q="weather", sort="size")
    assert status == 400
    assert "Unknown sort 'size'; expected one of relevance, popular, updated, name." in page


def test_a_near_miss_shows_the_corrected_results_and_says_so(browse: Any) -> None:
    status, page = browse("otto", "/", q="wether")
    assert status == 200
    assert 'Showing results for <a href="?q=weather">weather</a>; no results for “wether”.' in page
    assert "seattle-weather" in titles(page)


def test_no_results_offers_popular_tags_and_a_way_back(browse: Any) -> None:
    status, page = browse("otto", "/", q="zeppelin")
    assert status == 200
    assert "No datasets match “zeppelin”." in page
    assert titles(page) == []
    popular = re.findall(r'<a class="tag" href="\?q=tag%3A([^"]+)">#', page.split("Popular tags:")[1])
    assert popular[:2] == ["nlp", "time-series"]
    assert "hr" not in popular  # payroll-2026's tag: an internal dataset of another team
    assert '<a href="?">Clear the search</a>' in page


# --- what a restricted card and an internal dataset of another team show ----------------------------


def test_a_restricted_card_shows_its_title_summary_and_team_only(browse: Any) -> None:
    # "genome" is in genomics-variants' title and README (with "GATK"); its summary is quoted instead.
    _, page = browse("otto", "/", q="genome")
    card = page.split('href="/datasets/genomics-variants/"')[1].split("</li>")[0]
    assert "data restricted" in card
    assert "Single-nucleotide variants and indels called per sample on GRCh38." in card
    assert "/teams/health/" in card
    for hidden in ("GATK", "<mark>", "latest v", "certified v", "checkout", "matched-columns", "#genomics"):
        assert hidden not in card, hidden
    _, insider = browse("hugo", "/", q="genome")
    card = insider.split('href="/datasets/genomics-variants/"')[1].split("</li>")[0]
    assert "GATK" in card and "data restricted" not in card and "latest v1" in card
    assert "#bioinformatics" in card and "#genomics" in card  # a reader of the data sees its tags


def test_a_restricted_dataset_is_not_found_by_its_columns(browse: Any) -> None:
    _, page = browse("otto", "/", q="diagnosis_code")
    assert "patient-visits" not in titles(page)
    _, insider = browse("hugo", "/", q="diagnosis_code")
    assert "patient-visits" in titles(insider)
    assert "column <code>diagnosis_code</code>" in insider


def test_an_internal_dataset_of_another_team_appears_nowhere(browse: Any) -> None:
    for path, params in [
        ("/", {}),
        ("/", {"q": "payroll"}),
        ("/", {"q": "salaries"}),
        ("/", {"sort": "name", "page": "2"}),
        ("/", {"q": "team:finance"}),
        ("/teams/finance/", {}),
        ("/search/suggest/", {"q": "payr"}),
    ]:
        _, page = browse("otto", path, **params)
        assert "payroll-2026" not in page and "Payroll 2026" not in page, (path, params)
    _, insider = browse("fiona", "/", q="payroll")
    assert titles(insider) == ["payroll-2026"]


# --- without a query ----------------------------------------------------------------------------


def test_without_a_query_the_home_page_shows_certified_recent_and_the_users_teams(browse: Any) -> None:
    status, page = browse("carla", "/")
    assert status == 200
    heads = re.findall(r'<div class="section-head">\s*<h([23])>(.*?)</h\1>\s*<a href="([^"]*)">see all', page)
    assert [(title, href) for _, title, href in heads] == [
        ("Certified and most used", "?q=certified%3Ayes&sort=popular"),
        ("Recently updated", "?sort=updated"),
        ("Commerce Analytics", "?q=team%3Acommerce"),
    ]
    assert "Your teams' datasets" in page
    certified = page.split("Certified and most used")[1].split("Recently updated")[0]
    assert titles(certified) == ["seattle-weather", "product-reviews", "imagenet-labels", "retail-sales"]
    assert certified.count("certified v") == 4
    recent = page.split("Recently updated")[1].split("Your teams")[0]
    assert titles(recent)[0] == "fx-rates"  # updated last
    mine = page.split("Your teams' datasets")[1]
    assert titles(mine) == ["churn-predictions", "retail-sales", "clickstream-events", "churn"]
    assert '<a href="?q=team%3Acommerce">see all 9</a>' in mine  # with crm-contacts, internal to commerce
    assert links(page, "facet-team")["Commerce Analytics"] == "?q=team%3Acommerce"


def test_someone_in_no_team_sees_no_team_section(browse: Any) -> None:
    _, page = browse("otto", "/")
    assert "Certified and most used" in page and "Your teams' datasets" not in page


def test_anonymous_readers_see_public_datasets_only(client: Client, catalog: Catalog, settings: Any) -> None:
    settings.GRANARY_ANONYMOUS_READ = True
    page = client.get("/").content.decode()
    assert "Your teams' datasets" not in page
    results = client.get("/", {"sort": "name"}).context["results"]
    assert {hit.dataset.visibility for hit in results.hits} == {"public"}


def queries(client: Client, path: str, **params: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path, params).status_code == 200
    return len(captured)


PAGES = [
    ("/", {}),
    ("/", {"q": "weather tag:climate"}),
    ("/", {"q": "zeppelin"}),
    ("/teams/commerce/", {"q": "churn"}),
    ("/search/facets/", {}),
    ("/search/facets/", {"q": "weather tag:climate"}),
    ("/search/facets/", {"q": "churn", "team": "commerce"}),
]


def test_the_pages_take_as_many_queries_whatever_the_teams_and_the_catalog(
    client: Client, catalog: Catalog, django_assert_max_num_queries: Any
) -> None:
    carla, teams = catalog.users["carla"], list(catalog.teams.values())
    for team in teams[:3]:
        Membership.objects.get_or_create(team=team, user=carla, defaults={"role": Membership.Role.MEMBER})
    client.force_login(carla)
    before = [queries(client, path, **params) for path, params in PAGES]
    # A member of every team (the sections stop at three), and 40 more datasets in those teams.
    for team in teams[3:]:
        Membership.objects.get_or_create(team=team, user=carla, defaults={"role": Membership.Role.MEMBER})
    for number in range(40):
        dataset = DatasetFactory(slug=f"weather-extra-{number}", team=teams[number % len(teams)])
        dataset.tags.add(Tag.objects.get_or_create(name="climate")[0])
        search_index_dataset(dataset_id=dataset.pk)
    assert [queries(client, path, **params) for path, params in PAGES] == before
    # The home page without a query: two searches and three team sections (about 42 queries).
    with django_assert_max_num_queries(70):
        page = client.get("/").content.decode()
    assert page.count("<h3>") == 3
    with django_assert_max_num_queries(10):
        assert client.get("/search/suggest/", {"q": "wea"}).status_code == 200


# --- the team page ------------------------------------------------------------------------------


def test_a_team_page_lists_its_datasets_with_facets_a_search_box_and_no_team_facet(browse: Any) -> None:
    status, page = browse("otto", "/teams/health/")
    assert status == 200
    assert set(titles(page)) == {"patient-visits", "genomics-variants", "covid-cases", "heart-disease"}
    assert "facet-team" not in page and "facet-visibility" in page
    assert 'action="/teams/health/"' in search_box(page)
    visibility = links(page, "facet-visibility")
    assert visibility["Restricted"] == "?q=visibility%3Arestricted"
    _, restricted = browse("otto", "/teams/health/", q="visibility:restricted")
    assert set(titles(restricted)) == {"patient-visits", "genomics-variants"}
    assert restricted.count("data restricted") == 2


def test_a_team_page_searches_within_the_team(browse: Any) -> None:
    _, page = browse("carla", "/teams/commerce/", q="churn")
    assert titles(page) and all(slug.startswith("churn") for slug in titles(page))
    status, broken = browse("carla", "/teams/commerce/", q="rows:>lots")
    assert status == 400
    assert "expected a whole number of rows after 'rows:>'" in broken


# --- the type-ahead -----------------------------------------------------------------------------


def test_suggestions_link_datasets_and_fill_in_tag_and_column_filters(browse: Any) -> None:
    status, fragment = browse("otto", "/search/suggest/", q="weather cli")
    assert status == 200
    assert "<html" not in fragment  # a fragment for htmx to put under the box
    assert (
        '<a class="suggestion suggestion-tag" href="?q=weather+tag%3Aclimate" data-fill="weather tag:climate">'
        in fragment
    )
    _, fragment = browse("otto", "/search/suggest/", q="temp_m")
    assert 'data-fill="column:temp_max"' in fragment
    _, fragment = browse("otto", "/search/suggest/", q="seattle")
    assert '<a class="suggestion suggestion-dataset" href="/datasets/seattle-weather/">' in fragment
    _, empty = browse("otto", "/search/suggest/", q=" ")
    assert empty.strip() == ""


def test_a_suggested_filter_keeps_the_minus_and_closes_an_open_quote(browse: Any) -> None:
    # Picking the tag deprecated for `nlp -tag:dep` made it `nlp tag:deprecated`, the opposite;
    # from `"daily cli` it made `"daily tag:climate`, a query with an unclosed quote.
    _, fragment = browse("otto", "/search/suggest/", q="weather -tag:cli")
    assert 'data-fill="weather -tag:climate"' in fragment
    _, fragment = browse("otto", "/search/suggest/", q='"daily cli')
    assert 'data-fill=""daily" tag:climate"' in fragment  # entities decoded by browse
