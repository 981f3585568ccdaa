"""Keeps the search index in step with the catalog: one dataset at a time inside the transaction
that changed it (through the receivers), or every dataset (`manage.py search_rebuild`)."""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from multiprocessing.pool import AsyncResult
from typing import Any, NamedTuple

from django.db import OperationalError, connection, transaction
from psycopg import Pipeline

from core.types import SchemaColumn
from datasets.models import Dataset, Version
from search.engines import SQL, IndexedText, Postgres, Sqlite, engine
from search.facets import (
    ROW_FIELDS,
    Key,
    Row,
    contributions,
    document_rows,
    facet_counts_apply,
    facet_counts_replace,
)
from search.models import SearchDocument
from search.text import fold, identifier_terms, markdown_text, terms

README_TERMS = 3_000  # enough for any README's words to be found; a novel is cut
# The distinct words one dataset's text may hold, in bytes: PostgreSQL's tsvector holds 1 MB, and
# column descriptions of long words in a foreign script passed it, so that the dataset could not
# be saved. Past it, new words are left out, README and column words first (BUDGET_ORDER).
INDEX_WORD_BYTES = 512_000
WORD_COST = 8  # about what PostgreSQL stores for a distinct word beside its letters
BUDGET_ORDER = ("name", "tags", "team", "summary", "meta", "columns", "readme")
# A column's name in the index, in bytes of UTF-8: a B-tree key holds about 2.7 kB on
# PostgreSQL, and a Parquet file may name a column with a whole paragraph.
COLUMN_NAME_BYTES = 1_000
VOCABULARY_MIN = 4  # typo correction looks at words of 5 letters or more; a deletion makes 4
BATCH = 500
REBUILD_CHUNK = 2_000  # datasets read, tokenized and written at a time by the rebuild

# Ranking's inputs that are not text: distinct checkouts in the last 90 days, log-scaled so that
# a dataset pulled 1,000 times does not bury a better text match pulled 10 times; certified; and
# deprecated. Squared, because it multiplies a text score that BM25's length normalization already
# spreads by as much for two datasets with the same match (a longer README, more columns).
POPULARITY_WEIGHT = 0.1
CERTIFIED_BOOST = 1.2
DEPRECATED_BOOST = 0.5  # still found, below what replaced it


def boost(*, checkouts_90d: int, certified: bool, deprecated: bool = False) -> float:
    popularity = 1.0 + POPULARITY_WEIGHT * math.log1p(max(checkouts_90d, 0))
    factor = popularity * (CERTIFIED_BOOST if certified else 1.0) * (DEPRECATED_BOOST if deprecated else 1.0)
    return factor**2


QUALITY = {"passed": "passing", "failed": "failing", "error": "failing", None: "none"}


def search_index_dataset(*, dataset_id: int) -> None:
    """Re-index one dataset (or drop it from the index if it is gone), in the caller's transaction,
    or in one of its own: a receiver called in autocommit (an ingest's end) deleted and wrote the
    rows in separate statements, and a second re-index of the dataset between them inserted its
    text first (CI at 68d11da: UNIQUE constraint failed: search_text.dataset_id)."""
    with transaction.atomic():
        _index([dataset_id])


def search_index_team(*, team_id: int) -> int:
    """Re-index a team's datasets (its name is indexed with each of them)."""
    ids = list(Dataset.objects.filter(team_id=team_id).order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(ids), BATCH):
        _index(ids[start : start + BATCH])
    return len(ids)


def search_popularity_update(*, dataset_ids: Sequence[int]) -> None:
    """Copy new checkout counts into the index and re-weigh the popularity boost, without
    re-indexing any text (the daily recount touches thousands of datasets)."""
    found = {
        pk: (count, status)
        for pk, count, status in Dataset.objects.filter(pk__in=dataset_ids).values_list(
            "pk", "checkouts_90d", "status"
        )
    }
    documents = list(SearchDocument.objects.filter(pk__in=found).only("pk", "certified"))
    for document in documents:
        document.checkouts_90d, status = found[document.pk]
        document.boost = boost(
            checkouts_90d=document.checkouts_90d,
            certified=document.certified,
            deprecated=status == Dataset.Status.DEPRECATED,
        )
    SearchDocument.objects.bulk_update(documents, ["checkouts_90d", "boost"], batch_size=500)


