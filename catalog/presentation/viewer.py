"""What the data viewer's grid shows: the view's state as read from and written to a URL's query
string, the column headers with their profile, the cells as text, and the links that change the view.

The state lives in plain query parameters so a view can be shared and every control works as a link
or a GET form without JavaScript: `offset`, `limit`, `sort` (`-column` for descending), `q`, and each
filter as three repeated parameters `fc` (column), `fo` (operator) and `fv` (value; for `in`, values
separated by commas), which is what a plain form of one select, one select and one input submits.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from django.http import QueryDict

from catalog.presentation.charts import histogram_bars
from core.errors import InvalidInput
from core.validation import whole_number
from datasets.viewer.pages import OPERATORS, Filter, RowsPage

PAGE_ROWS = 50
# Characters of a cell shown before it is cut; the whole value is one click away.
CELL_CHARS = 60
NO_VALUE = ("is null", "is not null")
# Schema types (ingest's) and DuckDB's types whose values line up on the right.
NUMERIC_TYPES = (
    "integer",
    "float",
    "decimal",
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
    "FLOAT",
    "REAL",
    "DOUBLE",
    "DECIMAL",
)
MINI_WIDTH = 96
MINI_HEIGHT = 20
TOP_SHOWN = 3


@dataclass(frozen=True)
class GridState:
    offset: int = 0
    limit: int = PAGE_ROWS
    sort: str = ""
    descending: bool = False
    filters: tuple[Filter, ...] = ()
    q: str = ""

    def params(self) -> list[tuple[str, str]]:
        """The state as query parameters, defaults left out so a shared URL stays short."""
        found: list[tuple[str, str]] = []
        if self.sort:
            found.append(("sort", ("-" if self.descending else "") + self.sort))
        if self.q:
            found.append(("q", self.q))
        for each in self.filters:
            value = ",".join(each.value) if isinstance(each.value, list) else (each.value or "")
            found += [("fc", each.column), ("fo", each.op), ("fv", value)]
        if self.limit != PAGE_ROWS:
            found.append(("limit", str(self.limit)))
        if self.offset:
            found.append(("offset", str(self.offset)))
        return found

    def query(self) -> str:
        params = self.params()
        return "?" + urlencode(params) if params else "?"


def grid_state(params: QueryDict) -> GridState:
    """The view a URL's query string describes; a malformed one is an InvalidInput naming the part."""
    columns, ops, values = params.getlist("fc"), params.getlist("fo"), params.getlist("fv")
    if not len(columns) == len(ops) == len(values):
        raise InvalidInput(
            "filters: each needs a column (fc), an operator (fo) and a value (fv, empty for is null).",
            field="filter",
        )
    filters = []
    for column, op, value in zip(columns, ops, values, strict=True):
        if op not in OPERATORS:
            raise InvalidInput(
                f"filter on '{column}': '{op}' is not an operator; use {', '.join(OPERATORS)}.",
                field="filter",
            )
        filters.append(Filter(column=column, op=op, value=_filter_value(op, value)))
    sort = params.get("sort", "")
    return GridState(
        offset=_number(params, "offset", 0),
        limit=_number(params, "limit", PAGE_ROWS),
        sort=sort.removeprefix("-"),
        descending=sort.startswith("-"),
        filters=tuple(filters),
        q=params.get("q", "").strip(),
    )


def _filter_value(op: str, value: str) -> str | list[str] | None:
    if op in NO_VALUE:
        return value or None
    if op == "in":
        return [part.strip() for part in value.split(",") if part.strip()]
    return value if value else None


def _number(params: QueryDict, name: str, default: int) -> int:
    raw = params.get(name, "")
    if raw == "":
        return default
    number = whole_number(raw)
    if number is None:
        raise InvalidInput(f"{name}={raw!r} is not a whole number of 0 or more.", field=name)
    return number


@dataclass
class Grid:
    """One grid as the template draws it: headers, cells, and (for a version's rows) the controls."""

    columns: list[dict[str, Any]]
    rows: list[list[dict[str, Any]]]
    total: int | None = None  # rows matching; None for a query's result
    first: int = 0  # 1-based number of the first row shown
    last: int = 0
    pager: dict[str, str] = field(default_factory=dict)  # first, prev, next, last: query strings
    chips: list[dict[str, str]] = field(default_factory=list)  # active filters and how to drop each
    hidden: list[tuple[str, str]] = field(default_factory=list)  # the state a new filter keeps
    search_hidden: list[tuple[str, str]] = field(default_factory=list)  # the state a search keeps
    clear_search: str = ""
    reset: str = ""
    elapsed_ms: float = 0.0


