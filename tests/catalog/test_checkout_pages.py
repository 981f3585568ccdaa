"""Portal pages of this feature: aliases with history, the Usage tab, the version page's code
snippets and the schema.org JSON-LD of the dataset page."""

from __future__ import annotations

import json
import re

import pytest

from datasets.models import Alias
from datasets.services.aliases import alias_set
from datasets.services.checkouts import checkout_create
from tests.conftest import CSV

pytestmark = pytest.mark.django_db

V2 = CSV + b"4,alan,0.1\n"


@pytest.fixture
def versions(public_dataset, publish):
    return publish(public_dataset, data=CSV, message="first"), publish(
        public_dataset, data=V2, message="more"
    )


def test_a_maintainer_sets_moves_and_removes_an_alias_in_the_portal(client, maintainer, versions):
    client.force_login(maintainer)
    # No checks on churn: neither version passed any, so each move is confirmed.
    moved = {"name": "prod", "version": "1", "confirm": "1"}
    response = client.post("/datasets/churn/aliases/set/", moved, follow=True)
    assert "churn@prod now names v1." in response.content.decode()
    client.post("/datasets/churn/aliases/set/", {"name": "prod", "version": "2", "confirm": "1"})
    html = client.get("/datasets/churn/aliases/").content.decode()
    assert "v1 → v2" in html and "set to v1" in html and "mario" in html

    client.post("/datasets/churn/aliases/prod/delete/")
    assert not Alias.objects.exists()
    assert "removed (was v2)" in client.get("/datasets/churn/aliases/").content.decode()


def test_the_alias_form_says_what_is_wrong(client, maintainer, versions):
    client.force_login(maintainer)
    response = client.post("/datasets/churn/aliases/set/", {"name": "latest", "version": "1"})
    assert response.status_code == 400
    assert "&#x27;latest&#x27; is computed (the newest ready version) and cannot be set by hand." in (
        response.content.decode()
    )


def test_readers_see_aliases_but_no_form(client, member, owner, versions):
    alias_set(dataset=versions[0].dataset, user=owner, name="prod", version=versions[0])
    client.force_login(member)
    html = client.get("/datasets/churn/aliases/").content.decode()
    assert "@prod" in html and "Set or move an alias" not in html
    assert client.post("/datasets/churn/aliases/set/", {"name": "x", "version": "1"}).status_code == 403


def test_the_usage_tab_lists_checkouts_of_the_datasets_versions(
    client, member, owner, versions, internal_dataset, publish
):
    publish(internal_dataset, data=CSV)
    checkout_create(
        user=owner, refs=["churn@1", "payroll"], purpose="train churn v7", model="churn-xgb", run_id="r-1"
    )
    checkout_create(user=member, refs=["churn"], purpose="notebook exploration")
    client.force_login(member)
    html = client.get("/datasets/churn/usage/").content.decode()
    assert "<strong>2</strong> checkouts" in html
    assert "train churn v7" in html and "churn-xgb" in html and "r-1" in html and "olivia" in html
    assert "notebook exploration" in html
    assert "payroll" not in html  # the other dataset of a checkout is not this tab's business
    assert "2 checkouts" in client.get("/datasets/churn/").content.decode()


def test_the_home_page_sorts_by_use(client, member, versions, team, publish):
    from tests.factories import DatasetFactory

    publish(DatasetFactory(slug="aardvark", team=team, visibility="public"), data=CSV)
    checkout_create(user=member, refs=["churn"], purpose="train")
    client.force_login(member)
    html = client.get("/?sort=popular").content.decode()
    assert html.index("churn") < html.index("aardvark")
    assert "1 checkout" in html


def test_the_version_page_offers_snippets_that_pull_exactly_this_version(client, member, versions):
    client.force_login(member)
    html = client.get("/datasets/churn/versions/1/").content.decode()
    assert 'id="snippet-cli"' in html and "granary pull churn@1 -o churn-v1.csv" in html
    assert "client.read(&quot;churn@1&quot;)" in html
    assert "curl -fL -H &quot;Authorization: Bearer $GRANARY_TOKEN&quot; -o churn-v1.csv" in html
    assert "http://testserver/api/v1/datasets/churn/versions/1/download/?format=parquet" in html
    assert f"{versions[0].sha256}  churn-v1.csv" in html
    assert html.count('data-copy="snippet-') == 4


def test_the_dataset_page_embeds_schema_org_json_ld(client, member, versions, public_dataset):
    public_dataset.summary = "Who left </script><b>and why"
    public_dataset.license = "CC-BY-4.0"
    public_dataset.save()
    client.force_login(member)
    html = client.get("/datasets/churn/").content.decode()
    match = re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    assert match, "no JSON-LD on the page"
    data = json.loads(match.group(1))
    assert data["@type"] == "Dataset"
    assert data["description"] == "Who left </script><b>and why"  # escaped inside the script
    assert data["license"] == "https://spdx.org/licenses/CC-BY-4.0.html"
    assert data["distribution"][0]["sha256"] == versions[1].sha256
    assert data["version"] == "2"


def test_a_restricted_dataset_page_embeds_no_data_description(client, outsider, restricted_dataset, publish):
    publish(restricted_dataset, data=CSV)
    client.force_login(outsider)
    html = client.get("/datasets/patients/").content.decode()
    assert "application/ld+json" not in html
    assert client.get("/datasets/patients/usage/").status_code == 403