def search_rebuild(*, progress: Callable[[int, int], None] | None = None, jobs: int | None = None) -> int:
    """Rebuild the whole index from the catalog in one transaction, set-based: clear the tables and
    insert every dataset's rows (no per-row deletes), the same rows as indexing each dataset.

    Search keeps answering meanwhile: readers see the old index until the commit (WAL on SQLite,
    MVCC on PostgreSQL; on PostgreSQL the tables are emptied with DELETE, not TRUNCATE, whose lock
    would stop them). Writers of the index wait for it instead: SQLite has one writer, and on
    PostgreSQL the index tables are locked against writes before the catalog is read, so a dataset
    changed meanwhile is re-indexed by its own transaction after this one, from what it committed.

    `jobs` processes turn the catalog's rows into the index's (tokenizing, Markdown, vectors: most
    of the CPU) while this one reads the catalog and writes, which leaves it waiting on the
    database much of the time: by default one per core, up to 4, and none for a catalog of one
    chunk. Returns how many datasets are indexed."""
    with transaction.atomic():
        load = _SqliteLoad() if connection.vendor == "sqlite" else _PostgresLoad()
        load.clear()
        total = Dataset.objects.count()
        done = 0
        vocabulary: set[str] = set()
        counts: Counter[Key] = Counter()
        for prepared in _prepare_all(load.KIND, _sources(), _rebuild_jobs(jobs, total)):
            load.write(prepared.rows)
            counts.update(prepared.counts)
            vocabulary |= prepared.vocabulary
            done += prepared.datasets
            if progress:
                progress(done, max(total, done))
        load.finish(sorted(vocabulary))
        facet_counts_replace(counts)
        engine().analyze()
    if not connection.in_atomic_block:  # outside a caller's transaction, which VACUUM cannot run in
        engine().tidy()
    return done


def search_index_missing() -> int:
    """Index the datasets that have no search document yet: after the upgrade that brings search
    (run by `migrate`, so an existing catalog is searchable at once), or after a bulk import."""
    missing = list(
        Dataset.objects.exclude(pk__in=SearchDocument.objects.values("dataset_id"))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for start in range(0, len(missing), BATCH):
        with transaction.atomic():
            _index(missing[start : start + BATCH])
    return len(missing)


def _index(dataset_ids: Sequence[int]) -> None:
    if not dataset_ids:
        return
    # Two transactions re-indexing one dataset (two of its versions finishing on two workers) take
    # turns: otherwise the second waits on the first's old document, finds it gone and inserts a
    # duplicate. In key order, so batches never wait on each other in a circle.
    lock = connection.in_atomic_block and connection.features.has_select_for_update
    sources = _sources_of(_in(dataset_ids), lock=lock)
    entries = [_entry(source) for source in sources]
    columns = [column for entry in entries for column in entry.columns]
    vocabulary = {term for entry in entries for words in entry.fields.values() for term in words}
    index = engine()
    with _pipeline():
        index.delete(dataset_ids)
        # A write first: during a PostgreSQL rebuild it waits here holding nothing of the index's
        # tables, which the rebuild's swap then takes (reading the documents first held one of
        # them, and the two deadlocked: test_rebuild_concurrency).
        _delete_rows(("search_column",), dataset_ids)
        # What the old documents counted for goes with them; deleted in SQL, past the post_delete
        # receiver that subtracts a document deleted by a cascade.
        delta = contributions(_delete_documents(dataset_ids), sign=-1)
        _delete_rows(("search_text",), dataset_ids)
        _insert_documents(index, entries)
        delta.update(contributions(entry.row for entry in entries))
        facet_counts_apply(delta)
        # In SQL rather than through models: a dataset's few hundred terms and columns as model
        # instances were a fifth of a re-index's CPU.
        _insert_rows(
            "search_text",
            ("dataset_id", "summary", "readme_text"),
            [(entry.dataset_id, entry.summary, entry.readme) for entry in entries],
        )
        _insert_rows("search_column", COLUMN_FIELDS, columns)
        _insert_new("search_column_name", "name_key", sorted({column[2] for column in columns}))
        index.write([_indexed_text(entry) for entry in entries])
        _insert_new("search_term", "term", sorted(term for term in vocabulary if len(term) >= VOCABULARY_MIN))


@contextmanager
def _pipeline() -> Iterator[None]:
    """On PostgreSQL, the statements within sent without waiting for each one's answer (psycopg's
    pipeline mode; a statement whose rows are fetched waits for those before it): a re-index's
    ten writes had waited on the server ten times. Its errors are raised as Django's, as a
    statement's would be, when the pipeline ends. Without it (a libpq older than 14), one by one."""
    if connection.vendor != "postgresql" or not Pipeline.is_supported():
        yield
        return
    connection.ensure_connection()
    with connection.wrap_database_errors, connection.connection.pipeline():
        yield


def _delete_documents(dataset_ids: Sequence[int]) -> list[Row]:
    """Delete the datasets' documents; what they counted for in the facets (ROW_FIELDS)."""
    if connection.vendor != "postgresql":  # RETURNING came with SQLite 3.35; Django takes 3.31
        rows = document_rows(dataset_ids)
        _delete_rows(("search_document",), dataset_ids)
        return rows
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM search_document WHERE dataset_id = ANY(%s) RETURNING {', '.join(ROW_FIELDS)}",
            [list(dataset_ids)],
        )
        return list(cursor.fetchall())


