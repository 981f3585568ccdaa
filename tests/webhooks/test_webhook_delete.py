"""Owners delete a team's webhook from its webhooks page; its deliveries go with it."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import TeamFactory
from webhooks.models import Webhook, WebhookDelivery
from webhooks.services import webhook_deliver
from webhooks.tasks import deliver_webhook

pytestmark = pytest.mark.django_db
SECRET = "a-long-shared-secret-0123"


def hook(team, url: str = "https://hooks.example.org/a") -> Webhook:
    webhook = Webhook.objects.create(team=team, url=url, secret=SECRET)
    WebhookDelivery.objects.create(webhook=webhook, event="version.certified", payload={"ref": "churn@2"})
    return webhook


def test_an_owner_deletes_a_webhook_and_its_deliveries(client, owner, team):
    gone, kept = hook(team), hook(team, "https://hooks.example.org/b")
    client.force_login(owner)
    page = client.get("/teams/ml-core/webhooks/").content.decode()
    assert f'action="/teams/ml-core/webhooks/{gone.pk}/delete/"' in page

    response = client.post(f"/teams/ml-core/webhooks/{gone.pk}/delete/", follow=True)

    assert response.redirect_chain == [("/teams/ml-core/webhooks/", 302)]
    assert "Deleted the webhook to https://hooks.example.org/a." in response.content.decode()
    assert list(Webhook.objects.values_list("pk", flat=True)) == [kept.pk]
    assert list(WebhookDelivery.objects.values_list("webhook_id", flat=True)) == [kept.pk]


@pytest.mark.parametrize("persona", ["member", "maintainer", "outsider"])
def test_only_owners_may_delete_a_webhook(client, team, persona, request):
    webhook = hook(team)
    client.force_login(request.getfixturevalue(persona))
    response = client.post(f"/teams/ml-core/webhooks/{webhook.pk}/delete/")
    assert response.status_code == 403
    assert "Only owners of ml-core manage its webhooks." in response.content.decode()
    assert Webhook.objects.filter(pk=webhook.pk).exists()


def test_deleting_takes_a_post_with_the_csrf_token(owner, team):
    webhook = hook(team)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner)
    assert browser.get(f"/teams/ml-core/webhooks/{webhook.pk}/delete/").status_code == 405
    assert browser.post(f"/teams/ml-core/webhooks/{webhook.pk}/delete/").status_code == 403
    assert Webhook.objects.filter(pk=webhook.pk).exists()


def test_another_teams_webhook_is_not_found(client, owner, team):
    theirs = hook(TeamFactory(slug="other"))
    client.force_login(owner)
    assert client.post(f"/teams/ml-core/webhooks/{theirs.pk}/delete/").status_code == 404
    assert Webhook.objects.filter(pk=theirs.pk).exists()


def test_a_delivery_queued_before_its_webhook_was_deleted_is_dropped(team):
    webhook = hook(team)
    delivery_id = webhook.deliveries.get().pk
    webhook.delete()
    assert webhook_deliver(delivery_id=delivery_id, final=False) is None
    assert deliver_webhook.apply(args=[delivery_id]).successful()
