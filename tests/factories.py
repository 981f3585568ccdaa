"""factory_boy factories for Granary's models."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import factory
from django.contrib.auth import get_user_model

from accounts.models import Membership, Team
from datasets.models import Dataset


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-for-tests-1")


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    slug = factory.Sequence(lambda n: f"team-{n}")
    name = factory.LazyAttribute(lambda team: team.slug.title())


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    team = factory.SubFactory(TeamFactory)
    user = factory.SubFactory(UserFactory)
    role = Membership.Role.MEMBER


class DatasetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Dataset

    slug = factory.Sequence(lambda n: f"dataset-{n}")
    title = factory.LazyAttribute(lambda d: f"The {d.slug} data")
    summary = "Rows about things"
    team = factory.SubFactory(TeamFactory)
    visibility = Dataset.Visibility.PUBLIC


def run_event(
    *,
    event_type: str = "COMPLETE",
    run_id: str | None = None,
    job: str = "etl.features",
    namespace: str = "airflow",
    inputs: Sequence[Any] = (),
    outputs: Sequence[Any] = (),
    event_time: str = "2026-11-27T10:00:00Z",
    **extra: Any,
) -> dict[str, Any]:
    """An OpenLineage RunEvent as a pipeline would post it; datasets as (namespace, name) or dicts."""

    def dataset(item: Any) -> dict[str, Any]:
        return item if isinstance(item, dict) else {"namespace": item[0], "name": item[1]}

    return {
        "eventType": event_type,
        "eventTime": event_time,
        "producer": "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/client/python",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": run_id or str(uuid.uuid4()), "facets": {}},
        "job": {"namespace": namespace, "name": job, "facets": {}},
        "inputs": [dataset(item) for item in inputs],
        "outputs": [dataset(item) for item in outputs],
        **extra,
    }
