"""Self-service teams: anyone signed in creates one; its owners manage members and roles."""

from __future__ import annotations

import pytest

from accounts.models import Membership
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_signed_in_user_creates_a_team_and_owns_it(api, outsider):
    response = api(outsider).post("/api/v1/teams/", {"slug": "vision", "name": "Vision"}, format="json")
    assert response.status_code == 201
    assert response.json() == {
        "slug": "vision",
        "name": "Vision",
        "role": "owner",
        "created_at": response.json()["created_at"],
    }
    assert Membership.objects.get(team__slug="vision").user == outsider


def test_a_duplicate_team_slug_is_a_409(api, outsider, team):
    response = api(outsider).post("/api/v1/teams/", {"slug": "ml-core", "name": "x"}, format="json")
    assert response.status_code == 409


def test_an_owner_adds_a_member_with_a_role(api, owner, outsider):
    client = api(owner)
    response = client.post(
        "/api/v1/teams/ml-core/members/", {"username": "oscar", "role": "maintainer"}, format="json"
    )
    assert response.status_code == 201
    members = client.get("/api/v1/teams/ml-core/members/").json()
    assert {(m["username"], m["role"]) for m in members} == {("olivia", "owner"), ("oscar", "maintainer")}


def test_a_maintainer_cannot_add_members(api, maintainer, outsider):
    response = api(maintainer).post("/api/v1/teams/ml-core/members/", {"username": "oscar"}, format="json")
    assert response.status_code == 403
    assert response.json()["detail"] == "Only owners of ml-core may change its members."


def test_adding_an_unknown_user_is_a_404_naming_them(api, owner):
    response = api(owner).post("/api/v1/teams/ml-core/members/", {"username": "ghost"}, format="json")
    assert response.status_code == 404
    assert response.json()["detail"] == "No user 'ghost'."


def test_a_wrong_role_is_a_400(api, owner, outsider):
    response = api(owner).post(
        "/api/v1/teams/ml-core/members/", {"username": "oscar", "role": "king"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("role:")


def test_the_last_owner_cannot_step_down(api, owner):
    response = api(owner).patch("/api/v1/teams/ml-core/members/olivia/", {"role": "member"}, format="json")
    assert response.status_code == 409
    assert response.json()["detail"] == "ml-core must keep at least one owner."


def test_an_owner_changes_a_role_and_removes_a_member(api, owner, member):
    client = api(owner)
    assert (
        client.patch("/api/v1/teams/ml-core/members/mina/", {"role": "maintainer"}, format="json").json()[
            "role"
        ]
        == "maintainer"
    )
    assert client.delete("/api/v1/teams/ml-core/members/mina/").status_code == 204
    assert not Membership.objects.filter(user=member).exists()


def test_teams_list_shows_my_role(api, member):
    UserFactory(username="someone")
    teams = api(member).get("/api/v1/teams/").json()["results"]
    assert teams == [
        {"slug": "ml-core", "name": "ML Core", "role": "member", "created_at": teams[0]["created_at"]}
    ]
