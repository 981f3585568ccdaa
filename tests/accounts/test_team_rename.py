"""Renaming a team: its owners change its name (the slug stays), through the service or
PATCH /api/v1/teams/{slug}/ with an admin token; the change is audited, and the search index,
which indexes each dataset's team name, follows it in the same transaction."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from rest_framework.test import APIClient

from accounts.models import Membership, Team
from accounts.services import team_update, token_create
from accounts.signals import team_changed
from audit.models import AuditEvent
from core.errors import AccessDenied, InvalidInput
from datasets.models import Dataset
from search.indexer import search_rebuild
from search.selectors import search_datasets
from tests.factories import DatasetFactory, MembershipFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def hydrology(db: None) -> Team:
    """A team named "Hydrology Group" with an owner (hana), a maintainer (max) and two datasets."""
    team = TeamFactory(slug="water", name="Hydrology Group")
    MembershipFactory(team=team, user=UserFactory(username="hana"), role=Membership.Role.OWNER)
    MembershipFactory(team=team, user=UserFactory(username="max"), role=Membership.Role.MAINTAINER)
    DatasetFactory(team=team, slug="river-levels", title="River levels", visibility=Dataset.Visibility.PUBLIC)
    DatasetFactory(team=team, slug="rain-gauges", title="Rain gauges", visibility=Dataset.Visibility.INTERNAL)
    DatasetFactory(slug="bus-stops", title="Bus stops", summary="Where the buses stop")
    search_rebuild()
    return team


def user(username: str) -> Any:
    return UserFactory(username=username)


def found(q: str, username: str = "hana") -> set[str]:
    return {hit.dataset.slug for hit in search_datasets(user=user(username), q=q, per_page=100).hits}


def bearer(username: str, scope: str = "admin", team: str = "") -> APIClient:
    client = APIClient()
    secret = token_create(user=user(username), name="rename", scope=scope, team=team).secret
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_an_owner_renames_a_team_and_keeps_its_slug(hydrology):
    renamed = team_update(actor=user("hana"), team=hydrology, name="  Glaciology Unit ")
    assert (renamed.slug, renamed.name) == ("water", "Glaciology Unit")
    assert Team.objects.get(pk=hydrology.pk).name == "Glaciology Unit"


def test_a_rename_is_audited_with_the_old_and_new_names(hydrology):
    team_update(actor=user("hana"), team=hydrology, name="Glaciology Unit")
    event = AuditEvent.objects.get(action="team.update")
    assert (event.actor_name, event.team_id, event.target) == ("hana", hydrology.pk, "water")
    assert event.detail == {"from": "Hydrology Group", "to": "Glaciology Unit"}


def test_searching_the_new_name_finds_the_teams_datasets_and_the_old_name_no_longer_does(hydrology):
    assert found("hydrology") == {"river-levels", "rain-gauges"}
    team_update(actor=user("hana"), team=hydrology, name="Glaciology Unit")
    assert found("glaciology") == {"river-levels", "rain-gauges"}
    assert found("hydrology") == set()
    assert found("glaciology", username="someone-else") == {"river-levels"}  # internal stays hidden


def test_the_facet_label_is_the_new_name(hydrology):
    team_update(actor=user("hana"), team=hydrology, name="Glaciology Unit")
    facet = search_datasets(user=user("hana"), q="team:water").facets["team"]
    assert [(value.value, value.label) for value in facet] == [("water", "Glaciology Unit")]


def test_a_rename_that_rolls_back_leaves_the_index_as_it_was(hydrology):
    with pytest.raises(RuntimeError), transaction.atomic():
        team_update(actor=user("hana"), team=hydrology, name="Glaciology Unit")
        raise RuntimeError("a later step of the same change failed")
    assert Team.objects.get(pk=hydrology.pk).name == "Hydrology Group"
    assert found("hydrology") == {"river-levels", "rain-gauges"} and found("glaciology") == set()


def test_the_same_name_again_changes_nothing_and_records_nothing(hydrology):
    heard: list[int] = []

    def listen(sender: Any, team_id: int, **kwargs: Any) -> None:
        heard.append(team_id)

    team_changed.connect(listen, dispatch_uid="test_team_rename")
    try:
        team_update(actor=user("hana"), team=hydrology, name="Hydrology Group ")
        assert heard == [] and not AuditEvent.objects.filter(action="team.update").exists()
        team_update(actor=user("hana"), team=hydrology, name="Glaciology Unit")
        assert heard == [hydrology.pk]
    finally:
        team_changed.disconnect(dispatch_uid="test_team_rename")


@pytest.mark.parametrize("username", ["max", "stranger"])
def test_only_owners_may_rename_a_team(hydrology, username):
    with pytest.raises(AccessDenied, match=r"Only owners of water may rename it\."):
        team_update(actor=user(username), team=hydrology, name="Mine now")
    assert Team.objects.get(pk=hydrology.pk).name == "Hydrology Group"


def test_a_superuser_may_rename_any_team(hydrology):
    root = UserFactory(username="root", is_superuser=True)
    assert team_update(actor=root, team=hydrology, name="Glaciology Unit").name == "Glaciology Unit"


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
def test_a_blank_or_overlong_name_is_refused(hydrology, name):
    with pytest.raises(InvalidInput) as refused:
        team_update(actor=user("hana"), team=hydrology, name=name)
    assert refused.value.field == "name"


# --- PATCH /api/v1/teams/{slug}/ ------------------------------------------------------------------


def test_patch_renames_the_team_and_answers_it(hydrology):
    response = bearer("hana").patch("/api/v1/teams/water/", {"name": "Glaciology Unit"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["slug"], body["name"], body["role"]) == ("water", "Glaciology Unit", "owner")
    assert found("glaciology") == {"river-levels", "rain-gauges"}


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"name": "   "}, 400, "name: This field may not be blank."),
        ({"name": ""}, 400, "name: This field may not be blank."),
        ({"name": 7}, 400, "name: Not a string."),
        ({"name": "x" * 201}, 400, "name: Ensure this field has no more than 200 characters."),
        ({}, 400, "name: This field is required."),
    ],
)
def test_patch_refuses_a_bad_name_with_a_400(hydrology, body, status, words):
    response = bearer("hana").patch("/api/v1/teams/water/", body, format="json")
    assert (response.status_code, response.json()["detail"]) == (status, words)


def test_patch_by_a_maintainer_is_a_403_and_an_unknown_team_a_404(hydrology):
    response = bearer("max").patch("/api/v1/teams/water/", {"name": "Mine"}, format="json")
    assert response.status_code == 403
    assert response.json()["detail"] == "Only owners of water may rename it."
    assert bearer("hana").patch("/api/v1/teams/nope/", {"name": "X"}, format="json").status_code == 404


def test_renaming_needs_an_admin_token_for_the_team(hydrology):
    write = bearer("hana", scope="write").patch("/api/v1/teams/water/", {"name": "X"}, format="json")
    assert write.status_code == 403
    assert write.json() == {
        "code": "token_scope",
        "detail": "This token has the write scope: renaming teams needs a token with the admin scope.",
    }
    other = TeamFactory(slug="other")
    MembershipFactory(team=other, user=user("hana"), role=Membership.Role.OWNER)
    limited = bearer("hana", team="other").patch("/api/v1/teams/water/", {"name": "X"}, format="json")
    assert limited.status_code == 403 and limited.json()["code"] == "token_scope"
    assert Team.objects.get(pk=hydrology.pk).name == "Hydrology Group"


# --- the team page's rename form (owners) ---------------------------------------------------------


def test_an_owner_renames_the_team_on_its_page(hydrology, client):
    client.force_login(user("hana"))
    page = client.get("/teams/water/")
    assert "Rename the team" in page.content.decode() and 'value="Hydrology Group"' in page.content.decode()
    response = client.post("/teams/water/", {"rename-name": "Glaciology Unit"}, follow=True)
    assert response.redirect_chain == [("/teams/water/", 302)]
    assert "Renamed water to Glaciology Unit." in response.content.decode()
    assert Team.objects.get(pk=hydrology.pk).name == "Glaciology Unit"
    assert found("glaciology") == {"river-levels", "rain-gauges"}


def test_the_rename_form_shows_its_error_and_leaves_the_member_form_alone(hydrology, client):
    client.force_login(user("hana"))
    response = client.post("/teams/water/", {"rename-name": "   "})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert Team.objects.get(pk=hydrology.pk).name == "Hydrology Group"
    added = client.post("/teams/water/", {"username": "max", "role": "owner"})
    assert added.status_code == 302 and Team.objects.get(pk=hydrology.pk).name == "Hydrology Group"


def test_a_maintainer_sees_no_rename_form_and_cannot_post_one(hydrology, client):
    client.force_login(user("max"))
    assert "Rename the team" not in client.get("/teams/water/").content.decode()
    response = client.post("/teams/water/", {"rename-name": "Mine now"})
    assert response.status_code == 400
    assert Team.objects.get(pk=hydrology.pk).name == "Hydrology Group"
