"""Runs Django field validators inside services, turning their errors into InvalidInput."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError

from core.errors import InvalidInput


def validate(validator: Callable[[Any], None], value: Any, *, field: str) -> None:
    try:
        validator(value)
    except ValidationError as exc:
        raise InvalidInput(" ".join(exc.messages), field=field) from None


# 18 digits always fit the databases' signed 64-bit integers; longer ones overflow them (or, past
# 4,300 digits, Python's int() itself), so they are refused as input, not passed on.
MAX_DIGITS = 18


def whole_number(raw: object) -> int | None:
    """`raw` as a non-negative integer if it is one written in ASCII digits that a database column
    can hold; None otherwise (`str.isdigit` alone accepts '²' and numbers of any length)."""
    text = str(raw)
    if not (text.isascii() and text.isdigit()) or len(text.lstrip("0")) > MAX_DIGITS:
        return None
    return int(text)
