"""README images from other hosts become links: showing one would tell that host who reads the
dataset and when (and the Content-Security-Policy would block it anyway)."""

from __future__ import annotations

import pytest

from catalog.presentation.markdown import markdown_render

pytestmark = pytest.mark.django_db


def test_a_markdown_image_from_another_host_becomes_a_link_to_it():
    html = markdown_render("See ![the churn chart](https://tracker.example.com/pixel.png?reader=1).")
    assert "<img" not in html
    assert '<a href="https://tracker.example.com/pixel.png?reader=1"' in html
    assert ">the churn chart</a>" in html


def test_an_image_without_alt_text_is_linked_by_its_address():
    html = markdown_render("![](//cdn.example.net/a.png)")
    assert "<img" not in html
    assert ">//cdn.example.net/a.png</a>" in html


def test_a_raw_html_image_from_another_host_loses_its_source():
    html = markdown_render('<img src="https://tracker.example.com/p.png" alt="pixel">')
    assert "tracker.example.com" not in html


def test_an_image_on_granary_itself_stays_an_image():
    html = markdown_render("![logo](/static/logo.png)")
    assert (
        '<img alt="logo" src="/static/logo.png">' in html or '<img src="/static/logo.png" alt="logo">' in html
    )


def test_the_dataset_page_shows_no_image_from_another_host(client, member, public_dataset):
    public_dataset.readme = "# Churn\n\n![chart](https://tracker.example.com/pixel.png)"
    public_dataset.save()
    client.force_login(member)
    html = client.get("/datasets/churn/").content.decode()
    assert 'src="https://tracker.example.com' not in html
    assert 'href="https://tracker.example.com/pixel.png"' in html
