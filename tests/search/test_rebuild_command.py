"""`manage.py search_rebuild` and the upgrade path: an existing catalog becomes searchable."""

from __future__ import annotations

import functools
import os
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.sql import emit_post_migrate_signal
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Team
from datasets.models import CheckoutItem, Dataset, Version
from search import indexer
from search.indexer import search_index_dataset, search_rebuild
from search.models import SearchColumn, SearchDocument
from search.selectors import columns_search, search_datasets, search_suggest
from tests.factories import DatasetFactory
from tests.search.catalog import Catalog

pytestmark = pytest.mark.django_db


def test_rebuild_indexes_every_dataset_and_reports_progress(team: Team, outsider: Any) -> None:
    for number in range(3):
        DatasetFactory(
            slug=f"glacier-{number}", title=f"Glacier melt {number}", team=team, visibility="public"
        )
    SearchDocument.objects.all().delete()  # as if the index were lost
    assert search_datasets(user=outsider, q="glacier").total == 0

    out = StringIO()
    call_command("search_rebuild", stdout=out)

    assert "3/3 datasets" in out.getvalue()
    assert "Indexed 3 datasets" in out.getvalue()
    assert search_datasets(user=outsider, q="glacier").total == 3


def test_rebuild_drops_what_is_left_of_deleted_datasets(team: Team, outsider: Any) -> None:
    gone = DatasetFactory(slug="old-glacier", title="Old glacier", team=team, visibility="public")
    SearchDocument.objects.filter(pk=gone.pk).delete()
    gone.delete()  # the document cascades; a stale full-text row must not resurface

    call_command("search_rebuild", stdout=StringIO())
    reused = DatasetFactory(slug="moraine", title="New moraine", team=team, visibility="public")
    search_index_dataset(dataset_id=reused.pk)  # factories skip the services that index

    assert search_datasets(user=outsider, q="glacier").total == 0
    assert [hit.dataset.pk for hit in search_datasets(user=outsider, q="moraine").hits] == [reused.pk]


def test_the_end_of_migrate_indexes_datasets_that_have_no_document(team: Team, outsider: Any) -> None:
    DatasetFactory(slug="fjord-tides", title="Fjord tides", team=team, visibility="public")
    SearchDocument.objects.all().delete()  # a catalog from before search existed

    # What `migrate` sends when it is done (running migrate itself inside a test transaction is
    # refused by SQLite's schema editor).
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")

    assert [hit.dataset.slug for hit in search_datasets(user=outsider, q="fjord").hits] == ["fjord-tides"]


def test_a_rebuild_reads_versions_by_dataset_on_a_catalog_never_analyzed(team: Team) -> None:
    """A SQLite catalog that grew by re-indexing has no statistics. Planned without them, the
    rebuild's read of each chunk's latest versions went through the status index, every ready
    version of the catalog for each chunk of 2,000 datasets: 109 s instead of 39 for a rebuild of
    100,000 (bench/search.py). Each of its reads of the versions must be bounded by dataset."""
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL plans with the statistics autovacuum keeps")
    for number in range(3):
        DatasetFactory(slug=f"serac-{number}", title=f"Serac {number}", team=team, visibility="public")
    with connection.cursor() as cursor:  # as a catalog nothing ever analyzed has it
        cursor.execute("DROP TABLE IF EXISTS sqlite_stat1")

    with CaptureQueriesContext(connection) as queries:
        search_rebuild(jobs=0)

    reads = [q["sql"] for q in queries.captured_queries if "FROM datasets_version v" in q["sql"]]
    assert reads, "the rebuild read no versions"
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS sqlite_stat1")  # the rebuild's PRAGMA optimize may have made it
        for sql in reads:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
            outer = cursor.fetchall()[0][3]  # the first step reads the versions the query returns
            assert "(dataset_id>? AND dataset_id<?)" in outer, (outer, sql)


# --- the set-based rebuild gives the index that indexing each dataset gives ----------------------

QUERIES = [
    "weather",
    "temperature",
    "temperat",
    "penguns",
    "column:email",
    "tag:nlp",
    "pii:yes",
    "sales -tag:retail",
    "",
]


def _answers(catalog: Catalog) -> dict[str, Any]:
    """What every persona of the fixture catalog is shown: results with their scores, snippets and
    matched columns, facet counts, "did you mean", suggestions and column search."""
    seen: dict[str, Any] = {}
    for name, user in catalog.users.items():
        for q in QUERIES:
            results = search_datasets(user=user, q=q, per_page=100)
            seen[f"{name} {q}"] = (
                results.total,
                results.did_you_mean,
                [
                    (
                        hit.dataset.slug,
                        round(hit.score, 9),
                        hit.snippet,
                        hit.matched_columns,
                        hit.latest_version,
                        hit.certified_version,
                    )
                    for hit in results.hits
                ],
                results.facets,
            )
        seen[f"{name} suggest"] = [search_suggest(user=user, q=q) for q in ("temp", "cu", "wea")]
        seen[f"{name} columns"] = [columns_search(user=user, q=q) for q in ("email", "id", "temp")]
    return seen


