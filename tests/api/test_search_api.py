"""The search API: GET /api/v1/search/ (ranked results, snippets, matched columns, facets, pages
and sorts), /search/suggest/ (type-ahead) and /columns/ (which datasets have a column like this).
Each answer is checked against the OpenAPI schema, malformed parameters are 400s naming the
parameter, and what each persona finds follows the visibility rule: an outsider finds a restricted
dataset by its card alone, a granted reader by its data too, nobody outside the team an internal
one, and anonymous visitors the public ones only when GRANARY_ANONYMOUS_READ is on."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import Membership, Team
from api.search import FacetValueSerializer
from datasets.access import dataset_access
from datasets.models import Blob, Checkout, CheckoutItem, ColumnDoc, Dataset, Tag, Version
from datasets.services.access_requests import access_request_create, access_request_decide
from search.indexer import search_rebuild
from tests.api.test_schema import conforms
from tests.factories import DatasetFactory, MembershipFactory, TeamFactory, UserFactory
from tests.search.catalog import catalog_index, schema_of

pytestmark = pytest.mark.django_db

PUBLIC = Dataset.Visibility.PUBLIC
INTERNAL = Dataset.Visibility.INTERNAL
RESTRICTED = Dataset.Visibility.RESTRICTED


@dataclass
class World:
    teams: dict[str, Team]
    users: dict[str, User]
    datasets: dict[str, Dataset]


def dataset_with_columns(
    team: Team,
    slug: str,
    *,
    title: str,
    summary: str,
    visibility: str = PUBLIC,
    tags: tuple[str, ...] = (),
    license: str = "CC-BY-4.0",
    columns: str = "",
    pii: tuple[str, ...] = (),
    readme: str = "",
    certified: bool = False,
    checkouts: int = 0,
) -> Dataset:
    """A dataset with one ready version of `columns` ("name:type ..."), as ingest leaves it."""
    dataset = DatasetFactory(
        team=team,
        slug=slug,
        title=title,
        summary=summary,
        visibility=visibility,
        license=license,
        readme=readme,
    )
    dataset.tags.set([Tag.objects.get_or_create(name=name)[0] for name in tags])
    sha256 = hashlib.sha256(slug.encode()).hexdigest()
    version = Version.objects.create(
        dataset=dataset,
        number=1,
        blob=Blob.objects.create(sha256=sha256, size=1000),
        size=1000,
        original_filename=f"{slug}.parquet",
        format="parquet",
        row_count=5000,
        schema=schema_of(columns),
        status=Version.Status.READY,
        quality_status="passed" if certified else None,
    )
    ColumnDoc.objects.bulk_create(
        ColumnDoc(dataset=dataset, name=name, description=f"the {name}", pii=True) for name in pii
    )
    trainer = UserFactory(username="trainer")
    for _ in range(checkouts):
        checkout = Checkout.objects.create(purpose=f"train on {slug}", created_by=trainer)
        CheckoutItem.objects.create(
            checkout=checkout, position=0, ref=slug, dataset=dataset, version=version, sha256=sha256
        )
    return dataset


@pytest.fixture
def world(db: None) -> World:
    """Two teams: ml-core (public churn and loyalty, internal payroll, restricted patients) and
    vision (public imagenet-lite, internal street-signs); a member of each, an outsider, a user
    granted patients and a superuser."""
    teams = {
        "ml-core": TeamFactory(slug="ml-core", name="ML Core"),
        "vision": TeamFactory(slug="vision", name="Computer Vision"),
    }
    users = {name: UserFactory(username=name) for name in ("olivia", "mina", "victor", "oscar", "gina")}
    users["root"] = User.objects.create_superuser(username="root", password="pw-for-tests-1")
    MembershipFactory(team=teams["ml-core"], user=users["olivia"], role=Membership.Role.OWNER)
    MembershipFactory(team=teams["ml-core"], user=users["mina"], role=Membership.Role.MEMBER)
    MembershipFactory(team=teams["vision"], user=users["victor"], role=Membership.Role.MEMBER)
    core, vision = teams["ml-core"], teams["vision"]
    datasets = {
        "churn": dataset_with_columns(
            core,
            "churn",
            title="Customer churn",
            summary="Monthly churn labels for subscribers of the streaming service.",
            tags=("customers", "tabular"),
            columns="customer_id:i email:s tenure_months:i churned:b",
            pii=("email",),
            readme="# Churn\n\nTrained with **xgboost** every month.",
            certified=True,
            checkouts=3,
        ),
        "loyalty": dataset_with_columns(
            core,
            "loyalty",
            title="Loyalty cards",
            summary="Points earned and spent by card holders, with their customer number.",
            tags=("customers",),
            license="ODbL-1.0",
            columns="card_id:s customer_id:i points:i",
            checkouts=1,
        ),
        "payroll": dataset_with_columns(
            core,
            "payroll",
            title="Payroll 2026",
            summary="Salaries of every employee.",
            visibility=INTERNAL,
            tags=("hr",),
            columns="employee_id:i salary:f iban:s",
        ),
        "patients": dataset_with_columns(
            core,
            "patients",
            title="Patient visits",
            summary="Outpatient visits to the clinics.",
            visibility=RESTRICTED,
            tags=("clinical",),
            columns="patient_id:i diagnosis_code:s email:s",
            pii=("email", "patient_id"),
            readme="Exported from the Epic hospital records.",
        ),
        "imagenet-lite": dataset_with_columns(
            vision,
            "imagenet-lite",
            title="ImageNet lite",
            summary="A small labelled subset of ImageNet.",
            tags=("images",),
            columns="image_id:s label:s",
        ),
        "street-signs": dataset_with_columns(
            vision,
            "street-signs",
            title="Street signs",
            summary="Draft annotations of traffic signs, for the vision team only.",
            visibility=INTERNAL,
            tags=("images",),
            columns="image_id:s sign_label:s",
        ),
    }
    patients = datasets["patients"]
    asked = access_request_create(
        user=users["gina"],
        dataset=patients,
        access=dataset_access(user=users["gina"], dataset=patients),
        reason="A study of readmissions",
    )
    access_request_decide(user=users["olivia"], request=asked, approve=True)
    catalog_index(datasets.values())  # the list fields (checkouts in 90 days), then the index
    return World(teams=teams, users=users, datasets=datasets)


@pytest.fixture
def as_user(world: World, api: Any) -> Any:
    def make(username: str | None) -> APIClient:
        return api(world.users[username] if username else None)

    return make


def search(client: Any, **params: Any) -> dict[str, Any]:
    response = client.get("/api/v1/search/", params)
    assert response.status_code == 200, response.content
    return dict(response.json())


def found(client: Any, q: str = "", **params: Any) -> set[str]:
    return {hit["slug"] for hit in search(client, q=q, per_page=100, **params)["results"]}


def column_slugs(client: Any, q: str) -> set[str]:
    response = client.get("/api/v1/columns/", {"q": q})
    assert response.status_code == 200, response.content
    return {column["dataset"] for column in response.json()["results"]}


def suggested(client: Any, q: str) -> set[tuple[str, str]]:
    response = client.get("/api/v1/search/suggest/", {"q": q})
    assert response.status_code == 200, response.content
    return {(s["kind"], s["value"]) for s in response.json()}


# --- what an answer holds ------------------------------------------------------------------------


def test_a_search_answers_ranked_results_with_a_snippet_matched_columns_and_versions(as_user):
    client = as_user("mina")
    response = client.get("/api/v1/search/", {"q": "customer"})
    body = response.json()
    assert (body["query"], body["sort"], body["page"], body["per_page"]) == ("customer", "relevance", 1, 20)
    assert (body["total"], body["did_you_mean"], body["corrected"]) == (2, None, False)
    churn, loyalty = body["results"]
    assert {churn["slug"], loyalty["slug"]} == {"churn", "loyalty"}
    churn = next(hit for hit in body["results"] if hit["slug"] == "churn")
    assert churn["title"] == "Customer churn" and churn["team"] == "ml-core"
    assert churn["url"] == "http://testserver/api/v1/datasets/churn/"
    assert churn["matched_columns"] == [{"name": "customer_id", "type": "integer", "pii": False}]
    assert (churn["latest_version"], churn["certified_version"], churn["checkouts_90d"]) == (1, 1, 3)
    assert churn["readable"] is True and churn["score"] > 0
    loyalty = next(hit for hit in body["results"] if hit["slug"] == "loyalty")
    assert "<mark>customer</mark>" in loyalty["snippet"]


def test_every_answer_matches_the_schema(as_user, schema_client):
    client = as_user("gina")
    for path, params in (
        ("/search/", {"q": "email", "sort": "popular"}),
        ("/search/", {"q": "custmer"}),
        ("/search/", {"q": "tag:"}),
        ("/search/suggest/", {"q": "cust"}),
        ("/columns/", {"q": "email"}),
        ("/columns/", {"q": " "}),
    ):
        response = client.get("/api/v1" + path, params)
        schema_client(path, response)


def test_the_snippet_is_escaped_html_with_only_marks_added(as_user, world):
    dataset = world.datasets["loyalty"]
    dataset.summary = "Customer <script>alert(1)</script> points & rewards."
    dataset.save()
    search_rebuild()
    hit = search(as_user("mina"), q="rewards")["results"][0]
    assert "<script>" not in hit["snippet"] and "&lt;script&gt;" in hit["snippet"]
    assert "<mark>rewards</mark>" in hit["snippet"]


def test_facets_count_the_results_and_give_the_query_each_link_sets(as_user):
    body = search(as_user("mina"), q="customer", facets="true")
    facets = body["facets"]
    assert set(facets) == {"team", "tag", "license", "format", "certified", "pii", "quality", "visibility"}
    assert facets["team"] == [
        {
            "value": "ml-core",
            "label": "ML Core",
            "count": 2,
            "selected": False,
            "query": "team:ml-core customer",
        }
    ]
    assert {v["value"]: v["count"] for v in facets["license"]} == {"cc-by-4.0": 1, "odbl-1.0": 1}
    assert {v["value"]: v["count"] for v in facets["certified"]} == {"no": 1, "yes": 1}
    # Every value has the fields the schema declares, and no other (they are built by hand).
    declared = set(FacetValueSerializer().fields)
    assert all(set(value) == declared for values in facets.values() for value in values)
    narrowed = search(as_user("mina"), q="customer certified:yes", facets="true")
    assert [hit["slug"] for hit in narrowed["results"]] == ["churn"]
    selected = next(v for v in narrowed["facets"]["certified"] if v["value"] == "yes")
    assert selected["selected"] is True and selected["query"] == "customer "  # a finished word stays whole


def test_facets_are_counted_only_when_asked_for(as_user):
    client = as_user("mina")
    assert search(client, q="customer")["facets"] is None
    assert search(client, q="customer", facets="false")["facets"] is None
    assert search(client, q="customer", facets="true")["facets"]["team"][0]["count"] == 2
    response = client.get("/api/v1/search/", {"q": "customer", "facets": "yes"})
    assert response.status_code == 400
    assert response.json()["detail"] == "facets='yes': give true or false."


def test_pages_split_the_results_and_the_total_covers_them_all(as_user):
    client = as_user("root")
    first = search(client, per_page=2, sort="name")
    second = search(client, per_page=2, sort="name", page=2)
    last = search(client, per_page=2, sort="name", page=4)
    assert first["total"] == second["total"] == 6
    assert [h["slug"] for h in first["results"]] == ["churn", "imagenet-lite"]
    assert [h["slug"] for h in second["results"]] == ["loyalty", "patients"]
    assert last["results"] == []
    assert search(client, per_page="0000000000000000000002")["per_page"] == 2  # leading zeros


def test_each_sort_orders_the_results(as_user):
    client = as_user("mina")
    assert search(client)["sort"] == "popular"  # without words
    assert [h["slug"] for h in search(client, sort="popular")["results"]][:2] == ["churn", "loyalty"]
    names = [h["title"] for h in search(client, sort="name")["results"]]
    assert names == sorted(names, key=str.lower)
    assert search(client, q="customer", sort="updated")["sort"] == "updated"


def test_a_misspelt_word_finds_what_it_meant_with_did_you_mean(as_user):
    body = search(as_user("mina"), q="subscribres ")
    assert body["corrected"] is True and body["did_you_mean"] == "subscribers"
    assert [hit["slug"] for hit in body["results"]] == ["churn"]


# --- what is refused -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"q": 'churn "monthly'}, "q", "At character 7: this quote is never closed"),
        ({"q": "colour:red"}, "q", "unknown filter 'colour:'"),
        ({"q": "updated:>yesterday"}, "q", "expected a date as YYYY-MM-DD"),
        ({"q": "rows:>many"}, "q", "expected a whole number of rows"),
        ({"q": "-churn"}, "q", "the query only excludes words"),
        ({"q": "x" * 501}, "q", "longer than 500 characters"),
        ({"sort": "best"}, "sort", "sort='best': use one of relevance, popular, updated, name"),
        ({"sort": ""}, "sort", "use one of"),
        ({"page": "0"}, "page", "page='0': give a whole number from 1 to 10,000."),
        ({"page": "two"}, "page", "give a whole number"),
        ({"page": "²"}, "page", "give a whole number"),
        ({"per_page": "101"}, "per_page", "from 1 to 100"),
        ({"page": "501"}, "page", "Pages go as deep as the first 10,000 results"),
        ({"page": "10001"}, "page", "from 1 to 10,000"),
        ({"page": "9" * 5000}, "page", "from 1 to 10,000"),  # more digits than int() reads
    ],
)
def test_a_malformed_query_or_parameter_is_a_400_that_says_what_is_wrong(as_user, params, field, words):
    response = as_user("mina").get("/api/v1/search/", params)
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == field and words in body["detail"], body


def test_a_malformed_query_is_a_400_with_the_invalid_query_code(as_user):
    response = as_user("mina").get("/api/v1/search/", {"q": "tag:"})
    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid_query",
        "detail": "At character 5: expected a value after 'tag:', e.g. tag:nlp.",
        "field": "q",
    }


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "q"),
        ({"q": "   "}, "q"),
        ({"q": "a" * 201}, "q"),
        ({"q": "id", "limit": "0"}, "limit"),
        ({"q": "id", "limit": "201"}, "limit"),
        ({"q": "id", "offset": "-1"}, "offset"),
        ({"q": "id", "offset": "10001"}, "offset"),
    ],
)
def test_column_search_refuses_a_missing_name_or_bad_bounds(as_user, params, field):
    response = as_user("mina").get("/api/v1/columns/", params)
    assert response.status_code == 400 and response.json()["field"] == field


# --- suggest and columns -------------------------------------------------------------------------


def test_suggest_completes_datasets_tags_and_columns(as_user):
    client = as_user("mina")
    response = client.get("/api/v1/search/suggest/", {"q": "custo"})
    assert response.status_code == 200
    suggestions = response.json()
    assert len(suggestions) <= 10
    kinds = {(s["kind"], s["value"]) for s in suggestions}
    assert {
        ("dataset", "churn"),
        ("tag", "customers"),
        ("column", "customer_id"),
    } <= kinds
    churn = next(s for s in suggestions if s["value"] == "churn")
    assert churn == {
        "kind": "dataset",
        "value": "churn",
        "label": "Customer churn",
        "url": "/datasets/churn/",
    }
    assert next(s for s in suggestions if s["kind"] == "tag")["label"] == "tag:customers"
    assert client.get("/api/v1/search/suggest/", {"q": ""}).json() == []
    assert client.get("/api/v1/search/suggest/", {"q": '"unclosed'}).status_code == 200


def test_column_search_names_each_dataset_with_the_columns_type_and_documentation(as_user):
    response = as_user("mina").get("/api/v1/columns/", {"q": "customer_id"})
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 2
    assert {(c["dataset"], c["dataset_title"], c["name"], c["type"]) for c in body["results"]} == {
        ("churn", "Customer churn", "customer_id", "integer"),
        ("loyalty", "Loyalty cards", "customer_id", "integer"),
    }
    email = as_user("mina").get("/api/v1/columns/", {"q": "EMAIL"}).json()["results"]
    churn = next(c for c in email if c["dataset"] == "churn")
    assert churn == {
        "dataset": "churn",
        "dataset_title": "Customer churn",
        "name": "email",
        "type": "string",
        "description": "the email",
        "pii": True,
    }


def test_column_search_pages_with_limit_and_offset(as_user):
    client = as_user("root")
    whole = client.get("/api/v1/columns/", {"q": "_id"}).json()
    first = client.get("/api/v1/columns/", {"q": "_id", "limit": 2}).json()
    rest = client.get("/api/v1/columns/", {"q": "_id", "limit": 200, "offset": 2}).json()
    assert whole["total"] == first["total"] == rest["total"] == len(whole["results"]) == 7
    assert first["results"] + rest["results"] == whole["results"]


# --- who finds what ------------------------------------------------------------------------------


def test_an_outsider_finds_a_restricted_dataset_by_its_card_but_not_by_its_data(as_user):
    oscar = as_user("oscar")
    assert found(oscar) == {"churn", "loyalty", "patients", "imagenet-lite"}
    assert "patients" in found(oscar, "outpatient") and "patients" in found(oscar, "patient visits")
    for q in (
        "diagnosis_code",
        "column:diagnosis_code",
        "epic",
        "tag:clinical",
        "clinical",
        "pii:yes visits",
    ):
        assert "patients" not in found(oscar, q), q
    hit = search(oscar, q="visits")["results"][0]
    assert hit["slug"] == "patients" and hit["readable"] is False
    assert (hit["latest_version"], hit["certified_version"], hit["matched_columns"]) == (None, None, [])
    assert column_slugs(oscar, "email") == {"churn"}
    assert suggested(oscar, "diagn") == set() and ("tag", "clinical") not in suggested(oscar, "clin")
    tags = {v["value"] for v in search(oscar, q="", facets="true")["facets"]["tag"]}
    assert "clinical" not in tags and "hr" not in tags


def test_nobody_outside_a_team_finds_its_internal_datasets(as_user):
    for username in ("oscar", "victor", "gina"):
        client = as_user(username)
        for q in ("payroll", "salary", "column:iban", "tag:hr", ""):
            assert "payroll" not in found(client, q), (username, q)
        assert column_slugs(client, "iban") == set()
        assert suggested(client, "payr") == set()
        teams = {v["value"]: v["count"] for v in search(client, facets="true")["facets"]["team"]}
        assert teams["ml-core"] == 3, username  # churn, loyalty, patients: payroll is not counted
    facets = search(as_user("oscar"), facets="true")["facets"]
    assert "internal" not in {v["value"] for v in facets["visibility"]}


def test_a_member_of_another_team_finds_their_own_internal_datasets_only(as_user):
    victor = as_user("victor")
    assert found(victor) == {"churn", "loyalty", "patients", "imagenet-lite", "street-signs"}
    assert found(victor, "column:sign_label") == {"street-signs"}
    assert "payroll" not in found(victor, "payroll")


def test_a_granted_reader_finds_the_restricted_dataset_by_its_data(as_user):
    gina = as_user("gina")
    for q in ("diagnosis_code", "epic", "tag:clinical", "column:email visits"):
        assert "patients" in found(gina, q), q
    hit = search(gina, q="diagnosis")["results"][0]
    assert hit["slug"] == "patients" and hit["readable"] is True
    assert hit["matched_columns"] == [{"name": "diagnosis_code", "type": "string", "pii": False}]
    assert column_slugs(gina, "email") == {"churn", "patients"}
    assert ("column", "diagnosis_code") in suggested(gina, "diagn")


def test_a_superuser_finds_everything(as_user):
    root = as_user("root")
    assert found(root) == {"churn", "loyalty", "payroll", "patients", "imagenet-lite", "street-signs"}
    assert found(root, "column:iban") == {"payroll"}
    assert column_slugs(root, "email") == {"churn", "patients"}


def test_anonymous_visitors_find_public_datasets_only_when_anonymous_read_is_on(as_user, settings):
    anonymous = as_user(None)
    settings.GRANARY_ANONYMOUS_READ = True
    assert found(anonymous) == {"churn", "loyalty", "imagenet-lite"}
    assert found(anonymous, "visits") == set()  # a restricted card shows to signed-in users only
    assert column_slugs(anonymous, "email") == {"churn"}
    assert ("dataset", "patients") not in suggested(anonymous, "pati")
    settings.GRANARY_ANONYMOUS_READ = False
    for path, params in (
        ("/search/", {"q": "churn"}),
        ("/search/suggest/", {"q": "ch"}),
        ("/columns/", {"q": "id"}),
    ):
        response = anonymous.get("/api/v1" + path, params)
        assert response.status_code == 401, path
        assert response.json()["code"] == "not_authenticated"


def test_a_revoked_grant_stops_the_data_matching_at_once(as_user, world):
    from datasets.models import AccessRequest
    from datasets.services.access_requests import access_request_revoke

    gina = as_user("gina")
    assert "patients" in found(gina, "diagnosis_code")
    granted = AccessRequest.objects.get(user=world.users["gina"], dataset=world.datasets["patients"])
    access_request_revoke(user=world.users["olivia"], request=granted)
    assert "patients" not in found(gina, "diagnosis_code")
    assert "patients" in found(gina, "outpatient")


@pytest.fixture
def schema_client() -> Any:
    import schemathesis.openapi

    response = Client().get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    schema = schemathesis.openapi.from_dict(response.json())

    def check(path: str, response: Any) -> None:
        conforms(schema, "GET", path, response)

    return check
