"""Malformed, hostile or oversized requests get a JSON error with a code and a detail, never a 500
or an HTML page: deeply nested JSON, bodies over the limit, OPTIONS on every view."""

from __future__ import annotations

import gzip
import json

import pytest
from django.conf import settings
from django.urls import URLPattern, get_resolver

from accounts.models import ApiToken
from datasets.models import Dataset
from tests.conftest import upload
from tests.factories import run_event

pytestmark = pytest.mark.django_db

NESTED = "[" * 100_000  # about 100 KB; the fuzzer's 400 KB body did the same


def test_deeply_nested_json_to_the_token_exchange_is_a_400_not_a_crash(client, owner):
    response = client.post("/api/v1/auth/token/", NESTED, content_type="application/json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == "parse_error"
    assert "nested deeper than 64 levels" in body["detail"]
    assert not ApiToken.objects.exists()


def test_deeply_nested_json_to_a_signed_in_endpoint_is_a_400(api, maintainer):
    response = api(maintainer).post("/api/v1/datasets/", NESTED, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    assert not Dataset.objects.exists()


def test_json_nested_just_within_the_interpreter_limit_is_refused_too(api, maintainer):
    # 500 levels parse without a RecursionError, but would reach code that walks them recursively.
    body = '{"slug": ' + "[" * 500 + "]" * 500 + "}"
    response = api(maintainer).post("/api/v1/datasets/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_nesting_a_real_document_needs_is_read(api, maintainer):
    suite = {"expectations": [{"type": "expect_column_to_exist", "kwargs": {"column": "id"}, "meta": {}}]}
    body = {"slug": "deep-ok", "title": "Deep", "team": "ml-core", "tags": ["a"], "extra": suite}
    response = api(maintainer).post("/api/v1/datasets/", body, format="json")
    assert response.status_code == 201, response.json()


def test_deeply_nested_json_to_the_lineage_endpoint_is_a_400(api, maintainer):
    response = api(maintainer).post("/api/v1/lineage", NESTED, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["field"] == "body"
    assert "nested deeper than 64 levels" in response.json()["detail"]


def test_deeply_nested_gzipped_json_to_the_lineage_endpoint_is_a_400(api, maintainer):
    response = api(maintainer).post(
        "/api/v1/lineage",
        gzip.compress(NESTED.encode()),
        content_type="application/json",
        HTTP_CONTENT_ENCODING="gzip",
    )
    assert response.status_code == 400
    assert "nested deeper than 64 levels" in response.json()["detail"]


def test_a_3_mb_event_to_the_lineage_endpoint_is_a_json_413(api, maintainer):
    event = run_event(job="big", padding="x" * (3 * 1024 * 1024))
    response = api(maintainer).post("/api/v1/lineage", json.dumps(event), content_type="application/json")
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == "too_large"
    assert f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes" in body["detail"]


def test_a_3_mb_json_body_anywhere_in_the_api_is_a_json_413(api, maintainer):
    body = json.dumps({"slug": "big", "title": "Big", "team": "ml-core", "readme": "x" * (3 * 1024 * 1024)})
    response = api(maintainer).post("/api/v1/datasets/", body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert not Dataset.objects.exists()


def test_a_form_body_is_a_json_415_naming_json(api, maintainer):
    body = "slug=big&title=Big&team=ml-core&readme=" + "x" * (3 * 1024 * 1024)
    response = api(maintainer).post(
        "/api/v1/datasets/", body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"
    assert not Dataset.objects.exists()


def test_a_json_string_field_refuses_a_number_and_a_boolean_field_a_string(api, maintainer, public_dataset):
    client = api(maintainer)
    response = client.post("/api/v1/datasets/", {"slug": "n", "title": 7, "team": "ml-core"})
    assert response.status_code == 400
    assert response.json()["errors"] == {"title": ["Not a string."]}
    docs = client.put("/api/v1/datasets/churn/columns/", [{"name": "id", "description": "", "pii": "yes"}])
    assert docs.status_code == 400
    assert docs.json()["errors"] == {"0": {"pii": ["Not true or false."]}}


def test_an_alias_moves_to_a_version_named_by_its_number_or_a_reference(
    api, maintainer, public_dataset, publish
):
    publish(public_dataset)
    client = api(maintainer)
    assert client.put("/api/v1/datasets/churn/aliases/prod/", {"version": 1}).json()["version"] == 1
    assert client.put("/api/v1/datasets/churn/aliases/prod/", {"version": "latest"}).status_code == 200
    assert client.put("/api/v1/datasets/churn/aliases/prod/", {"version": True}).status_code == 400


def test_an_upload_with_a_3_mb_form_field_is_a_json_413(api, maintainer, public_dataset):
    response = api(maintainer).post(
        "/api/v1/datasets/churn/versions/",
        {"file": upload(), "message": "x" * (3 * 1024 * 1024)},
        format="multipart",
    )
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "too_large"


def test_an_upload_with_too_many_fields_is_a_json_400(api, maintainer, public_dataset):
    fields = {f"f{n}": "1" for n in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1)}
    response = api(maintainer).post(
        "/api/v1/datasets/churn/versions/", {"file": upload(), **fields}, format="multipart"
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "bad_request"
    assert "DATA_UPLOAD_MAX_NUMBER_FIELDS" in response.json()["detail"]


def test_options_on_a_datasets_versions_answers_a_reader(api, member, public_dataset):
    response = api(member).options("/api/v1/datasets/churn/versions/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json()["name"] == "Version List"


def test_options_on_a_datasets_versions_shows_a_maintainer_the_upload_fields(api, maintainer, public_dataset):
    response = api(maintainer).options("/api/v1/datasets/churn/versions/")
    assert response.status_code == 200
    upload = response.json()["actions"]["POST"]
    assert upload["file"]["required"] is True
    assert "derived_from" in upload


def _api_paths() -> list[str]:
    """Every /api/v1/ address, with its converters filled in by values that exist in the test."""
    values = {
        "slug": "churn",
        "ref": "1",
        "token_id": "1",
        "username": "mina",
        "name": "prod",
        "request_id": "1",
        "run_id": "1",
        "external_id": "1",
        "checkout_id": "00000000-0000-0000-0000-000000000000",
    }
    paths = []
    for pattern in get_resolver("config.urls").url_patterns:
        if str(pattern.pattern) != "api/v1/":
            continue
        for inner in pattern.url_patterns:  # type: ignore[attr-defined]
            assert isinstance(inner, URLPattern)
            route = str(inner.pattern)
            for name, value in values.items():
                route = route.replace(f"<slug:{name}>", value).replace(f"<str:{name}>", value)
                route = route.replace(f"<int:{name}>", value).replace(f"<uuid:{name}>", value)
            paths.append("/api/v1/" + route)
    return paths


def test_options_answers_every_api_address_without_a_server_error(api, maintainer, public_dataset, publish):
    publish(public_dataset)
    client = api(maintainer)
    paths = _api_paths()
    assert len(paths) > 30
    for path in paths:
        response = client.options(path)
        assert response.status_code < 500, (path, response.status_code)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/datasets/churn/external-names/null,null/",  # not an int: no URL pattern matches
        "/api/v1/datasets/churn/access-requests/x/decision/",
        "/api/v1/no-such-thing/",
    ],
)
def test_an_address_with_no_api_view_is_a_json_404(api, member, public_dataset, path):
    response = api(member).get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "not_found"


def test_a_missing_slash_still_redirects_and_the_portal_keeps_its_404_page(client, member):
    client.force_login(member)
    assert client.get("/api/v1/datasets")["Location"] == "/api/v1/datasets/"
    page = client.get("/no-such-page/")
    assert page.status_code == 404
    assert page["Content-Type"].startswith("text/html")


def test_an_expectation_whose_meta_is_not_an_object_is_a_400_not_a_crash(
    api, maintainer, public_dataset, publish
):
    publish(public_dataset)
    suite = {
        "expectations": [
            {"type": "expect_column_to_exist", "kwargs": {"column": "id"}, "meta": [1], "notes": "why"}
        ]
    }
    response = api(maintainer).put("/api/v1/datasets/churn/suite/", suite)
    assert response.status_code == 400
    assert response.json()["detail"] == "Expectation 1: 'meta' must be an object."


def test_a_nul_character_anywhere_in_a_json_body_is_a_400(api, maintainer):
    event = run_event(
        job="etl", run={"runId": "9a1b4f0e-0000-4000-8000-000000000001", "facets": {"k\x00": 1}}
    )
    response = api(maintainer).post("/api/v1/lineage", event)
    assert response.status_code == 400
    assert "NUL" in response.json()["detail"]
    dataset = api(maintainer).post(
        "/api/v1/datasets/", {"slug": "n", "title": "T", "team": "ml-core", "x": "\x00"}
    )
    assert dataset.status_code == 400
    assert not Dataset.objects.exists()


def test_a_page_that_is_not_a_number_is_a_404_not_the_first_page(api, member, public_dataset):
    for page in ("", "last", "0", "x"):
        response = api(member).get("/api/v1/datasets/", {"page": page})
        assert response.status_code == 404, page
        assert response.json() == {"code": "not_found", "detail": "Invalid page."}
    assert api(member).get("/api/v1/datasets/", {"page": "1"}).status_code == 200


def test_a_run_event_whose_event_type_is_not_a_string_is_a_400(api, maintainer):
    response = api(maintainer).post("/api/v1/lineage", run_event(eventType={}))
    assert response.status_code == 400
    assert response.json()["field"] == "eventType"


def test_an_expectation_whose_meta_is_false_is_a_400(api, maintainer, public_dataset, publish):
    publish(public_dataset)
    suite = {"expectations": [{"type": "expect_column_to_exist", "kwargs": {"column": "id"}, "meta": False}]}
    response = api(maintainer).put("/api/v1/datasets/churn/suite/", suite)
    assert response.status_code == 400
    assert response.json()["detail"] == "Expectation 1: 'meta' must be an object."


def test_a_token_s_team_must_be_a_string(api, owner):
    response = api(owner).post("/api/v1/tokens/", {"name": "ci", "team": 0})
    assert response.status_code == 400
    assert response.json()["errors"] == {"team": ["Not a string."]}


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/datasets/?q=a%00b",
        "/api/v1/datasets/churn/versions/a%00b/",
        "/api/v1/datasets/churn/schema-diff/?from=%00",
        "/api/v1/teams/ml-core/members/a%00/",
    ],
)
def test_a_nul_character_in_an_address_is_a_json_400(api, member, public_dataset, path):
    # PostgreSQL refuses NUL in text, so each of these was a 500 there (CI's second run).
    response = api(member).get(path)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "bad_request"


def test_a_nul_character_in_a_portal_address_is_a_400_page(client, member):
    client.force_login(member)
    response = client.get("/?q=a%00b")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")
