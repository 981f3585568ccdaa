"""Who is in a team is for its members (and superusers) to see; a removed member stays removed."""

from __future__ import annotations

import pytest

from accounts.models import Membership
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

HIDDEN = "Only members of ml-core see who is in it."


def test_an_outsider_cannot_list_a_teams_members_in_the_api(api, owner, member, outsider):
    response = api(outsider).get("/api/v1/teams/ml-core/members/")
    assert response.status_code == 403
    assert response.json() == {"code": "permission_denied", "detail": HIDDEN}


def test_a_member_lists_the_teams_members(api, owner, member):
    response = api(member).get("/api/v1/teams/ml-core/members/")
    assert response.status_code == 200
    assert [(m["username"], m["role"]) for m in response.json()] == [("mina", "member"), ("olivia", "owner")]


def test_a_superuser_lists_any_teams_members(api, owner):
    admin = UserFactory(username="root", is_superuser=True, is_staff=True)
    response = api(admin).get("/api/v1/teams/ml-core/members/")
    assert response.status_code == 200
    assert [m["username"] for m in response.json()] == ["olivia"]


def test_an_outsider_sees_the_team_page_without_its_members(client, owner, member, outsider):
    client.force_login(outsider)
    page = client.get("/teams/ml-core/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "ML Core" in html
    assert HIDDEN in html
    assert "olivia" not in html and "mina" not in html


def test_a_member_sees_the_team_page_with_its_members(client, owner, member):
    client.force_login(member)
    html = client.get("/teams/ml-core/").content.decode()
    assert "olivia" in html and "mina" in html
    assert HIDDEN not in html


def test_changing_the_role_of_a_removed_member_is_a_404_and_does_not_add_them_back(api, owner, member):
    client = api(owner)
    assert client.delete("/api/v1/teams/ml-core/members/mina/").status_code == 204

    response = client.patch("/api/v1/teams/ml-core/members/mina/", {"role": "maintainer"}, format="json")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "'mina' is not a member of ml-core."}
    assert not Membership.objects.filter(user=member).exists()


def test_changing_the_role_of_someone_who_never_joined_is_a_404(api, owner, outsider):
    response = api(owner).patch("/api/v1/teams/ml-core/members/oscar/", {"role": "member"}, format="json")
    assert response.status_code == 404
    assert response.json()["detail"] == "'oscar' is not a member of ml-core."
    assert not Membership.objects.filter(user=outsider).exists()


def test_an_owner_still_changes_a_members_role(api, owner, member):
    response = api(owner).patch("/api/v1/teams/ml-core/members/mina/", {"role": "maintainer"}, format="json")
    assert response.status_code == 200
    assert Membership.objects.get(user=member).role == "maintainer"


def test_a_non_owner_changing_a_role_is_refused_before_anything_is_revealed(api, owner, member, outsider):
    response = api(outsider).patch("/api/v1/teams/ml-core/members/mina/", {"role": "owner"}, format="json")
    assert response.status_code == 403
    assert Membership.objects.get(user=member).role == "member"
