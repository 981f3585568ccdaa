"""Webhooks: signed events to a local receiver, retried, every delivery recorded."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from quality.services import suite_save, validation_queue, validation_run
from tests.services import free_port
from webhooks.models import WebhookDelivery
from webhooks.services import WebhookFailed, webhook_create, webhook_deliver

pytestmark = pytest.mark.django_db
SECRET = "a-long-shared-secret-0123"


@pytest.fixture(autouse=True)
def receivers_on_loopback(settings):
    """The receivers here listen on 127.0.0.1 over http, as an on-premise receiver would with its
    network allowed (test_webhook_destinations.py shows what is refused without these)."""
    settings.GRANARY_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.GRANARY_WEBHOOK_ALLOW_HTTP = True


@pytest.fixture
def receiver():
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"headers": dict(self.headers), "body": body})
            self.send_response(202)
            self.end_headers()
            self.wfile.write(b"thanks")

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()


def test_a_failed_validation_is_posted_signed_to_the_team(
    public_dataset, publish, maintainer, receiver, team
):
    url, received = receiver
    webhook_create(team=team, url=url, secret=SECRET)
    version = publish(public_dataset, data=b"age\n-1\n")
    suite_save(
        dataset=public_dataset,
        user=maintainer,
        expectations=[
            {"type": "expect_column_values_to_be_between", "kwargs": {"column": "age", "min_value": 0}}
        ],
    )
    run = validation_queue(version=version, trigger="test")
    validation_run(run_id=run.pk)
    [delivery] = quality_announce(run.pk)
    delivery = webhook_deliver(delivery_id=delivery.pk, final=False)

    assert (delivery.status, delivery.response_status, delivery.outcome) == ("delivered", 202, "HTTP 202")
    [request] = received
    event = json.loads(request["body"])
    assert event["event"] == "validation.failed"
    assert (event["dataset"], event["version"], event["sha256"]) == ("churn", 1, version.sha256)
    assert event["report_url"].endswith(f"/datasets/churn/versions/1/validations/{run.pk}/")
    expected = "sha256=" + hmac.new(SECRET.encode(), request["body"], hashlib.sha256).hexdigest()
    assert request["headers"]["X-Granary-Signature"] == expected
    assert request["headers"]["X-Granary-Event"] == "validation.failed"


def test_a_version_that_becomes_certified_is_announced(public_dataset, publish, maintainer, receiver, team):
    url, _received = receiver
    webhook_create(team=team, url=url, secret=SECRET)
    version = publish(public_dataset, data=b"age\n3\n")
    suite_save(
        dataset=public_dataset,
        user=maintainer,
        expectations=[{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "age"}}],
    )
    run = validation_queue(version=version, trigger="test")
    validation_run(run_id=run.pk)
    [delivery] = quality_announce(run.pk)
    assert delivery.event == "version.certified"


def test_a_refused_connection_is_retried_then_recorded_as_failed(public_dataset, publish, maintainer, team):
    hook = webhook_create(team=team, url=f"http://127.0.0.1:{free_port()}/nobody", secret=SECRET)
    delivery = WebhookDelivery.objects.create(
        webhook=hook, event="validation.failed", payload={"ref": "churn@1"}
    )
    with pytest.raises(WebhookFailed, match=r"^connection refused$"):
        webhook_deliver(delivery_id=delivery.pk, final=False)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.error) == ("pending", 1, "refused")
    delivery = webhook_deliver(delivery_id=delivery.pk, final=True)
    assert (delivery.status, delivery.attempts) == ("failed", 2)


@pytest.mark.parametrize(
    ("url", "secret", "message"),
    [("ftp://x", SECRET, "http:// or https://"), ("http://x", "short", "at least 16")],
)
def test_a_bad_webhook_is_refused(team, url, secret, message):
    from core.errors import InvalidInput

    with pytest.raises(InvalidInput, match=message):
        webhook_create(team=team, url=url, secret=secret)


def test_the_webhooks_page_is_for_owners_and_lists_deliveries(client, owner, member, team):
    hook = webhook_create(team=team, url="https://example.invalid/hook", secret=SECRET)
    WebhookDelivery.objects.create(
        webhook=hook,
        event="version.certified",
        payload={"ref": "churn@2"},
        status="delivered",
        response_status=200,
    )
    client.force_login(member)
    assert client.get("/teams/ml-core/webhooks/").status_code == 403
    client.force_login(owner)
    page = client.get("/teams/ml-core/webhooks/").content.decode()
    assert "version.certified churn@2" in page and "HTTP 200" in page
    response = client.post(
        "/teams/ml-core/webhooks/", {"url": "https://hooks.example.org/x", "secret": SECRET}
    )
    assert response.status_code == 302


def quality_announce(run_id: int) -> list[WebhookDelivery]:
    from quality.services import webhooks_announce_run

    return webhooks_announce_run(run_id=run_id)


def test_a_request_for_restricted_data_is_announced_to_the_team(
    restricted_dataset, outsider, receiver, team, api
):
    url, received = receiver
    webhook_create(team=team, url=url, secret=SECRET)
    asked = api(outsider).post(
        "/api/v1/datasets/patients/access-requests/", {"reason": "a readmission study"}, format="json"
    )
    assert asked.status_code == 201
    [delivery] = WebhookDelivery.objects.filter(event="access.requested")
    assert webhook_deliver(delivery_id=delivery.pk, final=False).status == "delivered"
    [request] = received
    event = json.loads(request["body"])
    assert (event["dataset"], event["user"], event["reason"]) == ("patients", "oscar", "a readmission study")
    assert event["request"] == asked.json()["id"]
    assert event["decide_url"].endswith("/datasets/patients/access/")
    assert request["headers"]["X-Granary-Event"] == "access.requested"
