"""The SQL console's service: one SELECT over readable versions named by reference, everything
else refused before it runs, limits on time, memory and rows, and every run in the audit log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser

from audit.models import AuditEvent
from core.errors import AccessDenied, InvalidInput, NotFound, NotSignedIn
from datasets.models import Version
from datasets.viewer.engine import QueryCancelled, QueryTooLarge
from datasets.viewer.query import query_run
from tests.factories import DatasetFactory

WEATHER = b"id,city,temp\n1,Oslo,-3.5\n2,Lima,19.0\n3,Pune,31.25\n"


@pytest.fixture
def churn(public_dataset: Any, publish: Any) -> Version:
    version = publish(public_dataset)
    assert version.status == Version.Status.READY, version.failure_reason
    return version


@pytest.fixture
def weather(team: Any, publish: Any) -> Version:
    dataset = DatasetFactory(slug="weather", team=team, visibility="internal")
    version = publish(dataset, data=WEATHER, filename="weather.csv")
    assert version.status == Version.Status.READY, version.failure_reason
    return version


@pytest.fixture
def patients(restricted_dataset: Any, publish: Any) -> Version:
    version = publish(restricted_dataset, data=b"id,diagnosis\n1,secret-flu\n")
    assert version.status == Version.Status.READY, version.failure_reason
    return version


def test_a_join_across_two_readable_versions(member, churn, weather):
    result = query_run(
        user=member,
        sql='SELECT c.name, w.city, w.temp FROM data c JOIN "weather@latest" w ON c.id = w.id ORDER BY w.temp DESC;',
        version=churn,
    )
    assert [c["name"] for c in result.columns] == ["name", "city", "temp"]
    assert result.columns[2]["type"] == "DOUBLE"
    assert result.rows == [["linus", "Pune", 31.25], ["grace", "Lima", 19.0], ["ada", "Oslo", -3.5]]
    assert not result.truncated
    assert sorted(result.versions) == ["churn@1", "weather@1"]


def test_versions_by_reference_without_data_and_with_a_cte(member, churn, weather):
    result = query_run(
        user=member,
        sql='WITH hot AS (SELECT * FROM "weather@1" WHERE temp > 0) '
        'SELECT count(*) AS n, (SELECT max(score) FROM "churn@latest") AS best FROM hot',
    )
    assert result.rows == [[2, 0.9]]


REFUSED = [
    ("SELECT * FROM read_csv('/etc/passwd')", "read_csv() is not allowed"),
    ("SELECT * FROM read_parquet('http://example.com/x.parquet')", "read_parquet() is not allowed"),
    ("SELECT * FROM '/etc/passwd'", "'/etc/passwd' is not a version"),
    ("COPY (SELECT 1) TO '/tmp/granary-query-copy'", "this is COPY"),
    ("ATTACH '/tmp/granary-query.db'", "this is ATTACH"),
    ("INSTALL httpfs", "this is LOAD"),  # DuckDB files INSTALL under LOAD
    ("LOAD httpfs", "this is LOAD"),
    ("SET threads=4", "this is SET"),
    ("PRAGMA version", "this is PRAGMA"),
    ("CREATE TABLE t AS SELECT 1", "this is CREATE"),
    ("EXPLAIN SELECT 1", "this is EXPLAIN"),
    ("SELECT 1; SELECT 2", "this holds 2 statements"),
    ("SELECT * FROM duckdb_settings()", "duckdb_settings() is not allowed"),
    ("SELECT current_setting('temp_directory')", "current_setting() is not allowed"),
    ("SELECT getenv('HOME')", "getenv() is not allowed"),
    ("SELECT * FROM glob('/*')", "glob() is not allowed"),
    ("SELECT * FROM query('SELECT 1')", "query() is not allowed"),
    ("SELECT * FROM information_schema.tables", "'information_schema.tables' is not a version"),
    ("SELECT * FROM duckdb_tables", "'duckdb_tables' is not a version"),
    ("SELECT * FROM sqlite_master", "'sqlite_master' is not a version"),
    ("SELECT * FROM data", "'data' is the version the console is opened on"),
    ("SELEC 1", "does not parse"),
    ("", "Write a SELECT"),
    ("SELECT '\ud800'", "not text"),
]


@pytest.mark.parametrize(("sql", "message"), REFUSED, ids=[sql[:30] for sql, _ in REFUSED])
def test_anything_but_one_select_over_versions_is_refused_before_it_runs(member, churn, sql, message):
    with pytest.raises(InvalidInput) as refused:
        query_run(user=member, sql=sql)
    assert message in refused.value.detail
    assert refused.value.field == "sql"
    assert not Path("/tmp/granary-query-copy").exists() and not Path("/tmp/granary-query.db").exists()
    assert not AuditEvent.objects.filter(action="query.run").exists()  # nothing ran


@pytest.mark.parametrize(("user", "error"), [("outsider", AccessDenied), (None, NotSignedIn)])
def test_a_restricted_version_is_refused_and_the_message_reveals_nothing(
    request, patients, churn, user, error
):
    reader = request.getfixturevalue(user) if user else AnonymousUser()
    with pytest.raises(error) as refused:
        query_run(user=reader, sql='SELECT diagnosis FROM "patients@1" JOIN "churn@1" USING (id)')
    assert "secret-flu" not in refused.value.detail and "diagnosis" not in refused.value.detail
    assert not AuditEvent.objects.filter(action="query.run").exists()


def test_an_internal_version_is_unknown_to_an_outsider(outsider, weather):
    with pytest.raises(NotFound) as refused:
        query_run(user=outsider, sql='SELECT * FROM "weather@1"')
    assert "Oslo" not in refused.value.detail


def test_a_member_reads_the_restricted_version(member, patients):
    assert query_run(user=member, sql='SELECT diagnosis FROM "patients@1"').rows == [["secret-flu"]]


def test_a_query_past_its_time_is_cancelled_and_the_user_told(member, settings):
    settings.GRANARY_QUERY_TIMEOUT_SECONDS = 0.3
    with pytest.raises(QueryCancelled) as cancelled:
        query_run(user=member, sql="SELECT count(*) FROM range(1000000000) a, range(1000000000) b")
    assert cancelled.value.code == "query_timeout"
    assert "cancelled after 0.3 s" in cancelled.value.detail
    event = AuditEvent.objects.get(action="query.run")
    assert event.detail["outcome"] == "query_timeout"


def test_a_query_past_its_memory_is_refused(member, settings):
    settings.GRANARY_QUERY_MEMORY_BYTES = 8 * 1024**2
    with pytest.raises(QueryTooLarge) as refused:
        query_run(user=member, sql="SELECT list(range::VARCHAR || 'padding') FROM range(5000000)")
    assert refused.value.code == "query_too_large"


def test_the_result_is_cut_at_the_row_limit_in_the_querys_order(member, settings):
    settings.GRANARY_QUERY_MAX_ROWS = 25
    result = query_run(user=member, sql="SELECT range AS n FROM range(100) ORDER BY n DESC")
    assert result.truncated
    assert result.rows == [[n] for n in range(99, 74, -1)]
    assert not query_run(user=member, sql="SELECT * FROM range(25)").truncated


def test_an_error_in_the_sql_names_the_problem(member, churn):
    with pytest.raises(InvalidInput) as refused:
        query_run(user=member, sql="SELECT nope FROM data", version=churn)
    assert "nope" in refused.value.detail


def test_each_run_is_audited_with_its_sql_and_the_versions_read(member, churn, weather):
    sql = 'SELECT * FROM data JOIN "weather@1" USING (id) -- ' + "x" * 5000
    query_run(user=member, sql=sql, version=churn)
    events = AuditEvent.objects.filter(action="query.run").order_by("dataset")
    assert [(e.dataset, e.version, e.actor_name) for e in events] == [
        ("churn", 1, "mina"),
        ("weather", 1, "mina"),
    ]
    assert events[0].detail["sql"] == sql[:4000]
    assert sorted(events[0].detail["versions"]) == ["churn@1", "weather@1"]
    assert events[0].detail["outcome"] == "ok"
