"""Every page of the portal at phone width (390 px) and on a laptop (1366 px): never wider than
the screen, and no serious or critical accessibility fault that axe-core finds.

One browser, one context per width; a catalog with something on every page (versions with a
profile, a validation run, lineage, aliases, checkouts, access requests, tokens, a webhook).
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from celery.app.task import Task
from django.conf import settings
from playwright.sync_api import expect

from accounts.services import token_create
from datasets.access import dataset_access
from datasets.models import Dataset, Version
from datasets.services.access_requests import access_request_create
from datasets.services.aliases import alias_set
from datasets.services.checkouts import checkout_create
from datasets.services.columns import column_docs_set
from lineage.services import run_event_record
from quality.models import ValidationRun
from quality.services import suite_save, validation_run
from search.indexer import search_rebuild
from tests.conftest import DATA
from tests.e2e.conftest import sign_in
from tests.factories import DatasetFactory, UserFactory, run_event
from webhooks.models import Webhook

pytestmark = [pytest.mark.e2e]

AXE = Path(settings.BASE_DIR) / "static" / "vendor" / "axe.min.js"
TEMPLATES = Path(settings.BASE_DIR) / "templates"
WIDTHS = (390, 1366)
README = """# Churn

Monthly churn labels, one row per customer.

## Columns

| column | meaning |
| --- | --- |
| `customer_id` | the customer's id in the billing system, stable across versions |

