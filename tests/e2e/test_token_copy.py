"""A new API token is copied with one click; without JavaScript the button stays out of the way
and one click on the token selects all of it (issue 15)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import sign_in

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "permissions": ["clipboard-read", "clipboard-write"]}


def create_token(page: Any, url: str) -> str:
    page.goto(f"{url}/tokens/")
    page.fill("input[name=name]", "laptop")
    page.click("button:text('Create token')")
    return page.locator("#new-token").inner_text().strip()


def test_the_copy_button_puts_the_new_token_on_the_clipboard(page, live_server, member):
    sign_in(page, live_server.url, member.username)
    secret = create_token(page, live_server.url)
    button = page.locator("#token-issued button[data-copy]")  # by place: its name changes
    expect(button).to_have_text("Copy")
    button.click()
    expect(button).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == secret


def test_without_javascript_the_token_is_selected_whole_by_one_click(browser, live_server, member):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        sign_in(page, live_server.url, member.username)
        secret = create_token(page, live_server.url)
        expect(page.locator("#token-issued button[data-copy]")).to_be_hidden()  # it would do nothing
        assert page.locator("#token-issued pre").evaluate("e => getComputedStyle(e).userSelect") == "all"
        page.locator("#new-token").click()
        assert page.evaluate("window.getSelection().toString()").strip() == secret
    finally:
        context.close()
