"""Someone outside a team asks for a restricted dataset's data in the browser, an owner approves
it in the Access tab, and the dataset's versions open to them."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import CSV
from tests.e2e.conftest import sign_in

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def test_ask_approve_and_read_a_restricted_dataset(
    browser, live_server, celery_worker, restricted_dataset, publish, outsider, owner
):
    publish(restricted_dataset, data=CSV)
    oscar = browser.new_context().new_page()
    sign_in(oscar, live_server.url, outsider.username)
    oscar.goto(f"{live_server.url}/datasets/patients/")
    expect(oscar.locator("table.versions")).to_have_count(0)
    oscar.fill("textarea[name=reason]", "Training a readmission model for the Q3 review")
    oscar.click("button:text('Ask the owners')")
    expect(oscar.locator(".access-status")).to_contain_text("pending")

    olivia = browser.new_context().new_page()
    sign_in(olivia, live_server.url, owner.username)
    olivia.goto(f"{live_server.url}/datasets/patients/")
    expect(olivia.locator(".count-badge")).to_contain_text("1")  # the top bar's count of waiting requests
    tab = olivia.get_by_role("navigation", name="Dataset sections").get_by_role(
        "link", name=re.compile("^Access")
    )
    expect(tab).to_contain_text("Access (1")
    tab.click()
    expect(olivia).to_have_url(re.compile(r"/datasets/patients/access/$"))
    row = olivia.locator("table.access-requests tr", has_text="oscar")
    expect(row).to_contain_text("Training a readmission model")
    row.locator("input[name=note]").fill("until the end of Q3")
    row.get_by_role("button", name="Approve").click()
    expect(olivia.locator("table.access-requests")).to_contain_text("Approved by olivia")

    oscar.reload()
    expect(oscar.locator("table.versions")).to_contain_text("v1")
    expect(oscar.locator("textarea[name=reason]")).to_have_count(0)
