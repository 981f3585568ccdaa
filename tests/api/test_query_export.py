"""POST /api/v1/query/ with "format": the whole result of a console query as a CSV or Parquet file
(nested values as JSON in CSV), cut at GRANARY_QUERY_EXPORT_MAX_ROWS and saying so, behind the same
checks as the console, and in the audit log."""

from __future__ import annotations

import csv
import io
from typing import Any

import pyarrow.parquet as pq
import pytest

from accounts.services import token_create
from audit.models import AuditEvent
from datasets.models import Version
from tests.factories import DatasetFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/query/"
NUMBERS = b"n,word\n" + b"".join(f"{i},w{i}\n".encode() for i in range(2500))


@pytest.fixture
def numbers(public_dataset: Any, publish: Any) -> Version:
    version = publish(public_dataset, data=NUMBERS)
    assert version.status == Version.Status.READY, version.failure_reason
    return version


def _body(response: Any) -> bytes:
    return b"".join(response.streaming_content)


def test_a_csv_export_holds_every_row_past_the_screen_limit(api, member, numbers):
    response = api(member).post(
        URL, {"sql": 'SELECT n, word FROM "churn@1" ORDER BY n', "format": "csv"}, format="json"
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="query-')
    assert response["Content-Disposition"].endswith('.csv"')
    assert response["X-Granary-Truncated"] == "false"
    assert response["X-Granary-Rows"] == "2500"
    rows = list(csv.reader(io.StringIO(_body(response).decode())))
    assert rows[0] == ["n", "word"]
    assert len(rows) == 2501  # more than the 1,000 the console shows
    assert rows[-1] == ["2499", "w2499"]


def test_a_parquet_export_keeps_the_types(api, member, numbers):
    response = api(member).post(
        URL,
        {
            "sql": "SELECT n, n / 2 AS half, word FROM data WHERE n < 3 ORDER BY n",
            "version": "churn@1",
            "format": "parquet",
        },
        format="json",
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.apache.parquet"
    table = pq.read_table(io.BytesIO(_body(response)))
    assert str(table.schema.field("n").type) == "int64"
    assert str(table.schema.field("half").type) == "double"
    assert table.to_pylist() == [
        {"n": 0, "half": 0.0, "word": "w0"},
        {"n": 1, "half": 0.5, "word": "w1"},
        {"n": 2, "half": 1.0, "word": "w2"},
    ]


def test_nested_values_are_json_in_csv(api, member, numbers):
    response = api(member).post(
        URL,
        {"sql": "SELECT [n, n + 1] AS pair, {'w': word} AS s FROM \"churn@1\" WHERE n = 7", "format": "csv"},
        format="json",
    )
    assert response.status_code == 200
    assert list(csv.reader(io.StringIO(_body(response).decode()))) == [["pair", "s"], ["[7,8]", '{"w":"w7"}']]


@pytest.mark.parametrize("format", ["csv", "parquet"])
def test_an_export_past_the_cap_is_cut_and_says_so(api, member, numbers, settings, format):
    settings.GRANARY_QUERY_EXPORT_MAX_ROWS = 100
    response = api(member).post(URL, {"sql": 'SELECT * FROM "churn@1"', "format": format}, format="json")
    assert response.status_code == 200
    assert response["X-Granary-Truncated"] == "true"
    assert response["X-Granary-Rows"] == "100"
    data = _body(response)
    count = (
        len(data.decode().splitlines()) - 1 if format == "csv" else pq.read_table(io.BytesIO(data)).num_rows
    )
    assert count == 100


def test_an_export_is_audited_per_version_read(api, member, numbers):
    api(member).post(URL, {"sql": 'SELECT * FROM "churn@1" LIMIT 5', "format": "csv"}, format="json")
    event = AuditEvent.objects.get(action="query.export")
    assert event.actor == member
    assert (event.dataset, event.version) == ("churn", 1)
    assert event.detail["format"] == "csv"
    assert event.detail["rows"] == 5


def test_an_unreadable_version_is_refused_before_anything_runs(api, outsider, team, publish):
    publish(DatasetFactory(slug="patients", team=team, visibility="restricted"), data=b"id,d\n1,flu\n")
    publish(DatasetFactory(slug="payroll", team=team, visibility="internal"), data=b"id,pay\n1,9\n")
    client = api(outsider)
    assert (
        client.post(URL, {"sql": 'SELECT * FROM "patients@1"', "format": "csv"}, format="json").status_code
        == 403
    )
    missing = client.post(URL, {"sql": 'SELECT * FROM "payroll@1"', "format": "parquet"}, format="json")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "No dataset 'payroll'."
    assert not AuditEvent.objects.filter(action="query.export").exists()


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"format": "xlsx"}, "format", "'xlsx' is not one of csv, parquet"),
        ({"format": 3}, "format", "give one of csv, parquet"),
        ({"format": "csv", "save_as": {"dataset": "churn"}}, "format", "not both"),
    ],
)
def test_a_wrong_format_is_a_400(api, member, numbers, body, field, words):
    response = api(member).post(URL, {"sql": 'SELECT 1 FROM "churn@1"', **body}, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert words in response.json()["detail"]


def test_a_failing_query_is_a_400_not_a_broken_download(api, member, numbers):
    response = api(member).post(
        URL, {"sql": 'SELECT CAST(word AS INTEGER) FROM "churn@1"', "format": "csv"}, format="json"
    )
    assert response.status_code == 400
    assert "Could not convert string 'w0'" in response.json()["detail"]


def test_a_read_scope_token_may_export(member, numbers):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {token_create(user=member, name='r', scope='read').secret}"
    )
    response = client.post(
        URL, {"sql": 'SELECT 1 AS one FROM "churn@1" LIMIT 1', "format": "csv"}, format="json"
    )
    assert response.status_code == 200
    assert _body(response) == b'"one"\n1\n'
