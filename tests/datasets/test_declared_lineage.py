"""Declared lineage on upload: upstream references resolved to exact versions, and the code URL."""

from __future__ import annotations

from typing import Any

import pytest

from datasets.models import Blob, Dataset, Version
from tests.blobs import stored_keys
from tests.conftest import CSV, files_under, upload
from tests.factories import DatasetFactory, TeamFactory

pytestmark = pytest.mark.django_db


def post_version(client: Any, slug: str, **data: Any) -> Any:
    return client.post(f"/api/v1/datasets/{slug}/versions/", data, format="multipart")


@pytest.fixture
def upstreams(team, publish) -> dict[str, Version]:
    raw = DatasetFactory(slug="raw_events", team=team)
    users = DatasetFactory(slug="users", team=team)
    return {
        "raw": publish(raw, data=b"id\n1\n"),
        "raw2": publish(raw, data=b"id\n1\n2\n"),
        "users": publish(users, data=b"user\nada\n"),
    }


def test_an_upload_declares_its_upstreams_repeated_or_comma_separated(
    api, maintainer, public_dataset, upstreams
):
    sha = upstreams["users"].sha256[:12]
    response = post_version(
        api(maintainer),
        "churn",
        file=upload(),
        derived_from=["raw_events@1", f"users@sha256:{sha}, raw_events@latest"],
        code_url="https://github.com/acme/churn/commit/9f2c4e1",
    )

    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["derived_from"] == ["raw_events@1", "raw_events@2", "users@1"]
    assert body["code_url"] == "https://github.com/acme/churn/commit/9f2c4e1"
    version = Version.objects.get(dataset=public_dataset)
    assert set(version.derived_from.all()) == {upstreams["raw"], upstreams["raw2"], upstreams["users"]}
    assert list(upstreams["users"].derivatives.all()) == [version]


def test_a_bare_slug_means_the_latest_ready_version(api, maintainer, public_dataset, upstreams):
    response = post_version(api(maintainer), "churn", file=upload(), derived_from="raw_events")
    assert response.json()["derived_from"] == ["raw_events@2"]


@pytest.mark.parametrize(
    ("ref", "reason"),
    [
        ("raw_events@7", "'raw_events@7' does not resolve: 'raw_events' has no version 7."),
        ("nowhere@1", "'nowhere@1' does not resolve: No dataset 'nowhere'."),
        ("users@sha256:abc", "'users@sha256:abc' does not resolve: 'sha256:abc' is not a sha256 reference"),
        ("users@certified", "'users@certified' does not resolve: 'users' has no certified version yet"),
    ],
)
def test_an_unresolvable_reference_is_a_400_naming_it_and_leaves_nothing(
    api, maintainer, public_dataset, upstreams, data_dir, ref, reason
):
    before = set(files_under(data_dir)), stored_keys()
    response = post_version(api(maintainer), "churn", file=upload(), derived_from=f"users@1,{ref}")

    assert response.status_code == 400
    assert response.json()["field"] == "derived_from"
    assert response.json()["detail"].startswith(reason)
    assert not Version.objects.filter(dataset=public_dataset).exists()
    assert (set(files_under(data_dir)), stored_keys()) == before


def test_a_dataset_the_uploader_may_not_see_does_not_resolve_and_is_not_named(
    api, maintainer, public_dataset, publish
):
    secret = DatasetFactory(
        slug="salaries", team=TeamFactory(slug="hr"), visibility=Dataset.Visibility.INTERNAL
    )
    publish(secret)
    response = post_version(api(maintainer), "churn", file=upload(), derived_from="salaries@1")
    assert response.status_code == 400
    assert response.json()["detail"] == "'salaries@1' does not resolve: No dataset 'salaries'."


