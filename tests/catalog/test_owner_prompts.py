"""What owners and readers meet (issue 15): access requests waiting for an owner wherever they
look, a registration page that says whom to ask, one spelling of licence and README, a token to
copy, a checkout page in the portal and Croissant served as JSON-LD."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Membership
from datasets.access import dataset_access
from datasets.models import Dataset
from datasets.services.access_requests import access_request_create
from datasets.services.checkouts import checkout_create
from tests.factories import DatasetFactory, MembershipFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


def ask(user: Any, dataset: Dataset, reason: str = "training a triage model") -> Any:
    access = dataset_access(user=user, dataset=dataset)
    return access_request_create(user=user, dataset=dataset, access=access, reason=reason)


@pytest.fixture
def asked(team, restricted_dataset, outsider):
    """Two people wait for the owners of ml-core: one on patients, one on another dataset."""
    other = DatasetFactory(slug="claims", title="Claims", team=team, visibility=Dataset.Visibility.RESTRICTED)
    return [ask(outsider, restricted_dataset), ask(UserFactory(username="petra"), other)]


def badge(html: str) -> str | None:
    found = re.search(r'class="count-badge">(\d+)<', html)
    return found.group(1) if found else None


def test_an_owner_sees_waiting_requests_in_the_navigation_and_on_the_home_page(client, owner, asked):
    client.force_login(owner)
    html = client.get("/").content.decode()
    assert badge(html) == "2"
    assert 'href="/access-requests/"' in html
    assert "Waiting for you" in html
    assert "<strong>oscar</strong> asks for" in html and "<strong>petra</strong> asks for" in html
    assert 'href="/datasets/patients/access/"' in html


def test_a_superuser_outside_every_team_sees_every_waiting_request(client, asked):
    """Superusers decide every request (datasets.access `deciding`), team or not."""
    client.force_login(UserFactory(username="root", is_superuser=True, is_staff=True))
    html = client.get("/").content.decode()
    assert badge(html) == "2"
    assert "<strong>oscar</strong> asks for" in html and "<strong>petra</strong> asks for" in html


def test_people_who_decide_nothing_see_no_prompt(client, member, maintainer, outsider, asked):
    for user in (member, maintainer, outsider):
        client.force_login(user)
        html = client.get("/").content.decode()
        assert badge(html) is None and "Waiting for you" not in html
        assert 'href="/access-requests/"' not in html


def test_the_owners_list_shows_each_waiting_request_with_a_link_to_decide(client, owner, outsider, asked):
    client.force_login(owner)
    html = client.get("/access-requests/").content.decode()
    assert "oscar" in html and "petra" in html and "training a triage model" in html
    assert 'href="/datasets/patients/access/"' in html and 'href="/datasets/claims/access/"' in html
    client.force_login(outsider)
    html = client.get("/access-requests/").content.decode()
    assert "Nothing is waiting for you" in html and "triage" not in html


def test_the_dataset_overview_and_its_access_tab_count_its_own_requests(
    client, owner, restricted_dataset, asked
):
    ask(UserFactory(username="quinn"), restricted_dataset)
    client.force_login(owner)
    html = client.get("/datasets/patients/").content.decode()
    assert "2 access requests wait for your decision" in html
    assert re.search(r">Access \(2<span class=\"sr-only\"> waiting</span>\)</a>", html)

    client.post(f"/datasets/patients/access/{asked[0].pk}/decide/", {"decision": "approve", "note": ""})
    html = client.get("/datasets/patients/access/").content.decode()
    assert re.search(r">Access \(1<span", html)
    assert badge(html) == "2"  # quinn on patients, petra on claims


def test_the_badge_costs_one_query_whatever_the_number_of_requests(
    client, owner, restricted_dataset, team, django_assert_max_num_queries
):
    client.force_login(owner)
    url = "/datasets/patients/usage/"
    with CaptureQueriesContext(connection) as none_waiting:
        client.get(url)
    ask(UserFactory(username="first"), restricted_dataset)
    with CaptureQueriesContext(connection) as one_waiting:
        assert badge(client.get(url).content.decode()) == "1"
    for n in range(6):
        other = DatasetFactory(team=team, visibility=Dataset.Visibility.RESTRICTED)
        ask(UserFactory(username=f"asker{n}"), other)
        ask(UserFactory(username=f"second{n}"), restricted_dataset)
    # One grouped COUNT feeds the badge and the tab's label; more requests cost nothing more.
    with django_assert_max_num_queries(len(one_waiting.captured_queries)):
        html = client.get(url).content.decode()
    assert badge(html) == "13" and re.search(r">Access \(7<span", html)
    assert len(one_waiting.captured_queries) == len(none_waiting.captured_queries)


def test_a_user_with_no_team_is_told_how_to_get_one_instead_of_a_form(client, outsider):
    client.force_login(outsider)
    response = client.get("/datasets/new/")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="slug"' not in html  # no form that could only fail
    assert "Create a team" in html and 'href="/teams/"' in html
    assert "maintainer" in html


def test_a_member_is_told_which_owners_to_ask(client, member, owner):
    other_team = TeamFactory(slug="vision", name="Vision")
    MembershipFactory(team=other_team, user=member, role=Membership.Role.MEMBER)
    MembershipFactory(team=other_team, user=UserFactory(username="victor"), role=Membership.Role.OWNER)
    client.force_login(member)
    html = client.get("/datasets/new/").content.decode()
    assert re.search(r"Ask <strong>olivia</strong>, owner of <a href=\"/teams/ml-core/\">ML Core</a>", html)
    assert "<strong>victor</strong>, owner of" in html


def test_the_dataset_form_spells_licence_and_readme_as_the_pages_do(client, maintainer, public_dataset):
    client.force_login(maintainer)
    for url in ("/datasets/new/", "/datasets/churn/edit/"):
        html = client.get(url).content.decode()
        assert ">Licence<" in html and ">README<" in html, url
        assert "License" not in html and "Readme" not in html, url


def test_a_new_token_comes_with_a_copy_button(client, member):
    client.force_login(member)
    html = client.post("/tokens/", {"name": "laptop", "days": "30", "scope": "read"}).content.decode()
    secret = re.search(r'<code id="new-token">([^<]+)</code>', html).group(1)
    assert len(secret) > 20
    # Without JavaScript the button stays hidden, and one click selects the whole token instead.
    assert (
        '<button type="button" class="copy secondary" data-copy="token-issued" hidden>Copy</button>' in html
    )
    assert 'id="token-issued"' in html
    assert "Copy" not in client.get("/tokens/").content.decode()  # shown once


def test_the_usage_tab_links_each_checkout_to_its_portal_page(client, member, public_dataset, publish):
    version = publish(public_dataset)
    vision = TeamFactory(slug="vision")
    publish(DatasetFactory(slug="scans", team=vision, visibility=Dataset.Visibility.RESTRICTED))
    vera = UserFactory(username="vera")
    MembershipFactory(team=vision, user=vera, role=Membership.Role.MAINTAINER)
    checkout = checkout_create(
        user=vera, refs=["churn@1", "scans"], purpose="train", model="churn-xgb", run_id="r-7"
    )
    client.force_login(member)
    usage = client.get("/datasets/churn/usage/").content.decode()
    assert f'href="/checkouts/{checkout.id}/"' in usage
    assert "/api/v1/checkouts/" not in usage

    page = client.get(f"/checkouts/{checkout.id}/")
    html = page.content.decode()
    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
    assert "vera" in html and "churn-xgb" in html and "r-7" in html and "train" in html
    assert f'href="{version.get_absolute_url()}"' in html and version.sha256[:12] in html
    assert "scans" not in html  # its other dataset is restricted to this reader


def test_a_checkout_page_does_not_exist_for_someone_who_may_read_none_of_it(
    client, outsider, owner, internal_dataset, publish
):
    publish(internal_dataset)
    checkout = checkout_create(user=owner, refs=["payroll"], purpose="secret")
    client.force_login(outsider)
    response = client.get(f"/checkouts/{checkout.id}/")
    assert response.status_code == 404 and "secret" not in response.content.decode()
    client.force_login(owner)
    assert client.get(f"/checkouts/{checkout.id}/").status_code == 200


def test_the_croissant_link_gives_a_browser_the_json_ld_itself(client, member, public_dataset, publish):
    publish(public_dataset)
    client.force_login(member)
    html = client.get("/datasets/churn/versions/1/").content.decode()
    link = re.search(r'href="([^"]+/croissant/[^"]*)"', html).group(1)
    browser_accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    response = client.get(link.replace("&amp;", "&"), HTTP_ACCEPT=browser_accept)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/ld+json")
    document = json.loads(response.content)
    assert document["@type"] in ("sc:Dataset", "Dataset") or "Dataset" in str(document["@type"])
    assert b"<html" not in response.content
