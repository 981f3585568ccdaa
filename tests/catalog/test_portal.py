"""The web portal's pages and forms, through Django's test client."""

from __future__ import annotations

import html
import re

import pytest

from datasets.models import Dataset, Version
from search.indexer import search_rebuild
from tests.blobs import stored_keys
from tests.conftest import CSV, files_under, upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client):
    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in


def test_anonymous_visitors_are_sent_to_the_login_page(client, public_dataset):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_anonymous_read_shows_public_datasets_only(
    client, settings, public_dataset, internal_dataset, restricted_dataset
):
    settings.GRANARY_ANONYMOUS_READ = True
    search_rebuild()  # factories skip the services that index
    page = client.get("/", {"sort": "name"})
    assert page.status_code == 200
    assert [hit.dataset.slug for hit in page.context["results"].hits] == ["churn"]
    assert client.get("/datasets/payroll/").status_code == 404


def test_sign_in_with_a_password(client, member):
    response = client.post("/accounts/login/", {"username": "mina", "password": "pw-for-tests-1"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_home_lists_and_searches_visible_datasets(
    signed_in, outsider, public_dataset, internal_dataset, restricted_dataset
):
    client = signed_in(outsider)
    search_rebuild()  # factories skip the services that index
    page = client.get("/", {"sort": "name"})
    assert [hit.dataset.slug for hit in page.context["results"].hits] == ["churn", "patients"]
    assert b"data restricted" in page.content
    found = client.get("/", {"q": "patients"})
    assert [hit.dataset.slug for hit in found.context["results"].hits] == ["patients"]


def test_the_dataset_page_renders_a_sanitized_readme_and_versions(signed_in, member, public_dataset, publish):
    public_dataset.readme = "# Churn\n\n<script>alert(1)</script>\n\n[site](javascript:alert(2)) **bold**"
    public_dataset.save()
    version = publish(public_dataset)
    page = signed_in(member).get("/datasets/churn/")
    html = page.content.decode()
    assert "<h3>Churn</h3>" in html  # under the page's README heading (h2), never an h1
    assert "<strong>bold</strong>" in html
    assert "<script>alert(1)" not in html and "javascript:" not in html
    assert version.sha256[:12] in html
    assert "/api/v1/datasets/churn/versions/1/download/" in html


def test_a_restricted_dataset_shows_only_its_title_and_summary_to_outsiders(
    signed_in, outsider, restricted_dataset, publish
):
    publish(restricted_dataset)
    page = signed_in(outsider).get("/datasets/patients/")
    assert page.status_code == 200
    assert restricted_dataset.title.encode() in page.content
    assert b"is restricted" in page.content
    assert b"download" not in page.content
    assert signed_in(outsider).get("/datasets/patients/versions/1/").status_code == 403


def test_registering_a_dataset_through_the_form(signed_in, maintainer, team):
    client = signed_in(maintainer)
    response = client.post(
        "/datasets/new/",
        {"slug": "clicks", "title": "Clicks", "team": team.pk, "tags": "web, events", "visibility": "public"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/datasets/clicks/upload/"
    dataset = Dataset.objects.get(slug="clicks")
    assert sorted(t.name for t in dataset.tags.all()) == ["events", "web"]


def test_the_register_form_says_exactly_what_is_wrong(signed_in, maintainer, team, public_dataset):
    client = signed_in(maintainer)
    duplicate = client.post(
        "/datasets/new/", {"slug": "churn", "title": "Again", "team": team.pk, "visibility": "public"}
    )
    assert duplicate.status_code == 400
    assert duplicate.context["form"].errors["slug"] == ["This slug is not available: choose another."]
    illegal = client.post(
        "/datasets/new/", {"slug": "Bad Slug!", "title": "x", "team": team.pk, "visibility": "public"}
    )
    assert "lowercase letters, digits" in illegal.context["form"].errors["slug"][0]
    missing = client.post("/datasets/new/", {"slug": "ok", "team": team.pk, "visibility": "public"})
    assert missing.context["form"].errors["title"] == ["This field is required."]
    assert Dataset.objects.count() == 1


def test_a_member_cannot_pick_the_team_in_the_register_form(signed_in, member, team):
    response = signed_in(member).post(
        "/datasets/new/", {"slug": "x", "title": "x", "team": team.pk, "visibility": "public"}
    )
    assert response.status_code == 400
    assert "Select a valid choice" in response.context["form"].errors["team"][0]


def test_uploading_a_version_through_the_form_redirects_to_its_page(signed_in, maintainer, public_dataset):
    client = signed_in(maintainer)
    response = client.post("/datasets/churn/upload/", {"file": upload(), "message": "from the web"})
    assert response.status_code == 302
    assert response["Location"] == "/datasets/churn/versions/1/"
    page = client.get("/datasets/churn/versions/1/")
    assert b'data-status="processing"' in page.content
    assert b'hx-trigger="every 1s"' in page.content


def test_the_htmx_upload_answers_with_a_redirect_header(signed_in, maintainer, public_dataset):
    response = signed_in(maintainer).post(
        "/datasets/churn/upload/", {"file": upload()}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 204
    assert response["HX-Redirect"] == "/datasets/churn/versions/1/"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", "The file is empty (0 bytes)."),
        (
            b"\x89PNG\r\n\x1a\n\x00\x00",
            "Found a PNG image; Granary accepts CSV, TSV, Parquet or JSON Lines (plain or gzip-compressed).",
        ),
    ],
)
def test_the_upload_form_says_what_is_wrong_and_keeps_nothing(
    signed_in, maintainer, public_dataset, data_dir, data, error
):
    response = signed_in(maintainer).post("/datasets/churn/upload/", {"file": upload("x.csv", data)})
    assert response.status_code == 400
    assert response.context["form"].errors["file"] == [error]
    assert not Version.objects.exists()
    assert files_under(data_dir) == [] and stored_keys() == []


def test_the_upload_form_refuses_a_file_over_the_limit(
    signed_in, maintainer, public_dataset, data_dir, settings
):
    settings.GRANARY_MAX_UPLOAD_BYTES = 50
    response = signed_in(maintainer).post("/datasets/churn/upload/", {"file": upload(data=CSV * 3)})
    assert response.status_code == 413
    assert "larger than the upload limit of 50 bytes" in response.context["form"].errors["file"][0]
    assert files_under(data_dir) == [] and stored_keys() == []


def test_the_status_panel_stops_polling_once_ready(signed_in, member, public_dataset, publish):
    publish(public_dataset)
    panel = signed_in(member).get("/datasets/churn/versions/1/status/")
    assert b'data-status="ready"' in panel.content
    assert b"hx-trigger" not in panel.content
    assert b"3 rows" in panel.content


def test_a_failed_version_page_shows_the_reason(signed_in, member, public_dataset, publish):
    publish(public_dataset, data=b"a,b\n1,2,3\n")
    page = signed_in(member).get("/datasets/churn/versions/1/")
    assert b"Line 2 has 3 fields, but the header has 2" in page.content


def test_creating_a_team_and_adding_a_member_through_the_forms(signed_in, outsider, member):
    client = signed_in(outsider)
    assert client.post("/teams/", {"slug": "vision", "name": "Vision"}).status_code == 302
    response = client.post("/teams/vision/", {"username": "mina", "role": "maintainer"})
    assert response.status_code == 302
    page = client.get("/teams/vision/")
    assert [(m.user.username, m.role) for m in page.context["members"]] == [
        ("mina", "maintainer"),
        ("oscar", "owner"),
    ]
    unknown = client.post("/teams/vision/", {"username": "ghost", "role": "member"})
    assert unknown.context["form"].errors["username"] == ["No user 'ghost'."]


def test_a_version_stuck_in_processing_says_so(signed_in, member, public_dataset, publish):
    version = publish(public_dataset, ingest=False)
    Version.objects.filter(pk=version.pk).update(status_changed_at=version.created_at.replace(year=2020))
    page = signed_in(member).get("/datasets/churn/versions/1/")
    assert b"Stuck: processing since" in page.content
    assert b"requeue_stuck" in page.content


def test_a_tag_on_the_dataset_page_links_to_the_search_for_that_tag(
    signed_in, outsider, public_dataset, internal_dataset
):
    from datasets.models import Tag

    public_dataset.tags.add(Tag.objects.create(name="churn-tag"))
    search_rebuild()  # factories skip the services that index
    client = signed_in(outsider)
    page = client.get(f"/datasets/{public_dataset.slug}/").content.decode()
    href = re.search(r'<a class="tag" href="([^"]+)">#churn-tag</a>', page).group(1)
    found = client.get(html.unescape(href))
    assert [hit.dataset.slug for hit in found.context["results"].hits] == [public_dataset.slug]
