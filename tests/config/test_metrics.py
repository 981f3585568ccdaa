"""Prometheus metrics at /metrics: only for the holder of GRANARY_METRICS_TOKEN, and after real
requests and a real worker's tasks, the series an operator graphs: latency by route pattern (never
by raw path), task durations and failures, queue lengths, ingest throughput, storage errors."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from datasets.models import Version
from tests.conftest import upload, wait_for
from tests.integration.broker import broker_at

TOKEN = "scrape-me-0123456789"


def scrape(client: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def token(settings: Any) -> str:
    settings.GRANARY_METRICS_TOKEN = TOKEN
    return TOKEN


def test_metrics_are_off_without_a_token(client, settings):
    settings.GRANARY_METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything").status_code == 404


@pytest.mark.django_db
def test_metrics_refuse_a_missing_or_wrong_token_and_a_signed_in_admin(client, token, django_user_model):
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION=TOKEN).status_code == 403  # not as a Bearer
    admin = django_user_model.objects.create_superuser("root", "root@example.org", "pw-pw-pw-pw")
    client.force_login(admin)
    assert client.get("/metrics").status_code == 403


@pytest.mark.django_db
def test_request_latency_is_counted_by_route_pattern_not_by_address(
    client, api, owner, public_dataset, token
):
    before = scrape(client)
    for _ in range(3):
        assert api(owner).get(f"/api/v1/datasets/{public_dataset.slug}/").status_code == 200
    assert api(owner).get("/api/v1/datasets/no-such-dataset/").status_code == 404
    after = scrape(client)
    route = {"route": "api/v1/datasets/<slug:slug>/", "method": "GET"}
    count = "granary_http_request_duration_seconds_count"
    assert value(after, count, **route, status="2xx") - value(before, count, **route, status="2xx") == 3
    assert value(after, count, **route, status="4xx") - value(before, count, **route, status="4xx") == 1
    assert not any(public_dataset.slug in dict(labels).get("route", "") for _, labels in after)


@pytest.mark.django_db
def test_responses_carry_a_request_id_and_keep_a_well_formed_one_from_the_proxy(client):
    assert len(client.get("/healthz")["X-Request-ID"]) == 32
    assert client.get("/healthz", HTTP_X_REQUEST_ID="lb-7f3a")["X-Request-ID"] == "lb-7f3a"
    assert client.get("/healthz", HTTP_X_REQUEST_ID="bad id\nwith newline")["X-Request-ID"] != "bad id"


@pytest.mark.integration
def test_tasks_queues_and_ingest_throughput_after_a_real_worker_ran(
    client, api, owner, public_dataset, token, celery_worker, settings, redis_url
):
    settings.CELERY_BROKER_URL = redis_url
    before = scrape(client)
    response = api(owner).post(
        f"/api/v1/datasets/{public_dataset.slug}/versions/", {"file": upload()}, format="multipart"
    )
    assert response.status_code == 202, response.content
    version = wait_for(
        lambda: Version.objects.filter(
            dataset=public_dataset, number=response.json()["number"], status=Version.Status.READY
        ).first(),
        what="the worker to ingest the upload",
    )
    # A task that raises: an ingest for an id that is not a number.
    from config.celery import app

    app.send_task("datasets.tasks.ingest_version", args=["not-a-number"])
    wait_for(
        lambda: (
            value(scrape(client), "granary_task_failures_total", task="datasets.tasks.ingest_version")
            > value(before, "granary_task_failures_total", task="datasets.tasks.ingest_version")
        ),
        what="the failing task to be counted",
    )
    after = scrape(client)

    ingest = {"task": "datasets.tasks.ingest_version", "state": "SUCCESS"}
    runs = "granary_task_duration_seconds_count"
    assert value(after, runs, **ingest) - value(before, runs, **ingest) >= 1
    failed = {"task": "datasets.tasks.ingest_version", "state": "FAILURE"}
    assert value(after, runs, **failed) - value(before, runs, **failed) == 1

    ready_bytes = value(after, "granary_ingest_bytes_total", status="ready")
    assert ready_bytes - value(before, "granary_ingest_bytes_total", status="ready") == version.size
    rates = "granary_ingest_bytes_per_second_count"
    assert value(after, rates) - value(before, rates) == 1
    assert value(after, "granary_ingest_bytes_per_second_sum") > value(
        before, "granary_ingest_bytes_per_second_sum"
    )

    assert value(after, "granary_broker_up") == 1
    for queue in ("ingest", "quality", "io"):
        assert ("granary_celery_queue_length", (("queue", queue),)) in after
    assert value(after, "granary_celery_queue_length", queue="ingest") == 0  # the worker took it


@pytest.mark.integration
def test_queue_length_counts_what_waits_for_a_worker(client, token, settings, redis_url):
    settings.CELERY_BROKER_URL = redis_url
    from config.celery import app

    with broker_at(redis_url):
        with app.connection_for_write() as connection:
            for _ in range(3):
                app.send_task(
                    "datasets.tasks.ingest_version", args=[0], queue="ingest", connection=connection
                )
        try:
            assert value(scrape(client), "granary_celery_queue_length", queue="ingest") == 3
        finally:
            import redis

            redis.Redis.from_url(redis_url).delete("ingest")


def test_a_dead_broker_makes_the_scrape_say_so_instead_of_hanging(client, token, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    samples = scrape(client)
    assert value(samples, "granary_broker_up") == 0
    assert not any(name == "granary_celery_queue_length" for name, _ in samples)


@pytest.mark.django_db
def test_storage_errors_are_counted_by_kind(client, api, owner, public_dataset, publish, token, monkeypatch):
    from datasets import storage

    version = publish(public_dataset)

    def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise storage.StorageUnavailable("Blob storage did not answer.")

    monkeypatch.setattr(storage, "backend", unreachable)
    before = value(scrape(client), "granary_storage_errors_total", kind="unavailable")
    response = api(owner).get(f"/api/v1/datasets/{public_dataset.slug}/versions/{version.number}/download/")
    assert response.status_code == 503
    assert response["Retry-After"]
    assert value(scrape(client), "granary_storage_errors_total", kind="unavailable") == before + 1
