"""What the viewer's reads take and give: filters and a page of rows (no data library here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Operator = Literal["=", "!=", "<", "<=", ">", ">=", "is null", "is not null", "in", "contains"]
OPERATORS: tuple[str, ...] = ("=", "!=", "<", "<=", ">", ">=", "is null", "is not null", "in", "contains")
# Operators that compare with a value of the column's own type; nested columns have no order.
COMPARISONS = ("=", "!=", "<", "<=", ">", ">=", "in")
NESTED = ("list", "struct", "map")


@dataclass(frozen=True)
class Filter:
    column: str
    op: str
    # One value; a list for `in`; none for `is null` and `is not null`.
    value: str | list[str] | None = None


@dataclass(frozen=True)
class RowsPage:
    columns: list[dict[str, str]]  # name, type (the schema's: integer, string, list<…>, …)
    rows: list[list[Any]]  # JSON values: nested lists and structs as lists and objects
    total: int  # rows matching the filters and search
    offset: int
    limit: int
    elapsed_ms: float = 0.0
    sql: str = field(default="", repr=False)  # what DuckDB ran, for the benchmark; "" for a plain page
