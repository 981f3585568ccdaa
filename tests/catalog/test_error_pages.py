"""The portal's basics: its own 403/404/500 pages, a favicon, a skip link, labelled controls on
the column-docs page, and README headings that never outrank the page's."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders
from django.core.exceptions import PermissionDenied
from django.test import RequestFactory
from django.views import defaults

from catalog.presentation.markdown import markdown_render
from config.health import server_error

pytestmark = pytest.mark.django_db


def test_an_unknown_address_gets_the_portals_404_page_in_its_layout(client, member):
    client.force_login(member)
    response = client.get("/datasets/churn/no-such-tab/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "<h1>Not found</h1>" in html
    assert "Nothing lives at <code>/datasets/churn/no-such-tab/</code>" in html
    assert 'class="skip-link"' in html and "Sign out mina" in html  # the portal's own header
    assert 'href="/"' in html


def test_a_signed_out_visitor_gets_the_same_404_page(client):
    response = client.get("/nowhere/")
    assert response.status_code == 404
    assert "<h1>Not found</h1>" in response.content.decode()


def test_an_unknown_api_address_still_answers_json(client):
    response = client.get("/api/v1/nowhere/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_a_403_and_a_500_render_in_the_portals_layout():
    request = RequestFactory().get("/datasets/churn/")
    request.user = None  # as an anonymous request that reached Django's handler
    denied = defaults.permission_denied(request, PermissionDenied())
    assert denied.status_code == 403 and "<h1>Not allowed</h1>" in denied.content.decode()
    try:
        raise RuntimeError("a bug")
    except RuntimeError:
        failed = server_error(RequestFactory().get("/datasets/churn/"))
    html = failed.content.decode()
    assert failed.status_code == 500
    assert "<h1>That did not work</h1>" in html and 'class="skip-link"' in html
    assert "a bug" not in html


def test_favicon_is_linked_from_every_page_and_served_at_the_root(client, member):
    client.force_login(member)
    html = client.get("/teams/").content.decode()
    link = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', html)
    assert link and link.group(1).endswith("favicon.svg")
    assert finders.find("favicon.svg") and finders.find("favicon.ico")

    response = client.get("/favicon.ico")
    assert response.status_code == 302 and response["Location"].endswith("/favicon.ico")
    with open(finders.find("favicon.ico"), "rb") as icon:
        assert icon.read(4) == b"\x00\x00\x01\x00"  # an ICO header, which every browser reads


def test_the_skip_link_leads_to_the_main_content(client, member):
    client.force_login(member)
    html = client.get("/teams/").content.decode()
    skip = html.index('<a class="skip-link" href="#main">Skip to main content</a>')
    assert skip < html.index('<header class="topbar">')  # the first thing a keyboard reaches
    assert '<main id="main" tabindex="-1">' in html


def test_every_control_on_the_column_docs_page_has_a_label(client, maintainer, public_dataset, publish):
    publish(public_dataset, data=b"id,name,score\n1,ada,0.5\n")
    client.force_login(maintainer)
    html = client.get("/datasets/churn/columns/").content.decode()
    table = html[html.index('<table class="column-docs">') : html.index("</table>")]
    tags = re.findall(r"<(?:textarea|input|select)[^>]*>", table)
    visible = [re.search(r'\bid="([^"]+)"', t).group(1) for t in tags if 'type="hidden"' not in t]  # type: ignore[union-attr]
    assert len(visible) == 6  # a description and a PII box for each of the three columns
    labels = set(re.findall(r'<label[^>]*\bfor="([^"]+)"', html))
    assert set(visible) <= labels
    assert "Description of score</label>" in html and "score holds personal data (PII)</label>" in html


def test_readme_headings_start_below_the_pages_own():
    html = markdown_render("# Churn\n\n## Columns\n\n##### Deep\n\n<h1>Raw</h1>\n\n`<h1>` stays text")
    assert "<h3>Churn</h3>" in html and "<h4>Columns</h4>" in html and "<h6>Deep</h6>" in html
    assert "<h3>Raw</h3>" in html
    assert "<code>&lt;h1&gt;</code>" in html
    assert "<h1>" not in html and "<h2>" not in html
