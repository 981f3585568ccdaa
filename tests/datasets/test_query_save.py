"""Saving a SQL console query as a version: checked when asked for (write right, readable sources,
SQL that binds), run by a worker into a Parquet version made through version_create, with lineage
to every version read and the saved SQL as its code; failures at run time mark the save failed, and
a save queued while Redis is down is sent by the sweeper."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pyarrow.parquet as pq
import pytest
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from audit.models import AuditEvent
from core.errors import AccessDenied, InvalidInput, NotFound
from datasets import storage
from datasets.models import QuerySave, Version
from datasets.services.versions import version_ingest
from datasets.tasks import save_query
from datasets.viewer.save import query_save, query_save_run, query_saves_requeue
from tests.conftest import wait_for
from tests.factories import DatasetFactory

WEATHER = b"id,city,temp\n1,Oslo,-3.5\n2,Lima,19.0\n3,Pune,31.25\n"
JOIN = (
    'SELECT c.id, c.name, w.city, w.temp FROM "churn@latest" c JOIN "weather@1" w ON c.id = w.id '
    "WHERE w.temp > 0 ORDER BY c.id"
)


@pytest.fixture
def queued(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Unit tests run without Redis: saves sent to the broker are recorded instead."""
    sent: list[int] = []
    if not request.node.get_closest_marker("integration"):
        monkeypatch.setattr(save_query, "delay", sent.append)
    return sent


def ready(request: pytest.FixtureRequest, publish: Any, dataset: Any, **kwargs: Any) -> Version:
    """A ready version: ingested inline, or by the real worker in integration tests (which gets
    the version's ingest on commit; ingesting it here too would race it)."""
    integration = request.node.get_closest_marker("integration") is not None
    version = publish(dataset, ingest=not integration, **kwargs)
    if integration:
        wait_for(lambda: version.refresh_from_db() or version.status != Version.Status.PROCESSING)
    assert version.status == Version.Status.READY, version.failure_reason
    return version


@pytest.fixture
def churn(request: pytest.FixtureRequest, public_dataset: Any, publish: Any) -> Version:
    return ready(request, publish, public_dataset)


@pytest.fixture
def weather(request: pytest.FixtureRequest, team: Any, publish: Any) -> Version:
    return ready(
        request, publish, DatasetFactory(slug="weather", team=team, visibility="internal"), data=WEATHER
    )


@pytest.fixture
def target(team: Any) -> Any:
    return DatasetFactory(slug="warm-churn", team=team, visibility="internal")


def _rows(version: Version) -> list[dict[str, Any]]:
    filesystem, path = storage.blob_source(version.parquet_blob_id).arrow()
    return pq.read_table(path, filesystem=filesystem).to_pylist()


