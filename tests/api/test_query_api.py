"""POST /api/v1/query/: the SQL console over the API, for each persona on public, internal and
restricted versions, with a read-only token, and the refusals as 400s naming the field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from accounts.services import token_create
from datasets.models import Dataset
from tests.conftest import CSV

pytestmark = pytest.mark.django_db

URL = "/api/v1/query/"


@pytest.fixture
def datasets(public_dataset: Dataset, internal_dataset: Dataset, restricted_dataset: Dataset, publish: Any):
    for dataset in (public_dataset, internal_dataset, restricted_dataset):
        publish(dataset, data=CSV)
    return {"public": public_dataset, "internal": internal_dataset, "restricted": restricted_dataset}


@pytest.mark.parametrize(
    ("persona", "expected"),
    [
        ("owner", (200, 200, 200)),
        ("member", (200, 200, 200)),
        ("outsider", (200, 404, 403)),
        ("anonymous", (401, 401, 401)),
    ],
)
def test_each_persona_queries_what_it_may_read(request, api, datasets, persona, expected):
    user = None if persona == "anonymous" else request.getfixturevalue(persona)
    client = api(user)
    for visibility, status in zip(("public", "internal", "restricted"), expected, strict=True):
        slug = datasets[visibility].slug
        sql = f'SELECT name, score FROM "{slug}@1" WHERE score > 0.6 ORDER BY score'  # noqa: S608 (our slug)
        response = client.post(URL, {"sql": sql}, format="json")
        body = response.json()
        assert response.status_code == status, (visibility, body)
        if status == 200:
            assert body["columns"] == [
                {"name": "name", "type": "VARCHAR"},
                {"name": "score", "type": "DOUBLE"},
            ]
            assert body["rows"] == [["grace", 0.75], ["linus", 0.9]]
            assert body["truncated"] is False and body["versions"] == [f"{slug}@1"]
            assert body["elapsed_ms"] >= 0
        else:
            assert set(body) >= {"code", "detail"} and "linus" not in body["detail"]


def test_the_version_given_is_the_table_data(api, member, datasets):
    response = api(member).post(
        URL, {"sql": "SELECT count(*) AS n FROM data", "version": "churn@latest"}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["rows"] == [[3]] and response.json()["versions"] == ["churn@1"]


def test_a_version_the_outsider_may_not_read_is_refused_as_data_too(api, outsider, datasets):
    response = api(outsider).post(URL, {"sql": "SELECT * FROM data", "version": "patients@1"}, format="json")
    assert response.status_code == 403
    assert "ada" not in response.json()["detail"]


def test_a_read_only_token_may_query(member, datasets):
    from rest_framework.test import APIClient

    client = APIClient()
    secret = token_create(user=member, name="reader", scope="read").secret
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    response = client.post(URL, {"sql": 'SELECT count(*) FROM "payroll@1"'}, format="json")
    assert response.status_code == 200, response.json()


@pytest.mark.parametrize(
    ("sql", "code", "message"),
    [
        ("DROP TABLE data", "invalid", "this is DROP"),
        ("SELECT * FROM read_csv('/etc/passwd')", "invalid", "read_csv() is not allowed"),
        ('SELECT * FROM "nope@1"', "not_found", "nope"),
        ("SELECT nope FROM range(3)", "invalid", "nope"),
    ],
)
def test_bad_sql_is_a_400_naming_the_field(api, member, datasets, sql, code, message):
    response = api(member).post(URL, {"sql": sql}, format="json")
    body = response.json()
    assert body["code"] == code and message in body["detail"]
    if code == "invalid":
        assert response.status_code == 400 and body["field"] == "sql"


@pytest.mark.parametrize("body", [{}, {"sql": ""}, {"sql": 3}, ["SELECT 1"]])
def test_missing_sql_is_a_400(api, member, body):
    response = api(member).post(URL, body, format="json")
    assert response.status_code == 400 and response.json()["field"] == "sql"


def test_a_query_past_its_time_is_a_400_query_timeout(api, member, settings):
    settings.GRANARY_QUERY_TIMEOUT_SECONDS = 0.3
    sql = "SELECT count(*) FROM range(1000000000) a, range(1000000000) b"
    response = api(member).post(URL, {"sql": sql}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "query_timeout"


def test_the_query_is_in_the_openapi_schema(api, member):
    response = api(member).get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    schema = json.loads(response.content)
    operation = schema["paths"]["/api/v1/query/"]["post"]
    assert set(operation["responses"]) >= {"200", "400", "403", "404"}
