"""Reading a version's rows lands in the audit log like any other data read (one event per page,
not per row), and object storage failing under DuckDB's scan answers 503 storage_unavailable,
not a 400 blaming the SQL."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from tests.datasets.test_storage_outage import outage  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db

ROWS = b"id,city\n" + b"".join(f"{i},{'Oslo' if i % 2 else 'Lima'}\n".encode() for i in range(500))


def test_a_page_of_rows_is_one_audit_event_with_what_was_asked(api, member, public_dataset, publish):
    publish(public_dataset, data=ROWS)
    response = api(member).get(
        "/api/v1/datasets/churn/versions/1/rows/",
        {"offset": 10, "limit": 50, "sort": "-id", "filter": "city:eq:Oslo", "q": "os"},
    )
    assert response.status_code == 200
    assert len(response.json()["rows"]) == 50
    event = AuditEvent.objects.get(action="version.rows")
    assert event.actor == member
    assert (event.dataset, event.version) == ("churn", 1)
    assert event.detail == {
        "offset": 10,
        "limit": 50,
        "rows": 50,
        "total": 250,
        "sort": "-id",
        "filters": [["city", "=", "Oslo"]],
        "q": "os",
    }


def test_a_refused_page_is_not_audited_as_a_read(api, outsider, restricted_dataset, publish):
    publish(restricted_dataset, data=ROWS)
    assert api(outsider).get("/api/v1/datasets/patients/versions/1/rows/").status_code == 403
    assert not AuditEvent.objects.filter(action="version.rows").exists()


def test_storage_failing_under_a_query_is_a_503(api, member, public_dataset, publish, outage):  # noqa: F811
    version = publish(public_dataset, data=ROWS)
    # The store stops answering at the first read of the Parquet copy's bytes: after DuckDB has
    # the version registered (its HEAD went through), in the middle of its scan.
    outage.down_during(version.parquet_blob_id, after=0, streamed_only=False)
    client = api(member)
    response = client.post(
        "/api/v1/query/", {"sql": "SELECT count(*) FROM data", "version": "churn@1"}, format="json"
    )
    assert response.status_code == 503, response.content
    assert response.json()["code"] == "storage_unavailable"
    assert outage.gets, "the query reached the store"


def test_storage_failing_under_a_sorted_page_is_a_503(api, member, public_dataset, publish, outage):  # noqa: F811
    version = publish(public_dataset, data=ROWS)
    outage.down_during(version.parquet_blob_id, after=0, streamed_only=False)
    response = api(member).get("/api/v1/datasets/churn/versions/1/rows/", {"sort": "-id"})
    assert response.status_code == 503, response.content
    assert response.json()["code"] == "storage_unavailable"
