"""Redis stopped and started again under a real worker: uploads made while it is down are accepted
and ingested once it is back, a worker survives it going away during ingests, and tasks queued
when it restarts are kept by its append-only file. Nothing is lost."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from datasets.models import Version
from tests.conftest import wait_for
from tests.integration.broker import broker_at
from tests.integration.workers import Worker, running_worker, wait_or_show
from tests.services import RedisServer, restartable_redis

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    with restartable_redis() as server, broker_at(server.url):
        yield server


RECONNECT = "consumer: Cannot connect to redis"


def csv_rows(rows: int, seed: int) -> bytes:
    return b"id,score\n" + b"".join(b"%d,%d\n" % (i, i * seed % 1000) for i in range(rows))


def upload(client, data: bytes):
    return client.post(
        "/api/v1/datasets/churn/versions/",
        {"file": SimpleUploadedFile("d.csv", data, content_type="text/csv")},
        format="multipart",
    )


def all_ended(worker: Worker, count: int, timeout: float = 90) -> list[Version]:
    def ended() -> list[Version] | None:
        versions = list(Version.objects.order_by("number"))
        done = len(versions) == count and all(v.status != "processing" for v in versions)
        return versions if done else None

    try:
        return wait_for(ended, timeout=timeout, what=f"{count} versions to be ingested")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the worker's log ends:\n{worker.log()[-5000:]}") from None


def test_uploads_while_redis_is_down_are_accepted_and_ingested_once_it_returns(
    redis_server, api, maintainer, public_dataset
):
    client = api(maintainer)
    with running_worker(redis_server.url, queues="ingest,io") as worker:
        redis_server.stop()
        accepted = [upload(client, csv_rows(100, seed=n)) for n in (1, 2, 3)]
        assert [r.status_code for r in accepted] == [202, 202, 202], [r.content for r in accepted]
        # The same file again is the version it already is, not a second one.
        again = upload(client, csv_rows(100, seed=1))
        assert again.status_code == 409
        assert "already version 1" in again.json()["detail"]
        assert Version.objects.filter(status="processing", sent_at=None).count() == 3

        redis_server.start()
        versions = all_ended(worker, 3)
        assert [(v.number, v.status, v.row_count) for v in versions] == [(n, "ready", 100) for n in (1, 2, 3)]
        assert worker.alive()


def test_a_worker_survives_redis_stopping_during_ingests_twice(redis_server, api, maintainer, public_dataset):
    client = api(maintainer)
    # Two processes, as `make run` has: the worker died on the second disconnect
    # ('NoneType' object has no attribute 'hostname') with a task in flight.
    with running_worker(redis_server.url, queues="ingest,io", concurrency=2) as worker:
        for number in (1, 2):
            assert upload(client, csv_rows(600_000, seed=number)).status_code == 202
            wait_or_show(
                worker,
                lambda n=number: Version.objects.filter(number=n).exclude(lease_owner="").exists(),
                timeout=60,
                what=f"the worker to start ingesting version {number}",
            )
            redis_server.stop()
            # The ingest ends while Redis is away; its acknowledgement waits for it to return.
            wait_or_show(
                worker,
                lambda n=number: Version.objects.filter(number=n, status="ready").exists(),
                timeout=90,
                what=f"version {number} to be ingested with Redis down",
            )
            # ...and stays away while the worker tries to reconnect, twice.
            tries = worker.log().count(RECONNECT)
            wait_or_show(
                worker,
                lambda tries=tries: not worker.alive() or worker.log().count(RECONNECT) >= tries + 2,
                timeout=60,
                what="the worker to retry the connection",
            )
            assert worker.alive(), worker.log()[-5000:]
            redis_server.start()
        assert upload(client, csv_rows(100, seed=3)).status_code == 202
        versions = all_ended(worker, 3)
        assert [v.status for v in versions] == ["ready"] * 3
        assert worker.alive(), worker.log()[-5000:]
        assert "Unrecoverable error" not in worker.log()


def test_tasks_queued_when_redis_restarts_are_kept_by_its_append_only_file(
    redis_server, api, maintainer, public_dataset
):
    client = api(maintainer)
    # No worker yet: the three ingests wait in Redis.
    for seed in (1, 2, 3):
        assert upload(client, csv_rows(100, seed=seed)).status_code == 202
    assert Version.objects.filter(sent_at=None).count() == 0
    redis_server.stop()
    redis_server.start()
    with running_worker(redis_server.url, queues="ingest,io") as worker:
        versions = all_ended(worker, 3)
    assert [v.status for v in versions] == ["ready"] * 3
