"""The audit log: what is recorded, by whom and from where, who may read it, and how long it is kept."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import audit_prune
from core.errors import NotReady
from datasets.models import AccessRequest
from datasets.services.access_requests import access_request_settle
from datasets.services.aliases import alias_delete, alias_set
from quality.services import suite_save
from tests.factories import UserFactory
from webhooks.models import Webhook

pytestmark = pytest.mark.django_db


def actions(**filters):
    return list(AuditEvent.objects.filter(**filters).order_by("pk").values_list("action", flat=True))


def test_a_download_is_recorded_with_who_which_version_and_from_where(api, member, public_dataset, publish):
    version = publish(public_dataset)
    response = api(member).get(
        f"/api/v1/datasets/churn/versions/{version.number}/download/", REMOTE_ADDR="203.0.113.7"
    )
    b"".join(response.streaming_content)
    event = AuditEvent.objects.get(action="version.download")
    assert (event.actor_name, event.dataset, event.version, event.ip) == ("mina", "churn", 1, "203.0.113.7")
    assert event.detail == {"format": "original", "status": 200}


def test_an_export_and_a_range_are_recorded_as_such(api, member, public_dataset, publish):
    publish(public_dataset)
    client = api(member)
    b"".join(
        client.get("/api/v1/datasets/churn/versions/1/download/?format=csv&columns=id").streaming_content
    )
    client.get("/api/v1/datasets/churn/versions/1/download/", HTTP_RANGE="bytes=0-9")
    export, ranged = (
        AuditEvent.objects.filter(action__startswith="version.")
        .exclude(action="version.create")
        .order_by("pk")
    )
    assert (export.action, export.detail["columns"]) == ("version.export", ["id"])
    assert (ranged.action, ranged.detail["status"], ranged.detail["range"]) == (
        "version.download",
        206,
        "bytes=0-9",
    )


def test_a_spoofed_forwarded_for_is_ignored_unless_a_proxy_is_trusted(
    api, member, public_dataset, publish, settings
):
    publish(public_dataset)
    client = api(member)
    url = "/api/v1/datasets/churn/versions/1/download/"
    client.get(url, REMOTE_ADDR="198.51.100.1", HTTP_X_FORWARDED_FOR="10.9.9.9")
    settings.GRANARY_TRUSTED_PROXIES = 1
    client.get(url, REMOTE_ADDR="198.51.100.1", HTTP_X_FORWARDED_FOR="10.9.9.9, 192.0.2.44")
    assert list(
        AuditEvent.objects.filter(action="version.download").order_by("pk").values_list("ip", flat=True)
    ) == [
        "198.51.100.1",
        "192.0.2.44",
    ]


def test_changes_are_recorded_by_the_services_that_make_them(
    api, owner, outsider, public_dataset, restricted_dataset, publish
):
    version = publish(public_dataset, user=owner)
    alias_set(dataset=public_dataset, user=owner, name="prod", version=version)
    alias_delete(dataset=public_dataset, user=owner, name="prod")
    suite_save(
        dataset=public_dataset,
        user=owner,
        expectations=[{"type": "expect_column_to_exist", "kwargs": {"column": "id"}}],
    )
    api(owner).post("/api/v1/checkouts/", {"refs": ["churn@1"], "purpose": "train v7"}, format="json")
    assert actions(dataset="churn") == [
        "version.create",
        "alias.move",
        "alias.remove",
        "suite.change",
        "checkout.create",
    ]
    asked = api(outsider).post(
        "/api/v1/datasets/patients/access-requests/", {"reason": "a study"}, format="json"
    )
    request = AccessRequest.objects.get(pk=asked.json()["id"])
    access_request_settle(user=owner, request=request, decision="approve", note="ok")
    access_request_settle(user=owner, request=request, decision="revoke", note="done")
    again = api(outsider).post(
        "/api/v1/datasets/patients/access-requests/", {"reason": "again"}, format="json"
    )
    access_request_settle(
        user=owner, request=AccessRequest.objects.get(pk=again.json()["id"]), decision="deny"
    )
    assert actions(dataset="patients") == [
        "access.request",
        "access.approve",
        "access.revoke",
        "access.request",
        "access.deny",
    ]
    assert AuditEvent.objects.filter(dataset="patients", actor_name="olivia").count() == 3


def test_a_refused_change_records_nothing(owner, public_dataset, publish):
    pending = publish(public_dataset, user=owner, ingest=False)  # still processing
    with pytest.raises(NotReady):
        alias_set(dataset=public_dataset, user=owner, name="prod", version=pending)
    assert actions() == ["version.create"]


def test_owners_read_their_datasets_log_and_nobody_else_does(
    api, owner, member, outsider, public_dataset, publish
):
    publish(public_dataset, user=owner)
    assert [e["action"] for e in api(owner).get("/api/v1/audit/?dataset=churn").json()["results"]] == [
        "version.create"
    ]
    denied = api(member).get("/api/v1/audit/?dataset=churn")
    assert denied.status_code == 403 and "owners" in denied.json()["detail"]
    assert api(member).get("/api/v1/audit/").json()["results"] == []
    assert api(outsider).get("/api/v1/audit/").json()["results"] == []
    admin = UserFactory(username="root", is_superuser=True, is_staff=True)
    everything = api(admin).get("/api/v1/audit/").json()
    assert everything["count"] == AuditEvent.objects.count() > 1  # tokens made for the test, too


def test_an_internal_dataset_of_another_team_is_not_found_in_the_log(api, outsider, internal_dataset):
    assert api(outsider).get("/api/v1/audit/?dataset=payroll").status_code == 404


def test_the_log_filters_by_actor_and_action_prefix(api, owner, member, public_dataset, publish):
    publish(public_dataset, user=owner)
    b"".join(api(member).get("/api/v1/datasets/churn/versions/1/download/").streaming_content)
    client = api(owner)
    assert [e["actor"] for e in client.get("/api/v1/audit/?actor=mina").json()["results"]] == ["mina"]
    assert [e["action"] for e in client.get("/api/v1/audit/?action=version.").json()["results"]] == [
        "version.download",
        "version.create",
    ]


def test_the_log_exports_as_json_lines(api, owner, public_dataset, publish):
    publish(public_dataset, user=owner)
    response = api(owner).get("/api/v1/audit/export/?dataset=churn")
    assert response["Content-Type"].startswith("application/jsonl")
    lines = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    assert [(line["action"], line["dataset"], line["version"]) for line in lines] == [
        ("version.create", "churn", 1)
    ]


def test_the_audit_tab_shows_owners_the_log_and_refuses_members(
    client, owner, member, public_dataset, publish
):
    publish(public_dataset, user=owner)
    client.force_login(owner)
    page = client.get("/datasets/churn/audit/")
    assert page.status_code == 200 and "version.create" in page.content.decode()
    assert 'href="/datasets/churn/audit/"' in client.get("/datasets/churn/").content.decode()
    client.force_login(member)
    assert client.get("/datasets/churn/audit/").status_code == 403
    assert 'href="/datasets/churn/audit/"' not in client.get("/datasets/churn/").content.decode()


def test_old_events_are_pruned_after_the_retention_period(owner, public_dataset, publish, settings):
    publish(public_dataset, user=owner)
    AuditEvent.objects.update(at=timezone.now() - timedelta(days=400))
    publish(public_dataset, data=b"id\n1\n", user=owner)
    settings.GRANARY_AUDIT_RETENTION_DAYS = 0
    assert audit_prune() == 0
    settings.GRANARY_AUDIT_RETENTION_DAYS = 365
    call_command("audit_prune")
    assert AuditEvent.objects.count() == 1


def test_team_tokens_webhooks_and_card_changes_are_recorded(api, client, owner, team, settings):
    settings.GRANARY_WEBHOOK_ALLOWED_NETWORKS = ["203.0.113.0/24"]
    client.force_login(owner)
    client.post(f"/teams/{team.slug}/webhooks/", {"url": "https://203.0.113.9/hook", "secret": "s" * 20})
    webhook = Webhook.objects.get()
    client.post(f"/teams/{team.slug}/webhooks/{webhook.pk}/delete/")
    assert actions(action__startswith="webhook.") == ["webhook.create", "webhook.delete"]
    assert AuditEvent.objects.get(action="webhook.create").target == "https://203.0.113.9/hook"
    api(owner).post("/api/v1/teams/", {"slug": "vision", "name": "Vision"}, format="json")
    assert AuditEvent.objects.get(action="team.create").target == "vision"
    client = api(owner)
    UserFactory(username="newbie")
    client.post(
        f"/api/v1/teams/{team.slug}/members/", {"username": "newbie", "role": "member"}, format="json"
    )
    client.patch(f"/api/v1/teams/{team.slug}/members/newbie/", {"role": "maintainer"}, format="json")
    client.delete(f"/api/v1/teams/{team.slug}/members/newbie/")
    created = client.post("/api/v1/tokens/", {"name": "laptop", "scope": "read"}, format="json").json()
    client.delete(f"/api/v1/tokens/{created['id']}/")
    client.post(
        "/api/v1/datasets/",
        {"slug": "weather", "title": "Weather", "team": team.slug, "visibility": "internal"},
        format="json",
    )
    client.patch("/api/v1/datasets/weather/", {"visibility": "public", "summary": "Daily"}, format="json")
    assert actions(team_id=team.pk, action__startswith="member.") == [
        "member.set",
        "member.role",
        "member.remove",
    ]
    role = AuditEvent.objects.get(action="member.role")
    assert (role.target, role.detail) == ("newbie", {"from": "member", "to": "maintainer"})
    tokens = AuditEvent.objects.filter(action__startswith="token.", actor_name="olivia")
    assert [e.action for e in tokens.order_by("pk")][-2:] == ["token.create", "token.revoke"]
    assert actions(dataset="weather") == ["dataset.create", "dataset.update", "dataset.visibility"]
    visibility = AuditEvent.objects.get(action="dataset.visibility")
    assert visibility.detail == {"from": "internal", "to": "public"}
    assert AuditEvent.objects.get(action="dataset.update").detail == {"fields": ["summary", "visibility"]}
