"""Column search ("which datasets have a column like `customer_id`?"): the name typed first, then
shorter names, then the most used datasets, paged, whichever way a page is read."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from search import selectors
from search.models import SearchColumn, SearchDocument
from search.selectors import columns_search
from tests.search.catalog import Catalog

pytestmark = pytest.mark.django_db

# Every run of names read by walking the datasets from the most used, or none of them.
ALWAYS_WALK, NEVER_WALK = 0, 10**9


def _everything(q: str) -> list[tuple[str, str]]:
    """(dataset, column) of every column whose name contains `q`, in the order column search
    promises, worked out here from the index's rows."""
    key = q.lower()
    exact = len(key) < 3  # too short to look inside names
    use = {d.dataset_id: (d.checkouts_90d, d.boost, d.slug) for d in SearchDocument.objects.all()}
    columns = [c for c in SearchColumn.objects.all() if (key == c.name_key if exact else key in c.name_key)]
    columns.sort(
        key=lambda c: (
            c.name_key != key,
            len(c.name_key),
            -use[c.dataset_id][0],
            -use[c.dataset_id][1],
            use[c.dataset_id][2],
            c.position,
        )
    )
    return [(use[c.dataset_id][2], c.name) for c in columns]


def _page(user: Any, q: str, **bounds: int) -> list[tuple[str, str]]:
    return [(hit.dataset_slug, hit.name) for hit in columns_search(user=user, q=q, **bounds).columns]


@pytest.mark.parametrize("documents", [ALWAYS_WALK, NEVER_WALK], ids=["walking", "column by column"])
@pytest.mark.parametrize("q", ["customer_id", "_id", "ts", "temp"])
def test_the_name_typed_comes_first_then_shorter_names_then_the_most_used_datasets(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch, documents: int, q: str
) -> None:
    monkeypatch.setattr(selectors, "_documents_bound", lambda: documents)
    root = get_user_model().objects.create_superuser("root", password="pw-for-tests-1")
    expected = _everything(q)
    assert len(expected) >= 3  # something to order

    assert _page(root, q, limit=200) == expected
    assert columns_search(user=root, q=q).total == len(expected)
    # Pages of 2 (across the runs of names of one length) add up to the whole.
    pages = [_page(root, q, limit=2, offset=start) for start in range(0, len(expected) + 2, 2)]
    assert [hit for page in pages for hit in page] == expected


@pytest.mark.parametrize("q", ["_id", "email", "temp"])
def test_either_way_of_reading_a_page_finds_the_same_columns_for_each_reader(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch, q: str
) -> None:
    for name, user in catalog.users.items():
        answers = []
        for documents in (ALWAYS_WALK, NEVER_WALK):
            monkeypatch.setattr(selectors, "_documents_bound", lambda documents=documents: documents)
            answers.append(
                (
                    columns_search(user=user, q=q).total,
                    _page(user, q, limit=200),
                    [hit for start in (0, 3, 6) for hit in _page(user, q, limit=3, offset=start)],
                )
            )
        walked, read = answers
        assert walked == read, name
        assert walked[2] == walked[1][:9], name


def test_a_page_is_walked_only_when_that_visits_fewer_datasets_than_its_names_have_columns(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = get_user_model().objects.create_superuser("root", password="pw-for-tests-1")
    assert selectors._documents_bound() == max(SearchDocument.objects.values_list("dataset_id", flat=True))
    size = SearchColumn.objects.filter(name_key="customer_id").count()
    assert size > 1
    # As if the catalog had size² datasets: a page of one visits about size of them, a page of
    # two about twice as many as the name has columns.
    monkeypatch.setattr(selectors, "_documents_bound", lambda: size * size)

    for limit, walked in ((1, True), (2, False)):
        with CaptureQueriesContext(connection) as queries:
            assert len(_page(root, "customer_id", limit=limit)) == limit
        assert any("CROSS JOIN" in query["sql"] for query in queries.captured_queries) is walked, limit
