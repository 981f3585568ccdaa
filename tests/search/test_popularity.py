"""Checkouts move a dataset up "most used" and its relevance boost, without re-indexing its text."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import Team
from datasets.models import Checkout
from datasets.services.checkouts import checkout_create
from datasets.services.summary import datasets_popularity_refresh
from search.indexer import search_index_dataset
from search.models import SearchDocument
from search.selectors import search_datasets
from tests.factories import DatasetFactory

pytestmark = pytest.mark.django_db


def test_a_checkout_moves_its_dataset_up_most_used_at_once(team: Team, member: Any, publish: Any) -> None:
    quiet = DatasetFactory(slug="alpha-tides", title="Alpha tides", team=team, visibility="public")
    pulled = DatasetFactory(slug="beta-tides", title="Beta tides", team=team, visibility="public")
    for dataset in (quiet, pulled):
        publish(dataset)
        search_index_dataset(dataset_id=dataset.pk)
    assert [h.dataset.slug for h in search_datasets(user=member, q="tides", sort="popular").hits] == [
        "alpha-tides",
        "beta-tides",
    ]

    checkout_create(user=member, refs=["beta-tides"], purpose="training")

    hits = search_datasets(user=member, q="tides", sort="popular").hits
    assert [h.dataset.slug for h in hits] == ["beta-tides", "alpha-tides"]
    assert hits[0].checkouts_90d == 1
    assert SearchDocument.objects.get(pk=pulled.pk).boost > SearchDocument.objects.get(pk=quiet.pk).boost


def test_the_daily_recount_lets_an_old_checkout_age_out_of_the_index(
    team: Team, member: Any, publish: Any
) -> None:
    dataset = DatasetFactory(slug="gamma-tides", title="Gamma tides", team=team, visibility="public")
    publish(dataset)
    checkout = checkout_create(user=member, refs=["gamma-tides"], purpose="last spring")
    assert search_datasets(user=member, q="gamma").hits[0].checkouts_90d == 1
    Checkout.objects.filter(pk=checkout.pk).update(created_at=timezone.now() - timedelta(days=91))

    datasets_popularity_refresh()

    assert search_datasets(user=member, q="gamma").hits[0].checkouts_90d == 0
    assert SearchDocument.objects.get(pk=dataset.pk).boost == 1.0


def test_datasets_found_by_their_readme_alone_rank_by_use(team: Team, member: Any, publish: Any) -> None:
    """PostgreSQL ranks on the fields before the README: such matches have no text score there,
    and were listed by slug."""
    readme = "Counted from the ferry by volunteers; the quokka tally is in column n."
    quiet = DatasetFactory(slug="aardvark-counts", title="Aardvark counts", team=team, readme=readme)
    used = DatasetFactory(slug="zebra-counts", title="Zebra counts", team=team, readme=readme)
    for dataset in (quiet, used):
        dataset.visibility = "public"
        dataset.save()
        publish(dataset)
    checkout_create(user=member, refs=["zebra-counts"], purpose="training")

    hits = search_datasets(user=member, q="quokka ").hits
    assert [h.dataset.slug for h in hits] == ["zebra-counts", "aardvark-counts"]
    assert all(h.score > 0 for h in hits)
