"""`audience_of` states the visibility rule for tables that copy visibility and team (the search
index): it must agree with `datasets_visible_to` and `datasets_readable_by` for every persona."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser

from accounts.models import Membership, Team
from datasets.access import audience_of, datasets_readable_by, datasets_visible_to
from datasets.models import AccessRequest, Dataset
from tests.factories import DatasetFactory, MembershipFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog(team: Team) -> list[Dataset]:
    other = TeamFactory(slug="vision", name="Vision")
    return [
        DatasetFactory(slug="open", team=other, visibility="public"),
        DatasetFactory(slug="ours", team=team, visibility="internal"),
        DatasetFactory(slug="theirs", team=other, visibility="internal"),
        DatasetFactory(slug="locked", team=other, visibility="restricted"),
        DatasetFactory(slug="granted", team=other, visibility="restricted"),
        DatasetFactory(slug="was-granted", team=other, visibility="internal"),
    ]


def personas(team: Team, catalog: list[Dataset]) -> dict[str, Any]:
    member = UserFactory(username="mia")
    MembershipFactory(team=team, user=member, role=Membership.Role.MEMBER)
    granted = UserFactory(username="gus")
    by_slug = {dataset.slug: dataset for dataset in catalog}
    AccessRequest.objects.create(dataset=by_slug["granted"], user=granted, reason="r", status="approved")
    # A grant on a dataset that has since become internal opens nothing.
    AccessRequest.objects.create(dataset=by_slug["was-granted"], user=granted, reason="r", status="approved")
    return {
        "anonymous": AnonymousUser(),
        "outsider": UserFactory(username="oscar"),
        "member": member,
        "granted": granted,
        "superuser": UserFactory(username="root", is_superuser=True, is_staff=True),
        "inactive": UserFactory(username="ina", is_active=False),
    }


@pytest.mark.parametrize("anonymous_read", [False, True])
def test_audience_agrees_with_the_visibility_selectors(
    settings: Any, team: Team, catalog: list[Dataset], anonymous_read: bool
) -> None:
    settings.GRANARY_ANONYMOUS_READ = anonymous_read
    for name, user in personas(team, catalog).items():
        audience = audience_of(user)
        visible = set(datasets_visible_to(user).values_list("pk", flat=True))
        readable = set(datasets_readable_by(user).values_list("pk", flat=True))
        for dataset in catalog:
            facts = {"visibility": dataset.visibility, "team_id": dataset.team_id}
            assert audience.visible(**facts) == (dataset.pk in visible), (name, dataset.slug)
            assert audience.readable(**facts, dataset_id=dataset.pk) == (dataset.pk in readable), (
                name,
                dataset.slug,
            )
