"""Email notifications: owners hear of a new access request, requesters of the decision, unless
they turned it off; the setting is on the portal's settings page and in the API."""

from __future__ import annotations

import pytest
from django.core import mail

from accounts.services import preferences_set
from datasets.models import AccessRequest
from datasets.services.access_requests import access_request_settle
from webhooks.tasks import send_notification

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _send_at_commit(monkeypatch, django_capture_on_commit_callbacks):
    """The worker's part, inline: what is queued at commit is sent at once (locmem backend)."""
    monkeypatch.setattr(send_notification, "delay", lambda *args: send_notification(*args))


def ask(api, user, slug="patients", reason="A study of outcomes", capture=None):
    with capture(execute=True):
        return api(user).post(f"/api/v1/datasets/{slug}/access-requests/", {"reason": reason}, format="json")


def test_owners_are_emailed_of_a_new_request_with_its_reason_and_where_to_decide(
    api, owner, outsider, restricted_dataset, django_capture_on_commit_callbacks
):
    owner.email, outsider.email = "olivia@example.org", "oscar@example.org"
    owner.save()
    outsider.save()
    assert ask(api, outsider, capture=django_capture_on_commit_callbacks).status_code == 201
    [message] = mail.outbox
    assert message.to == ["olivia@example.org"]
    assert message.subject == "Granary: oscar asks for access to patients"
    assert "A study of outcomes" in message.body and "/datasets/patients/access/" in message.body


def test_an_owner_who_turned_emails_off_or_has_no_address_gets_none(
    api, owner, outsider, restricted_dataset, django_capture_on_commit_callbacks
):
    owner.email = "olivia@example.org"
    owner.save()
    preferences_set(user=owner, email_notifications=False)
    ask(api, outsider, capture=django_capture_on_commit_callbacks)
    assert mail.outbox == []


def test_the_requester_is_emailed_each_decision_with_the_owners_note(
    api, owner, outsider, restricted_dataset, django_capture_on_commit_callbacks
):
    outsider.email = "oscar@example.org"
    outsider.save()
    ask(api, outsider, capture=django_capture_on_commit_callbacks)
    request = AccessRequest.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        access_request_settle(user=owner, request=request, decision="approve", note="for the study only")
    with django_capture_on_commit_callbacks(execute=True):
        access_request_settle(user=owner, request=request, decision="revoke", note="the study ended")
    assert [m.subject for m in mail.outbox] == [
        "Granary: your access to patients was approved",
        "Granary: your access to patients was revoked",
    ]
    assert "for the study only" in mail.outbox[0].body and "the study ended" in mail.outbox[1].body
    assert all(m.to == ["oscar@example.org"] for m in mail.outbox)


def test_the_setting_is_on_the_settings_page_and_in_the_api(api, client, member):
    client.force_login(member)
    assert "checked" in client.get("/settings/").content.decode()
    client.post("/settings/", {})  # the box unticked
    assert api(member).get("/api/v1/me/preferences/").json() == {"email_notifications": False}
    answer = api(member).patch("/api/v1/me/preferences/", {"email_notifications": True}, format="json")
    assert answer.json() == {"email_notifications": True}
    assert "checked" in client.get("/settings/").content.decode()