def _index_rows() -> dict[str, list[tuple[Any, ...]]]:
    """The index's tables as rows, a column by its dataset and position rather than its id."""
    queries = {
        "documents": "SELECT * FROM search_document ORDER BY dataset_id",
        "texts": "SELECT * FROM search_text ORDER BY dataset_id",
        "columns": "SELECT dataset_id, position, name, name_key, type, description, pii FROM search_column "
        "ORDER BY dataset_id, position",
        "terms": "SELECT term FROM search_term ORDER BY term",
        "column names": "SELECT name_key FROM search_column_name ORDER BY name_key",
        "facets": "SELECT team_id, visibility, facet, value, count FROM search_facet_count "
        "WHERE count <> 0 ORDER BY 1, 2, 3, 4",
    }
    if connection.vendor == "sqlite":
        queries["fts"] = "SELECT rowid, * FROM search_fts ORDER BY rowid"
        queries["trigrams"] = (
            "SELECT n.name_key, t.name FROM search_column_name_trgm t "
            "JOIN search_column_name n ON n.id = t.rowid ORDER BY 1"
        )
    rows = {}
    with connection.cursor() as cursor:
        for name, sql in queries.items():
            cursor.execute(sql)
            rows[name] = [tuple(str(value) for value in row) for row in cursor.fetchall()]
    return rows


def test_a_rebuild_answers_as_indexing_each_dataset_does(catalog: Catalog) -> None:
    # The fixture catalog was indexed by a rebuild; re-index each dataset as the services do.
    rebuilt, rebuilt_rows = _answers(catalog), _index_rows()
    for dataset in Dataset.objects.order_by("pk"):
        search_index_dataset(dataset_id=dataset.pk)

    assert _index_rows() == rebuilt_rows
    assert _answers(catalog) == rebuilt
    assert rebuilt["otto weather"][0] > 0  # the queries find something to compare
    assert any(rebuilt[f"{name} columns"][0].columns for name in catalog.users)

    # And back: the rebuild over an index kept by the services changes nothing either.
    search_rebuild()
    assert _index_rows() == rebuilt_rows
    assert _answers(catalog) == rebuilt


def test_a_dataset_deleted_before_the_rebuild_is_gone_after(catalog: Catalog) -> None:
    otto = catalog.users["otto"]
    gone = catalog["palmer-penguins"]
    columns = list(SearchColumn.objects.filter(dataset_id=gone.pk).values_list("name_key", flat=True))
    assert gone.pk in {hit.dataset.pk for hit in search_datasets(user=otto, q="penguins").hits}
    assert columns
    SearchDocument.objects.filter(pk=gone.pk).delete()  # the index lost track of it...
    CheckoutItem.objects.filter(dataset=gone).delete()  # ...and then it went, with what it protects
    Version.objects.filter(dataset=gone).delete()
    Dataset.objects.filter(pk=gone.pk).delete()

    call_command("search_rebuild", stdout=StringIO())

    assert gone.pk not in {
        hit.dataset.pk for hit in search_datasets(user=otto, q="penguins", per_page=100).hits
    }
    for name in columns:
        assert gone.slug not in {
            hit.dataset_slug for hit in columns_search(user=otto, q=name, limit=500).columns
        }
    assert gone.slug not in {s.value for s in search_suggest(user=otto, q="palmer")}
    rebuilt = _index_rows()
    assert str(gone.pk) not in {row[0] for row in rebuilt["documents"] + rebuilt["columns"]}
    for dataset in Dataset.objects.order_by("pk"):
        search_index_dataset(dataset_id=dataset.pk)
    assert _index_rows() == rebuilt


def test_a_rebuild_in_several_processes_writes_what_one_process_writes(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Chunks of 7 datasets, so that the fixture catalog spans several and two processes share them.
    monkeypatch.setattr(indexer, "_sources", functools.partial(indexer._sources, chunk=7))
    assert search_rebuild(jobs=0) == Dataset.objects.count()
    alone, alone_answers = _index_rows(), _answers(catalog)
    pids = tmp_path / "pids"
    entry = indexer._entry

    def entry_noting_its_process(source: Any) -> Any:
        with pids.open("a") as out:
            out.write(f"{os.getpid()}\n")
        return entry(source)

    monkeypatch.setattr(indexer, "_entry", entry_noting_its_process)

    out = StringIO()
    call_command("search_rebuild", "--jobs", "2", stdout=out)

    assert _index_rows() == alone
    assert _answers(catalog) == alone_answers
    total = Dataset.objects.count()
    seen = [int(line.split("] ")[1].split("/")[0]) for line in out.getvalue().splitlines() if "] " in line]
    assert len(seen) > 2 and seen == sorted(seen) and seen[-1] == total
    assert f"Indexed {total} datasets" in out.getvalue()
    workers = set(pids.read_text().split())
    assert len(workers) == 2 and str(os.getpid()) not in workers  # the two processes did the work


def test_a_rebuild_whose_process_fails_keeps_the_index_it_had(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    before, answers = _index_rows(), _answers(catalog)
    monkeypatch.setattr(indexer, "_sources", functools.partial(indexer._sources, chunk=7))
    entry = indexer._entry

    def entry_failing_on_penguins(source: Any) -> Any:  # inherited by the forked processes
        if source.slug == "palmer-penguins":
            raise ValueError("a README the tokenizer cannot read")
        return entry(source)

    monkeypatch.setattr(indexer, "_entry", entry_failing_on_penguins)

    with pytest.raises(ValueError, match="tokenizer cannot read"):
        search_rebuild(jobs=2)

    assert _index_rows() == before
    assert _answers(catalog) == answers
