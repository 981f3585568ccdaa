"""A maintainer builds checks through the form, runs them and reads the report."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

DATA = b"id,age,plan\n1,34,basic\n2,,pro\n3,29,basic\n"


def test_build_a_suite_run_it_and_read_the_report(
    signed_in_page, live_server, public_dataset, publish, celery_worker
):
    publish(public_dataset, data=DATA)
    page = signed_in_page
    page.goto(f"{live_server.url}/datasets/churn/")
    expect(page.locator(".notice")).to_contain_text("no quality checks yet")
    page.click("text=Checks")

    page.select_option("select[name=type]", "expect_column_values_to_not_be_null")
    page.select_option("select[name=column]", "age")
    page.click("button:text('Add check')")
    expect(page.locator(".expectations code")).to_have_text("age")  # `age`, rendered as code
    expect(page.locator(".expectations")).to_contain_text("age is never null")

    page.select_option("select[name=type]", "expect_column_values_to_be_between")
    page.select_option("select[name=column]", "age")
    page.fill("input[name=min_value]", "50")
    page.fill("input[name=max_value]", "10")
    page.click("button:text('Add check')")
    expect(page.locator(".field.has-error")).to_contain_text("“At most” (10) is less than “at least” (50).")
    expect(page.locator(".field.has-error input[name=max_value]")).to_be_visible()

    page.goto(f"{live_server.url}/datasets/churn/versions/1/")
    page.click("button:text('Run checks now')")
    expect(page).to_have_url(re.compile(r"/datasets/churn/versions/1/validations/\d+/$"))
    report = page.locator("#report")
    # The test's worker imports Great Expectations with this first run (adding a check no longer
    # loads it in the web process): up to 10 s more on a loaded machine.
    expect(report).to_have_attribute("data-status", "failed", timeout=90_000)
    row = page.locator("table.report tr", has_text="age is never null")
    expect(row).to_contain_text("1 (33.33%)")
    expect(page.locator("h1")).to_contain_text("failed")