def _delete_rows(tables: Sequence[str], dataset_ids: Sequence[int]) -> None:
    with connection.cursor() as cursor:
        for start in range(0, len(dataset_ids), BATCH):
            chunk = list(dataset_ids[start : start + BATCH])
            for table in tables:
                cursor.execute(
                    f"DELETE FROM {table} WHERE dataset_id IN ({', '.join('%s' for _ in chunk)})",
                    chunk,
                )


def _insert_rows(table: str, fields: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
    """Rows in as few statements as the database's limit on parameters allows (a dataset's
    columns in one round trip, not one each)."""
    row = f"({', '.join('%s' for _ in fields)})"
    chunk = max(1, (connection.features.max_query_params or 999) // len(fields))
    with connection.cursor() as cursor:
        for start in range(0, len(rows), chunk):
            part = rows[start : start + chunk]
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(fields)}) VALUES {', '.join(row for _ in part)}",
                [value for values in part for value in values],
            )


def _insert_new(table: str, column: str, values: Sequence[str]) -> None:
    """Insert the values that `table` does not have yet (its `column` is unique)."""
    if not values:
        return
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # one statement, the values as one array
            cursor.execute(
                f"INSERT INTO {table} ({column}) SELECT unnest(%s::text[]) ON CONFLICT DO NOTHING",
                [list(values)],
            )
        else:
            cursor.executemany(
                f"INSERT INTO {table} ({column}) VALUES (%s) ON CONFLICT DO NOTHING",
                [(value,) for value in values],
            )


def _insert_documents(index: Sqlite | Postgres, entries: Sequence[_Entry]) -> None:
    if not isinstance(index, Postgres):
        _insert_rows("search_document", DOCUMENT_FIELDS, [_document_values(entry) for entry in entries])
        return
    # The rows with their vector in one INSERT: inserted bare and then updated, each row and its
    # three GIN entries were written twice.
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO search_document ({', '.join(DOCUMENT_FIELDS)}, full_vector) "
            f"VALUES ({', '.join('%s' for _ in DOCUMENT_FIELDS)}, %s::tsvector)",
            [(*_document_values(entry), index.vector(_indexed_text(entry))) for entry in entries],
        )


class _Latest(NamedTuple):
    """What the index keeps of a dataset's newest ready version."""

    number: int
    schema: str  # as JSON text, decoded by the process that makes the entry
    format: str
    row_count: int | None
    quality_status: str | None
    status_changed_at: datetime


class _Source(NamedTuple):
    """One dataset's indexed inputs as plain values, read as rows (no model instances), by a
    re-index and, in chunks, by the rebuild (nor dataclasses: a tuple goes to the rebuild's
    processes in a tenth of the time)."""

    dataset_id: int
    slug: str
    title: str
    summary: str
    readme: str
    license: str
    status: str
    visibility: str
    team_id: int
    team_slug: str
    team_name: str
    updated_at: datetime
    checkouts_90d: int
    tags: list[str]  # by name, as Tag's ordering gives them
    version: _Latest | None
    certified: int | None  # the certified version's number
    column_docs: dict[str, tuple[str, bool]]  # column name -> (description, pii)


# A search column's values, in this order (the rebuild inserts them as rows).
COLUMN_FIELDS = (
    "dataset_id",
    "name",
    "name_key",
    "type",
    "description",
    "pii",
    "position",
    "team_id",
    "visibility",
)


class _Entry(NamedTuple):
    """What one dataset puts in the index."""

    dataset_id: int
    document: dict[str, Any]  # SearchDocument's fields by name
    row: tuple[Any, ...]  # the document's ROW_FIELDS, what it counts for in the facets
    summary: str
    readme: str
    columns: list[tuple[Any, ...]]  # COLUMN_FIELDS
    fields: dict[str, list[str]]  # terms by index field


def _indexed_text(entry: _Entry) -> IndexedText:
    return IndexedText(
        dataset_id=entry.dataset_id, fields=entry.fields, visibility=entry.document["visibility"]
    )


