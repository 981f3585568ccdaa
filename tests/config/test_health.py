"""Health checks for load balancers and a clean 503 when the database drops out: /healthz answers
without touching anything, /readyz names the dependency that failed, and a lost database is a
503 with Retry-After in the API and the portal, never a 500 with a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.db import OperationalError
from django.test import Client

from tests.services import free_port

ROOT = Path(__file__).resolve().parents[2]
LOST = "server closed the connection unexpectedly\n\tThis probably means the server terminated abnormally"


@pytest.fixture
def broker(settings: Any, redis_url: str) -> str:
    settings.CELERY_BROKER_URL = redis_url
    return redis_url


def test_healthz_answers_anyone_without_touching_the_database(client):
    # No database for this test: a query would raise instead of answering.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_readyz_reports_each_dependency_with_its_latency(client, broker):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ready"
    assert body["failed"] == []
    assert set(body["checks"]) == {"database", "redis", "storage"}
    for check in body["checks"].values():
        assert check["ok"] is True
        assert check["seconds"] >= 0


@pytest.mark.django_db
def test_readyz_names_redis_when_the_broker_is_down_and_keeps_its_password(client, settings):
    settings.CELERY_BROKER_URL = f"redis://:hunter2-secret@127.0.0.1:{free_port()}/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    body = response.json()
    assert body["failed"] == ["redis"]
    assert body["checks"]["redis"] == {
        "ok": False,
        "error": "ConnectionError",
        "seconds": pytest.approx(0, abs=5),
    }
    assert body["checks"]["database"]["ok"] and body["checks"]["storage"]["ok"]
    assert b"hunter2" not in response.content
    assert b"127.0.0.1" not in response.content


@pytest.mark.django_db
def test_readyz_names_storage_when_the_blob_store_cannot_be_read(client, broker, settings, tmp_path):
    # The data directory sits under a regular file: every path in it is unreachable (ENOTDIR).
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    settings.GRANARY_DATA_DIR = blocker / "data"
    settings.GRANARY_STORAGE_URL = ""
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["storage"]
    assert body["checks"]["storage"]["error"] == "NotADirectoryError"


def test_health_routes_are_reachable_without_signing_in_even_when_the_site_requires_it(client, settings):
    settings.GRANARY_ANONYMOUS_READ = False
    assert client.get("/healthz").status_code == 200
    assert client.get("/").status_code == 302  # the portal still sends visitors to sign in


def lose_the_database(monkeypatch: pytest.MonkeyPatch, target: str) -> None:
    """The selector behind a page raises what psycopg raises when PostgreSQL goes away."""

    def lost(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError(LOST)

    monkeypatch.setattr(target, lost)


@pytest.mark.django_db
def test_api_answers_503_json_with_retry_after_when_the_database_is_lost(
    api, owner, public_dataset, monkeypatch
):
    lose_the_database(monkeypatch, "api.datasets.dataset_get")
    response = api(owner).get(f"/api/v1/datasets/{public_dataset.slug}/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json() == {
        "code": "database_unavailable",
        "detail": "The database is not answering (restarting?): nothing was saved.",
    }


@pytest.mark.django_db
def test_portal_answers_a_503_page_when_the_database_is_lost(client, owner, public_dataset, monkeypatch):
    client.force_login(owner)
    lose_the_database(monkeypatch, "catalog.views.datasets.dataset_get")
    response = client.get(f"/datasets/{public_dataset.slug}/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    page = response.content.decode()
    assert "Temporarily unavailable" in page
    assert "Traceback" not in page and "server closed" not in page


@pytest.mark.django_db
def test_a_database_lost_before_the_view_runs_is_a_503_too(owner, monkeypatch):
    """The session is read by a middleware, before any view: Django's 500 handler maps it."""
    client = Client(raise_request_exception=False)
    client.force_login(owner)
    lose_the_database(monkeypatch, "django.contrib.sessions.backends.db.SessionStore.load")
    api_response = client.get("/api/v1/datasets/")
    assert api_response.status_code == 503
    assert api_response.json()["code"] == "database_unavailable"
    page = client.get("/")
    assert page.status_code == 503
    assert "Temporarily unavailable" in page.content.decode()


