"""Shared fixtures: a private data directory per test, personas, datasets and API clients."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from rest_framework.test import APIClient

from accounts.models import Membership, Team
from accounts.services import token_create
from datasets.models import Dataset, Version
from tests.factories import DatasetFactory, MembershipFactory, TeamFactory, UserFactory
from tests.services import S3_TEST_BUCKET

DATA = Path(__file__).parent / "data"


def storage_settings(request: pytest.FixtureRequest, path: Path) -> dict[str, Any]:
    """The settings that put a test's blobs under `path`, or, with GRANARY_TEST_STORAGE=s3 (CI's
    second leg), under a fresh prefix of a bucket on moto's S3 server; the data directory then
    keeps only working files (`tmp/`)."""
    values: dict[str, Any] = {"GRANARY_DATA_DIR": path}
    if os.environ.get("GRANARY_TEST_STORAGE") == "s3":
        values |= {
            "GRANARY_S3_ENDPOINT_URL": request.getfixturevalue("s3_endpoint"),
            "GRANARY_STORAGE_URL": f"s3://{S3_TEST_BUCKET}/t-{os.urandom(8).hex()}",
            # Django's test client does not follow a redirect to another host: tests read the bytes
            # from the app, and tests/api/test_download_presigned.py and the client's tests the
            # redirect.
            "GRANARY_DOWNLOAD_MODE": "stream",
        }
    return values


@pytest.fixture(autouse=True)
def data_dir(request: pytest.FixtureRequest, settings: Any, tmp_path: Path) -> Path:
    """Every test gets its own GRANARY_DATA_DIR (or S3 prefix), so leftover files are easy to spot."""
    path = tmp_path / "granary-data"
    path.mkdir()
    for name, value in storage_settings(request, path).items():
        setattr(settings, name, value)
    return path


@pytest.fixture(scope="session", autouse=True)
def _live_server_as_gunicorn_behaves() -> Iterator[None]:
    """The live server behaves as gunicorn does, where tests notice:

    - it closes the connection when a response fails after its headers went out: Django's
      development server kept it open, so a client waited its whole timeout (60 s) for the rest of
      a download cut short on purpose (a corrupt blob);
    - it sends without Nagle's delay (TCP_NODELAY): it writes a response's headers and body apart,
      and the body waited for the client's delayed ACK of the headers, 40 ms per response (half of
      the API fuzzer's 193 s)."""
    from django.core.servers.basehttp import ServerHandler, WSGIRequestHandler

    def handle_error(self: Any) -> None:
        original(self)
        if self.headers_sent:
            self.request_handler.close_connection = True

    original = ServerHandler.handle_error
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ServerHandler, "handle_error", handle_error)
        patch.setattr(WSGIRequestHandler, "disable_nagle_algorithm", True)
        yield


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server for the session, with the test bucket and any credentials boto3 finds
    (moto accepts them all; set here so a developer's own profile is never used)."""
    import boto3

    from tests.services import running_s3

    with pytest.MonkeyPatch.context() as patch, running_s3() as endpoint:
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN"):
            patch.delenv(name, raising=False)
        patch.setenv("AWS_ACCESS_KEY_ID", "granary-test")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "granary-test")
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=S3_TEST_BUCKET)
        yield endpoint


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file())


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def team(db: None) -> Team:
    return TeamFactory(slug="ml-core", name="ML Core")


@pytest.fixture
def owner(team: Team) -> Any:
    user = UserFactory(username="olivia")
    MembershipFactory(team=team, user=user, role=Membership.Role.OWNER)
    return user


@pytest.fixture
def maintainer(team: Team) -> Any:
    user = UserFactory(username="mario")
    MembershipFactory(team=team, user=user, role=Membership.Role.MAINTAINER)
    return user


@pytest.fixture
def member(team: Team) -> Any:
    user = UserFactory(username="mina")
    MembershipFactory(team=team, user=user, role=Membership.Role.MEMBER)
    return user


@pytest.fixture
def outsider(db: None) -> Any:
    return UserFactory(username="oscar")


@pytest.fixture
def public_dataset(team: Team) -> Dataset:
    return DatasetFactory(slug="churn", team=team, visibility=Dataset.Visibility.PUBLIC)


@pytest.fixture
def internal_dataset(team: Team) -> Dataset:
    return DatasetFactory(slug="payroll", team=team, visibility=Dataset.Visibility.INTERNAL)


@pytest.fixture
def restricted_dataset(team: Team) -> Dataset:
    return DatasetFactory(slug="patients", team=team, visibility=Dataset.Visibility.RESTRICTED)


@pytest.fixture
def api() -> Callable[[Any], APIClient]:
    """An API client authenticated with a real Bearer token for `user` (None: anonymous)."""

    def make(user: Any = None) -> APIClient:
        client = APIClient()
        if user is not None:
            # Every right the user has, as tokens had before scopes (test_token_scopes narrows them).
            secret = token_create(user=user, name="tests", scope="admin").secret
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        return client

    return make


