"""What a restricted dataset shows to those who may not read its data: its title and summary (and its
team), on its page, on the home page and in the API, and no filter that matches on anything else.
Someone whose access request was approved sees and filters as the team does."""

from __future__ import annotations

from typing import Any

import pytest

from datasets.access import dataset_access
from datasets.models import Dataset
from datasets.services.access_requests import access_request_create, access_request_decide
from datasets.services.datasets import dataset_update

pytestmark = pytest.mark.django_db

LICENCE = "LicenseRef-Oncology-Consortium"
TAG = "oncology-trial"


@pytest.fixture
def patients(restricted_dataset: Dataset) -> Dataset:
    return dataset_update(
        dataset=restricted_dataset,
        changes={"license": LICENCE, "tags": [TAG], "summary": "Anonymised trial patients"},
    )


@pytest.fixture
def approved(db: None, owner: Any, patients: Dataset) -> Any:
    from tests.factories import UserFactory

    user = UserFactory(username="rita")
    request = access_request_create(
        user=user, dataset=patients, access=dataset_access(user=user, dataset=patients), reason="a study"
    )
    access_request_decide(user=owner, request=request, approve=True)
    return user


def listed(page: Any) -> list[str]:
    return [hit.dataset.slug for hit in page.context["results"].hits]


def test_an_outsider_sees_only_the_title_summary_and_team_on_its_page(client, outsider, patients):
    client.force_login(outsider)
    page = client.get("/datasets/patients/")
    html = page.content.decode()
    assert page.status_code == 200
    assert patients.title in html and "Anonymised trial patients" in html and "ml-core" in html
    assert LICENCE not in html
    assert TAG not in html


def test_an_outsider_sees_only_the_title_summary_and_team_on_the_home_page(client, outsider, patients):
    client.force_login(outsider)
    page = client.get("/", {"sort": "name"})
    html = page.content.decode()
    assert listed(page) == ["patients"]
    assert patients.title in html and "Anonymised trial patients" in html
    assert LICENCE not in html
    assert TAG not in html


def test_a_tag_filter_does_not_match_a_restricted_dataset_an_outsider_may_not_read(
    api, client, outsider, patients, public_dataset
):
    dataset_update(dataset=public_dataset, changes={"tags": [TAG]})
    response = api(outsider).get("/api/v1/datasets/", {"tag": TAG})
    assert response.status_code == 200
    assert [row["slug"] for row in response.json()["results"]] == ["churn"]
    client.force_login(outsider)
    assert listed(client.get("/", {"q": f"tag:{TAG}"})) == ["churn"]


def test_the_team_sees_and_filters_on_its_tags_and_licence(api, client, member, patients):
    rows = api(member).get("/api/v1/datasets/", {"tag": TAG}).json()["results"]
    assert [(row["slug"], row["license"], row["tags"]) for row in rows] == [("patients", LICENCE, [TAG])]
    client.force_login(member)
    assert listed(client.get("/", {"q": f"tag:{TAG}"})) == ["patients"]
    html = client.get("/datasets/patients/").content.decode()
    assert LICENCE in html and TAG in html


def test_an_approved_requester_sees_and_filters_as_the_team_does(api, client, approved, patients):
    rows = api(approved).get("/api/v1/datasets/", {"tag": TAG}).json()["results"]
    assert [(row["slug"], row["license"], row["tags"]) for row in rows] == [("patients", LICENCE, [TAG])]
    client.force_login(approved)
    home = client.get("/", {"q": f"tag:{TAG}"})
    assert listed(home) == ["patients"]
    assert LICENCE in client.get("/").content.decode()
    html = client.get("/datasets/patients/").content.decode()
    assert LICENCE in html and TAG in html


def test_sorting_by_use_does_not_rank_a_restricted_dataset_by_its_hidden_checkouts(
    client, member, outsider, patients, public_dataset, publish
):
    from datasets.services.checkouts import checkout_create
    from search.indexer import search_index_dataset

    search_index_dataset(dataset_id=public_dataset.pk)  # factories skip the services that index
    publish(patients)
    checkout_create(user=member, refs=["patients"], purpose="training")
    client.force_login(outsider)
    assert listed(client.get("/", {"sort": "popular"})) == ["churn", "patients"]
    client.force_login(member)
    assert listed(client.get("/", {"sort": "popular"})) == ["patients", "churn"]


def test_the_dataset_list_filters_and_sorts_a_restricted_dataset_by_what_it_hides_only_for_its_readers(
    api, maintainer, member, outsider, approved, patients, public_dataset, publish
):
    """`certified=` and `ordering=popular` on the dataset list API are about the data: an outsider
    neither finds a restricted dataset by its certification nor sees it ranked by its checkouts."""
    from datasets.services.checkouts import checkout_create
    from quality.models import ValidationRun
    from quality.services import suite_import, validation_run

    data = b"id,age\n1,30\n2,40\n"
    suite = {"expectations": [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "age"}}]}
    publish(patients, data=data)
    publish(public_dataset, data=data)
    suite_import(dataset=patients, user=maintainer, data={"name": "patients", **suite})
    validation_run(run_id=ValidationRun.objects.get().pk)
    checkout_create(user=member, refs=["patients"], purpose="training")

    def slugs(user: Any, **params: str) -> list[str]:
        response = api(user).get("/api/v1/datasets/", params)
        assert response.status_code == 200
        return [row["slug"] for row in response.json()["results"]]

    assert slugs(outsider, certified="true") == []
    assert slugs(outsider, certified="false") == ["churn"]
    assert slugs(outsider, ordering="popular") == ["churn", "patients"]  # as if never pulled
    for reader in (member, approved):
        assert slugs(reader, certified="true") == ["patients"]
        assert slugs(reader, certified="false") == ["churn"]
        assert slugs(reader, ordering="popular") == ["patients", "churn"]


def test_those_who_read_everything_they_see_filter_and_sort_the_list_too(
    api, settings, member, patients, public_dataset, internal_dataset, publish
):
    """A superuser reads every dataset, and an anonymous visitor (when anonymous reading is on)
    every public one they see: the list's filters and sort need no readability test for them."""
    from datasets.services.checkouts import checkout_create
    from tests.factories import UserFactory

    settings.GRANARY_ANONYMOUS_READ = True
    dataset_update(dataset=public_dataset, changes={"tags": [TAG]})
    publish(patients)
    checkout_create(user=member, refs=["patients"], purpose="training")
    admin = UserFactory(username="ada", is_superuser=True)

    def slugs(user: Any, **params: str) -> list[str]:
        response = api(user).get("/api/v1/datasets/", params)
        assert response.status_code == 200, response.content
        return [row["slug"] for row in response.json()["results"]]

    assert slugs(admin, ordering="popular") == ["patients", "churn", "payroll"]
    assert slugs(admin, tag=TAG) == ["churn", "patients"]
    assert slugs(admin, certified="false") == ["churn", "patients", "payroll"]
    assert slugs(None, ordering="popular") == ["churn"]
    assert slugs(None, tag=TAG) == ["churn"]
    assert slugs(None, certified="false") == ["churn"]
