"""Webhook deliveries queued while Redis is down: the request that published them still answers,
and each delivery row is its own outbox, sent by the sweeper once Redis is back. None lost."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis

from tests.integration.broker import broker_at
from tests.services import RedisServer, restartable_redis
from webhooks.models import WebhookDelivery
from webhooks.services import webhook_create, webhook_deliveries_requeue

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
SECRET = "a-long-shared-secret-0123"


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    with restartable_redis() as server, broker_at(server.url):
        yield server


def queued_deliveries(url: str) -> list[str]:
    """The delivery ids of deliver_webhook messages waiting on the `io` queue."""
    messages = [json.loads(raw) for raw in redis.Redis.from_url(url).lrange("io", 0, -1)]
    return [
        m["headers"]["argsrepr"] for m in messages if m["headers"]["task"] == "datasets.tasks.deliver_webhook"
    ]


def test_an_event_published_while_redis_is_down_is_delivered_by_the_sweeper_once_it_returns(
    redis_server, restricted_dataset, outsider, team, api
):
    webhook_create(team=team, url="https://hooks.example.com/granary", secret=SECRET)
    redis_server.stop()

    asked = api(outsider).post(
        "/api/v1/datasets/patients/access-requests/", {"reason": "a readmission study"}, format="json"
    )

    assert asked.status_code == 201, asked.content
    [delivery] = WebhookDelivery.objects.filter(event="access.requested")
    assert (delivery.status, delivery.sent_at) == ("pending", None)
    assert webhook_deliveries_requeue() == [], "Redis is still down: nothing is sent, nothing lost"
    assert WebhookDelivery.objects.get().sent_at is None

    redis_server.start()
    assert webhook_deliveries_requeue(now=delivery.created_at + timedelta(seconds=1)) == []
    sent = webhook_deliveries_requeue(now=delivery.created_at + timedelta(minutes=5))

    assert sent == [delivery.pk]
    assert WebhookDelivery.objects.get().sent_at is not None
    assert queued_deliveries(redis_server.url) == [f"({delivery.pk},)"]
    assert webhook_deliveries_requeue(now=delivery.created_at + timedelta(minutes=5)) == [], "sent once"


def test_celery_beat_runs_the_delivery_sweep(settings):
    from config.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["webhooks-deliveries-sweep"]
    assert entry["schedule"] == float(settings.GRANARY_SWEEP_SECONDS)
    assert app.tasks[entry["task"]].apply().get() == []