CSV = b"id,name,score\n1,ada,0.5\n2,grace,0.75\n3,linus,0.9\n"


def upload(name: str = "scores.csv", data: bytes = CSV, content_type: str = "text/csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


@contextmanager
def built_once(django_db_blocker: Any) -> Iterator[None]:
    """For a module-scoped fixture: what it builds inside goes in a transaction that each test's
    own nests in (a savepoint rolled back after the test) and that rolls back at the module's end.

    Not for tests that commit (transactional_db, live_server): their flush would empty it for the
    tests after them."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield
        transaction.set_rollback(True)


def search_writes(monkeypatch: pytest.MonkeyPatch, *, failing: int = 0) -> list[int]:
    """The datasets whose search document is written from now on, in order, through the signals
    that ask for it (search.receivers); with `failing`, that write raises, as a bug there would."""
    import search.receivers

    written: list[int] = []
    write = search.receivers.search_index_dataset

    def counted(*, dataset_id: int) -> None:
        written.append(dataset_id)
        if len(written) == failing:
            raise RuntimeError("a bug in the search index")
        write(dataset_id=dataset_id)

    monkeypatch.setattr(search.receivers, "search_index_dataset", counted)
    return written


def publish_now(
    dataset: Dataset, data: bytes = CSV, user: Any = None, ingest: bool = True, **kwargs: Any
) -> Version:
    """Publish bytes as a new version through the real service and ingest it inline, under the
    storage settings in force (the `publish` fixture's, or a module's own)."""
    from datasets import storage
    from datasets.services.versions import version_create, version_ingest

    path = storage.tmp_dir() / f"fixture-{os.urandom(6).hex()}"
    path.write_bytes(data)
    try:
        version = version_create(
            dataset=dataset, user=user, path=path, sha256=sha256_of(data), size=len(data), **kwargs
        )
    finally:
        path.unlink(missing_ok=True)
    if ingest:
        version_ingest(version_id=version.pk)
        version.refresh_from_db()
    return version


@pytest.fixture
def publish(request: pytest.FixtureRequest, data_dir: Path) -> Callable[..., Version]:
    """Publish bytes as a new version through the real service, then ingest it inline; in a test
    with a real worker, wait for that worker to ingest it instead: it gets the version's ingest on
    commit, and a second, unleased ingest beside it deadlocked PostgreSQL in the search indexer."""
    by_worker = "celery_worker" in request.fixturenames

    def make(
        dataset: Dataset, data: bytes = CSV, user: Any = None, ingest: bool = True, **kwargs: Any
    ) -> Version:
        if by_worker:
            request.getfixturevalue("celery_worker")  # running before the send, if called from a fixture
        else:
            return publish_now(dataset, data, user=user, ingest=ingest, **kwargs)
        version = publish_now(dataset, data, user=user, ingest=False, **kwargs)
        if ingest:

            def ingested() -> bool:
                version.refresh_from_db()
                return version.status != Version.Status.PROCESSING

            wait_for(ingested, timeout=60, what=f"the worker to ingest version {version.pk}")
        return version

    return make


@pytest.fixture(autouse=True)
def _no_broker(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Unit tests run without Redis: queued ingest is recorded instead of sent.

    Integration tests (marked `integration`) use the real broker and worker.
    """
    if request.node.get_closest_marker("integration"):
        yield
        return
    from datasets.tasks import ingest_version

    queued: list[int] = []
    monkeypatch.setattr(ingest_version, "delay", queued.append)
    request.node.queued_ingests = queued
    yield


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    from tests.services import running_redis

    with running_redis() as url:
        yield url


@pytest.fixture
def celery_worker(redis_url: str, transactional_db: None) -> Iterator[Any]:
    """A real Celery worker, in a thread of this process, consuming from a real Redis.

    The app's producers move to that Redis too (broker_at): Celery opens its producer pool at the
    first send and keeps that URL, so after an earlier test had sent anything (a `publish` queues
    an ingest on commit) to the default broker, setting broker_url alone left the web side sending
    where no worker listened, and a validation run stayed queued. The Redis starts empty, as the
    database does: what an earlier test queued without a worker names rows that are gone.
    """
    import redis
    from celery.contrib.testing.worker import start_worker

    from config.celery import app
    from tests.integration.broker import broker_at

    redis.Redis.from_url(redis_url).flushdb()
    app.conf.broker_connection_retry_on_startup = True
    with (
        broker_at(redis_url),
        start_worker(
            app, pool="solo", concurrency=1, perform_ping_check=False, shutdown_timeout=30
        ) as worker,
    ):
        yield worker


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
