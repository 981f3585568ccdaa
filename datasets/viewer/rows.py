"""A page of a version's rows, read from its Parquet copy: checked here against the version's
schema, run by `engine` (DuckDB in a sandbox, or pyarrow's row groups for a plain page)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings

from audit.services import audit_record
from core.errors import InvalidInput, NotReady
from datasets.models import Version
from datasets.selectors import version_ready
from datasets.viewer.pages import COMPARISONS, NESTED, OPERATORS, Filter, RowsPage


def version_rows(
    *,
    version: Version,
    offset: int = 0,
    limit: int = 100,
    sort: str = "",
    descending: bool = False,
    filters: Sequence[Filter] = (),
    q: str = "",
    user: Any = None,
) -> RowsPage:
    """Rows `offset` to `offset + limit` of a ready version, matching every filter (AND) and the
    text search `q` (over its string columns, case-insensitive), ordered by `sort` if given.

    Every column named must be in the version's schema, every operator known and every value of the
    column's type: anything else is an InvalidInput that says which. A page read is one
    `version.rows` event in the audit log, by `user` (the caller has checked they may read it).
    """
    version_ready(version=version)
    if version.parquet_blob_id is None:
        raise NotReady(f"{version.dataset.slug}@{version.number} has no Parquet copy to read rows from.")
    most = settings.GRANARY_VIEWER_MAX_ROWS
    if not 1 <= limit <= most:
        raise InvalidInput(f"limit={limit}: give 1 to {most} rows per page.", field="limit")
    if offset < 0:
        raise InvalidInput(f"offset={offset}: give 0 or more.", field="offset")
    types = {column["name"]: str(column.get("type", "")) for column in version.schema}
    if sort and sort not in types:
        raise InvalidInput(f"sort: '{sort}' is not a column of {version.ref}{_known(types)}", field="sort")
    for condition in filters:
        _check_filter(condition, types, version)
    searched = [name for name, kind in types.items() if kind == "string"]
    if q and not searched:
        raise InvalidInput(f"q: {version.ref} has no string columns to search.", field="q")
    from datasets.viewer import engine  # DuckDB and pyarrow: loaded on the first page

    page = engine.rows_page(
        sha256=version.parquet_blob_id,
        columns=[{"name": name, "type": kind} for name, kind in types.items()],
        offset=offset,
        limit=limit,
        sort=sort,
        descending=descending,
        filters=list(filters),
        q=q,
        searched=searched,
    )
    # Once per page, as a download is once per file: what was asked and how much came back.
    detail: dict[str, Any] = {"offset": offset, "limit": limit, "rows": len(page.rows), "total": page.total}
    if sort:
        detail["sort"] = ("-" if descending else "") + sort
    if filters:
        detail["filters"] = [[each.column, each.op, each.value] for each in filters]
    if q:
        detail["q"] = q[:200]
    audit_record(action="version.rows", actor=user, version=version, detail=detail)
    return page


def _check_filter(condition: Filter, types: dict[str, str], version: Version) -> None:
    kind = types.get(condition.column)
    if kind is None:
        raise InvalidInput(
            f"filter: '{condition.column}' is not a column of {version.ref}{_known(types)}", field="filter"
        )
    if condition.op not in OPERATORS:
        raise InvalidInput(
            f"filter on '{condition.column}': '{condition.op}' is not an operator; use {', '.join(OPERATORS)}.",
            field="filter",
        )
    if condition.op in ("is null", "is not null"):
        if condition.value not in (None, "", []):
            raise InvalidInput(
                f"filter on '{condition.column}': '{condition.op}' takes no value.", field="filter"
            )
        return
    if condition.value is None or condition.value == []:
        raise InvalidInput(f"filter on '{condition.column}': '{condition.op}' needs a value.", field="filter")
    if (condition.op == "in") != isinstance(condition.value, list):
        needs = "a list of values" if condition.op == "in" else "one value"
        raise InvalidInput(f"filter on '{condition.column}': '{condition.op}' takes {needs}.", field="filter")
    if condition.op == "contains" and kind != "string":
        raise InvalidInput(
            f"filter on '{condition.column}': contains works on string columns, and it is {kind}.",
            field="filter",
        )
    if condition.op in COMPARISONS and kind.startswith(NESTED):
        raise InvalidInput(
            f"filter on '{condition.column}': a {kind} column can only be tested with is null / is not null.",
            field="filter",
        )


def _known(types: dict[str, str]) -> str:
    names = list(types)
    listed = ", ".join(names[:20]) + (", …" if len(names) > 20 else "")
    return f" (its columns: {listed})."
