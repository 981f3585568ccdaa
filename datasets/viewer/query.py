"""The SQL console: one read-only SELECT over versions named by reference (`"weather@certified"`) and
the version at hand as `data`, each checked with the one read rule, run in the locked DuckDB sandbox.

The sandbox already refuses files, URLs, extensions and settings; the checks here refuse the rest
before anything runs: any statement but one SELECT, and any table function but a few generators
(DuckDB's own `duckdb_settings()` and the like describe the host, not the data).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings

from audit.services import audit_record
from core.errors import InvalidInput, NotReady
from datasets.references import version_get
from datasets.selectors import version_ready

if TYPE_CHECKING:
    from datasets.models import Version

# Long enough for any SQL a person writes by hand; the audit log is no archive of generated SQL.
AUDITED_SQL_CHARS = 4000
# Table functions that make rows out of nothing; every other one reads files, URLs or the engine.
TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest"})
# Scalar functions that tell of the host or the engine's settings rather than of the data.
HOST_FUNCTIONS = frozenset({"current_setting", "getenv", "version", "query", "query_table", "which_secret"})
HOST_PREFIXES = ("duckdb_", "pragma_")


@dataclass(frozen=True)
class QueryResult:
    columns: list[dict[str, str]]  # name, type (DuckDB's: BIGINT, VARCHAR, …)
    rows: list[list[Any]]  # JSON values
    truncated: bool  # more rows than GRANARY_QUERY_MAX_ROWS: the first ones only
    elapsed_ms: float
    versions: list[str] = field(default_factory=list)  # each version read, as dataset@number


def query_run(*, user: Any, sql: str, version: Version | None = None) -> QueryResult:
    """The first GRANARY_QUERY_MAX_ROWS rows of `sql`, a single SELECT reading `data` (`version`)
    and versions named by reference, each of which the user must be allowed to read.

    A statement of any other kind, a table that is no reference, or a function touching the host
    is an InvalidInput (field "sql") and nothing runs. A reference the user may not read is the
    NotFound or AccessDenied of every other read. Every run is audited, whatever its outcome.
    """
    from datasets.viewer import engine  # DuckDB: loaded on the first query, not at start-up

    checked = query_check(user=user, sql=sql, version=version)
    read = checked.read
    most = settings.GRANARY_QUERY_MAX_ROWS
    outcome = "ok"
    started = time.perf_counter()
    try:
        result = engine.query_rows(sql=checked.statement, tables=checked.blobs, most=most)
    except Exception as exc:
        outcome = getattr(exc, "code", type(exc).__name__)
        raise
    finally:
        query_audit(user=user, sql=checked.sql, read=read, outcome=outcome)
    columns, rows = result
    return QueryResult(
        columns=columns,
        rows=rows[:most],
        truncated=len(rows) > most,
        elapsed_ms=(time.perf_counter() - started) * 1000,
        versions=[each.ref for each in read],
    )


@dataclass(frozen=True)
class CheckedQuery:
    """A SELECT that passed every check, and the ready versions it reads, by table name."""

    sql: str  # as written, stripped: what the audit log keeps
    statement: str  # the one SELECT, without its semicolon: what DuckDB runs
    tables: dict[str, Version]

    @property
    def read(self) -> list[Version]:
        return list(dict.fromkeys(self.tables.values()))

    @property
    def blobs(self) -> dict[str, str]:
        """Each table's Parquet copy (sha256), as the engine registers them."""
        return {name: str(each.parquet_blob_id) for name, each in self.tables.items()}


def query_check(*, user: Any, sql: str, version: Version | None = None) -> CheckedQuery:
    """Everything query_run checks before it runs, for the console's other ends (exports, saves):
    one SELECT, no refused function, each table a ready version with a Parquet copy the user may
    read. The same InvalidInput, NotFound, AccessDenied and NotReady."""
    sql = sql.strip()
    statement = _single_select(sql)
    tables = _tables(user=user, names=_check_tree(statement), version=version)
    for each in tables.values():
        version_ready(version=each)
        if each.parquet_blob_id is None:
            raise NotReady(f"{each.ref} has no Parquet copy to query.")
    return CheckedQuery(sql=sql, statement=statement, tables=tables)


