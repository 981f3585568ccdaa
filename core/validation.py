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