@lru_cache(maxsize=65_536)
def _short_terms(text: str) -> tuple[str, ...]:
    """Terms of a string that recurs across datasets (a team, a tag, a column's name or
    description): tokenized once per distinct string."""
    return tuple(terms(text))


@lru_cache(maxsize=65_536)
def _column_terms(name: str) -> tuple[str, ...]:
    return tuple(identifier_terms(name))


@lru_cache(maxsize=65_536)
def _column_key(name: str) -> tuple[str, str]:
    """A column's name and its key (folded), each clipped: once per distinct name, as names recur
    across datasets (2.5 million columns and 3.2 million folds in a rebuild of 100,000: 6 s)."""
    return _clip(name), _clip(fold(name))


def _clip(text: str, limit: int = COLUMN_NAME_BYTES) -> str:
    """`text` cut to `limit` bytes of UTF-8, at a whole character."""
    if len(text) * 4 <= limit:  # no character takes more than 4 bytes
        return text
    return text.encode()[:limit].decode(errors="ignore")


def _within_budget(fields: dict[str, list[str]]) -> None:
    """Leave out of `fields` the new words past INDEX_WORD_BYTES, in BUDGET_ORDER."""
    # No character takes more than 4 bytes: almost every dataset is within by far.
    if (
        sum(4 * sum(map(len, words)) + WORD_COST * len(words) for words in fields.values())
        <= INDEX_WORD_BYTES
    ):
        return
    seen: set[str] = set()
    spent = 0
    for name in BUDGET_ORDER:
        kept = []
        for term in fields[name]:
            if term not in seen:
                cost = len(term.encode()) + WORD_COST
                if spent + cost > INDEX_WORD_BYTES:
                    continue
                seen.add(term)
                spent += cost
            kept.append(term)
        fields[name] = kept


def _entry(source: _Source) -> _Entry:
    version = source.version
    schema: list[SchemaColumn] = []
    if version is not None:
        schema = json.loads(version.schema)
    readme = markdown_text(source.readme)
    fields: dict[str, list[str]] = {
        "name": terms(source.slug) + terms(source.title),
        "tags": [term for tag in source.tags for term in _short_terms(tag)],
        "team": [*_short_terms(source.team_slug), *_short_terms(source.team_name)],
        "summary": terms(source.summary),
        "columns": [],
        "readme": terms(readme)[:README_TERMS],
        "meta": [*_short_terms(source.license)] + ([version.format] if version and version.format else []),
    }
    column_terms = fields["columns"]
    columns: list[tuple[Any, ...]] = []
    pii = False
    for position, column in enumerate(schema):
        name = column["name"]
        description, column_pii = source.column_docs.get(name, ("", False))
        pii = pii or column_pii
        column_terms += _column_terms(name)
        column_terms += _short_terms(description) if len(description) <= 200 else terms(description)
        columns.append(
            (
                source.dataset_id,
                *_column_key(name),
                str(column.get("type", ""))[:64],
                description,
                column_pii,
                position,
                source.team_id,
                source.visibility,
            )
        )
    _within_budget(fields)
    updated: datetime = source.updated_at
    if version is not None and version.status_changed_at > updated:
        updated = version.status_changed_at
    certified = source.certified
    document: dict[str, Any] = {
        "dataset_id": source.dataset_id,
        "slug": source.slug,
        "title_key": source.title.strip().lower()[:200],
        "team_id": source.team_id,
        "visibility": source.visibility,
        "license_key": source.license.strip().lower(),
        "format": version.format if version else "",
        "certified": certified is not None,
        "pii": pii,
        "quality": QUALITY.get(version.quality_status, "pending") if version else "none",
        "row_count": version.row_count if version else None,
        "updated_at": updated,
        "checkouts_90d": source.checkouts_90d,
        "latest_number": version.number if version else None,
        "certified_number": certified,
        "boost": boost(
            checkouts_90d=source.checkouts_90d,
            certified=certified is not None,
            deprecated=source.status == Dataset.Status.DEPRECATED,
        ),
        "tag_names": "\n".join(sorted(source.tags)),
    }
    return _Entry(
        dataset_id=source.dataset_id,
        document=document,
        row=tuple(document[name] for name in ROW_FIELDS),
        summary=source.summary,
        readme=readme,
        columns=columns,
        fields=fields,
    )


# --- the rebuild ---------------------------------------------------------------------------------