def test_a_restricted_dataset_whose_data_the_uploader_may_not_read_does_not_resolve(
    api, maintainer, public_dataset, publish
):
    secret = DatasetFactory(
        slug="patients", team=TeamFactory(slug="clinic"), visibility=Dataset.Visibility.RESTRICTED
    )
    publish(secret)
    response = post_version(api(maintainer), "churn", file=upload(), derived_from="patients@1")
    assert response.status_code == 400
    assert "'patients' is restricted" in response.json()["detail"]


def test_a_failed_version_cannot_be_an_upstream(api, maintainer, public_dataset, team, publish):
    broken = publish(DatasetFactory(slug="broken", team=team), data=b"a,b\n1,2\n3\n")
    assert broken.status == Version.Status.FAILED
    response = post_version(api(maintainer), "churn", file=upload(), derived_from="broken@1")
    assert response.status_code == 400
    assert response.json()["detail"] == "'broken@1' failed to ingest, so nothing can be derived from it."


@pytest.mark.parametrize("url", ["javascript:alert(1)", "not a url", "ftp://example.org/x"])
def test_a_code_url_must_be_a_url_of_code(api, maintainer, public_dataset, data_dir, url):
    response = post_version(api(maintainer), "churn", file=upload(), code_url=url)
    assert response.status_code == 400
    assert response.json()["field"] == "code_url"
    assert Blob.objects.count() == 0


def test_upstreams_a_reader_may_not_read_show_as_restricted(api, owner, outsider, public_dataset, publish):
    hidden = publish(DatasetFactory(slug="payroll", team=public_dataset.team, visibility="internal"))
    open_one = publish(DatasetFactory(slug="weather", team=public_dataset.team), data=b"t\n1\n")
    publish(public_dataset, derived_from=[hidden, open_one])

    assert api(owner).get("/api/v1/datasets/churn/versions/1/").json()["derived_from"] == [
        "payroll@1",
        "weather@1",
    ]
    seen = api(outsider).get("/api/v1/datasets/churn/versions/1/").json()["derived_from"]
    assert seen == ["restricted", "weather@1"]
    listed = api(outsider).get("/api/v1/datasets/churn/versions/").json()["results"][0]["derived_from"]
    assert listed == ["restricted", "weather@1"]


def test_the_version_list_costs_a_fixed_number_of_queries(
    api, member, public_dataset, publish, django_assert_max_num_queries
):
    upstream = publish(DatasetFactory(slug="raw", team=public_dataset.team), data=b"x\n1\n")
    for n in range(10):
        publish(public_dataset, data=CSV + f"{n},x,1\n".encode(), derived_from=[upstream])
    client = api(member)
    with django_assert_max_num_queries(13):  # 12, and one for the named aliases of all rows
        rows = client.get("/api/v1/datasets/churn/versions/").json()["results"]
    assert [row["derived_from"] for row in rows] == [["raw@1"]] * 10


def test_the_web_upload_form_takes_upstreams_and_a_code_url(client, maintainer, public_dataset, upstreams):
    client.force_login(maintainer)
    response = client.post(
        "/datasets/churn/upload/",
        {
            "file": upload(),
            "message": "joined",
            "derived_from": "raw_events@1, users@latest",
            "code_url": "https://github.com/acme/churn/commit/9f2c4e1",
        },
    )
    assert response.status_code == 302
    version = Version.objects.get(dataset=public_dataset)
    assert {v.ref for v in version.derived_from.all()} == {"raw_events@1", "users@1"}
    page = client.get(response["Location"]).content.decode()
    assert 'href="https://github.com/acme/churn/commit/9f2c4e1"' in page
    assert "raw_events@1" in page and "users@1" in page


def test_the_web_upload_form_names_the_reference_that_does_not_resolve(
    client, maintainer, public_dataset, upstreams
):
    client.force_login(maintainer)
    response = client.post("/datasets/churn/upload/", {"file": upload(), "derived_from": "users@9"})
    assert response.status_code == 400
    assert response.context["form"].errors["derived_from"] == [
        "'users@9' does not resolve: 'users' has no version 9."
    ]
    assert not Version.objects.filter(dataset=public_dataset).exists()
