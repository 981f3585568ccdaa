"""A person uploads a file and reads the version's schema, histograms and preview in the browser."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import DATA

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def test_a_ready_version_shows_schema_histograms_and_preview(
    signed_in_page, live_server, public_dataset, celery_worker
):
    page = signed_in_page
    page.goto(f"{live_server.url}/datasets/churn/upload/")
    page.set_input_files("input[name=file]", str(DATA / "penguins_sample.tsv"))
    page.click("button:text('Upload')")
    expect(page).to_have_url(re.compile(r"/datasets/churn/versions/1/$"))

    # The page reloads itself when the worker is done.
    expect(page.locator("#schema")).to_be_visible(timeout=30_000)
    schema = page.locator("table.schema")
    expect(schema).to_contain_text("bill_length_mm")
    expect(schema.locator("tr", has_text="bill_length_mm")).to_contain_text("float")
    expect(page.locator("svg.histogram")).to_have_count(5)  # the five numeric columns
    expect(page.locator("svg.histogram").first.locator("rect")).to_have_count(20)
    expect(page.locator("#viewer table.grid tbody tr")).to_have_count(40)  # one page of the viewer
    expect(page.locator("#viewer table.grid")).to_contain_text("Torgersen")
    expect(page.locator("#version-status")).to_contain_text("40 rows")
