"""Searching from Python and the shell: `Client.search`, `Client.columns` and `Client.suggest`
against a live server, and `granary search` / `granary columns` run as separate processes,
printing a table (or the server's JSON with --json) of only what the user may see."""

from __future__ import annotations

import json
from typing import Any

import pytest
from granary import Client, GranaryError

from accounts.models import Membership
from datasets.models import Dataset
from tests.api.test_search_api import dataset_with_columns
from tests.factories import MembershipFactory, TeamFactory, UserFactory
from tests.search.catalog import catalog_index

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def shelf(db: None) -> dict[str, Any]:
    """ml-core's public churn (certified, with an email column marked PII, three checkouts) and
    loyalty, internal payroll and restricted patients; a member (mina) and an outsider (oscar)."""
    team = TeamFactory(slug="ml-core", name="ML Core")
    mina, oscar = UserFactory(username="mina"), UserFactory(username="oscar")
    MembershipFactory(team=team, user=mina, role=Membership.Role.MEMBER)
    dataset_with_columns(
        team,
        "churn",
        title="Customer churn",
        summary="Monthly churn labels for subscribers.",
        columns="customer_id:i email:s churned:b",
        pii=("email",),
        certified=True,
        checkouts=3,
    )
    dataset_with_columns(
        team,
        "loyalty",
        title="Loyalty cards",
        summary="Points of card holders, by customer number.",
        columns="card_id:s customer_id:i points:i",
    )
    dataset_with_columns(
        team,
        "payroll",
        title="Payroll",
        summary="Salaries.",
        visibility=Dataset.Visibility.INTERNAL,
        columns="employee_id:i customer_id:i",
    )
    dataset_with_columns(
        team,
        "patients",
        title="Patient visits",
        summary="Outpatient visits.",
        visibility=Dataset.Visibility.RESTRICTED,
        columns="patient_id:i customer_id:i",
    )
    catalog_index(Dataset.objects.all())  # the list fields (checkouts in 90 days), then the index
    return {"mina": mina, "oscar": oscar}


@pytest.fixture
def env(live_server: Any, token: Any, shelf: dict[str, Any]) -> Any:
    def make(username: str) -> dict[str, str]:
        return {"GRANARY_URL": live_server.url, "GRANARY_TOKEN": token(shelf[username], scope="read")}

    return make


def test_client_search_returns_a_page_of_ranked_results_with_facets(live_server, token, shelf):
    client = Client(live_server.url, token(shelf["mina"], scope="read"))
    found = client.search("customer", sort="popular", per_page=1)
    assert (found["total"], found["sort"], found["page"], found["per_page"]) == (4, "popular", 1, 1)
    [churn] = found["results"]
    assert churn["slug"] == "churn" and churn["checkouts_90d"] == 3
    assert churn["matched_columns"] == [{"name": "customer_id", "type": "integer", "pii": False}]
    assert {v["value"]: v["count"] for v in found["facets"]["visibility"]} == {
        "internal": 1,
        "public": 2,
        "restricted": 1,
    }
    assert [
        hit["slug"] for hit in client.search("customer", sort="popular", page=2, per_page=1)["results"]
    ] != ["churn"]


def test_client_search_raises_the_servers_words_for_a_malformed_query(live_server, token, shelf):
    client = Client(live_server.url, token(shelf["mina"], scope="read"))
    with pytest.raises(GranaryError) as refused:
        client.search('churn "monthly')
    assert refused.value.status == 400 and refused.value.code == "invalid_query"
    assert refused.value.detail.startswith("At character 7: this quote is never closed")


def test_client_columns_and_suggest_show_only_what_the_user_may_read(live_server, token, shelf):
    outsider = Client(live_server.url, token(shelf["oscar"], scope="read"))
    member = Client(live_server.url, token(shelf["mina"], scope="read"))
    assert {c["dataset"] for c in outsider.columns("customer_id")["results"]} == {"churn", "loyalty"}
    found = member.columns("customer_id", limit=2)
    assert found["total"] == 4 and len(found["results"]) == 2
    assert ("column", "customer_id") in {(s["kind"], s["value"]) for s in member.suggest("custom")}


def test_granary_search_prints_a_table_of_what_the_user_may_see(cli, env):
    out = cli("search", "customer", env=env("oscar")).stdout
    lines = out.splitlines()
    assert lines[0].split() == [
        "DATASET",
        "TITLE",
        "LATEST/CERTIFIED",
        "CHECKOUTS",
        "90D",
        "MATCHED",
        "COLUMNS",
    ]
    churn = next(line for line in lines if line.startswith("churn"))
    assert churn.split() == ["churn", "Customer", "churn", "v1", "/", "v1", "3", "customer_id"]
    assert any(line.startswith("loyalty") and line.rstrip().endswith("customer_id") for line in lines)
    assert "payroll" not in out and "patients" not in out  # internal; restricted matched by a column
    assert lines[-1] == "1-2 of 2, sorted by relevance."


