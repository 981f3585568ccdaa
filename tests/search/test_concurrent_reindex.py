"""Two transactions re-indexing one dataset at once (two versions of it finishing on two workers,
an ingest ending while a validation records its result) must both commit and leave one document:
the second waited on the first's old document row, found it gone and inserted a duplicate key
(PostgreSQL; SQLite lets one writer in at a time)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections, transaction

from accounts.models import Team
from datasets.models import Dataset
from search.indexer import search_index_dataset
from search.models import SearchDocument

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite admits one writer at a time"),
]


def test_two_reindexes_of_one_dataset_at_once_both_commit_and_leave_one_document() -> None:
    team = Team.objects.create(slug="vision", name="Vision")
    dataset = Dataset.objects.create(slug="scans", title="Scans", team=team)
    search_index_dataset(dataset_id=dataset.pk)
    first_indexed = threading.Event()
    errors: list[BaseException] = []

    def second() -> None:
        try:
            first_indexed.wait(10)
            with transaction.atomic():
                search_index_dataset(dataset_id=dataset.pk)
        except BaseException as error:  # handed to the test's thread
            errors.append(error)
        finally:
            connections.close_all()

    other = threading.Thread(target=second)
    other.start()
    with transaction.atomic():
        search_index_dataset(dataset_id=dataset.pk)
        first_indexed.set()
        # The second transaction starts its re-index while this one holds the new document.
        other.join(1.5)
    other.join(30)
    assert not other.is_alive()
    assert errors == []
    assert SearchDocument.objects.filter(dataset=dataset).count() == 1
