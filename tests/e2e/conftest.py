"""Browser tests: Playwright drives Debian's chromium against pytest-django's live server."""

from __future__ import annotations

import os
from typing import Any

import pytest

CHROMIUM = os.environ.get("GRANARY_CHROMIUM", "/usr/bin/chromium")

# The live server runs in a thread beside Playwright's sync API, which Django would otherwise
# take for an async context.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--disable-sync",
        ],
    }


def sign_in(page: Any, url: str, username: str) -> Any:
    """Sign `username` in through the login form (tests.factories gives every user this password)."""
    page.goto(f"{url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pw-for-tests-1")
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/")
    return page


@pytest.fixture
def signed_in_page(page: Any, live_server: Any, maintainer: Any) -> Any:
    return sign_in(page, live_server.url, maintainer.username)
