"""Someone finds a dataset from the home page in the browser: types in the search box, sees the
type-ahead, picks a suggestion with the keyboard, narrows with a facet and opens a result; all
under the Content-Security-Policy, which reports no violation."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import sign_in
from tests.search.catalog import catalog_build

pytestmark = [pytest.mark.e2e]


def test_type_pick_a_suggestion_and_a_facet_then_open_a_result(page: Any, live_server: Any) -> None:
    catalog_build()
    violations: list[str] = []
    page.on("console", lambda m: "Content Security Policy" in m.text and violations.append(m.text))
    url = live_server.url
    sign_in(page, url, "otto")
    expect(page.locator(".discovery-section h2").first).to_have_text("Certified and most used")

    box = page.locator(".discovery-search input[name=q]")
    box.press_sequentially("wea", delay=30)  # as typed: the suggestions wait for a pause
    suggestions = page.locator("#search-suggestions a")
    expect(suggestions.filter(has_text="Seattle weather")).to_have_attribute(
        "href", "/datasets/seattle-weather/"
    )
    expect(suggestions.filter(has_text="tag:weather")).to_be_visible()

    # The keyboard: down into the list, along it to the tag, Enter fills in its filter.
    box.press("ArrowDown")
    expect(suggestions.first).to_be_focused()
    tag = suggestions.filter(has_text="tag:weather")
    for _ in range(suggestions.count()):
        if tag.evaluate("element => element === document.activeElement"):
            break
        page.keyboard.press("ArrowDown")
    expect(tag).to_be_focused()
    page.keyboard.press("Enter")
    expect(box).to_have_value("tag:weather ")
    expect(box).to_be_focused()
    expect(suggestions).to_have_count(0)
    box.press("Enter")
    expect(page).to_have_url(re.compile(r"/\?q=tag%3Aweather\+?$"))  # the space left for more typing
    expect(page.locator(".results-head")).to_contain_text("2 datasets")

    # A facet narrows the search and shows as selected; its link takes the filter off again.
    page.locator(".facet-license a", has_text="bsd-3-clause").click()
    expect(page).to_have_url(re.compile(r"q=tag%3Aweather\+license%3Absd-3-clause$"))
    expect(page.locator(".results .dataset-title")).to_have_count(1)
    expect(page.locator(".facet-license a.selected")).to_have_text(re.compile("bsd-3-clause"))

    page.locator(".results .dataset-title", has_text="Seattle weather").click()
    expect(page).to_have_url(f"{url}/datasets/seattle-weather/")
    expect(page.locator("h1").first).to_contain_text("Seattle weather")
    assert violations == []


def test_escape_closes_the_suggestions_and_a_malformed_query_says_why(page: Any, live_server: Any) -> None:
    catalog_build()
    sign_in(page, live_server.url, "otto")
    box = page.locator(".discovery-search input[name=q]")
    box.press_sequentially("tag:", delay=30)
    box.press("Enter")
    expect(page.locator("#search-error")).to_contain_text("At character 5: expected a value after 'tag:'")
    box.fill("")
    box.press_sequentially("seat", delay=30)
    expect(page.locator("#search-suggestions a").first).to_be_visible()
    box.press("Escape")
    expect(page.locator("#search-suggestions a")).to_have_count(0)
    expect(box).to_have_value("seat")