```python
from granary import Client
frame = Client().read("churn@prod", columns=["customer_id", "churned", "plan", "monthly_spend"])
```
"""


def catalog(owner: Any, outsider: Any, team: Any, publish: Any, live_url: str) -> dict[str, str]:
    """The fixture catalog; returns each page template with the address that renders it."""
    churn = DatasetFactory(
        slug="churn",
        title="Customer churn, monthly",
        team=team,
        readme=README,
        license="CC-BY-4.0",
        visibility=Dataset.Visibility.PUBLIC,
    )
    penguins = (DATA / "penguins_sample.tsv").read_bytes()
    v1 = publish(churn, data=penguins, user=owner, filename="penguins.tsv", message="First cut")
    v2 = publish(
        churn,
        data=penguins + penguins.splitlines(True)[1],
        user=owner,
        filename="penguins.tsv",
        derived_from=[v1],
    )
    assert v2.status == Version.Status.READY, v2.failure
    alias_set(dataset=churn, user=owner, name="prod", version=v1)
    column_docs_set(
        dataset=churn, user=owner, docs=[{"name": "species", "description": "Penguin species", "pii": False}]
    )
    revision = suite_save(
        dataset=churn,
        user=owner,
        expectations=[
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "species"}},
            {"type": "expect_column_values_to_be_between", "kwargs": {"column": "year", "min_value": 2007}},
        ],
    )
    run = ValidationRun.objects.filter(version=v2, revision=revision).first()
    assert run is not None
    validation_run(run_id=run.pk)  # inline: the page reads a finished report
    checkout = checkout_create(
        user=owner, refs=["churn@prod"], purpose="Train the churn model", model="churn-xgb"
    )
    lineage_run = str(uuid.uuid4())
    run_event_record(
        user=owner,
        payload=run_event(
            run_id=lineage_run,
            job="features.build",
            inputs=[(live_url, "churn"), ("s3://raw-events", "clicks/2026/11")],
            outputs=[(live_url, "features")],
        ),
        namespace=live_url,
    )
    patients = DatasetFactory(slug="patients", title="Patient visits", team=team, visibility="restricted")
    access_request_create(
        user=outsider,
        dataset=patients,
        access=dataset_access(user=outsider, dataset=patients),
        reason="Readmission model for the cardiology study",
    )
    token_create(user=owner, name="training cluster", scope="read")
    Webhook.objects.create(team=team, url="https://hooks.example.org/granary/events", secret="s3cret")
    search_rebuild()

    base = "/datasets/churn"
    return {
        "catalog/home.html": "/?q=churn",
        "catalog/dataset_detail.html": f"{base}/",
        "catalog/dataset_form.html": f"{base}/edit/",
        "catalog/dataset_usage.html": f"{base}/usage/",
        "catalog/dataset_access.html": "/datasets/patients/access/",
        "catalog/dataset_audit.html": f"{base}/audit/",
        "catalog/dataset_aliases.html": f"{base}/aliases/",
        "catalog/dataset_lineage.html": f"{base}/lineage/",
        "catalog/column_docs.html": f"{base}/columns/",
        "catalog/version_upload.html": f"{base}/upload/",
        "catalog/version_detail.html": f"{base}/versions/2/",
        "catalog/version_impact.html": f"{base}/versions/1/impact/",
        "catalog/validation_report.html": f"{base}/versions/2/validations/{run.pk}/",
        "catalog/suite.html": f"{base}/suite/",
        "catalog/suite_suggest.html": f"{base}/suite/suggest/",
        "catalog/run_detail.html": f"/lineage/runs/{lineage_run}/",
        "catalog/team_list.html": "/teams/",
        "catalog/team_detail.html": f"/teams/{team.slug}/",
        "catalog/team_webhooks.html": f"/teams/{team.slug}/webhooks/",
        "catalog/token_list.html": "/tokens/",
        "catalog/preferences.html": "/settings/",
        "catalog/access_requests.html": "/access-requests/",
        "catalog/checkout_detail.html": f"/checkouts/{checkout.pk}/",
        "catalog/query_console.html": f"{base}/versions/2/query/",
        "404.html": "/no/such/page/",
    }


# Pages a signed-out visitor sees; the rest are seen by the dataset's team owner.
ANONYMOUS = {"registration/login.html": "/accounts/login/"}
LOCKED_OUT = "registration/locked_out.html"
# Shown only in a state a test cannot reach from a browser in one visit, checked elsewhere.
ELSEWHERE = {
    "error.html": "the layout of 404.html, 403.html and 500.html (tests/catalog/test_error_pages.py)",
    "unavailable.html": "the database or storage down (tests/config/test_health.py)",
    "403.html": "tests/catalog/test_error_pages.py",
    "500.html": "tests/catalog/test_error_pages.py",
}


def page_templates() -> set[str]:
    """Every full-page template: partials start with `_`, and the API docs' template is DRF's."""
    found = {
        str(path.relative_to(TEMPLATES))
        for folder in ("catalog", "registration", ".")
        for path in (TEMPLATES / folder).glob("*.html")
        if not path.name.startswith("_") and path.name != "base.html"
    }
    return found


def problems_on(page: Any, path: str, width: int) -> list[str]:
    """What is wrong with the page now loaded: its width, then axe's serious and critical faults."""
    found = []
    wide = page.evaluate("document.documentElement.scrollWidth")
    if wide > width:
        culprits = page.evaluate(
            """(width) => Array.from(document.querySelectorAll('body *'))
                .filter((e) => e.getBoundingClientRect().right > width + 1)
                .filter((e) => e.parentElement.getBoundingClientRect().right <= width + 1)
                .slice(0, 5)
                .map((e) => e.tagName.toLowerCase() + '.' + String(e.className).replaceAll(' ', '.')
                    + ' right=' + Math.round(e.getBoundingClientRect().right))""",
            width,
        )
        found.append(f"{path} at {width} px is {wide} px wide: {', '.join(culprits)}")
    # A column's profile card holds its histogram and top-value bars (they used to spill into the next).
    spilled = page.evaluate(
        """() => Array.from(document.querySelectorAll('.column-profile')).flatMap((card) =>
            Array.from(card.querySelectorAll('*'))
                .filter((e) => e.getBoundingClientRect().right > card.getBoundingClientRect().right + 1)
                .map((e) => card.querySelector('h3').textContent.trim() + ': ' + e.tagName.toLowerCase()))"""
    )
    if spilled:
        found.append(f"{path} at {width} px: out of their profile card: {', '.join(spilled[:5])}")
    if not page.evaluate("typeof axe !== 'undefined'"):
        raise AssertionError(f"{path}: axe-core was not injected")
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    for violation in result["violations"]:
        if violation["impact"] in ("serious", "critical"):
            nodes = "; ".join(
                f"{' '.join(node['target'])} ({node.get('failureSummary', '').splitlines()[-1].strip()})"
                for node in violation["nodes"][:4]
            )
            found.append(
                f"{path} at {width} px: {violation['impact']} {violation['id']}: {violation['help']}: {nodes}"
            )
    return found