def test_json_logs_carry_timestamp_level_logger_message_and_request_id(tmp_path):
    """GRANARY_LOG_FORMAT=json, set up as a web process is: one JSON object a line."""
    code = """
import django
django.setup()
from django.test import Client
Client().get("/no-such-page/", HTTP_X_REQUEST_ID="req-abc.123")
"""
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "GRANARY_LOG_FORMAT": "json",
        "ALLOWED_HOSTS": "testserver",
        "GRANARY_HTTPS": "false",
        "GRANARY_DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "SECRET_KEY": "test-only-secret-key-test-only-secret-key-0123456789",
    }
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert records, done.stderr
    not_found = next(r for r in records if r["logger"] == "django.request")
    assert not_found["level"] == "WARNING"
    assert not_found["message"] == "Not Found: /no-such-page/"
    assert not_found["request_id"] == "req-abc.123"
    assert not_found["timestamp"].startswith("20")


def test_text_logs_stay_the_default(settings):
    assert settings.GRANARY_LOG_FORMAT == "text"
    assert "formatter" not in settings.LOGGING["handlers"]["console"]


@pytest.mark.django_db
def test_a_statement_the_database_refuses_is_not_reported_as_the_database_away(owner, monkeypatch):
    """A refused statement (here a table that is not there) fails the same way on every retry:
    telling the client to come back in 5 seconds would send it round for ever."""
    from django.db import DatabaseError, connection, transaction

    from core.database import transient

    def refused(*args: Any, **kwargs: Any) -> Any:
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM granary_no_such_table")

    with pytest.raises(DatabaseError) as raised, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT * FROM granary_no_such_table")
    assert not transient(raised.value)
    assert transient(OperationalError(LOST))

    monkeypatch.setattr("api.datasets.dataset_get", refused)
    client = Client(raise_request_exception=False)
    client.force_login(owner)
    response = client.get("/api/v1/datasets/anything/")
    assert response.status_code == 500
    assert "database_unavailable" not in response.content.decode()


def _wrapped(django_error: type[Exception], driver_error: Exception) -> Exception:
    """A Django database error as Django raises it: the driver's error as its cause."""
    try:
        raise django_error(str(driver_error)) from driver_error
    except django_error as error:
        return error


def test_what_may_pass_by_itself_is_told_from_what_will_recur() -> None:
    import sqlite3

    import psycopg.errors
    from django.db import DataError, InterfaceError, ProgrammingError

    from core.database import transient

    # Django's InterfaceError (a connection already closed) is no DatabaseError.
    assert transient(InterfaceError("connection already closed"))
    assert transient(OperationalError(LOST))  # psycopg's lost connection carries no SQLSTATE
    for away in (
        psycopg.errors.AdminShutdown(),  # 57P01: a restart
        psycopg.errors.ReadOnlySqlTransaction(),  # 25006: a demoted primary during a failover
        psycopg.errors.DeadlockDetected(),
        psycopg.errors.SerializationFailure(),
        psycopg.errors.TooManyConnections(),
    ):
        assert transient(_wrapped(OperationalError, away)), type(away).__name__
    busy = sqlite3.OperationalError("database is locked")
    busy.sqlite_errorname = "SQLITE_BUSY"
    assert transient(_wrapped(OperationalError, busy))
    for refused in (
        psycopg.errors.QueryCanceled(),  # 57014: a statement timeout times out again
        psycopg.errors.ProgramLimitExceeded(),  # 54000: a tsvector past 1 MB
        psycopg.errors.NumericValueOutOfRange(),
    ):
        assert not transient(_wrapped(DataError, refused)), type(refused).__name__
    missing = sqlite3.OperationalError("no such table")
    missing.sqlite_errorname = "SQLITE_ERROR"
    assert not transient(_wrapped(ProgrammingError, missing))


@pytest.mark.django_db
def test_a_connection_closed_under_a_view_is_a_503_too(api, owner, public_dataset, monkeypatch):
    from django.db import InterfaceError

    def closed(*args: Any, **kwargs: Any) -> Any:
        raise InterfaceError("connection already closed")

    monkeypatch.setattr("api.datasets.dataset_get", closed)
    response = api(owner).get(f"/api/v1/datasets/{public_dataset.slug}/")
    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"