@pytest.mark.django_db(transaction=True)
def test_a_saved_query_becomes_a_version_with_its_rows_and_lineage(
    maintainer, churn, weather, target, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        save = query_save(user=maintainer, sql=JOIN + ";", dataset="warm-churn", message="warm customers")
    assert save.status == QuerySave.Status.PENDING
    assert queued == [save.pk]
    assert save.reads == {"churn@latest": churn.pk, "weather@1": weather.pk}
    assert AuditEvent.objects.filter(action="query.save").count() == 2  # one per version read

    query_save_run(save_id=save.pk)

    save.refresh_from_db()
    assert save.status == QuerySave.Status.DONE, save.error
    version = save.version
    assert version is not None and version.dataset == target and version.number == 1
    assert version.message == "warm customers"
    assert version.created_by == maintainer
    assert sorted(each.ref for each in version.derived_from.all()) == ["churn@1", "weather@1"]
    assert version.code_url.endswith(f"/api/v1/query/saves/{save.pk}/")
    assert save.sql == JOIN  # without its semicolon: the SQL that ran

    version = version_ingest(version_id=version.pk)  # what the ingest worker does next
    assert version.status == Version.Status.READY, version.failure_reason
    assert version.format == "parquet"
    assert [c["name"] for c in version.schema] == ["id", "name", "city", "temp"]
    assert _rows(version) == [
        {"id": 2, "name": "grace", "city": "Lima", "temp": 19.0},
        {"id": 3, "name": "linus", "city": "Pune", "temp": 31.25},
    ]


def test_latest_is_pinned_when_the_query_is_saved(maintainer, churn, weather, target, queued, publish):
    save = query_save(user=maintainer, sql='SELECT count(*) AS n FROM "churn@latest"', dataset=target)
    newer = publish(churn.dataset, data=b"id,name,score\n9,x,0.1\n")
    assert newer.number == 2

    query_save_run(save_id=save.pk)

    save.refresh_from_db()
    assert save.status == QuerySave.Status.DONE, save.error
    assert [each.ref for each in save.version.derived_from.all()] == ["churn@1"]
    assert _rows(version_ingest(version_id=save.version.pk)) == [{"n": 3}]


def test_the_version_at_hand_is_read_as_data(maintainer, churn, target, queued):
    save = query_save(
        user=maintainer, sql="SELECT name FROM data WHERE score > 0.6", dataset="warm-churn", version=churn
    )
    query_save_run(save_id=save.pk)
    save.refresh_from_db()
    assert save.status == QuerySave.Status.DONE, save.error
    assert _rows(version_ingest(version_id=save.version.pk)) == [{"name": "grace"}, {"name": "linus"}]


def test_a_member_without_the_write_right_is_refused(member, churn, target, queued):
    with pytest.raises(AccessDenied, match="needs the maintainer or owner role"):
        query_save(user=member, sql='SELECT * FROM "churn@1"', dataset="warm-churn")
    assert not QuerySave.objects.exists()
    assert queued == []


def test_a_dataset_the_user_cannot_see_is_not_found(outsider, churn, target, queued):
    with pytest.raises(NotFound, match="No dataset 'warm-churn'"):
        query_save(user=outsider, sql='SELECT * FROM "churn@1"', dataset="warm-churn")


def test_a_source_the_user_may_not_read_is_refused(maintainer, target, restricted_dataset, publish, queued):
    publish(restricted_dataset, data=b"id,diagnosis\n1,flu\n")
    stranger_team = DatasetFactory(slug="elsewhere", visibility="restricted")
    publish(stranger_team, data=b"a\n1\n")
    with pytest.raises(AccessDenied, match="'elsewhere' is restricted"):
        query_save(user=maintainer, sql='SELECT * FROM "elsewhere@1"', dataset="warm-churn")
    assert not QuerySave.objects.exists()


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ('SELECT nope FROM "churn@1"', "The query failed"),
        ("DELETE FROM data", "this is DELETE"),
        ("SELECT * FROM read_csv('/etc/passwd')", "read_csv() is not allowed"),
    ],
)
def test_bad_sql_is_refused_before_anything_is_queued(maintainer, churn, target, queued, sql, message):
    with pytest.raises(InvalidInput) as refused:
        query_save(user=maintainer, sql=sql, dataset="warm-churn")
    assert message in refused.value.detail
    assert refused.value.field == "sql"
    assert not QuerySave.objects.exists()


def test_a_query_that_fails_at_run_time_marks_the_save_failed(maintainer, churn, target, queued):
    # Binds (a VARCHAR may be cast), fails only on the rows: 'ada' is no integer.
    save = query_save(user=maintainer, sql='SELECT CAST(name AS INTEGER) AS n FROM "churn@1"', dataset=target)
    query_save_run(save_id=save.pk)
    save.refresh_from_db()
    assert save.status == QuerySave.Status.FAILED
    assert "Could not convert string 'ada'" in save.error
    assert save.version is None
    assert not target.versions.exists()


def test_saving_bytes_already_saved_fails_with_the_version_that_holds_them(maintainer, churn, target, queued):
    sql = 'SELECT * FROM "churn@1"'
    first = query_save(user=maintainer, sql=sql, dataset=target)
    query_save_run(save_id=first.pk)
    again = query_save(user=maintainer, sql=sql, dataset=target)
    query_save_run(save_id=again.pk)
    again.refresh_from_db()
    assert again.status == QuerySave.Status.FAILED
    assert "already version 1 of 'warm-churn'" in again.error


