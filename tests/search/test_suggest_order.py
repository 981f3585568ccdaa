"""Type-ahead lists the dataset whose name was typed whole first, then the datasets whose slug or
title has the words, then those whose card has them elsewhere (the summary), each most used first."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from accounts.models import Team
from datasets.models import Tag
from datasets.services.checkouts import checkout_create
from search import selectors
from search.indexer import search_index_dataset
from search.selectors import search_suggest
from tests.factories import DatasetFactory, TeamFactory
from tests.search.catalog import Catalog

pytestmark = pytest.mark.django_db


def test_suggestions_name_the_typed_name_then_names_then_summaries_each_most_used_first(
    team: Team, member: Any, publish: Any
) -> None:
    for slug, title, summary in [
        ("quasar", "Quasar", "One object, observed often."),
        ("quasar-spectra", "Quasar spectra", "Spectra from one telescope."),
        ("radio-quasars", "Radio quasars", "Radio sources."),
        ("sky-survey", "Sky survey", "Every quasar the survey saw."),
    ]:
        dataset = DatasetFactory(slug=slug, title=title, summary=summary, team=team, visibility="public")
        publish(dataset)
        search_index_dataset(dataset_id=dataset.pk)
    # The most used of all is a summary match: it still comes after every name match.
    checkout_create(user=member, refs=["sky-survey", "radio-quasars"], purpose="training")

    found = [s.value for s in search_suggest(user=member, q="quasar") if s.kind == "dataset"]

    assert found == ["quasar", "radio-quasars", "quasar-spectra", "sky-survey"]


# --- the walk among the most used datasets (selectors._suggested_datasets) ---------------------

PREFIXES = ["wea", "temp", "sal", "cli", "pat", "cust", "the", "data", "s", "quokk", "penguin pal", "churn"]


def _datasets(user: Any, q: str) -> list[str]:
    return [s.value for s in search_suggest(user=user, q=q) if s.kind == "dataset"]


def test_a_walk_that_reaches_unused_datasets_lets_every_card_be_ordered(
    team: Team, member: Any, publish: Any
) -> None:
    # Readable names, one ever used, and another team's restricted card, whose use is hidden:
    # the unused names tie with it, so the walk cannot tell their order and the whole statement
    # does (the card first among them, by name).
    other = TeamFactory(slug="astro", name="Astro")
    for slug, owner, visibility in [
        ("orbit-a", team, "public"),
        ("orbit-b", team, "public"),
        ("orbit-c", team, "public"),
        ("orbit-0", other, "restricted"),
    ]:
        dataset = DatasetFactory(slug=slug, title=slug.replace("-", " "), team=owner, visibility=visibility)
        publish(dataset)
        search_index_dataset(dataset_id=dataset.pk)
    checkout_create(user=member, refs=["orbit-c"], purpose="training")

    with CaptureQueriesContext(connection) as queries:
        found = [s.value for s in search_suggest(user=member, q="orbit", limit=4) if s.kind == "dataset"]

    assert found == ["orbit-c", "orbit-0"]
    assert any("THEN 2 WHEN" in query["sql"] for query in queries.captured_queries)  # ordered in full


def test_column_and_tag_suggestions_reach_past_names_the_user_may_not_read(
    team: Team, member: Any, publish: Any
) -> None:
    """Other teams' internal datasets may hold many names that sort before the readable one."""
    hidden_team = TeamFactory(slug="vault")
    hidden = DatasetFactory(slug="vault-ledger", team=hidden_team, visibility="internal")
    publish(
        hidden,
        data=("id," + ",".join(f"zonal_a{i:02d}" for i in range(60)) + "\n1" + ",1" * 60 + "\n").encode(),
    )
    hidden.tags.set([Tag.objects.create(name=f"zonal-a{i:02d}") for i in range(10)])
    shown = DatasetFactory(slug="zones", team=team, visibility="public")
    publish(shown, data=b"id,zonal_zz_wind\n1,2\n")
    shown.tags.set([Tag.objects.create(name="zonal-zz")])
    for dataset in (hidden, shown):
        search_index_dataset(dataset_id=dataset.pk)

    suggested = {(s.kind, s.value) for s in search_suggest(user=member, q="zonal")}
    assert ("column", "zonal_zz_wind") in suggested
    assert ("tag", "zonal-zz") in suggested
    assert not {value for kind, value in suggested if value.startswith(("zonal_a", "zonal-a"))}


def test_column_suggestions_are_the_shortest_readable_names_first_then_in_name_order(
    team: Team, member: Any, publish: Any
) -> None:
    hidden = DatasetFactory(slug="vault-ledger", team=TeamFactory(slug="vault"), visibility="internal")
    publish(hidden, data=b"zeta,zeta_0\n1,2\n")
    shown = DatasetFactory(slug="winds", team=team, visibility="public")
    publish(shown, data=b"zeta_long_name,zeta_b,zeta_a,zetas\n1,2,3,4\n")
    for dataset in (hidden, shown):
        search_index_dataset(dataset_id=dataset.pk)

    columns = [s.value for s in search_suggest(user=member, q="zeta") if s.kind == "column"]

    assert columns == ["zetas", "zeta_a", "zeta_b"]


def test_walking_the_most_used_first_suggests_what_ordering_every_card_does_for_each_reader(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = get_user_model().objects.create_superuser("root", password="pw-for-tests-1")
    readers: list[Any] = [*catalog.users.values(), root, AnonymousUser()]
    walked_any = 0
    for q in PREFIXES:
        for user in readers:
            with override_settings(GRANARY_ANONYMOUS_READ=True):
                monkeypatch.setattr(selectors, "SUGGEST_WALK", 0)  # never enough: every card ordered
                ordered = _datasets(user, q)
                monkeypatch.setattr(selectors, "SUGGEST_WALK", 1_000)
                with CaptureQueriesContext(connection) as queries:
                    walked = _datasets(user, q)
            assert walked == ordered, (q, user)
            walked_any += not any("THEN 2 WHEN" in query["sql"] for query in queries.captured_queries)
    assert walked_any >= 10  # the walk answered often enough for the comparison to mean something


@pytest.mark.parametrize("q", ["seattle rain", "daily weather seat", "weather seattle", "seattle weath"])
def test_suggestions_need_the_words_anywhere_on_the_card_not_side_by_side(catalog: Catalog, q: str) -> None:
    # As search does: `seattle rain` finds seattle-weather (its summary has both, apart), and
    # type-ahead offered nothing while it looked for the words as one phrase.
    otto = catalog.users["otto"]
    assert "seattle-weather" in {hit.dataset.slug for hit in selectors.search_datasets(user=otto, q=q).hits}
    assert "seattle-weather" in {s.value for s in search_suggest(user=otto, q=q) if s.kind == "dataset"}
