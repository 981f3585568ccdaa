"""The add-check form in a browser: only the chosen check's parameter fields are shown."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def field(page, name):
    return page.locator(f".expectation-form .field:has([name={name}])")


def test_choosing_a_check_shows_only_its_fields(signed_in_page, live_server, public_dataset, publish):
    publish(public_dataset, data=b"id,code,n\n1,AB1,3\n2,CD2,4\n")
    page = signed_in_page
    page.goto(f"{live_server.url}/datasets/churn/suite/")

    # The first check, "is never null": a column and the share of rows, nothing else.
    for name in ("column", "mostly", "notes"):
        expect(field(page, name)).to_be_visible()
    for name in (
        "column_b",
        "columns",
        "min_value",
        "regex",
        "value_set",
        "type_",
        "or_equal",
        "exact_match",
    ):
        expect(field(page, name)).to_be_hidden()
    expect(page.locator(".field-used-by").first).to_be_hidden()  # the notes for pages without script

    page.select_option("select[name=type]", "expect_column_values_to_match_regex")
    expect(field(page, "regex")).to_be_visible()
    expect(field(page, "min_value")).to_be_hidden()

    page.select_option("select[name=type]", "expect_table_row_count_to_be_between")
    for name in ("min_value", "max_value"):
        expect(field(page, name)).to_be_visible()
    for name in ("column", "regex", "mostly"):
        expect(field(page, name)).to_be_hidden()

    page.select_option("select[name=type]", "expect_column_pair_values_a_to_be_greater_than_b")
    for name in ("column", "column_b", "or_equal"):
        expect(field(page, name)).to_be_visible()
    # After a refusal the page comes back with the same check chosen and its fields shown.
    page.click("button:text('Add check')")
    expect(page.locator("select[name=type]")).to_have_value(
        "expect_column_pair_values_a_to_be_greater_than_b"
    )
    expect(field(page, "column_b")).to_be_visible()
    expect(field(page, "column")).to_contain_text("This check needs it: choose a column.")