def version_grid(
    *, page: RowsPage | None, state: GridState, schema: list[dict[str, Any]], profile: Any
) -> Grid:
    """The grid of a version's rows at `state`; with no page (the request was refused) the headers,
    filters and the way back are still drawn so the refused part can be changed."""
    profiles = {column.get("name"): column for column in (profile or {}).get("columns", [])}
    columns = []
    for column in schema:
        name, kind = str(column["name"]), str(column.get("type", ""))
        sorted_here = state.sort == name
        next_sort = replace(state, sort=name, descending=sorted_here and not state.descending, offset=0)
        columns.append(
            {
                **_header(name, kind, profiles.get(name, {})),
                "sort": next_sort.query(),
                "sorted": ("descending" if state.descending else "ascending") if sorted_here else "none",
            }
        )
    rows = page.rows if page else []
    grid = Grid(columns=columns, rows=_cells(rows, columns), elapsed_ms=page.elapsed_ms if page else 0.0)
    grid.chips = [
        {
            "text": _filter_text(each),
            "remove": replace(
                state, filters=state.filters[:index] + state.filters[index + 1 :], offset=0
            ).query(),
        }
        for index, each in enumerate(state.filters)
    ]
    grid.hidden = [(k, v) for k, v in replace(state, offset=0).params()]
    grid.search_hidden = [(k, v) for k, v in replace(state, offset=0, q="").params()]
    grid.clear_search = replace(state, q="", offset=0).query() if state.q else ""
    grid.reset = GridState().query() if state != GridState() else ""
    if page is not None:
        grid.total = page.total
        grid.first = state.offset + 1 if rows else 0
        grid.last = state.offset + len(rows) if rows else 0
        grid.pager = _pager(state, page.total)
    return grid


def query_grid(*, columns: Sequence[dict[str, str]], rows: list[list[Any]], elapsed_ms: float) -> Grid:
    """The grid of a SQL console result: headers and cells only (the result is no version to page)."""
    headers = [_header(column["name"], column["type"], {}) for column in columns]
    grid = Grid(columns=headers, rows=_cells(rows, headers), elapsed_ms=elapsed_ms)
    grid.first, grid.last = (1 if rows else 0), len(rows)
    return grid


def _header(name: str, kind: str, profile: dict[str, Any]) -> dict[str, Any]:
    fraction = profile.get("null_fraction")
    top = profile.get("top", {}).get("values", [])[:TOP_SHOWN] if isinstance(profile.get("top"), dict) else []
    return {
        "name": name,
        "type": kind,
        "numeric": kind.startswith(NUMERIC_TYPES),
        "nulls": f"{fraction:.0%}" if isinstance(fraction, (int, float)) else "",
        "some_nulls": isinstance(fraction, (int, float)) and fraction > 0,
        "bars": (
            histogram_bars(profile["histogram"], width=MINI_WIDTH, height=MINI_HEIGHT)
            if isinstance(profile.get("histogram"), dict)
            else []
        ),
        "top": [{"value": cell_text(t.get("value")), "count": t.get("count")} for t in top],
    }


def _cells(rows: list[list[Any]], columns: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    numeric = [column["numeric"] for column in columns]
    return [
        [_cell(value, numeric[i] if i < len(numeric) else False) for i, value in enumerate(row)]
        for row in rows
    ]


def _cell(value: Any, numeric: bool) -> dict[str, Any]:
    if value is None:
        return {"null": True}
    text = cell_text(value)
    cut = len(text) > CELL_CHARS
    return {
        "text": text[:CELL_CHARS] + "…" if cut else text,
        "full": text if cut else "",
        "numeric": numeric and isinstance(value, (int, float)) and not isinstance(value, bool),
        "nested": isinstance(value, (list, dict)),
    }


def cell_text(value: Any) -> str:
    """A value as one line: lists and structs as compact JSON, booleans as SQL writes them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def _filter_text(each: Filter) -> str:
    if each.op in NO_VALUE:
        return f"{each.column} {each.op}"
    value = ", ".join(each.value) if isinstance(each.value, list) else each.value
    return f"{each.column} {each.op} {value}"


def _pager(state: GridState, total: int) -> dict[str, str]:
    limit = state.limit or PAGE_ROWS
    last = max(0, (total - 1) // limit * limit)
    links: dict[str, str] = {}
    if state.offset > 0:
        links["first"] = replace(state, offset=0).query()
        links["prev"] = replace(state, offset=max(0, min(state.offset - limit, last))).query()
    if state.offset + limit < total:
        links["next"] = replace(state, offset=state.offset + limit).query()
        links["last"] = replace(state, offset=last).query()
    return links
