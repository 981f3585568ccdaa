"""Registering, reading, editing and searching datasets through the API."""

from __future__ import annotations

import pytest

from datasets.models import Dataset
from tests.factories import DatasetFactory

pytestmark = pytest.mark.django_db

NEW = {
    "slug": "fraud-events",
    "title": "Fraud events",
    "team": "ml-core",
    "summary": "Card transactions labelled as fraud or not",
    "readme": "# Fraud\n\nLabelled by the risk team.",
    "tags": ["fraud", "Tabular"],
    "license": "CC-BY-4.0",
    "visibility": "internal",
}


def test_a_maintainer_registers_a_dataset(api, maintainer):
    response = api(maintainer).post("/api/v1/datasets/", NEW, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["slug"] == "fraud-events"
    assert body["team"] == "ml-core"
    assert body["tags"] == ["fraud", "tabular"]
    assert body["visibility"] == "internal"
    assert body["status"] == "active"
    assert body["latest_version"] is None
    assert Dataset.objects.get(slug="fraud-events").created_by == maintainer


def test_a_duplicate_slug_is_a_409(api, maintainer, public_dataset):
    response = api(maintainer).post("/api/v1/datasets/", {**NEW, "slug": "churn"}, format="json")
    assert response.status_code == 409
    assert response.json()["detail"] == "This slug is not available: choose another."
    assert Dataset.objects.count() == 1


@pytest.mark.parametrize("slug", ["Has Spaces", "UPPER", "../etc", "a@b", "-leading", "x" * 65, "naïve"])
def test_a_slug_with_illegal_characters_is_a_400(api, maintainer, slug):
    response = api(maintainer).post("/api/v1/datasets/", {**NEW, "slug": slug}, format="json")
    assert response.status_code == 400
    assert "slug" in response.json()["detail"] or response.json().get("field") == "slug"
    assert not Dataset.objects.exists()


@pytest.mark.parametrize("missing", ["slug", "title", "team"])
def test_a_missing_field_is_a_400_naming_it(api, maintainer, missing):
    data = {key: value for key, value in NEW.items() if key != missing}
    response = api(maintainer).post("/api/v1/datasets/", data, format="json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith(f"{missing}: This field is required.")


def test_a_member_cannot_register_a_dataset_for_the_team(api, member):
    response = api(member).post("/api/v1/datasets/", NEW, format="json")
    assert response.status_code == 403
    assert "maintainer or owner role" in response.json()["detail"]


def test_a_wrong_visibility_is_a_400(api, maintainer):
    response = api(maintainer).post("/api/v1/datasets/", {**NEW, "visibility": "secret"}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("visibility:")


def test_a_maintainer_edits_the_card_but_not_the_slug(api, maintainer, public_dataset):
    client = api(maintainer)
    response = client.patch(
        "/api/v1/datasets/churn/", {"title": "Churn v2", "tags": ["a", "b"]}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["title"] == "Churn v2"
    assert response.json()["tags"] == ["a", "b"]
    assert response.json()["slug"] == "churn"


def test_a_member_cannot_edit(api, member, public_dataset):
    response = api(member).patch("/api/v1/datasets/churn/", {"title": "x"}, format="json")
    assert response.status_code == 403


def test_search_matches_title_and_summary_words(api, member, team):
    DatasetFactory(slug="churn", title="Customer churn", summary="Telco customers", team=team)
    DatasetFactory(slug="fraud", title="Fraud", summary="Card transactions", team=team)
    client = api(member)
    found = lambda q: [d["slug"] for d in client.get("/api/v1/datasets/", {"q": q}).json()["results"]]  # noqa: E731
    assert found("churn") == ["churn"]
    assert found("card") == ["fraud"]
    assert found("telco customer") == ["churn"]
    assert found("nothing-like-this") == []


def test_the_list_is_paginated_and_filters_by_tag_and_team(api, maintainer, team):
    client = api(maintainer)
    client.post("/api/v1/datasets/", NEW, format="json")
    DatasetFactory(slug="other", team=team)
    page = client.get("/api/v1/datasets/").json()
    assert set(page) == {"count", "next", "previous", "results"}
    assert page["count"] == 2
    assert [d["slug"] for d in client.get("/api/v1/datasets/", {"tag": "fraud"}).json()["results"]] == [
        "fraud-events"
    ]
    assert client.get("/api/v1/datasets/", {"team": "nope"}).json()["count"] == 0


def test_the_list_shows_the_latest_ready_version(api, member, public_dataset, publish):
    publish(public_dataset)
    publish(public_dataset, data=b"a\n1\n2\n", ingest=False)
    [row] = api(member).get("/api/v1/datasets/").json()["results"]
    assert row["latest_version"] == 1
    assert row["version_count"] == 2


def test_the_list_costs_a_fixed_number_of_queries(api, member, team, publish, django_assert_max_num_queries):
    for n in range(30):
        dataset = DatasetFactory(slug=f"d{n:02}", team=team)
        dataset.tags.create(name=f"t{n}")
        if n < 6:  # rows with a version number to show (read for the page at once, not per row)
            publish(dataset)
    client = api(member)
    with django_assert_max_num_queries(8):
        page = client.get("/api/v1/datasets/").json()
    assert page["count"] == 30
    assert [row["latest_version"] for row in page["results"][:7]] == [1, 1, 1, 1, 1, 1, None]


def test_the_openapi_schema_and_docs_are_served(client):
    schema = client.get("/api/v1/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/datasets/{slug}/versions/" in schema.content
    assert client.get("/api/v1/docs/").status_code == 200


def test_registering_for_an_unknown_team_is_a_400_naming_it(api, maintainer):
    response = api(maintainer).post("/api/v1/datasets/", {**NEW, "team": "ghosts"}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"] == "No team 'ghosts'. Give the slug of a team you maintain."
    assert response.json()["field"] == "team"
