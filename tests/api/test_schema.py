"""The OpenAPI schema at /api/v1/schema/ describes what the API really answers: real responses,
errors included, are validated against the generated schema (status documented, body matching)."""

from __future__ import annotations

from typing import Any

import pytest
import requests
import schemathesis.openapi
from django.test import Client
from schemathesis.core.transport import Response

from datasets.services.access_requests import access_request_create
from tests.factories import run_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema() -> Any:
    response = Client().get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return schemathesis.openapi.from_dict(response.json())


def conforms(schema: Any, method: str, template: str, response: Any) -> None:
    """Fails, saying why, unless the schema documents the response's status and its body matches."""
    operation = schema["/api/v1" + template][method]
    documented = sorted(operation.responses.status_codes)
    assert operation.responses.find_by_status_code(response.status_code) is not None, (
        f"{method} {template} answered {response.status_code}, documented: {documented}"
    )
    answer = Response(
        status_code=response.status_code,
        headers={key.lower(): [value] for key, value in response.headers.items()},
        content=b"".join(response.streaming_content) if response.streaming else response.content,
        request=requests.Request(method, "http://testserver" + response.wsgi_request.path).prepare(),
        elapsed=0.0,
        verify=True,
    )
    if answer.content:
        media = response["Content-Type"].split(";")[0]
        documented_types = schema.get_content_types(operation, answer)
        assert media in documented_types, (
            f"{method} {template} answered {media}, documented: {documented_types}"
        )
    operation.validate_response(answer)  # raises, naming the property, on a mismatch


def test_the_schema_names_bearer_tokens_as_a_way_to_sign_in(client):
    response = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    schemes = response.json()["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token: Authorization: Bearer <token>",
    }


def test_list_rows_without_a_readme_match_the_schema(schema, api, member, public_dataset, publish):
    publish(public_dataset)
    response = api(member).get("/api/v1/datasets/")
    assert "readme" not in response.json()["results"][0]
    conforms(schema, "GET", "/datasets/", response)


def test_a_restricted_dataset_as_an_outsider_sees_it_matches_the_schema(
    schema, api, outsider, restricted_dataset
):
    client = api(outsider)
    listed = client.get("/api/v1/datasets/")
    assert listed.json()["results"] == [
        {
            "slug": "patients",
            "title": "The patients data",
            "summary": "Rows about things",
            "team": "ml-core",
            "visibility": "restricted",
            "status": "active",
            "restricted": True,
        }
    ]
    conforms(schema, "GET", "/datasets/", listed)
    conforms(schema, "GET", "/datasets/{slug}/", client.get("/api/v1/datasets/patients/"))


def test_a_dataset_card_matches_the_schema(schema, api, member, public_dataset, publish):
    publish(public_dataset)
    response = api(member).get("/api/v1/datasets/churn/")
    assert response.json()["readme"] == ""
    conforms(schema, "GET", "/datasets/{slug}/", response)


def test_a_pending_access_request_with_no_decider_matches_the_schema(
    schema, api, outsider, restricted_dataset
):
    from datasets.access import dataset_access

    access = dataset_access(user=outsider, dataset=restricted_dataset)
    access_request_create(user=outsider, dataset=restricted_dataset, access=access, reason="A study")
    response = api(outsider).get("/api/v1/datasets/patients/access-requests/")
    assert response.json()[0]["decided_by"] is None
    assert response.json()[0]["revoked_by"] is None
    conforms(schema, "GET", "/datasets/{slug}/access-requests/", response)


def test_a_lineage_graph_with_an_external_node_without_a_page_matches_the_schema(
    schema, api, maintainer, public_dataset, publish
):
    publish(public_dataset)
    client = api(maintainer)
    event = run_event(
        inputs=[("postgres://db:5432", "public.users")], outputs=[("http://testserver", "churn")]
    )
    assert client.post("/api/v1/lineage", event, format="json").status_code == 201
    response = client.get("/api/v1/datasets/churn/lineage/?depth=2")
    assert None in [node.get("url", "absent") for node in response.json()["nodes"]]
    conforms(schema, "GET", "/datasets/{slug}/lineage/", response)


def test_a_computed_alias_without_an_author_matches_the_schema(schema, api, member, public_dataset, publish):
    publish(public_dataset)
    response = api(member).get("/api/v1/datasets/churn/aliases/latest/")
    assert response.json()["updated_by"] is None
    conforms(schema, "GET", "/datasets/{slug}/aliases/{name}/", response)


def test_a_version_uploaded_by_nobody_matches_the_schema(schema, api, member, public_dataset, publish):
    publish(public_dataset, user=None)
    response = api(member).get("/api/v1/datasets/churn/versions/")
    assert response.json()["results"][0]["created_by"] is None
    conforms(schema, "GET", "/datasets/{slug}/versions/", response)
    conforms(
        schema,
        "GET",
        "/datasets/{slug}/versions/{ref}/",
        api(member).get("/api/v1/datasets/churn/versions/1/"),
    )


@pytest.mark.parametrize(
    ("method", "template", "path", "body", "status"),
    [
        ("GET", "/datasets/{slug}/", "/api/v1/datasets/nothing/", None, 404),
        ("GET", "/datasets/", "/api/v1/datasets/?page=9", None, 404),
        ("POST", "/datasets/", "/api/v1/datasets/", {"slug": "x"}, 400),
        ("POST", "/datasets/", "/api/v1/datasets/", {"slug": "churn", "title": "T", "team": "ml-core"}, 409),
        ("GET", "/datasets/{slug}/versions/{ref}/", "/api/v1/datasets/churn/versions/7/", None, 404),
        ("PATCH", "/datasets/{slug}/", "/api/v1/datasets/churn/", {"status": "gone"}, 400),
        ("DELETE", "/tokens/{token_id}/", "/api/v1/tokens/999/", None, 404),
        (
            "GET",
            "/datasets/{slug}/versions/{ref}/preview/",
            "/api/v1/datasets/churn/versions/1/preview/",
            None,
            409,
        ),
    ],
)
def test_errors_are_documented_with_their_body(
    schema, api, maintainer, public_dataset, publish, method, template, path, body, status
):
    publish(public_dataset, ingest=False)  # processing: not ready to preview
    response = api(maintainer).generic(method, path, data=_json(body), content_type="application/json")
    assert response.status_code == status, response.content
    assert set(response.json()) >= {"code", "detail"}
    conforms(schema, method, template, response)


def test_a_request_without_a_token_is_a_documented_401(schema, api, public_dataset):
    response = api(None).post("/api/v1/datasets/", {}, format="json")
    assert response.status_code == 401
    conforms(schema, "POST", "/datasets/", response)


def test_a_member_s_role_change_needs_the_role_the_schema_requires(schema, api, owner, member):
    response = api(owner).patch("/api/v1/teams/ml-core/members/mina/", {}, format="json")
    assert response.status_code == 400
    body = schema.raw_schema["paths"]["/api/v1/teams/{slug}/members/{username}/"]["patch"]["requestBody"]
    assert body["required"] is True


def _json(body: Any) -> str:
    import json

    return "" if body is None else json.dumps(body)


@pytest.mark.parametrize("format", ["original", "parquet", "csv", "jsonl"])
def test_every_download_format_has_a_documented_content_type(
    schema, api, member, public_dataset, publish, format
):
    publish(public_dataset)
    response = api(member).get("/api/v1/datasets/churn/versions/1/download/", {"format": format})
    assert response.status_code == 200
    conforms(schema, "GET", "/datasets/{slug}/versions/{ref}/download/", response)
