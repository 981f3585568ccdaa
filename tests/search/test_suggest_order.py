"""Type-ahead lists the dataset whose name was typed whole first, then the datasets whose slug or
title has the words, then those whose card has them elsewhere (the summary), each most used first."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import Team
from datasets.services.checkouts import checkout_create
from search.indexer import search_index_dataset
from search.selectors import search_suggest
from tests.factories import DatasetFactory

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
