"""The version page: schema with documentation, profile with histograms, preview, and the diff."""

from __future__ import annotations

import pytest

from datasets.models import ColumnDoc

pytestmark = pytest.mark.django_db

V1 = b"id,city,temp\n1,Oslo,3.5\n2,Lima,19.0\n3,Pune,31.2\n"
V2 = b"id,city,humidity\n1,Oslo,0.8\n2,,0.6\n"


@pytest.fixture
def page(client, member, public_dataset, publish):
    publish(public_dataset, data=V1)
    publish(public_dataset, data=V2)
    client.force_login(member)

    def get(number: int) -> str:
        response = client.get(f"/datasets/churn/versions/{number}/")
        assert response.status_code == 200
        return response.content.decode()

    return get


def test_the_page_shows_schema_profile_histogram_and_preview(page):
    html = page(1)
    assert '<table class="schema">' in html
    assert "<code>temp</code>" in html and "float" in html
    assert html.count('<svg class="histogram"') == 2  # id and temp are numeric
    assert "<title>" in html  # each bar says its range and count
    assert "Oslo" in html and "31.2" in html  # preview rows
    assert "undocumented" in html


def test_the_page_shows_the_diff_against_the_previous_version_and_flags_breaking_changes(page):
    html = page(2)
    assert "Changes since" in html
    assert "added <code>humidity</code>" in html
    assert "removed <code>temp</code>" in html
    assert "Breaking:" in html and "column &#x27;temp&#x27; was removed" in html
    assert "column &#x27;city&#x27; now has nulls" in html


def test_column_documentation_follows_the_column_by_name(page, public_dataset):
    ColumnDoc.objects.create(
        dataset=public_dataset, name="city", description="Where the station is", pii=False
    )
    ColumnDoc.objects.create(dataset=public_dataset, name="id", description="Station number", pii=True)
    for number in (1, 2):
        html = page(number)
        assert "Where the station is" in html
        assert "PII" in html
    assert "undocumented" in page(2)  # humidity is new in v2


def test_maintainers_document_columns_through_the_form(client, maintainer, public_dataset, publish):
    publish(public_dataset, data=V1)
    client.force_login(maintainer)
    form = client.get("/datasets/churn/columns/")
    assert form.status_code == 200
    names = [f.initial["name"] for f in form.context["formset"].forms]
    assert names == ["id", "city", "temp"]
    data = {"form-TOTAL_FORMS": "3", "form-INITIAL_FORMS": "3"}
    for index, (name, description, pii) in enumerate(
        [("id", "Station number", ""), ("city", "City name", "on"), ("temp", "", "")]
    ):
        data |= {f"form-{index}-name": name, f"form-{index}-description": description}
        if pii:
            data[f"form-{index}-pii"] = pii
    response = client.post("/datasets/churn/columns/", data)
    assert response.status_code == 302
    docs = {d.name: (d.description, d.pii) for d in ColumnDoc.objects.all()}
    assert docs == {"id": ("Station number", False), "city": ("City name", True)}


def test_a_member_may_not_document_columns(client, member, public_dataset, publish):
    publish(public_dataset, data=V1)
    client.force_login(member)
    assert client.get("/datasets/churn/columns/").status_code == 403


def test_a_processing_version_shows_its_progress(client, member, public_dataset, publish):
    version = publish(public_dataset, data=V1, ingest=False)
    type(version).objects.filter(pk=version.pk).update(bytes_read=20, rows_processed=1)
    client.force_login(member)
    html = client.get("/datasets/churn/versions/1/status/").content.decode()
    assert f'<progress class="ingest-progress" value="20" max="{len(V1)}"' in html
    assert "1 rows so far" in html


def test_the_status_panel_reloads_the_page_once_ready(client, member, public_dataset, publish):
    publish(public_dataset, data=V1)
    client.force_login(member)
    response = client.get("/datasets/churn/versions/1/status/", HTTP_HX_REQUEST="true")
    assert response["HX-Refresh"] == "true"