def test_access_lost_while_the_save_waits_fails_it(maintainer, churn, weather, target, queued):
    save = query_save(user=maintainer, sql='SELECT * FROM "weather@1"', dataset=target)
    maintainer.memberships.all().delete()  # leaves the team: weather is internal to it
    query_save_run(save_id=save.pk)
    save.refresh_from_db()
    assert save.status == QuerySave.Status.FAILED
    assert "may no longer write 'warm-churn'" in save.error


def test_a_save_run_twice_makes_one_version(maintainer, churn, target, queued):
    save = query_save(user=maintainer, sql='SELECT * FROM "churn@1"', dataset=target)
    query_save_run(save_id=save.pk)
    assert query_save_run(save_id=save.pk) is None  # a redelivered task: nothing pending
    assert target.versions.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_save_queued_while_redis_is_down_is_sent_by_the_sweeper(
    maintainer, churn, target, monkeypatch, django_capture_on_commit_callbacks
):
    def down(save_id: int) -> None:
        raise KombuOperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(save_query, "delay", down)
    with django_capture_on_commit_callbacks(execute=True):
        save = query_save(user=maintainer, sql='SELECT * FROM "churn@1"', dataset=target)
    save.refresh_from_db()
    assert save.status == QuerySave.Status.PENDING and save.sent_at is None

    assert query_saves_requeue() == []  # still down
    sent: list[int] = []
    monkeypatch.setattr(save_query, "delay", sent.append)
    QuerySave.objects.filter(pk=save.pk).update(created_at=timezone.now() - timedelta(minutes=1))
    assert query_saves_requeue() == [save.pk]
    assert sent == [save.pk]
    assert query_saves_requeue() == []  # sent once


# --- Through the API and a real worker ---------------------------------------------------------


@pytest.mark.integration
def test_the_api_saves_a_query_and_a_worker_makes_the_ready_version(
    celery_worker, api, maintainer, churn, weather, target
):
    client = api(maintainer)
    response = client.post(
        "/api/v1/query/",
        {"sql": JOIN, "save_as": {"dataset": "warm-churn", "message": "warm"}},
        format="json",
    )
    assert response.status_code == 202, response.content
    body = response.json()
    assert response["Location"] == body["url"]
    assert body["status"] == "pending" and body["version"] is None
    assert sorted(body["versions"]) == ["churn@1", "weather@1"]

    def finished() -> Any:
        found = client.get(body["url"]).json()
        return found if found["status"] != "pending" and found["version_status"] != "processing" else None

    save = wait_for(finished, timeout=60, what="the worker to save the query and ingest it")
    assert save["status"] == "done", save["error"]
    assert save["version"] == "warm-churn@1"
    assert save["version_status"] == "ready"
    version = client.get(save["version_url"]).json()
    assert version["row_count"] == 2
    assert version["message"] == "warm"
    assert version["code_url"].endswith(f"/api/v1/query/saves/{save['id']}/")
    assert sorted(version["derived_from"]) == ["churn@1", "weather@1"]
    rows = client.get("/api/v1/datasets/warm-churn/versions/1/rows/").json()
    assert rows["rows"] == [[2, "grace", "Lima", 19.0], [3, "linus", "Pune", 31.25]]


@pytest.mark.integration
def test_a_query_failing_on_the_worker_is_reported_on_the_save(celery_worker, api, maintainer, churn, target):
    client = api(maintainer)
    response = client.post(
        "/api/v1/query/",
        {"sql": 'SELECT CAST(name AS INTEGER) FROM "churn@1"', "save_as": {"dataset": "warm-churn"}},
        format="json",
    )
    assert response.status_code == 202, response.content
    url = response.json()["url"]
    save = wait_for(lambda: (s := client.get(url).json())["status"] != "pending" and s, what="the save")
    assert save["status"] == "failed"
    assert "Could not convert string 'ada'" in save["error"]
    assert save["version"] is None