def _sources(chunk: int = REBUILD_CHUNK) -> Iterator[list[_Source]]:
    """Every dataset's inputs, `chunk` datasets at a time in key order: a range of keys per read
    (not an IN list)."""
    last = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM datasets_dataset WHERE id > %s ORDER BY id LIMIT %s", [last, chunk]
            )
            keys = [row[0] for row in cursor.fetchall()]
        if not keys:
            return
        last = keys[-1]
        yield _sources_of(("BETWEEN %s AND %s", [keys[0], last]))


def _in(keys: Sequence[int]) -> SQL:
    return f"IN ({', '.join('%s' for _ in keys)})", list(keys)


def _sources_of(keys: SQL, *, lock: bool = False) -> list[_Source]:
    """The inputs of the datasets whose key meets `keys` (a condition on a key: `IN (...)`, a
    range), in key order, each with its tags, latest ready version and column docs. Read in SQL,
    four statements that PostgreSQL is sent together (`_pipeline`): through the ORM, a re-index
    spent longer building its queries and waiting on each in turn than the database took to
    answer them. `lock`: the datasets' rows are locked first, in key order (FOR NO KEY UPDATE)."""
    condition, params = keys
    statements: list[SQL] = [
        (
            "SELECT d.id, d.slug, d.title, d.summary, d.readme, d.license, d.status, d.visibility, "
            "d.team_id, t.slug, t.name, d.updated_at, d.checkouts_90d, c.number "
            "FROM datasets_dataset d JOIN datasets_team t ON t.id = d.team_id "
            f"LEFT JOIN datasets_version c ON c.id = d.certified_version_id WHERE d.id {condition} ORDER BY d.id",
            params,
        ),
        (
            "SELECT dt.dataset_id, t.name FROM datasets_dataset_tags dt JOIN datasets_tag t ON t.id = dt.tag_id "
            f"WHERE dt.dataset_id {condition} ORDER BY dt.dataset_id, t.name",
            params,
        ),
        # The newest ready version (versions_ready_of's): a number is one version of its dataset
        # (version_unique_number), so the version's own status needs no filter. With one, SQLite
        # without statistics (a catalog that grew by re-indexing) read every ready version by the
        # status index for each chunk, a rebuild of 100,000 in 109 s instead of 39.
        (
            "SELECT v.dataset_id, v.number, CAST(v.schema AS text), v.format, v.row_count, v.quality_status, "
            f"v.status_changed_at FROM datasets_version v WHERE v.dataset_id {condition} AND v.number = "
            "(SELECT r.number FROM datasets_version r WHERE r.dataset_id = v.dataset_id AND r.status = %s "
            "ORDER BY r.number DESC LIMIT 1)",
            [*params, Version.Status.READY.value],
        ),
        (
            f"SELECT dataset_id, name, description, pii FROM datasets_columndoc WHERE dataset_id {condition}",
            params,
        ),
    ]
    if lock:
        statements.insert(
            0, (f"SELECT id FROM datasets_dataset WHERE id {condition} ORDER BY id FOR NO KEY UPDATE", params)
        )
    *_, datasets, tag_rows, version_rows, doc_rows = _read(statements)
    tags: dict[int, list[str]] = {}
    for dataset_id, name in tag_rows:
        tags.setdefault(dataset_id, []).append(name)
    latest = {
        dataset_id: _Latest(number, schema, format_, row_count, quality, _moment(changed))
        for dataset_id, number, schema, format_, row_count, quality, changed in version_rows
    }
    docs: dict[int, dict[str, tuple[str, bool]]] = {}
    for dataset_id, name, description, pii in doc_rows:
        docs.setdefault(dataset_id, {})[name] = (description, bool(pii))
    return [
        _Source(
            dataset_id=pk,
            slug=slug,
            title=title,
            summary=summary,
            readme=readme,
            license=license_,
            status=status,
            visibility=visibility,
            team_id=team_id,
            team_slug=team_slug,
            team_name=team_name,
            updated_at=_moment(updated_at),
            checkouts_90d=int(checkouts or 0),
            tags=tags.get(pk, []),
            version=latest.get(pk),
            certified=certified,
            column_docs=docs.get(pk, {}),
        )
        for (
            pk,
            slug,
            title,
            summary,
            readme,
            license_,
            status,
            visibility,
            team_id,
            team_slug,
            team_name,
            updated_at,
            checkouts,
            certified,
        ) in datasets
    ]


def _read(statements: Sequence[SQL]) -> list[list[tuple[Any, ...]]]:
    """Each statement's rows; on PostgreSQL the statements sent together, waiting once."""
    cursors: list[Any] = []
    try:
        with _pipeline():
            for sql, params in statements:
                cursor = connection.cursor()
                cursors.append(cursor)
                cursor.execute(sql, params)
            return [list(cursor.fetchall()) for cursor in cursors]
    finally:
        for cursor in cursors:
            cursor.close()


