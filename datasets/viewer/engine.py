"""DuckDB over versions' Parquet copies, in a sandbox: each version is read in place (never
copied into memory): a copy on the local disk by DuckDB's own Parquet reader, allowed that one file;
one in S3 registered as an Arrow dataset over the storage backend's filesystem. Then the
connection's access to other files, URLs, extensions and settings is switched off and locked.
A timer interrupts whatever runs longer than GRANARY_QUERY_TIMEOUT_SECONDS.

A version's rows (the viewer's own SQL, never the user's) run on one locked DuckDB per process,
allowed the local blob store only, which keeps the Parquet footers it has read.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import duckdb
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from django.conf import settings

from core.errors import GranaryError, InvalidInput
from datasets import storage
from datasets.ingest.problems import json_safe
from datasets.viewer.pages import Filter, RowsPage


class QueryCancelled(GranaryError):
    """The query ran past its time and was stopped."""

    status = 400
    code = "query_timeout"


class QueryTooLarge(GranaryError):
    status = 400
    code = "query_too_large"


def quoted(name: str) -> str:
    """An identifier as DuckDB reads it, whatever it holds."""
    return '"' + name.replace('"', '""') + '"'


def _parquet(path: str, *, numbered: bool = False) -> str:
    """DuckDB's reader of one local Parquet file (a blob path: ours, not the user's)."""
    literal = "'" + path.replace("'", "''") + "'"
    return f"read_parquet({literal}{', file_row_number=true' if numbered else ''})"


@contextmanager
def sandbox(tables: dict[str, str]) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection where each of `tables` (view name -> Parquet blob sha256) can be read, and
    nothing else: registered before the lock, since a view over read_parquet() is refused after."""
    memory = max(1, settings.GRANARY_QUERY_MEMORY_BYTES // 1024**2)
    connection = duckdb.connect(":memory:", config={"threads": settings.GRANARY_QUERY_THREADS})
    try:
        local: dict[str, str] = {}
        for name, sha256 in tables.items():
            filesystem, path = storage.blob_source(sha256).arrow()
            if isinstance(filesystem, pafs.LocalFileSystem):
                local[name] = path
            else:
                connection.register(name, ds.dataset(path, filesystem=filesystem, format="parquet"))
        if local:
            # DuckDB's own reader answers counts from the footer and skips row groups by their
            # statistics, which it cannot through an Arrow dataset (a GROUP BY over 8.8M rows:
            # 1.7 s -> 0.4 s). Once locked, these files alone stay readable.
            connection.execute("SET allowed_paths=?", [sorted(set(local.values()))])
            for name, path in local.items():
                connection.execute(f"CREATE VIEW {quoted(name)} AS SELECT * FROM {_parquet(path)}")  # noqa: S608
        connection.execute(
            f"SET memory_limit='{memory}MiB'; SET enable_external_access=false; "
            "SET autoinstall_known_extensions=false; SET autoload_known_extensions=false; "
            "SET lock_configuration=true"
        )
        yield connection
    finally:
        connection.close()


@contextmanager
def time_limit(connection: duckdb.DuckDBPyConnection, seconds: float | None = None) -> Iterator[None]:
    """Interrupt the connection from a timer thread when the time is up (the console's limit
    unless `seconds` is given: saves and exports run longer); the error says so."""
    seconds = settings.GRANARY_QUERY_TIMEOUT_SECONDS if seconds is None else seconds
    setting = (
        "GRANARY_QUERY_TIMEOUT_SECONDS" if seconds == settings.GRANARY_QUERY_TIMEOUT_SECONDS else "its limit"
    )
    timer = threading.Timer(seconds, connection.interrupt)
    timer.daemon = True
    timer.start()
    try:
        yield
    except duckdb.InterruptException:
        raise QueryCancelled(
            f"The query was cancelled after {seconds:g} s ({setting}): "
            "narrow it with filters, fewer columns or a LIMIT."
        ) from None
    except duckdb.OutOfMemoryException:
        raise QueryTooLarge(
            f"The query needed more than {settings.GRANARY_QUERY_MEMORY_BYTES // 1024**2} MiB "
            "(GRANARY_QUERY_MEMORY_BYTES): aggregate, filter or select fewer columns."
        ) from None
    finally:
        timer.cancel()


def rows_page(
    *,
    sha256: str,
    columns: list[dict[str, str]],
    offset: int,
    limit: int,
    sort: str,
    descending: bool,
    filters: Sequence[Filter],
    q: str,
    searched: list[str],
) -> RowsPage:
    started = time.perf_counter()
    try:
        filesystem, path = storage.blob_source(sha256).arrow()
        key = storage.blob_key(sha256)
        local = isinstance(filesystem, pafs.LocalFileSystem) and path.endswith(key)
        if local and ROW_NUMBER not in {column["name"] for column in columns}:
            root = path[: -len(key)]
            rows, total, sql = _local_page(
                sha256, path, root, offset, limit, sort, descending, filters, q, searched
            )
        elif not (sort or filters or q):
            rows, total = _plain_page(sha256, offset, limit)
            sql = ""
        else:
            rows, total, sql = _queried_page(sha256, offset, limit, sort, descending, filters, q, searched)
    except OSError as exc:  # pyarrow's and S3's own failures, under DuckDB or not
        if (unavailable := storage.blob_source(sha256).unavailable(exc)) is not None:
            raise unavailable from exc
        raise
    except duckdb.Error as exc:  # S3 failing under DuckDB's scan comes wrapped in DuckDB's error
        storage_failure_raise(exc, {"data": sha256})
        raise
    elapsed = (time.perf_counter() - started) * 1000
    return RowsPage(
        columns=columns, rows=rows, total=total, offset=offset, limit=limit, elapsed_ms=elapsed, sql=sql
    )


# The column DuckDB's reader adds for each row's position in the file (a version with a column of
# that name is read the slower way, through the sandbox).
ROW_NUMBER = "file_row_number"
# Totals of filtered or searched rows, by blob, conditions and values: blobs never change, so a
# total stays true, and paging through a search counts its matches once per process.
TOTALS_KEPT = 512
# Up to this many rows into the matches, one scan gives the total and the page's row numbers.
ONE_SCAN_ROWS = 10_000
_totals: OrderedDict[tuple[Any, ...], int] = OrderedDict()
_totals_lock = threading.Lock()
_readers: dict[tuple[Any, ...], duckdb.DuckDBPyConnection] = {}
_readers_lock = threading.Lock()


def _reader(root: str) -> duckdb.DuckDBPyConnection:
    """A cursor on this process's DuckDB for the viewer's own SQL: opening a database costs
    25-30 ms, a cursor nothing, and the database keeps the footers of the files it has read.
    Locked like the sandbox, with only the local blob store (`root`) readable."""
    threads, memory = settings.GRANARY_QUERY_THREADS, max(1, settings.GRANARY_QUERY_MEMORY_BYTES // 1024**2)
    key = (os.getpid(), root, threads, memory)  # a forked child opens its own
    with _readers_lock:
        database = _readers.get(key)
        if database is None:
            _readers.clear()  # another root or limits (tests): the old one closes with its cursors
            database = duckdb.connect(":memory:", config={"threads": threads})
            database.execute("SET allowed_directories=?", [[root]])
            database.execute(
                f"SET memory_limit='{memory}MiB'; SET enable_external_access=false; "
                "SET autoinstall_known_extensions=false; SET autoload_known_extensions=false; "
                "SET parquet_metadata_cache=true; SET lock_configuration=true"
            )
            _readers[key] = database
        return database.cursor()


def _local_page(
    sha256: str,
    path: str,
    root: str,
    offset: int,
    limit: int,
    sort: str,
    descending: bool,
    filters: Sequence[Filter],
    q: str,
    searched: list[str],
) -> tuple[list[list[Any]], int, str]:
    """A page of a local copy in two steps: the row numbers of the page, found by reading only the
    columns that filter and sort, then those rows alone, from the row groups holding them (a sort
    over 8.8M rows no longer carries every column of every candidate through its top-N)."""
    source = _parquet(path, numbered=True)
    with _reader(root) as cursor, time_limit(cursor):
        where, parameters = _where(cursor, source, filters, q, searched)
        key = (sha256, where, tuple(parameters))
        total = _total_kept(key) if where else None
        found: list[int]
        if not (sort or where):
            counted = cursor.execute(f"SELECT count(*) FROM {source}").fetchone()  # noqa: S608
            total = int(counted[0] if counted else 0)
            found = list(range(offset, min(offset + limit, total)))
            numbers_sql = ""
        elif total is None and not sort and offset + limit <= ONE_SCAN_ROWS:
            # One scan for the total and the first matches' numbers: a rare match costs one pass.
            numbers_sql = f"SELECT count(*), min({ROW_NUMBER}, ?) FROM {source}{where}"  # noqa: S608
            counted = cursor.execute(numbers_sql, [offset + limit, *parameters]).fetchone()
            total = int(counted[0] if counted else 0)
            found = list((counted[1] if counted else None) or [])[offset : offset + limit]
        else:
            if total is None:
                counted = cursor.execute(f"SELECT count(*) FROM {source}{where}", parameters).fetchone()  # noqa: S608
                total = int(counted[0] if counted else 0)
            # The row number breaks ties, so that pages of a sort neither repeat nor skip rows.
            # Unsorted, DuckDB keeps the file's order (preserve_insertion_order) and stops at the
            # page's end.
            direction = "DESC" if descending else "ASC"
            order = f" ORDER BY {quoted(sort)} {direction} NULLS LAST, {ROW_NUMBER}" if sort else ""
            numbers_sql = f"SELECT {ROW_NUMBER} FROM {source}{where}{order} LIMIT ? OFFSET ?"  # noqa: S608
            found = []
            if offset < total:
                found = [
                    row[0] for row in cursor.execute(numbers_sql, [*parameters, limit, offset]).fetchall()
                ]
        if where:
            _total_keep(key, total)
        rows = _rows_numbered(cursor, source, found)
    return rows, total, numbers_sql


def _rows_numbered(cursor: duckdb.DuckDBPyConnection, source: str, numbers: list[int]) -> list[list[Any]]:
    """The rows at these positions of the file, in this order."""
    if not numbers:
        return []
    # The range lets the reader skip every row group outside it, the list the rows inside it.
    sql = (
        f"SELECT * FROM {source} WHERE {ROW_NUMBER} BETWEEN ? AND ? "  # noqa: S608
        f"AND {ROW_NUMBER} IN ({', '.join(['?'] * len(numbers))})"
    )
    fetched = {
        row[-1]: row[:-1] for row in cursor.execute(sql, [min(numbers), max(numbers), *numbers]).fetchall()
    }
    return [[json_safe(value) for value in fetched[number]] for number in numbers]


def _where(
    cursor: duckdb.DuckDBPyConnection, source: str, filters: Sequence[Filter], q: str, searched: list[str]
) -> tuple[str, list[Any]]:
    """The WHERE clause of the filters (AND) and the search, with its values as parameters."""
    conditions: list[str] = []
    parameters: list[Any] = []
    if filters:
        described = cursor.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {source})")  # noqa: S608
        types = dict(described.fetchall())
        for condition in filters:
            sql, values = _condition(cursor, condition, types[condition.column])
            conditions.append(sql)
            parameters.extend(values)
    if q:
        conditions.append("(" + " OR ".join(f"contains(lower({quoted(c)}), ?)" for c in searched) + ")")
        parameters.extend([q.lower()] * len(searched))
    return (f" WHERE {' AND '.join(conditions)}" if conditions else ""), parameters


def _total_kept(key: tuple[Any, ...]) -> int | None:
    with _totals_lock:
        total = _totals.get(key)
        if total is not None:
            _totals.move_to_end(key)
        return total


def _total_keep(key: tuple[Any, ...], total: int) -> None:
    with _totals_lock:
        _totals[key] = total
        _totals.move_to_end(key)
        while len(_totals) > TOTALS_KEPT:
            _totals.popitem(last=False)


def _plain_page(sha256: str, offset: int, limit: int) -> tuple[list[list[Any]], int]:
    """A page without order or filters: only the row groups it spans are read, found from the
    footer's row counts, so the last page costs what the first does."""
    filesystem, path = storage.blob_source(sha256).arrow()
    parquet = pq.ParquetFile(path, filesystem=filesystem, pre_buffer=False)
    metadata = parquet.metadata
    total = metadata.num_rows
    groups: list[int] = []
    first_row = start = 0
    for index in range(metadata.num_row_groups):
        size = metadata.row_group(index).num_rows
        if start + size > offset and start < offset + limit:
            if not groups:
                first_row = start
            groups.append(index)
        start += size
    if not groups:
        return [], total
    table = parquet.read_row_groups(groups).slice(offset - first_row, limit)
    values = [[json_safe(value) for value in column.to_pylist()] for column in table.columns]
    return [list(row) for row in zip(*values, strict=True)], total


def _queried_page(
    sha256: str,
    offset: int,
    limit: int,
    sort: str,
    descending: bool,
    filters: Sequence[Filter],
    q: str,
    searched: list[str],
) -> tuple[list[list[Any]], int, str]:
    with sandbox({"data": sha256}) as connection:
        types = dict(connection.execute("SELECT column_name, column_type FROM (DESCRIBE data)").fetchall())
        conditions: list[str] = []
        parameters: list[Any] = []
        for condition in filters:
            sql, values = _condition(connection, condition, types[condition.column])
            conditions.append(sql)
            parameters.extend(values)
        if q:
            conditions.append("(" + " OR ".join(f"contains(lower({quoted(c)}), ?)" for c in searched) + ")")
            parameters.extend([q.lower()] * len(searched))
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        # An Arrow dataset has no row numbers: the other columns break ties, so that pages of a sort
        # neither repeat nor skip rows (rows equal in every column look the same wherever they go).
        ties = "".join(f", {quoted(name)}" for name in types if name != sort)
        order = f" ORDER BY {quoted(sort)} {'DESC' if descending else 'ASC'} NULLS LAST{ties}" if sort else ""
        # Only quoted names of the version's own columns and `?` placeholders are spliced in.
        page_sql = f"SELECT * FROM data{where}{order} LIMIT ? OFFSET ?"  # noqa: S608
        with time_limit(connection):
            total = connection.execute(f"SELECT count(*) FROM data{where}", parameters).fetchone()  # noqa: S608
            rows = connection.execute(page_sql, [*parameters, limit, offset]).fetchall()
    return [[json_safe(value) for value in row] for row in rows], int(total[0] if total else 0), page_sql


def _condition(connection: duckdb.DuckDBPyConnection, condition: Filter, kind: str) -> tuple[str, list[Any]]:
    column = quoted(condition.column)
    if condition.op in ("is null", "is not null"):
        return f"{column} {condition.op.upper()}", []
    if condition.op == "contains":
        return f"contains(lower({column}), ?)", [str(condition.value).lower()]
    values: list[Any] = [condition.value]
    if isinstance(condition.value, list):
        values = list(condition.value)
    for value in values:
        _check_value(connection, condition, value, kind)
    cast = f"CAST(? AS {kind})"
    if condition.op == "in":
        return f"{column} IN ({', '.join([cast] * len(values))})", list(values)
    return f"{column} {condition.op} {cast}", list(values)


def _check_value(connection: duckdb.DuckDBPyConnection, condition: Filter, value: Any, kind: str) -> None:
    # `kind` is DuckDB's own name for the column's type, read from the data: never user input.
    found = connection.execute(f"SELECT TRY_CAST(? AS {kind}) IS NOT NULL", [value]).fetchone()
    if not (found and found[0]):
        raise InvalidInput(
            f"filter on '{condition.column}': {value!r} is not a value of its type ({kind}).", field="filter"
        )


def bind(
    connection: duckdb.DuckDBPyConnection, statement: str, tables: dict[str, str]
) -> list[dict[str, str]]:
    """The columns of one checked SELECT, bound against the registered versions but not run:
    an unknown column or a type error is the caller's InvalidInput, before any work is queued."""
    try:
        relation = connection.sql(statement)
    except (duckdb.InterruptException, duckdb.OutOfMemoryException):
        raise
    except duckdb.Error as exc:
        storage_failure_raise(exc, tables)
        raise InvalidInput(f"The query failed: {exc}", field="sql") from None
    return [
        {"name": name, "type": str(kind)} for name, kind in zip(relation.columns, relation.types, strict=True)
    ]


def storage_failure_raise(exc: duckdb.Error, tables: dict[str, str]) -> None:
    """Raise StorageUnavailable (503) if `exc` is the blob store failing under DuckDB's scan of a
    registered version: DuckDB wraps pyarrow's S3 OSError into its own error, text and all, which
    would otherwise read as a fault of the SQL (400)."""
    wrapped = OSError(str(exc))
    for sha256 in tables.values():
        if (unavailable := storage.blob_source(sha256).unavailable(wrapped)) is not None:
            raise unavailable from exc


def query_rows(
    *, sql: str, tables: dict[str, str], most: int
) -> tuple[list[dict[str, str]], list[list[Any]]]:
    """The columns and at most `most + 1` rows of one checked SELECT over `tables` (the extra row
    tells the caller the result was cut), within the time and memory limits."""
    try:
        with sandbox(tables) as connection, time_limit(connection):
            try:
                # The relation API puts the LIMIT on top without splicing the user's text into ours.
                relation = connection.sql(sql).limit(most + 1)
                columns = [
                    {"name": name, "type": str(kind)}
                    for name, kind in zip(relation.columns, relation.types, strict=True)
                ]
                rows = relation.fetchall()
            except (duckdb.InterruptException, duckdb.OutOfMemoryException):
                raise
            except duckdb.Error as exc:
                storage_failure_raise(exc, tables)
                # Parser, binder and permission errors: about the SQL and the named versions only.
                raise InvalidInput(f"The query failed: {exc}", field="sql") from None
    except OSError as exc:
        unavailable = next(
            (found for sha256 in tables.values() if (found := storage.blob_source(sha256).unavailable(exc))),
            None,
        )
        if unavailable is not None:
            raise unavailable from exc
        raise
    return columns, [[json_safe(value) for value in row] for row in rows]
