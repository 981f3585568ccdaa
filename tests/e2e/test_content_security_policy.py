"""In a real browser, with the Content-Security-Policy on: the portal's pages and the API docs
work and report no violation, a README's tracking image is never fetched, and a script injected
into a page does not run."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def watched(signed_in_page: Any, live_server: Any) -> dict[str, list[str]]:
    """What the browser said about the policy, and every host it fetched from, while the test ran."""
    seen: dict[str, list[str]] = {"violations": [], "hosts": []}
    page = signed_in_page
    page.on(
        "console",
        lambda message: "Content Security Policy" in message.text and seen["violations"].append(message.text),
    )
    page.on("request", lambda request: seen["hosts"].append(urlsplit(request.url).netloc))
    return seen


def test_the_portal_pages_work_without_a_policy_violation(
    signed_in_page, live_server, watched, public_dataset, publish, maintainer
):
    public_dataset.readme = "# Churn\n\nSee ![the chart](https://tracker.example.com/pixel.png)."
    public_dataset.save()
    publish(public_dataset)
    page = signed_in_page
    url = live_server.url

    page.goto(f"{url}/datasets/churn/")
    expect(page.locator(".readme a", has_text="the chart")).to_have_attribute(
        "href", "https://tracker.example.com/pixel.png"
    )
    page.goto(f"{url}/datasets/churn/versions/1/")
    expect(page.locator("table.schema")).to_contain_text("score")
    expect(page.locator("svg.histogram").first).to_be_visible()
    page.goto(f"{url}/datasets/churn/lineage/")
    page.goto(f"{url}/teams/ml-core/")
    expect(page.locator("table")).to_contain_text(maintainer.username)
    page.goto(f"{url}/tokens/")
    page.fill("input[name=name]", "laptop")
    page.click("button:text('Create token')")
    expect(page.locator("body")).to_contain_text("gra_")
    page.goto(f"{url}/?q=churn")
    expect(page.locator("body")).to_contain_text(public_dataset.title)

    assert watched["violations"] == []
    assert set(watched["hosts"]) == {urlsplit(url).netloc}  # the tracking image was never fetched


def test_the_api_docs_render_under_the_policy(signed_in_page, live_server, watched):
    page = signed_in_page
    page.goto(f"{live_server.url}/api/v1/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Granary API")
    expect(page.locator(".opblock-tag", has_text="datasets").first).to_be_visible()
    assert watched["violations"] == []
    assert set(watched["hosts"]) == {urlsplit(live_server.url).netloc}


def test_the_api_docs_under_a_real_host_name_fetch_nothing_from_elsewhere(
    browser_type, browser_type_launch_args, live_server, settings
):
    # Swagger UI asks validator.swagger.io for a badge unless the page is on localhost: reach the
    # live server by another name to see what a deployment's visitors would load.
    settings.ALLOWED_HOSTS = ["granary.test"]
    port = urlsplit(live_server.url).port
    args = [*browser_type_launch_args["args"], "--host-resolver-rules=MAP granary.test 127.0.0.1"]
    browser = browser_type.launch(**{**browser_type_launch_args, "args": args})
    try:
        page = browser.new_page()
        hosts: list[str] = []
        violations: list[str] = []
        page.on("request", lambda request: hosts.append(urlsplit(request.url).netloc))
        page.on("console", lambda m: "Content Security Policy" in m.text and violations.append(m.text))
        page.goto(f"http://granary.test:{port}/api/v1/docs/")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("Granary API")
        page.wait_for_timeout(500)
        assert set(hosts) == {f"granary.test:{port}"}
        assert violations == []
    finally:
        browser.close()


def test_a_script_injected_into_a_page_does_not_run(signed_in_page, live_server, watched):
    page = signed_in_page
    page.goto(f"{live_server.url}/")
    page.evaluate(
        """() => {
            const script = document.createElement("script");
            script.textContent = "window.injected = true";
            document.body.appendChild(script);
            const image = document.createElement("img");
            image.setAttribute("onerror", "window.handler = true");
            image.src = "/no-such-image.png";
            document.body.appendChild(image);
        }"""
    )
    page.wait_for_timeout(500)
    assert page.evaluate("() => [window.injected === true, window.handler === true]") == [False, False]
    assert any("script-src" in text for text in watched["violations"])
