"""What every API module shares: the signed-in user, a validated body, a boolean query parameter."""

from __future__ import annotations

from typing import Any, cast

from django.contrib.auth.models import User
from rest_framework.request import Request

from core.errors import InvalidInput


def valid(serializer_class: type[Any], request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def boolean(value: str | None) -> bool | None:
    if value is None or value == "":
        return None
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise InvalidInput(f"'{value}' is not true or false.", field="certified")


def me(request: Request) -> User:
    """The user of a request that the API's permission let through (signed in)."""
    return cast(User, request.user)
