"""Every page is served with a strict Content-Security-Policy: scripts, styles and images from
Granary itself only, so an injected <script>, event handler or tracking image does not run or load;
the API docs page runs its one inline script under a per-request nonce."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
# A script element without src, unless it is a data block (JSON-LD), which browsers never run.
INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)(?![^>]*type=\"application/(?:ld\+)?json\")[^>]*>", re.I)
EVENT_HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.IGNORECASE)
STYLE_ATTRIBUTE = re.compile(r"<[a-z][^>]*\sstyle\s*=", re.IGNORECASE)
EXPECTED = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "font-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def policy(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return dict(part.strip().partition(" ")[::2] for part in header.split(";") if part.strip())


@pytest.fixture
def pages(client, member, public_dataset, publish):
    public_dataset.readme = "# Churn\n\n![chart](https://tracker.example.com/pixel.png)"
    public_dataset.save()
    publish(public_dataset)
    anonymous = {"/accounts/login/": client.get("/accounts/login/")}
    client.force_login(member)
    paths = ["/", "/datasets/churn/", "/datasets/churn/versions/1/", "/teams/", "/teams/ml-core/", "/tokens/"]
    return {**anonymous, **{path: client.get(path) for path in paths}}


def test_every_page_allows_only_granarys_own_scripts_styles_and_images(pages):
    for path, response in pages.items():
        assert response.status_code == 200, path
        assert policy(response) == EXPECTED, path


def test_no_page_has_an_inline_script_an_event_handler_or_a_style_attribute(pages):
    for path, response in pages.items():
        html = response.content.decode()
        assert not INLINE_SCRIPT.findall(html), path
        assert not EVENT_HANDLER.findall(html), path
        assert not STYLE_ATTRIBUTE.findall(html), path


def test_no_template_has_an_inline_script_an_event_handler_or_a_style_attribute():
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text()
        scripts = [tag for tag in INLINE_SCRIPT.findall(text) if "csp_nonce" not in tag]
        assert not scripts, template
        assert not EVENT_HANDLER.findall(text), template
        assert not STYLE_ATTRIBUTE.findall(text), template


def test_the_api_answers_carry_the_policy_too(client, member):
    client.force_login(member)
    response = client.get("/api/v1/datasets/")
    assert policy(response)["default-src"] == "'self'"


def test_the_api_docs_page_runs_its_inline_script_and_style_under_a_nonce(client):
    response = client.get("/api/v1/docs/")
    assert response.status_code == 200
    rules = policy(response)
    nonce = re.fullmatch(r"'self' 'nonce-([A-Za-z0-9+/=]+)'", rules["script-src"])
    assert nonce, rules["script-src"]
    assert rules["style-src"] == f"'self' 'nonce-{nonce.group(1)}'"
    html = response.content.decode()
    inline = INLINE_SCRIPT.findall(html) + re.findall(r"<style\b[^>]*>", html)
    assert len(inline) == 2
    assert all(f'nonce="{nonce.group(1)}"' in tag for tag in inline)
    assert "SwaggerUIBundle" in html
    # A second visit gets a fresh nonce.
    again = policy(client.get("/api/v1/docs/"))["script-src"]
    assert again != rules["script-src"]
