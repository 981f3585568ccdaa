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


def test_a_3_mb_form_body_is_a_json_413(api, maintainer):
    body = "slug=big&title=Big&team=ml-core&readme=" + "x" * (3 * 1024 * 1024)
    response = api(maintainer).post(
        "/api/v1/datasets/", body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"


def test_a_form_with_too_many_fields_is_a_json_400(api, maintainer):
    body = "&".join(f"f{n}=1" for n in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
    response = api(maintainer).post(
        "/api/v1/datasets/", body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "bad_request"


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
