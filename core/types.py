"""Types every app shares: who makes a request, and the shapes of the JSON that versions and runs store."""

from __future__ import annotations

from typing import Any, TypedDict

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser

# A visitor: a signed-in user, or anonymous (the portal may be open to read without signing in).
AnyUser = AbstractBaseUser | AnonymousUser


class SchemaColumn(TypedDict):
    """One column of Version.schema, as ingest infers it."""

    name: str
    type: str  # the logical type: integer, float, string, boolean, date, timestamp, …
    nullable: bool
    arrow_type: str


class ColumnProfileDict(TypedDict, total=False):
    """One column of Version.profile["columns"]: what profiling measured."""

    name: str
    type: str
    count: int
    nulls: int
    distinct: dict[str, Any]  # {"value", "approximate"}
    min: Any
    max: Any
    mean: float | None
    std: float | None
    histogram: dict[str, Any]
    top: dict[str, Any]  # {"values": [{"value", "count"}], "approximate"}


class ProfileDict(TypedDict, total=False):
    """Version.profile."""

    rows: int
    columns: list[ColumnProfileDict]


class ExpectationResult(TypedDict):
    """One entry of ValidationRun.results."""

    type: str
    kwargs: dict[str, Any]
    description: str
    success: bool
    observed_value: Any
    unexpected_count: int | None
    unexpected_percent: float | None
    unexpected_examples: list[Any]
    element_count: int | None
    error: str
