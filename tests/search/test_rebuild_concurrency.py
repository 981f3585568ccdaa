"""`search_rebuild` writes the whole index in one transaction: search keeps answering from the old
index meanwhile, and a dataset re-indexed by a service during the rebuild waits for it and lands
after it, so the service's change is what the index keeps (PostgreSQL; SQLite's in-memory test
database locks whole tables across connections, where a WAL file lets readers through)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection, connections, transaction

from accounts.models import Team
from datasets.models import Dataset
from search.facets import ROW_FIELDS, contributions
from search.indexer import search_index_dataset, search_rebuild
from search.models import SearchDocument, SearchFacetCount
from search.selectors import search_datasets

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the SQLite test database is in memory"),
]


def _in_thread(work: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(work())
        except BaseException as error:  # handed to the test's thread
            out.append(error)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def _until_a_backend_waits_on_a_lock() -> None:
    with connection.cursor() as cursor:
        for _ in range(1_000):
            # pg_locks, not pg_stat_activity: that one is read once per transaction.
            cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
            if cursor.fetchone()[0]:
                return
            time.sleep(0.01)
    raise AssertionError("the writer never waited for the rebuild")


def _catalog() -> User:
    team = Team.objects.create(slug="glaciology", name="Glaciology")
    for number in range(3):
        dataset = Dataset.objects.create(
            slug=f"glacier-{number}", title=f"Glacier melt {number}", team=team, visibility="public"
        )
        search_index_dataset(dataset_id=dataset.pk)
    return User.objects.create_user(username="reader", password="pw-for-tests-1")


def test_search_answers_from_the_old_index_while_a_rebuild_is_open() -> None:
    reader = _catalog()
    Dataset.objects.filter(slug="glacier-0").update(title="Moraine survey")  # not re-indexed yet
    seen: list[Any] = []

    def progress(done: int, total: int) -> None:  # inside the rebuild's transaction
        thread, out = _in_thread(
            lambda: (
                search_datasets(user=reader, q="glacier").total,
                search_datasets(user=reader, q="moraine").total,
            )
        )
        thread.join(30)
        seen.extend(out)

    search_rebuild(progress=progress)

    assert seen == [(3, 0)]  # the old index, whole, from another connection
    assert search_datasets(user=reader, q="moraine").total == 1


def test_a_dataset_reindexed_during_a_rebuild_keeps_its_change(monkeypatch: pytest.MonkeyPatch) -> None:
    reader = _catalog()
    pauses: list[int] = []
    monkeypatch.setattr("search.indexer._swap_pause", pauses.append)
    dataset = Dataset.objects.get(slug="glacier-1")
    writers: list[tuple[threading.Thread, list[Any]]] = []

    def rename() -> None:
        with transaction.atomic():
            Dataset.objects.filter(pk=dataset.pk).update(title="Fjord tides", visibility="internal")
            search_index_dataset(dataset_id=dataset.pk)  # waits for the rebuild to commit

    def progress(done: int, total: int) -> None:
        writers.append(_in_thread(rename))
        _until_a_backend_waits_on_a_lock()  # the writer is past its reads, at its first write

    search_rebuild(progress=progress)
    thread, out = writers[0]
    thread.join(30)

    assert out == [None]
    # The writer waits for the rebuild's tables: a lock asked with NOWAIT queues behind it and was
    # refused 500 times, 25 s, before the rebuild queued ahead of it (as PostgreSQL lets the holder
    # of a lock that the waiter waits for do) and had its locks at once.
    assert pauses == []
    assert search_datasets(user=reader, q="fjord").total == 0  # internal now: not the reader's
    assert search_datasets(user=reader, q="glacier").total == 2
    assert SearchDocument.objects.get(pk=dataset.pk).visibility == "internal"
    recount = contributions(SearchDocument.objects.values_list(*ROW_FIELDS))
    kept = {
        (row.team_id, row.visibility, row.facet, row.value): row.count
        for row in SearchFacetCount.objects.exclude(count=0)
    }
    assert kept == {key: count for key, count in recount.items() if count}


def test_the_swap_waits_for_a_reader_in_a_transaction_without_locking_it_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The reader holds one index table and then reads another: had the rebuild queued for the
    # first while holding the second, the two would have deadlocked.
    reader = _catalog()
    Dataset.objects.filter(slug="glacier-0").update(title="Moraine survey")  # not re-indexed yet
    holding, refused = threading.Event(), threading.Event()
    seen: list[int] = []

    def read() -> None:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM search_text")
            holding.set()
            assert refused.wait(30), "the rebuild never tried to swap"
            seen.append(search_datasets(user=reader, q="glacier").total)  # search_document too

    def pause(attempt: int) -> None:
        refused.set()
        time.sleep(0.01)

    monkeypatch.setattr("search.indexer._swap_pause", pause)
    thread, out = _in_thread(read)
    assert holding.wait(30)
    search_rebuild()
    thread.join(30)

    assert out == [None]
    assert seen == [3]  # the old index, from the reader's transaction
    assert search_datasets(user=reader, q="moraine").total == 1  # the new one, swapped in
