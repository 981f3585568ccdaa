"""A dataset's versions come a page at a time, newest first, on its portal page and in the API: a
dataset with 2,000 versions answers as fast as one with 30."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from datasets.models import Blob, Dataset, Version
from datasets.services.summary import dataset_summary_refresh
from tests.factories import DatasetFactory

pytestmark = pytest.mark.django_db


def with_versions(dataset: Dataset, count: int) -> Dataset:
    """`count` ready versions, written in bulk (ingesting 2,000 files would test ingest, not pages)."""
    now = timezone.now()
    digests = [hashlib.sha256(f"{dataset.slug}-{n}".encode()).hexdigest() for n in range(1, count + 1)]
    Blob.objects.bulk_create([Blob(sha256=digest, size=100) for digest in digests])
    Version.objects.bulk_create(
        Version(
            dataset=dataset,
            number=n,
            blob_id=digest,
            size=100,
            format="csv",
            row_count=n,
            status=Version.Status.READY,
            message=f"cut {n}",
            status_changed_at=now,
        )
        for n, digest in enumerate(digests, start=1)
    )
    dataset_summary_refresh(dataset_id=dataset.pk)
    return dataset


def shown(html: str) -> list[int]:
    """The version numbers in the page's versions table, in order."""
    table = html.split('<table class="versions">', 1)[1].split("</table>", 1)[0]
    return [int(n) for n in re.findall(r'<td><a href="/datasets/[^/]+/versions/\d+/">v(\d+)</a>', table)]


def page_queries(client: Any, url: str) -> tuple[int, Any]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries), response


def test_a_dataset_with_2000_versions_shows_the_newest_25_and_a_link_to_older_ones(client, member, team):
    small = with_versions(DatasetFactory(slug="small", team=team), 30)
    big = with_versions(DatasetFactory(slug="big", team=team), 2000)
    client.force_login(member)
    client.get(small.get_absolute_url())  # the session and caches warm up on a first page

    few, _ = page_queries(client, small.get_absolute_url())
    many, response = page_queries(client, big.get_absolute_url())

    html = response.content.decode()
    assert shown(html) == list(range(2000, 1975, -1))
    assert 'href="?versions_page=2#versions"' in html and "older versions" in html
    assert "newer versions" not in html
    assert "versions 1\N{EN DASH}25 of 2,000" in html
    assert many <= few  # as many queries as for 30 versions
    assert len(response.content) < 200_000


def test_older_pages_of_versions_link_back_to_newer_ones(client, member, team):
    big = with_versions(DatasetFactory(slug="big", team=team), 2000)
    client.force_login(member)

    second = client.get(big.get_absolute_url() + "?versions_page=2").content.decode()
    last = client.get(big.get_absolute_url() + "?versions_page=80").content.decode()

    assert shown(second) == list(range(1975, 1950, -1))
    assert 'href="?versions_page=1#versions"' in second and 'href="?versions_page=3#versions"' in second
    assert shown(last) == list(range(25, 0, -1))
    assert "older versions" not in last and 'href="?versions_page=79#versions"' in last


def test_a_page_number_out_of_range_shows_the_last_page_and_nonsense_the_first(client, member, team):
    big = with_versions(DatasetFactory(slug="big", team=team), 60)
    client.force_login(member)

    assert shown(client.get(big.get_absolute_url() + "?versions_page=999").content.decode())[0] == 10
    assert shown(client.get(big.get_absolute_url() + "?versions_page=x").content.decode())[0] == 60


def test_a_dataset_with_few_versions_has_no_pager(client, member, team):
    small = with_versions(DatasetFactory(slug="small", team=team), 3)
    client.force_login(member)

    html = client.get(small.get_absolute_url()).content.decode()

    assert shown(html) == [3, 2, 1]
    assert "versions_page" not in html


def test_the_api_lists_2000_versions_a_page_at_a_time(api, member, team):
    small = with_versions(DatasetFactory(slug="small", team=team), 30)
    big = with_versions(DatasetFactory(slug="big", team=team), 2000)
    client = api(member)
    client.get(f"/api/v1/datasets/{small.slug}/versions/")  # the token's first use is recorded once

    few, _ = page_queries(client, f"/api/v1/datasets/{small.slug}/versions/")
    many, response = page_queries(client, f"/api/v1/datasets/{big.slug}/versions/")

    body = response.json()
    assert body["count"] == 2000
    assert [v["number"] for v in body["results"]] == list(range(2000, 1950, -1))
    assert body["results"][0]["aliases"] == ["latest"]
    assert body["next"].endswith("/api/v1/datasets/big/versions/?page=2")
    assert many <= few
