"""The expectations Granary offers in its form, how each reads in plain words, and the checks
that turn a bad configuration into a message a person understands (before GX ever sees it).

The table of parameters is what the portal's form and the suite's checks rely on: the checks of
these expectations need no Great Expectations (whose import takes seconds in a web process);
only an expectation outside the table, or with parameters it does not name, is left to GX."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from core.errors import InvalidInput

# kinds of parameters
NUMBER = "number"  # int or float
COUNT = "count"  # non-negative int
FRACTION = "fraction"  # 0..1
TEXT = "text"
REGEX = "regex"
VALUES = "values"  # a list of values
COLUMNS = "columns"  # a list of column names
BOOL = "bool"
COLUMN = "column"


class ParameterInvalid(InvalidInput):
    """One parameter of one expectation is wrong: `detail` names the expectation (for the API and
    imports), `message` says it for the form field that holds the parameter."""

    def __init__(
        self, where: str, message: str, *, position: int, param: str, says: str | None = None
    ) -> None:
        super().__init__(f"{where}: {message}", field=param)
        said = says or message
        self.message = said[:1].upper() + said[1:]
        self.position = position


# What a missing parameter asks for, by kind.
_MISSING = {
    "column": "choose a column",
    "columns": "choose the columns",
    "values": "give at least one value",
    "regex": "enter a regular expression",
    "text": "enter a type",
}


@dataclass(frozen=True)
class Param:
    name: str
    kind: str
    label: str
    required: bool = True


@dataclass(frozen=True)
class Spec:
    type: str
    label: str
    params: tuple[Param, ...]
    mostly: bool = False  # accepts `mostly` (row-wise expectations)

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params if p.kind == COLUMN)


_COL = Param("column", COLUMN, "column")
_MIN = Param("min_value", NUMBER, "at least", required=False)
_MAX = Param("max_value", NUMBER, "at most", required=False)

CATALOG: dict[str, Spec] = {
    spec.type: spec
    for spec in [
        Spec("expect_column_values_to_not_be_null", "is never null", (_COL,), mostly=True),
        Spec("expect_column_values_to_be_null", "is always null", (_COL,), mostly=True),
        Spec("expect_column_values_to_be_unique", "has unique values", (_COL,), mostly=True),
        Spec("expect_column_values_to_be_between", "has values between", (_COL, _MIN, _MAX), mostly=True),
        Spec(
            "expect_column_values_to_be_in_set",
            "has values in a set",
            (_COL, Param("value_set", VALUES, "one of")),
            mostly=True,
        ),
        Spec(
            "expect_column_values_to_not_be_in_set",
            "has no values from a set",
            (_COL, Param("value_set", VALUES, "none of")),
            mostly=True,
        ),
        Spec(
            "expect_column_values_to_match_regex",
            "matches a regular expression",
            (_COL, Param("regex", REGEX, "pattern")),
            mostly=True,
        ),
        Spec(
            "expect_column_values_to_not_match_regex",
            "never matches a regular expression",
            (_COL, Param("regex", REGEX, "pattern")),
            mostly=True,
        ),
        Spec(
            "expect_column_values_to_be_of_type",
            "has values of a type",
            (_COL, Param("type_", TEXT, "type")),
            mostly=True,
        ),
        Spec(
            "expect_column_value_lengths_to_be_between",
            "has value lengths between",
            (
                _COL,
                Param("min_value", COUNT, "at least", required=False),
                Param("max_value", COUNT, "at most", required=False),
            ),
            mostly=True,
        ),
        Spec("expect_column_mean_to_be_between", "has a mean between", (_COL, _MIN, _MAX)),
        Spec("expect_column_median_to_be_between", "has a median between", (_COL, _MIN, _MAX)),
        Spec("expect_column_stdev_to_be_between", "has a standard deviation between", (_COL, _MIN, _MAX)),
        Spec("expect_column_min_to_be_between", "has a minimum between", (_COL, _MIN, _MAX)),
        Spec("expect_column_max_to_be_between", "has a maximum between", (_COL, _MIN, _MAX)),
        Spec("expect_column_sum_to_be_between", "has a sum between", (_COL, _MIN, _MAX)),
        Spec(
            "expect_column_proportion_of_unique_values_to_be_between",
            "has a share of unique values between",
            (
                _COL,
                Param("min_value", FRACTION, "at least", required=False),
                Param("max_value", FRACTION, "at most", required=False),
            ),
        ),
        Spec(
            "expect_column_unique_value_count_to_be_between",
            "has a number of distinct values between",
            (
                _COL,
                Param("min_value", COUNT, "at least", required=False),
                Param("max_value", COUNT, "at most", required=False),
            ),
        ),
        Spec(
            "expect_column_distinct_values_to_be_in_set",
            "has distinct values within a set",
            (_COL, Param("value_set", VALUES, "within")),
        ),
        Spec("expect_column_to_exist", "exists", (_COL,)),
        Spec(
            "expect_table_row_count_to_be_between",
            "row count between",
            (
                Param("min_value", COUNT, "at least", required=False),
                Param("max_value", COUNT, "at most", required=False),
            ),
        ),
        Spec(
            "expect_table_columns_to_match_set",
            "columns are exactly a set",
            (
                Param("column_set", COLUMNS, "columns"),
                Param("exact_match", BOOL, "no other columns", required=False),
            ),
        ),
        Spec(
            "expect_table_columns_to_match_ordered_list",
            "columns are, in order",
            (Param("column_list", COLUMNS, "columns"),),
        ),
        Spec(
            "expect_compound_columns_to_be_unique",
            "combinations of columns are unique",
            (Param("column_list", COLUMNS, "columns"),),
            mostly=True,
        ),
        Spec(
            "expect_column_pair_values_a_to_be_greater_than_b",
            "one column is greater than another",
            (
                Param("column_A", COLUMN, "column A"),
                Param("column_B", COLUMN, "column B"),
                Param("or_equal", BOOL, "or equal", required=False),
            ),
            mostly=True,
        ),
    ]
}


def referenced_columns(expectation: dict[str, Any]) -> list[str]:
    return [name for _, name in referenced_column_params(expectation)]


def referenced_column_params(expectation: dict[str, Any]) -> list[tuple[str, str]]:
    """(parameter, column name) for each column the expectation names."""
    kwargs = expectation.get("kwargs", {})
    names = [(k, kwargs[k]) for k in ("column", "column_A", "column_B") if isinstance(kwargs.get(k), str)]
    if expectation.get("type") == "expect_compound_columns_to_be_unique":
        names += [("column_list", c) for c in kwargs.get("column_list", []) if isinstance(c, str)]
    return names


def check(expectation: dict[str, Any], *, position: int, columns: list[str] | None) -> None:
    """Refuse a configuration GX would choke on, in plain words naming the expectation."""
    kind = expectation.get("type", "")
    where = f"Expectation {position} ({kind or 'no type'})"
    kwargs = expectation.get("kwargs")
    if not isinstance(kwargs, dict):
        raise InvalidInput(f"{where}: 'kwargs' must be an object of parameters.")
    spec = CATALOG.get(kind)
    for param in spec.params if spec else ():
        value = kwargs.get(param.name)
        if value is None:
            if param.required:
                raise ParameterInvalid(
                    where,
                    f"'{param.name}' ({param.label}) is required.",
                    position=position,
                    param=param.name,
                    says=f"This check needs it: {_MISSING.get(param.kind, 'give a value')}.",
                )
            continue
        _check_value(where, param, value, position=position)
    if (
        spec
        and spec.params
        and all(not p.required for p in spec.params if p.kind in (NUMBER, COUNT, FRACTION))
    ):
        bounds = [kwargs.get(p.name) for p in spec.params if p.name in ("min_value", "max_value")]
        if len(bounds) == 2 and all(b is None for b in bounds):
            raise ParameterInvalid(
                where,
                "give at least one of min_value and max_value.",
                position=position,
                param="min_value",
                says="Give at least one bound: “at least”, “at most” or both.",
            )
        low, high = [*bounds, None, None][:2]
        if low is not None and high is not None and low > high:
            raise ParameterInvalid(
                where,
                f"min_value {low} is greater than max_value {high}.",
                position=position,
                param="max_value",
                says=f"“At most” ({high}) is less than “at least” ({low}).",
            )
    regex = kwargs.get("regex")
    if isinstance(regex, str):
        try:
            re.compile(regex)
        except re.error as exc:
            # As typed, between slashes: repr() would double every backslash.
            raise ParameterInvalid(
                where,
                f"the regular expression /{regex}/ does not compile: {exc}.",
                position=position,
                param="regex",
            ) from None
    mostly = kwargs.get("mostly")
    if mostly is not None and (
        not isinstance(mostly, (int, float)) or isinstance(mostly, bool) or not 0 <= mostly <= 1
    ):
        raise ParameterInvalid(
            where,
            f"'mostly' must be a fraction between 0 and 1, not {mostly!r}.",
            position=position,
            param="mostly",
        )
    if columns is not None:
        for param_name, name in referenced_column_params(expectation):
            if name not in columns:
                raise ParameterInvalid(
                    where,
                    f"there is no column '{name}' (columns: {', '.join(columns)}).",
                    position=position,
                    param=param_name,
                )


def _check_value(where: str, param: Param, value: Any, *, position: int) -> None:
    def refuse(must: str) -> ParameterInvalid:
        return ParameterInvalid(
            where, f"'{param.name}' ({param.label}) must be {must}", position=position, param=param.name
        )

    if param.kind in (NUMBER, COUNT, FRACTION):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise refuse(f"a number, not {value!r}.")
        if param.kind == COUNT and (value < 0 or int(value) != value):
            raise refuse(f"a whole number of at least 0, not {value!r}.")
        if param.kind == FRACTION and not 0 <= value <= 1:
            raise refuse(f"between 0 and 1, not {value!r}.")
    elif param.kind in (COLUMN, TEXT, REGEX):
        if not isinstance(value, str) or not value:
            raise refuse(f"a non-empty text, not {value!r}.")
    elif param.kind == VALUES:
        if not isinstance(value, list) or not value:
            raise refuse("a non-empty list of values.")
    elif param.kind == COLUMNS:
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise refuse("a non-empty list of column names.")
    elif param.kind == BOOL and not isinstance(value, bool):
        raise refuse(f"true or false, not {value!r}.")


# Parameters GX accepts on every expectation; they change how results are reported, not what is
# checked, so the table above need not describe them.
_REPORTING = {"result_format", "catch_exceptions", "include_config", "meta"}


def needs_gx_check(expectation: dict[str, Any]) -> bool:
    """Whether only GX can judge `expectation`: its type or a parameter is outside the table."""
    spec = CATALOG.get(expectation.get("type", ""))
    if spec is None:
        return True
    known = {p.name for p in spec.params} | _REPORTING | ({"mostly"} if spec.mostly else set())
    return not set(expectation.get("kwargs", {})) <= known


def describe(expectation: dict[str, Any]) -> str:
    """The expectation in words, for someone who has never seen Great Expectations."""
    kind = expectation.get("type", "")
    kw = expectation.get("kwargs", {})
    column = f"`{kw.get('column')}`" if kw.get("column") else ""
    span = _span(kw.get("min_value"), kw.get("max_value"))
    values = ", ".join(repr(v) for v in kw.get("value_set", [])[:10])
    text = {
        "expect_column_values_to_not_be_null": f"{column} is never null",
        "expect_column_values_to_be_null": f"{column} is always null",
        "expect_column_values_to_be_unique": f"{column} has no repeated values",
        "expect_column_values_to_be_between": f"{column} is {span}",
        "expect_column_values_to_be_in_set": f"{column} is one of {values}",
        "expect_column_values_to_not_be_in_set": f"{column} is none of {values}",
        "expect_column_values_to_match_regex": f"{column} matches /{kw.get('regex')}/",
        "expect_column_values_to_not_match_regex": f"{column} never matches /{kw.get('regex')}/",
        "expect_column_values_to_be_of_type": f"{column} is of type {kw.get('type_')}",
        "expect_column_value_lengths_to_be_between": f"the length of {column} is {span}",
        "expect_column_mean_to_be_between": f"the mean of {column} is {span}",
        "expect_column_median_to_be_between": f"the median of {column} is {span}",
        "expect_column_stdev_to_be_between": f"the standard deviation of {column} is {span}",
        "expect_column_min_to_be_between": f"the smallest {column} is {span}",
        "expect_column_max_to_be_between": f"the largest {column} is {span}",
        "expect_column_sum_to_be_between": f"the sum of {column} is {span}",
        "expect_column_proportion_of_unique_values_to_be_between": f"the share of unique values in {column} is {span}",
        "expect_column_unique_value_count_to_be_between": f"the number of distinct values in {column} is {span}",
        "expect_column_distinct_values_to_be_in_set": f"every distinct value of {column} is one of {values}",
        "expect_column_to_exist": f"there is a column {column}",
        "expect_table_row_count_to_be_between": f"the number of rows is {span}",
        "expect_table_columns_to_match_set": "the columns are "
        + ", ".join(f"`{c}`" for c in kw.get("column_set", []))
        + ("" if kw.get("exact_match", True) else " (others allowed)"),
        "expect_table_columns_to_match_ordered_list": "the columns are, in order, "
        + ", ".join(f"`{c}`" for c in kw.get("column_list", [])),
        "expect_compound_columns_to_be_unique": "each combination of "
        + ", ".join(f"`{c}`" for c in kw.get("column_list", []))
        + " is unique",
        "expect_column_pair_values_a_to_be_greater_than_b": f"`{kw.get('column_A')}` is greater than {'or equal to ' if kw.get('or_equal') else ''}`{kw.get('column_B')}`",
    }.get(
        kind,
        f"{kind.removeprefix('expect_').replace('_', ' ')} ({', '.join(f'{k}={v!r}' for k, v in kw.items())})",
    )
    mostly = kw.get("mostly")
    if mostly is not None and mostly < 1:
        text += f", in at least {mostly * 100:g}% of rows"
    return text


def _span(low: Any, high: Any) -> str:
    if low is not None and high is not None:
        return f"between {low:g} and {high:g}" if _num(low) and _num(high) else f"between {low} and {high}"
    if low is not None:
        return f"at least {low}"
    if high is not None:
        return f"at most {high}"
    return "anything"


def _num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
