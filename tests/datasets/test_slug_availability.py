"""Registering a dataset under a taken slug: one neutral answer, whoever may see the dataset.

Slugs are unique across the catalog (`churn@3` names a dataset by slug alone), so a taken one is
refused; the answer must not tell an internal dataset the caller cannot see from a visible one.
"""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import Membership
from datasets.models import Dataset
from tests.factories import MembershipFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db

NOT_AVAILABLE = "This slug is not available: choose another."


@pytest.fixture
def mine(db: None) -> Any:
    """A maintainer of another team, who may register datasets but not see ml-core's internal ones."""
    user = UserFactory(username="mallory")
    MembershipFactory(team=TeamFactory(slug="mine"), user=user, role=Membership.Role.MAINTAINER)
    return user


def register(client: Any, slug: str) -> Any:
    return client.post("/api/v1/datasets/", {"slug": slug, "title": "Mine", "team": "mine"}, format="json")


def test_a_taken_slug_gets_the_same_api_answer_whether_or_not_its_dataset_is_visible(
    api, mine, public_dataset, internal_dataset, restricted_dataset
):
    client = api(mine)
    assert client.get(f"/api/v1/datasets/{internal_dataset.slug}/").status_code == 404

    answers = {slug: register(client, slug) for slug in ("churn", "payroll", "patients")}

    for slug, response in answers.items():
        assert (slug, response.status_code) == (slug, 409)
        assert (response.json()["detail"], response.json()["field"]) == (NOT_AVAILABLE, "slug")
    bodies = {slug: response.json() for slug, response in answers.items()}
    assert bodies["payroll"] == bodies["churn"] == bodies["patients"]
    assert Dataset.objects.filter(team__slug="mine").count() == 0


def test_a_free_slug_is_still_registered(api, mine, internal_dataset):
    response = register(api(mine), "payroll-2")
    assert response.status_code == 201, response.json()


def test_a_taken_slug_gets_the_same_form_error_whether_or_not_its_dataset_is_visible(
    client, mine, public_dataset, internal_dataset
):
    client.force_login(mine)
    team = Membership.objects.get(user=mine).team

    def form_error(slug: str) -> tuple[int, list[str]]:
        page = client.post(
            "/datasets/new/", {"slug": slug, "title": "Mine", "team": team.pk, "visibility": "internal"}
        )
        return page.status_code, page.context["form"].errors.get("slug")

    visible, hidden = form_error("churn"), form_error("payroll")
    assert visible == hidden == (400, [NOT_AVAILABLE])


def test_the_owning_team_gets_the_same_answer_too(api, maintainer, internal_dataset):
    response = api(maintainer).post(
        "/api/v1/datasets/", {"slug": "payroll", "title": "Again", "team": "ml-core"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["detail"] == NOT_AVAILABLE