def _single_select(sql: str) -> str:
    """The text of the one SELECT (or WITH … SELECT) in `sql`, without a closing semicolon."""
    import duckdb

    if not sql:
        raise InvalidInput("Write a SELECT to run.", field="sql")
    try:
        sql.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from JSON's \ud800: DuckDB takes only UTF-8
        raise InvalidInput(
            "The SQL holds characters that are not text (lone surrogates).", field="sql"
        ) from None
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise InvalidInput(f"The SQL does not parse: {exc}", field="sql") from None
    if len(statements) != 1:
        raise InvalidInput(f"Run one SELECT at a time; this holds {len(statements)} statements.", field="sql")
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        raise InvalidInput(
            f"Only a SELECT (or WITH … SELECT) may run here, and this is {kind.name}: "
            "the console reads versions, it changes and configures nothing.",
            field="sql",
        )
    return statements[0].query.strip().rstrip(";").strip()


def _check_tree(statement: str) -> set[str]:
    """The tables the SELECT reads, after refusing the table functions that read anything but the
    named versions and the functions that describe the host: found in DuckDB's own syntax tree,
    so no spelling slips past (duckdb.get_table_names() leaves out the engine's own catalog)."""
    import duckdb

    with duckdb.connect(":memory:") as connection:
        found = connection.execute("SELECT json_serialize_sql(?)", [statement]).fetchone()
    tree = json.loads(found[0]) if found else {"error": True}
    if tree.get("error"):
        raise InvalidInput(f"The SQL does not parse: {tree.get('error_message', '')}", field="sql")
    nodes = list(_nodes(tree))
    # A CTE's name shadows a table of that name wherever it is in scope; taking every CTE's name
    # as a shadow everywhere is looser, but a name wrongly taken for a CTE matches no table.
    ctes = {str(item.get("key", "")) for node in nodes for item in node.get("cte_map", {}).get("map", [])}
    tables: set[str] = set()
    for node in nodes:
        if node.get("type") == "BASE_TABLE":
            name = str(node.get("table_name", ""))
            if node.get("schema_name") or node.get("catalog_name"):
                raise InvalidInput(
                    f"'{node.get('schema_name') or node.get('catalog_name')}.{name}' is not a version: "
                    'name versions by reference in double quotes, e.g. FROM "churn@3".',
                    field="sql",
                )
            if name not in ctes:
                tables.add(name)
        elif node.get("type") == "TABLE_FUNCTION":
            name = str(node.get("function", {}).get("function_name", "")).lower()
            if name not in TABLE_FUNCTIONS:
                raise InvalidInput(
                    f'{name}() is not allowed: read versions by reference (FROM "churn@3"); '
                    f"of the table functions only {', '.join(sorted(TABLE_FUNCTIONS))} may be used.",
                    field="sql",
                )
        elif node.get("class") == "FUNCTION":
            name = str(node.get("function_name", "")).lower()
            if name in HOST_FUNCTIONS or name.startswith(HOST_PREFIXES):
                raise InvalidInput(
                    f"{name}() is not allowed: it tells of the server, not of the data.", field="sql"
                )
    return tables


def _nodes(tree: Any) -> Any:
    if isinstance(tree, dict):
        yield tree
        for value in tree.values():
            yield from _nodes(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _nodes(value)


def _tables(*, user: Any, names: set[str], version: Version | None) -> dict[str, Version]:
    """Each table the SQL reads and the version it is: `data`, or a version reference."""
    tables: dict[str, Version] = {}
    for name in sorted(names):
        if name == "data":
            if version is None:
                raise InvalidInput(
                    "'data' is the version the console is opened on, and none is given here: "
                    'name versions by reference, e.g. FROM "churn@3".',
                    field="sql",
                )
            tables[name] = version
        elif "@" in name:
            # The same NotFound / AccessDenied as any other read: it names the reference only.
            tables[name] = version_get(user=user, ref=name)
        else:
            raise InvalidInput(
                f"'{name}' is not a version: name one by reference in double quotes, "
                'e.g. FROM "churn@3" or "weather@certified"'
                + (", or the version at hand as data." if version else "."),
                field="sql",
            )
    return tables


def query_audit(
    *, user: Any, sql: str, read: list[Version], outcome: str, action: str = "query.run", **extra: Any
) -> None:
    """One event per version read, so each team's log shows who queried its data; one without a
    version for SQL that read none. Exports and saves are `query.export` and `query.save`."""
    detail = {
        "sql": sql[:AUDITED_SQL_CHARS],
        "versions": [each.ref for each in read],
        "outcome": outcome,
        **extra,
    }
    targets: list[Version | None] = list(read) or [None]
    for each in targets:
        audit_record(action=action, actor=user, version=each, detail=detail)