def test_granary_search_shows_a_restricted_card_without_its_data(cli, env):
    out = cli("search", "outpatient", "visits", env=env("oscar")).stdout
    row = next(line for line in out.splitlines() if line.startswith("patients"))
    assert row.split() == ["patients", "Patient", "visits", "restricted", "-"]


def test_granary_search_pages_and_sorts(cli, env):
    out = cli("search", "--sort", "name", "--per-page", "2", "--page", "2", env=env("mina")).stdout
    slugs = [line.split()[0] for line in out.splitlines()[1:] if line and not line[0].isdigit()]
    assert slugs == ["patients", "payroll"]
    assert out.splitlines()[-1] == "3-4 of 4, sorted by name."
    first = cli("search", "--popular", "--per-page", "1", env=env("mina")).stdout
    assert first.splitlines()[1].startswith("churn")
    assert first.splitlines()[-1] == "1-1 of 4, sorted by popular; --page 2 for more."


def test_granary_search_joins_words_and_filters_and_prints_json(cli, env):
    found = json.loads(cli("search", "customer", "--tag", "none", "--json", env=env("mina")).stdout)
    assert found["query"] == "tag:none customer" and found["total"] == 0
    found = json.loads(cli("search", "customer", "pii:yes", "--json", env=env("mina")).stdout)
    assert [hit["slug"] for hit in found["results"]] == ["churn"]
    assert found["results"][0]["matched_columns"][0]["name"] == "customer_id"


def test_granary_search_keeps_the_word_being_typed_a_prefix_beside_a_team(cli, env):
    # `custom` is a prefix of customer; with --team put after it, it was a whole word: nothing.
    typed = json.loads(cli("search", "custom", "--json", env=env("oscar")).stdout)
    assert {hit["slug"] for hit in typed["results"]} == {"churn", "loyalty"}
    teamed = json.loads(cli("search", "custom", "--team", "ml-core", "--json", env=env("oscar")).stdout)
    assert teamed["query"] == "team:ml-core custom"
    assert {hit["slug"] for hit in teamed["results"]} == {"churn", "loyalty"}


def test_granary_search_takes_negated_words_and_filters_as_the_query(cli, env):
    # `-loyalty` looks like an option to a shell tool; the query syntax says it excludes a word.
    for args in (("customer", "-loyalty"), ("-loyalty", "customer"), ("customer", "-column:card_id")):
        found = json.loads(cli("search", *args, "--json", env=env("oscar")).stdout)
        assert [hit["slug"] for hit in found["results"]] == ["churn"], args
    assert json.loads(cli("search", "-loyalty", "customer", "--json", env=env("oscar")).stdout)["query"] == (
        "-loyalty customer"
    )
    # A word starting with h is not -h; an option's value that is also a word stays in its place.
    found = json.loads(
        cli("search", "-hourly", "--sort", "name", "-loyalty", "name", "--json", env=env("oscar")).stdout
    )
    assert (found["query"], found["sort"]) == ("-hourly -loyalty name", "name")
    assert "usage: granary search" in cli("search", "-h", env=env("oscar")).stdout
    result = cli("search", "customer", "--colour", "red", env=env("oscar"), check=2)
    assert "unrecognized arguments: --colour" in result.stderr


def test_granary_search_says_what_is_wrong_with_a_malformed_query(cli, env):
    result = cli("search", "colour:red", env=env("mina"), check=1)
    assert result.stderr.startswith("granary: error: At character 1: unknown filter 'colour:'")
    assert "No dataset matches." in cli("search", "zebra", env=env("mina")).stdout


def test_granary_columns_lists_each_dataset_with_the_column(cli, env):
    out = cli("columns", "email", env=env("mina")).stdout
    lines = out.splitlines()
    assert lines[0].split() == ["DATASET", "COLUMN", "TYPE", "PII", "DESCRIPTION"]
    assert lines[1].split() == ["churn", "email", "string", "yes", "the", "email"]
    assert lines[-1] == "1 column(s)."
    found = json.loads(cli("columns", "customer_id", "--limit", "1", "--json", env=env("oscar")).stdout)
    assert found["total"] == 2 and len(found["results"]) == 1
    assert "1-1 of 2 column(s)." in cli("columns", "customer_id", "--limit", "1", env=env("oscar")).stdout
    assert "No column like 'iban'" in cli("columns", "iban", env=env("oscar")).stdout
    # Past the last page: the columns exist, the page is empty.
    assert cli("columns", "customer_id", "--offset", "5", env=env("oscar")).stdout.strip() == (
        "No columns from 6 on: 2 in all."
    )
