"""A search without words (filters, or nothing) pages the most used or the recently updated first:
read by walking an index when it finds many datasets, or by sorting all it finds; both ways give
every reader the same pages."""

from __future__ import annotations

import pytest

from search import selectors
from search.selectors import search_datasets
from tests.search.catalog import Catalog

pytestmark = pytest.mark.django_db

ALWAYS_WALK, NEVER_WALK = 0, 10**9  # as if the catalog had no datasets, or a billion


@pytest.mark.parametrize("sort", ["popular", "updated"])
@pytest.mark.parametrize(
    "q", ["", "column:customer_id", "column:_id", "tag:time-series", "certified:yes", "visibility:restricted"]
)
def test_walking_an_index_and_sorting_everything_found_give_the_same_pages(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch, q: str, sort: str
) -> None:
    for name in ("otto", "wendy", "hugo"):
        user = catalog.users[name]
        answers = []
        for documents in (ALWAYS_WALK, NEVER_WALK):
            monkeypatch.setattr(selectors, "_documents_bound", lambda documents=documents: documents)
            answers.append(
                [
                    (found.total, [hit.dataset.slug for hit in found.hits])
                    for page, per_page in ((1, 3), (2, 3), (3, 3), (1, 20))
                    for found in [search_datasets(user=user, q=q, sort=sort, page=page, per_page=per_page)]
                ]
            )
        walked, sorted_ = answers
        assert walked == sorted_, (name, q, sort)
        assert walked[0][0] > 0 or q == "visibility:restricted"  # most find something to order