def _moment(value: datetime | str) -> datetime:
    """A timestamp as SQL gives it: a datetime (PostgreSQL), or SQLite's text of one in UTC."""
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


DOCUMENT_FIELDS = tuple(
    field.attname for field in SearchDocument._meta.concrete_fields
)  # every column Django knows; the engines' own (vectors) come from the engine
TEXT_TABLES = ("search_text", "search_column", "search_document", "search_term", "search_column_name")
SWAP_ATTEMPTS = 500  # 20 ms tries for the rebuild's swap (10-35 s with pauses), before it queues
COLUMN_NAMES = "SELECT DISTINCT name_key FROM search_column ORDER BY name_key"


class _Prepared(NamedTuple):
    """A chunk of datasets made ready to write, by a rebuild's process or its own."""

    datasets: int
    rows: tuple[list[tuple[Any, ...]], ...]  # the load's rows, table by table
    counts: Counter[Key]  # what the documents count for in the facets
    vocabulary: set[str]  # their terms that typo correction may suggest


def _prepare(kind: str, sources: list[_Source]) -> _Prepared:
    """Everything a chunk needs that is not a database's work. It runs in a forked process that
    never touches the inherited connection (nor closes it: a child exits with `os._exit`)."""
    entries = [_entry(source) for source in sources]
    rows = _SqliteLoad.rows(entries) if kind == "sqlite" else _PostgresLoad.rows(entries)
    return _Prepared(
        datasets=len(entries),
        rows=rows,
        counts=contributions(entry.row for entry in entries),
        vocabulary=_vocabulary(entries),
    )


def _vocabulary(entries: list[_Entry]) -> set[str]:
    # Gathered in C (set.update) and filtered once per distinct term: a comprehension over every
    # term of every field, each README's included, cost 7 s of a rebuild's 100 s of CPU.
    found: set[str] = set()
    for entry in entries:
        for words in entry.fields.values():
            found.update(words)
    return {term for term in found if len(term) >= VOCABULARY_MIN}


def _rebuild_jobs(jobs: int | None, total: int) -> int:
    if jobs is not None:
        return max(0, jobs)
    if total <= REBUILD_CHUNK or multiprocessing.current_process().daemon:  # a daemon has no children
        return 0
    return min(4, os.cpu_count() or 1)


def _prepare_all(kind: str, chunks: Iterator[list[_Source]], jobs: int) -> Iterator[_Prepared]:
    """The chunks prepared in order, by `jobs` forked processes (0: here). This process keeps
    reading the catalog while they work, with at most `jobs` + 1 chunks in flight, so memory
    stays a few chunks whatever the catalog's size. At 100,000 datasets on 2 cores, one helper
    took the rebuild from 63 to 40 s on SQLite (bench/search.py)."""
    if jobs == 0:
        for sources in chunks:
            yield _prepare(kind, sources)
        return
    # fork: the children inherit Django set up (settings, apps) and the caches as they are now.
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        pending: deque[AsyncResult[_Prepared]] = deque()
        for sources in chunks:
            pending.append(pool.apply_async(_prepare, (kind, sources)))
            if len(pending) > jobs:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()


def _document_values(entry: _Entry) -> tuple[Any, ...]:
    adapt = connection.ops.adapt_datetimefield_value
    return tuple(
        adapt(entry.document[name]) if name == "updated_at" else entry.document[name]
        for name in DOCUMENT_FIELDS
    )


