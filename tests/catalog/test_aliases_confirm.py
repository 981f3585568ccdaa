"""Aliases that pipelines pull without looking (issue 15): pointing one at a version that has not
passed its checks asks first, removing one asks first, and Approve and Deny look different."""

from __future__ import annotations

import re

import pytest

from datasets.access import dataset_access
from datasets.models import Alias, Version
from datasets.services.access_requests import access_request_create
from datasets.services.aliases import alias_set
from tests.conftest import CSV

pytestmark = pytest.mark.django_db


@pytest.fixture
def versions(public_dataset, publish, owner):
    """churn@1 passed its checks, churn@2 failed them; @prod names v1."""
    first, second = publish(public_dataset), publish(public_dataset, data=CSV + b"4,alan,0.1\n")
    Version.objects.filter(pk=first.pk).update(quality_status="passed")
    Version.objects.filter(pk=second.pk).update(quality_status="failed")
    first.refresh_from_db()
    alias_set(dataset=public_dataset, user=owner, name="prod", version=first)
    return first, second


def prod() -> int:
    return Alias.objects.get(name="prod").version.number


def test_moving_an_alias_to_a_failed_version_warns_and_moves_only_when_confirmed(
    client, maintainer, versions
):
    client.force_login(maintainer)
    response = client.post("/datasets/churn/aliases/set/", {"name": "prod", "version": "2"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "v2 failed its quality checks." in html
    assert '<input type="hidden" name="confirm" value="1">' in html
    assert "Point @prod at v2 anyway" in html
    assert prod() == 1  # nothing moved yet

    response = client.post(
        "/datasets/churn/aliases/set/", {"name": "prod", "version": "2", "confirm": "1"}, follow=True
    )
    assert "churn@prod now names v2." in response.content.decode()
    assert prod() == 2


def test_a_version_that_passed_its_checks_moves_without_a_question(client, maintainer, versions):
    client.force_login(maintainer)
    client.post("/datasets/churn/aliases/set/", {"name": "prod", "version": "2", "confirm": "1"})
    response = client.post("/datasets/churn/aliases/set/", {"name": "prod", "version": "1"}, follow=True)
    assert "churn@prod now names v1." in response.content.decode()
    assert prod() == 1


def test_a_version_never_checked_asks_too(client, maintainer, versions, public_dataset, publish):
    publish(public_dataset, data=CSV + b"5,ken,0.3\n")  # v3: no run yet
    client.force_login(maintainer)
    html = client.post("/datasets/churn/aliases/set/", {"name": "nightly", "version": "3"}).content.decode()
    assert "v3 has" in html and "passed" in html and "anyway" in html
    assert not Alias.objects.filter(name="nightly").exists()


def test_the_version_choices_say_which_failed_their_checks(client, maintainer, versions):
    client.force_login(maintainer)
    html = client.get("/datasets/churn/aliases/").content.decode()
    assert re.search(r'<option value="2"[^>]*>v2[^<]*\(failed its checks\)</option>', html)
    assert not re.search(r'<option value="1"[^>]*>v1[^<]*\(failed', html)


def test_removing_an_alias_asks_first(client, maintainer, versions):
    client.force_login(maintainer)
    html = client.get("/datasets/churn/aliases/").content.decode()
    # The table links to the question; no one-click removal.
    assert 'href="/datasets/churn/aliases/prod/delete/"' in html
    assert 'action="/datasets/churn/aliases/prod/delete/"' not in html

    question = client.get("/datasets/churn/aliases/prod/delete/")
    text = question.content.decode()
    assert question.status_code == 200 and "Remove <code>@prod</code>?" in text
    assert 'action="/datasets/churn/aliases/prod/delete/"' in text and "Cancel" in text
    assert Alias.objects.filter(name="prod").exists()

    client.post("/datasets/churn/aliases/prod/delete/")
    assert not Alias.objects.filter(name="prod").exists()


def test_readers_can_neither_move_nor_be_asked_to_remove(client, member, versions):
    client.force_login(member)
    assert client.get("/datasets/churn/aliases/prod/delete/").status_code == 403
    assert client.post("/datasets/churn/aliases/prod/delete/").status_code == 403
    assert client.get("/datasets/churn/aliases/nope/delete/").status_code == 403


def test_approve_and_deny_look_different(client, owner, outsider, restricted_dataset):
    access = dataset_access(user=outsider, dataset=restricted_dataset)
    access_request_create(user=outsider, dataset=restricted_dataset, access=access, reason="study")
    client.force_login(owner)
    html = client.get("/datasets/patients/access/").content.decode()
    approve = re.search(r'<button type="submit" name="decision" value="approve" class="(\w+)">', html)
    deny = re.search(r'<button type="submit" name="decision" value="deny" class="(\w+)">', html)
    assert approve and deny
    assert approve.group(1) == "primary" and deny.group(1) == "danger"
