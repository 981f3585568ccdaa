"""A hit names the columns of its latest version that the search's words found (the column's
terms: the name whole and its parts, camelCase split, accents folded) or that a `column:` filter
names (a part of the name; the whole name under 3 characters), up to 5, in the version's order."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import Team
from search.indexer import search_index_dataset
from search.selectors import search_datasets
from tests.factories import DatasetFactory

pytestmark = pytest.mark.django_db

HEADER = "Température,customerId,temp_max,id,order_ts,sales_amount,idx,región"
ROW = "1.5,7,3.5,1,2026-01-01,9.5,2,norte"


@pytest.mark.parametrize(
    ("q", "columns"),
    [
        ("temperature", ["Température"]),  # accents folded
        ("customer", ["customerId"]),  # camelCase split
        ("customerid", ["customerId"]),
        ("temp", ["Température", "temp_max"]),  # the last word is a prefix
        ("temp_max", ["temp_max"]),
        ("amount", ["sales_amount"]),
        ("region", ["región"]),
        ("column:id", ["id"]),  # under 3 characters: the whole name
        ("column:amo", ["sales_amount"]),
        ("column:_max", ["temp_max"]),
        ("kelvin column:ord", ["order_ts"]),
        ("ts", ["order_ts"]),
        ("zz", []),
    ],
)
def test_a_hit_names_the_columns_its_words_found(
    team: Team, member: Any, publish: Any, q: str, columns: list[str]
) -> None:
    dataset = DatasetFactory(slug="probe", title="Probe", summary="Kelvin zz", team=team, visibility="public")
    publish(dataset, data=f"{HEADER}\n{ROW}\n".encode())
    search_index_dataset(dataset_id=dataset.pk)

    hits = search_datasets(user=member, q=q).hits

    assert [column.name for column in hits[0].matched_columns] == columns
