"""Reads Granary's configuration from the environment, failing at start with the variable's name."""

from __future__ import annotations

import os
import re
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_SIZE = re.compile(r"^\s*(\d+)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean: use true or false.")


def env_size(name: str, default: int) -> int:
    """A byte count, plain (`1048576`) or with a binary unit (`500M`, `5G`, `5GiB`)."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    match = _SIZE.match(raw)
    if not match:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a size: use bytes, or a unit as in 500M or 5G.")
    unit = (match.group(2) or "").lower()[:1]
    size = int(match.group(1)) * _UNITS[unit]
    if size <= 0:
        raise ImproperlyConfigured(f"{name}={raw!r} must be greater than zero.")
    return size


def env_int(name: str, default: int, *, minimum: int = 1) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number.") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={raw!r} must be at least {minimum}.")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    items = [item.strip() for item in raw.split(",") if item.strip()]
    if not items:
        raise ImproperlyConfigured(f"{name} is set but empty: list at least one value, comma-separated.")
    return items


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = os.environ.get(name, default).strip().lower()
    if value not in choices:
        raise ImproperlyConfigured(
            f"{name}={value!r} must be one of: {', '.join(c or '(empty)' for c in choices)}."
        )
    return value


def env_database(name: str, default: str) -> dict[str, Any]:
    raw = os.environ.get(name, default)
    try:
        config = environ.Env.db_url_config(raw)
    except Exception as exc:  # django-environ raises several types for a bad URL
        raise ImproperlyConfigured(f"{name}={raw!r} is not a database URL: {exc}") from None
    engine = config.get("ENGINE", "")
    if engine not in {"django.db.backends.sqlite3", "django.db.backends.postgresql"}:
        raise ImproperlyConfigured(
            f"{name}={raw!r}: Granary supports sqlite:/// and postgres:// URLs, not {engine or 'this scheme'}."
        )
    return dict(config)


def env_redis_url(name: str, default: str) -> str:
    value = os.environ.get(name, default)
    if not re.match(r"^rediss?://", value):
        raise ImproperlyConfigured(
            f"{name}={value!r} is not a Redis URL: it must start with redis:// or rediss://."
        )
    return value
