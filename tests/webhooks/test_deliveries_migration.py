"""What deliveries stored before this release (receivers' answers, exception texts) is gone after
`migrate`: the answers with their column, each error text turned into a fixed reason."""

from __future__ import annotations

import json

import pytest
from django.db import connection

from tests.migrating import migrate, migrate_to_latest
from webhooks.models import WebhookDelivery

BEFORE = [("webhooks", "0001_webhooks_move_here")]


@pytest.mark.django_db(transaction=True)
def test_stored_answers_and_error_texts_do_not_survive_the_upgrade():
    try:
        executor = migrate(BEFORE)
        old = executor.loader.project_state(list(executor.loader.applied_migrations)).apps
        team = old.get_model("accounts", "Team").objects.create(slug="ml-core", name="ML Core")
        hook = old.get_model("webhooks", "Webhook").objects.create(
            team=team, url="http://127.0.0.1:8912/hook", secret="s" * 16
        )
        Delivery = old.get_model("webhooks", "WebhookDelivery")
        stored = {
            "followed to the secret": {
                "response_status": 200,
                "response_body": "INTERNAL-METADATA-SECRET-123",
            },
            "refused": {
                "error": "ConnectionError: HTTPConnectionPool(host='10.0.0.7', port=5432): Max retries exceeded "
                "(Caused by NewConnectionError(': Failed to establish a new connection: "
                "[Errno 111] Connection refused'))"
            },
            "timed out": {
                "error": "ReadTimeout: HTTPConnectionPool(host='10.0.0.8', port=80): Read timed out."
            },
            "anything else": {"error": "ChunkedEncodingError: ('Connection broken: IncompleteRead')"},
        }
        ids = {
            case: Delivery.objects.create(webhook=hook, event="validation.failed", payload={}, **fields).pk
            for case, fields in stored.items()
        }

        migrate_to_latest()

        now = {case: WebhookDelivery.objects.get(pk=pk) for case, pk in ids.items()}
        assert {case: (d.response_status, d.error) for case, d in now.items()} == {
            "followed to the secret": (200, ""),
            "refused": (None, "refused"),
            "timed out": (None, "timeout"),
            "anything else": (None, "failed"),
        }
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM datasets_webhookdelivery")
            everything = json.dumps(cursor.fetchall(), default=str)
        assert "INTERNAL-METADATA" not in everything and "10.0.0.7" not in everything
    finally:
        migrate_to_latest()
