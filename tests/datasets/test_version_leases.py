"""Leases and the sweeper: a version is ingested by one worker at a time, and one whose task is
gone (never sent, or its worker died) is sent again, once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from kombu.exceptions import OperationalError

from datasets.models import Version
from datasets.services.versions import version_ingest_leased, versions_requeue
from datasets.tasks import ingest_version
from tests.conftest import upload

LONG_AGO = timedelta(minutes=5)


@pytest.fixture
def unsent(public_dataset, publish, request):
    version = publish(public_dataset, ingest=False)  # its on-commit send never ran (unit tests)
    Version.objects.filter(pk=version.pk).update(created_at=timezone.now() - LONG_AGO)
    request.node.queued_ingests.clear()
    return version


def test_a_second_delivery_while_a_worker_holds_the_version_does_nothing(unsent):
    Version.objects.filter(pk=unsent.pk).update(
        lease_until=timezone.now() + timedelta(minutes=1), lease_owner="4242.other"
    )
    assert version_ingest_leased(version_id=unsent.pk) is None
    unsent.refresh_from_db()
    assert (unsent.status, unsent.lease_owner) == ("processing", "4242.other")


def test_ingest_under_a_lease_ends_the_version_and_releases_it(unsent):
    version = version_ingest_leased(version_id=unsent.pk)
    assert version is not None and version.status == "ready"
    version.refresh_from_db()
    assert (version.lease_until, version.lease_owner) == (None, "")


def test_the_sweeper_sends_a_version_that_never_reached_the_broker_once(unsent, request):
    assert versions_requeue() == [unsent.pk]
    assert versions_requeue() == []
    assert request.node.queued_ingests == [unsent.pk]


def test_the_sweeper_leaves_a_just_created_version_to_its_own_send(public_dataset, publish):
    publish(public_dataset, ingest=False)
    assert versions_requeue() == []


def test_the_sweeper_sends_again_a_version_whose_worker_died_once(unsent, request):
    now = timezone.now()
    Version.objects.filter(pk=unsent.pk).update(
        sent_at=now - LONG_AGO, lease_until=now - timedelta(seconds=1), lease_owner="4242.dead"
    )
    assert versions_requeue() == [unsent.pk]
    assert versions_requeue() == []
    assert request.node.queued_ingests == [unsent.pk]


def test_the_sweeper_leaves_a_version_a_live_worker_holds(unsent):
    now = timezone.now()
    Version.objects.filter(pk=unsent.pk).update(
        sent_at=now - LONG_AGO, lease_until=now + timedelta(seconds=30), lease_owner="4242.alive"
    )
    assert versions_requeue() == []


def test_a_version_waiting_in_the_queue_is_not_sent_twice(unsent):
    Version.objects.filter(pk=unsent.pk).update(sent_at=timezone.now() - LONG_AGO)
    assert versions_requeue() == []


def test_an_upload_while_the_broker_is_down_is_kept_for_the_sweeper(
    public_dataset, publish, monkeypatch, django_capture_on_commit_callbacks, request
):
    def broker_down(version_id: int) -> None:
        raise OperationalError("Error 111 connecting to 127.0.0.1:6390. Connection refused.")

    monkeypatch.setattr(ingest_version, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        version = publish(public_dataset, ingest=False)
    version.refresh_from_db()
    assert (version.status, version.sent_at) == ("processing", None)

    monkeypatch.setattr(ingest_version, "delay", request.node.queued_ingests.append)
    Version.objects.filter(pk=version.pk).update(created_at=timezone.now() - LONG_AGO)
    assert versions_requeue() == [version.pk]
    version.refresh_from_db()
    assert version.sent_at is not None


def test_an_upload_whose_send_fails_oddly_is_accepted_and_kept_for_the_sweeper(
    api, maintainer, public_dataset, monkeypatch, django_capture_on_commit_callbacks
):
    """Not only a refused connection: a broker client in a bad state (kombu's "Acquire on closed
    pool") raised after the commit and answered a 500 for an upload that was in fact kept."""

    def broken_client(version_id: int) -> None:
        raise RuntimeError("Acquire on closed pool")

    monkeypatch.setattr(ingest_version, "delay", broken_client)
    with django_capture_on_commit_callbacks(execute=True):
        response = api(maintainer).post(
            "/api/v1/datasets/churn/versions/", {"file": upload()}, format="multipart"
        )
    assert response.status_code == 202, response.content
    version = Version.objects.get(dataset=public_dataset)
    assert (version.status, version.sent_at) == ("processing", None)