def test_every_page_fits_phone_and_laptop_widths_without_serious_accessibility_faults(
    browser, live_server, owner, outsider, team, publish, monkeypatch, settings
):
    # Tasks stay off the broker (no Redis here): the fixture runs what it needs inline.
    monkeypatch.setattr(Task, "delay", lambda self, *args, **kwargs: None)
    monkeypatch.setattr(Task, "apply_async", lambda self, *args, **kwargs: None)
    UserFactory(username="hugo")
    started = time.monotonic()
    pages = catalog(owner, outsider, team, publish, live_server.url)
    print(f"catalog built in {time.monotonic() - started:.1f} s")

    templates = page_templates()
    missing = templates - set(pages) - set(ANONYMOUS) - {LOCKED_OUT} - set(ELSEWHERE)
    assert not missing, f"page templates this test does not visit: {sorted(missing)}"
    # A page listed ahead of its template (one being built in the same tree) waits for it.
    pages = {template: path for template, path in pages.items() if template in templates}

    problems: list[str] = []
    for width in WIDTHS:
        context = browser.new_context(viewport={"width": width, "height": 900})
        # Into every page as the browser opens it, from the vendored file: no request per page, and
        # no inline <script> for the portal's Content-Security-Policy to refuse (add_script_tag's).
        context.add_init_script(path=AXE)
        page = context.new_page()
        for template, path in ANONYMOUS.items():
            page.goto(live_server.url + path)
            problems += problems_on(page, f"{path} ({template})", width)
        sign_in(page, live_server.url, owner.username)
        for template, path in pages.items():
            response = page.goto(live_server.url + path)
            assert response is not None
            expected = 404 if template == "404.html" else 200
            assert response.status == expected, f"{path}: {response.status}"
            problems += problems_on(page, f"{path} ({template})", width)
        context.close()
        print(f"{len(pages) + len(ANONYMOUS)} pages at {width} px by {time.monotonic() - started:.1f} s")
    # Last, as it locks this address out: one wrong password is one too many.
    settings.AXES_FAILURE_LIMIT = 1
    for width in WIDTHS:
        context = browser.new_context(viewport={"width": width, "height": 900})
        context.add_init_script(path=AXE)
        page = context.new_page()
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("input[name=username]", "hugo")
        page.fill("input[name=password]", "not-the-password")
        with page.expect_response(lambda r: r.request.method == "POST") as answer:
            page.click("button[type=submit]")
        assert answer.value.status == 429
        problems += problems_on(page, f"/accounts/login/ ({LOCKED_OUT})", width)
        context.close()
    assert not problems, "\n" + "\n".join(problems)


def test_at_phone_width_the_menu_opens_without_javascript(browser, live_server, owner):
    context = browser.new_context(viewport={"width": 390, "height": 800}, java_script_enabled=False)
    page = sign_in(context.new_page(), live_server.url, owner.username)
    teams = page.get_by_role("link", name="Teams")
    expect(teams).to_be_hidden()
    page.get_by_text("Menu").click()
    expect(teams).to_be_visible()
    teams.click()
    expect(page).to_have_url(f"{live_server.url}/teams/")
    context.close()


def test_on_a_laptop_the_menu_links_show_without_a_toggle(browser, live_server, owner):
    context = browser.new_context(viewport={"width": 1366, "height": 800})
    page = sign_in(context.new_page(), live_server.url, owner.username)
    expect(page.get_by_role("link", name="API tokens")).to_be_visible()
    expect(page.get_by_text("Menu")).to_be_hidden()
    context.close()


def test_the_skip_link_appears_on_tab_and_moves_focus_to_the_content(browser, live_server, owner):
    context = browser.new_context(viewport={"width": 390, "height": 800})
    page = sign_in(context.new_page(), live_server.url, owner.username)
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).not_to_be_in_viewport()
    page.keyboard.press("Tab")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    context.close()


def test_an_upload_shows_no_progress_until_sent_and_cancel_stops_it(
    browser, live_server, owner, public_dataset, tmp_path
):
    context = browser.new_context(viewport={"width": 390, "height": 800})
    page = sign_in(context.new_page(), live_server.url, owner.username)
    page.goto(f"{live_server.url}/datasets/churn/upload/")
    expect(page.locator(".upload-progress")).to_be_hidden()  # not a 0 % bar before a file is chosen
    expect(page.get_by_role("button", name="Cancel upload")).to_be_hidden()

    held = []  # the upload's request, never answered: it is in flight until Cancel aborts it
    page.route("**/datasets/churn/upload/", lambda route: held.append(route))
    data = tmp_path / "scores.csv"
    data.write_bytes(b"id,score\n" + b"".join(b"%d,0.5\n" % i for i in range(50_000)))
    page.set_input_files("input[name=file]", str(data))
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.get_by_role("button", name="Upload", exact=True)).to_be_disabled()
    cancel = page.get_by_role("button", name="Cancel upload")
    cancel.click()

    expect(page.locator(".upload-status")).to_have_text("Upload cancelled: the file was not stored.")
    expect(page.get_by_role("button", name="Upload", exact=True)).to_be_enabled()
    expect(cancel).to_be_hidden()
    expect(page.locator(".upload-progress")).to_be_hidden()
    assert held and not public_dataset.versions.exists()
    context.close()