class _SqliteLoad:
    """The rebuild's writes on SQLite: the FTS5 tables dropped and made again from their own
    definition (deleting 100,000 rows from FTS5 re-reads each row's text), the plain tables emptied
    (SQLite truncates a table deleted without a condition), indexes made after the rows are in."""

    KIND = "sqlite"

    def clear(self) -> None:
        with connection.cursor() as cursor:
            # `transaction_mode: IMMEDIATE` took the write lock at BEGIN: nothing changes under us.
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'table' "
                "AND name IN ('search_fts', 'search_column_name_trgm')"
            )
            for name, sql in cursor.fetchall():
                cursor.execute(f'DROP TABLE "{name}"')
                cursor.execute(sql)
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                "AND tbl_name IN ('search_document', 'search_column')"
            )
            self.indexes: list[tuple[str, str]] = cursor.fetchall()
            for name, _ in self.indexes:
                cursor.execute(f'DROP INDEX "{name}"')
            for table in (*TEXT_TABLES, "search_facet_count"):
                cursor.execute(f"DELETE FROM {table}")

    @staticmethod
    def rows(entries: Sequence[_Entry]) -> tuple[list[tuple[Any, ...]], ...]:
        """The rows of `search_document`, `search_text`, `search_column` and `search_fts`."""
        return (
            [_document_values(entry) for entry in entries],
            [(entry.dataset_id, entry.summary, entry.readme) for entry in entries],
            [column for entry in entries for column in entry.columns],
            [Sqlite.row(_indexed_text(entry)) for entry in entries],
        )

    def write(self, rows: tuple[list[tuple[Any, ...]], ...]) -> None:
        documents, texts, columns, fts = rows
        with connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO search_document ({', '.join(DOCUMENT_FIELDS)}) "
                f"VALUES ({', '.join('%s' for _ in DOCUMENT_FIELDS)})",
                documents,
            )
            cursor.executemany(
                "INSERT INTO search_text (dataset_id, summary, readme_text) VALUES (%s, %s, %s)", texts
            )
            cursor.executemany(
                f"INSERT INTO search_column ({', '.join(COLUMN_FIELDS)}) "
                f"VALUES ({', '.join('%s' for _ in COLUMN_FIELDS)})",
                columns,
            )
        Sqlite().write_rows(fts)

    def finish(self, vocabulary: Sequence[str]) -> None:
        with connection.cursor() as cursor:
            cursor.executemany("INSERT INTO search_term (term) VALUES (%s)", [(term,) for term in vocabulary])
            # Each name once; migration 0009's trigger gives each its trigrams.
            cursor.execute(f"INSERT INTO search_column_name (name_key) {COLUMN_NAMES}")
            for _, sql in self.indexes:
                cursor.execute(sql)


