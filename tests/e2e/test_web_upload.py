"""A person registers a dataset, uploads a version, watches it become ready and downloads it."""

from __future__ import annotations

import hashlib
import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

DATA = b"species,bill_length_mm,island\n" + b"".join(
    f"Adelie,{38 + i % 7}.{i % 10},Torgersen\n".encode() for i in range(5000)
)


def test_register_upload_and_download_through_the_web(
    signed_in_page, live_server, team, celery_worker, tmp_path
):
    page = signed_in_page
    page.click("text=Register a dataset")
    page.fill("input[name=slug]", "penguins")
    page.fill("input[name=title]", "Palmer penguins")
    page.fill("textarea[name=summary]", "Bill lengths of penguins")
    page.fill("textarea[name=readme]", "# Penguins\n\nMeasured at **Palmer Station**.")
    page.select_option("select[name=visibility]", "public")
    page.click("button:text('Register')")

    expect(page).to_have_url(re.compile(r"/datasets/penguins/upload/$"))
    source = tmp_path / "penguins.csv"
    source.write_bytes(DATA)
    page.set_input_files("input[name=file]", str(source))
    page.fill("input[name=message]", "first measurements")
    page.click("button:text('Upload')")

    expect(page).to_have_url(re.compile(r"/datasets/penguins/versions/1/$"))
    status = page.locator("#version-status")
    expect(status).to_have_attribute("data-status", "ready", timeout=30_000)
    expect(status).to_contain_text("5,000 rows")

    with page.expect_download() as info:
        status.get_by_role("link", name="Download").click()
    downloaded = info.value.path().read_bytes()
    assert hashlib.sha256(downloaded).hexdigest() == hashlib.sha256(DATA).hexdigest()

    page.goto(f"{live_server.url}/datasets/penguins/")
    expect(page.locator(".readme strong")).to_have_text("Palmer Station")
    expect(page.locator("table.versions")).to_contain_text(hashlib.sha256(DATA).hexdigest()[:12])


def test_the_upload_form_shows_what_is_wrong_without_leaving_the_page(
    signed_in_page, live_server, public_dataset, maintainer, tmp_path
):
    page = signed_in_page
    page.goto(f"{live_server.url}/datasets/churn/upload/")
    bad = tmp_path / "photo.csv"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    page.set_input_files("input[name=file]", str(bad))
    page.click("button:text('Upload')")
    expect(page.locator(".field-error")).to_have_text(
        "Found a PNG image; Granary accepts CSV, TSV, Parquet or JSON Lines (plain or gzip-compressed)."
    )
    expect(page).to_have_url(re.compile(r"/datasets/churn/upload/$"))


def test_search_finds_a_dataset_from_the_home_page(signed_in_page, live_server, public_dataset):
    from search.indexer import search_index_dataset

    search_index_dataset(dataset_id=public_dataset.pk)  # factories skip the services that index
    page = signed_in_page
    page.fill(".discovery-search input[name=q]", "churn")
    page.keyboard.press("Enter")
    expect(page.locator(".dataset-row")).to_have_count(1)
    page.click(f"text={public_dataset.title}")
    expect(page.locator("h1")).to_have_text(public_dataset.title)
