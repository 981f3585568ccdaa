"""A person declares upstreams on upload, then explores the lineage tab and its controls."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.factories import DatasetFactory

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def chain(team, publish):
    """a@1 → b@1 → c@1, declared."""
    versions = []
    for slug in "abc":
        versions.append(
            publish(
                DatasetFactory(slug=slug, team=team), data=f"x\n{slug}\n".encode(), derived_from=versions[-1:]
            )
        )
    return versions


def test_an_upload_declares_upstreams_that_the_pages_show(signed_in_page, live_server, chain, tmp_path):
    page = signed_in_page
    DatasetFactory(slug="report", team=chain[0].dataset.team, title="Report")
    page.goto(f"{live_server.url}/datasets/report/upload/")
    source = tmp_path / "report.csv"
    source.write_bytes(b"k,v\n1,2\n")
    page.set_input_files("input[name=file]", str(source))
    page.fill("input[name=derived_from]", "a@1, c@latest")
    page.fill("input[name=code_url]", "https://github.com/acme/report/commit/4f1c2d9")
    page.click("button:text('Upload')")

    expect(page).to_have_url(re.compile(r"/datasets/report/versions/1/$"))
    summary = page.locator("#lineage-summary")
    expect(summary).to_contain_text("a@1")
    expect(summary).to_contain_text("c@1")
    expect(page.get_by_role("link", name="https://github.com/acme/report/commit/4f1c2d9")).to_be_visible()

    page.goto(f"{live_server.url}/datasets/c/")
    expect(page.locator("#lineage-summary")).to_contain_text("report@1")


def test_the_lineage_tab_follows_its_controls_and_links_each_node(signed_in_page, live_server, chain):
    page = signed_in_page
    page.goto(f"{live_server.url}/datasets/b/")
    page.get_by_role("link", name="Lineage", exact=True).click()
    expect(page).to_have_url(re.compile(r"/datasets/b/lineage/$"))
    graph = page.locator("#lineage-graph svg")
    for node in ("a@1", "b@1", "c@1"):
        expect(graph.locator(f'[data-node-id="version:{node}"]')).to_be_visible()

    page.select_option("select[name=direction]", "down")
    expect(page).to_have_url(re.compile(r"direction=down"))
    expect(graph.locator('[data-node-id="version:a@1"]')).to_have_count(0)
    expect(graph.locator('[data-node-id="version:c@1"]')).to_be_visible()

    graph.locator('[data-node-id="version:c@1"] a').click()
    expect(page).to_have_url(re.compile(r"/datasets/c/versions/1/$"))
    page.get_by_role("link", name="What depends on this version?").click()
    expect(page.locator("h1")).to_contain_text("What depends on c@1")