class _PostgresLoad:
    """The rebuild's writes on PostgreSQL: new tables filled with COPY (the vectors in the same
    rows), indexed once full, then swapped in for the old ones.

    Filling the live tables kept every index and foreign key up to date row by row (2.8 million
    column rows: 36 s of COPY and 10 s of deferred key checks at the commit) and left the deleted
    rows behind; an index built over rows already there sorts them once. The old tables stay
    readable throughout (locked against other writers only) until the swap, which takes them with
    short waits and retries: waiting for an exclusive lock while holding another could deadlock
    with a search that reads two of them. A statement waiting on a table during the swap finds the
    new one by its name. Grants on the old tables go with them."""

    KIND = "postgresql"
    SWAPPED = TEXT_TABLES
    SUFFIX = "__rebuild"

    def clear(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                f"LOCK TABLE {', '.join(TEXT_TABLES)}, search_facet_count IN SHARE ROW EXCLUSIVE MODE"
            )
            cursor.execute("DELETE FROM search_facet_count")
            for table in self.SWAPPED:
                cursor.execute(f"DROP TABLE IF EXISTS {table}{self.SUFFIX}")
                # Columns, defaults, CHECK constraints, identity and storage (MAIN for the vectors).
                cursor.execute(
                    f"CREATE TABLE {table}{self.SUFFIX} (LIKE {table} INCLUDING DEFAULTS "
                    "INCLUDING CONSTRAINTS INCLUDING IDENTITY INCLUDING GENERATED INCLUDING STORAGE)"
                )

    @staticmethod
    def rows(entries: Sequence[_Entry]) -> tuple[list[tuple[Any, ...]], ...]:
        """The rows of `search_document` (with the full vector's literal), `search_text` and
        `search_column`."""
        vector = Postgres().vector
        return (
            [(*_document_values(entry), vector(_indexed_text(entry))) for entry in entries],
            [(entry.dataset_id, entry.summary, entry.readme) for entry in entries],
            [column for entry in entries for column in entry.columns],
        )

    def write(self, rows: tuple[list[tuple[Any, ...]], ...]) -> None:
        documents, texts, columns = rows
        new = self.SUFFIX
        with connection.cursor() as cursor:
            raw = cursor.cursor
            # FREEZE: the rows of a table made in this transaction are written visible to all, so
            # no VACUUM has to visit them before index-only scans can skip the heap.
            for table, names, table_rows in (
                (f"search_document{new}", (*DOCUMENT_FIELDS, "full_vector"), documents),
                (f"search_text{new}", ("dataset_id", "summary", "readme_text"), texts),
                (f"search_column{new}", COLUMN_FIELDS, columns),
            ):
                with raw.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN (FREEZE)") as copy:
                    for row in table_rows:
                        copy.write_row(row)

    def finish(self, vocabulary: Sequence[str]) -> None:
        new = self.SUFFIX
        with connection.cursor() as cursor:
            with cursor.cursor.copy(f"COPY search_term{new} (term) FROM STDIN (FREEZE)") as copy:
                for term in vocabulary:
                    copy.write_row((term,))
            cursor.execute(
                f"INSERT INTO search_column_name{new} (name_key) SELECT DISTINCT name_key "
                f"FROM search_column{new} ORDER BY name_key"
            )
            # The full vectors' GIN index sorts its entries in memory (64 MB by default): 10.6 ->
            # 7.5 s at 100,000 datasets with this much, for this transaction only.
            cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
            renames = [self._index_like(cursor, table) for table in self.SWAPPED]
            self._lock_to_swap(cursor)
            for table in self.SWAPPED:
                cursor.execute(f"DROP TABLE {table}")
                cursor.execute(f"ALTER TABLE {table}{new} RENAME TO {table}")
            for table, (indexes, constraints) in zip(self.SWAPPED, renames, strict=True):
                for temporary, name in indexes:
                    cursor.execute(f"ALTER INDEX {temporary} RENAME TO {name}")
                for temporary, name in constraints:
                    cursor.execute(f"ALTER TABLE {table} RENAME CONSTRAINT {temporary} TO {name}")
                # Identity sequences, named after the table they were made for.
                cursor.execute(
                    "SELECT s.relname FROM pg_class s JOIN pg_depend d ON d.objid = s.oid "
                    "WHERE s.relkind = 'S' AND d.refobjid = %s::regclass AND d.deptype = 'i'",
                    [table],
                )
                for (sequence,) in cursor.fetchall():
                    if new in sequence:
                        cursor.execute(f'ALTER SEQUENCE "{sequence}" RENAME TO "{sequence.replace(new, "")}"')

    def _index_like(self, cursor: Any, table: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """Give the new table the old one's indexes and key constraints under temporary names
        (index and key names are unique in the schema); returns (temporary, name) pairs of each."""
        new = f"{table}{self.SUFFIX}"
        cursor.execute(
            "SELECT quote_ident(c.relname), pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = %s::regclass "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) ORDER BY 1",
            [table],
        )
        indexes = []
        for number, (name, definition) in enumerate(cursor.fetchall()):
            temporary = f"{table}_rebuild_i{number}"
            head, _, using = definition.partition(" USING ")
            unique = "UNIQUE " if head.startswith("CREATE UNIQUE") else ""
            cursor.execute(f"CREATE {unique}INDEX {temporary} ON {new} USING {using}")
            indexes.append((temporary, name))
        # Primary and unique keys. No foreign keys (migration search 0013): adding one would lock
        # the catalog's datasets against writers, who may be waiting for these tables.
        cursor.execute(
            "SELECT quote_ident(conname), pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype IN ('p', 'u') ORDER BY conname",
            [table],
        )
        constraints = []
        for number, (name, definition) in enumerate(cursor.fetchall()):
            temporary = f"{table}_rebuild_k{number}"
            cursor.execute(f"ALTER TABLE {new} ADD CONSTRAINT {temporary} {definition}")
            constraints.append((temporary, name))
        return indexes, constraints

    def _lock_to_swap(self, cursor: Any) -> None:
        """Take the old tables for the swap without waiting long while holding any of them.

        Tries that wait 20 ms, not NOWAIT: a service re-indexing a dataset meanwhile waits for the
        rebuild's lock, and NOWAIT is refused by a lock that is only asked for, so it was refused
        for all 500 tries (25 s), where a wait goes ahead of a waiter whose wait is on this
        transaction's locks and is granted at once."""
        tables = ", ".join(self.SWAPPED)
        cursor.execute("SELECT current_setting('lock_timeout')")
        (configured,) = cursor.fetchone()
        for attempt in range(SWAP_ATTEMPTS):
            try:
                with transaction.atomic():
                    cursor.execute("SET LOCAL lock_timeout = '20ms'")
                    cursor.execute(f"LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE")
                cursor.execute("SELECT set_config('lock_timeout', %s, true)", [configured])
                return
            except OperationalError as error:
                if getattr(error.__cause__, "sqlstate", None) != "55P03":  # lock_not_available
                    raise
                _swap_pause(attempt)
        cursor.execute(f"LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE")  # busy throughout: queue for them


def _swap_pause(attempt: int) -> None:
    """Between tries for the swap's locks: a search holds them for milliseconds at a time."""
    time.sleep(min(0.002 * (attempt + 1), 0.05))
