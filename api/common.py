"""What every API module shares: the signed-in user, a validated body, a boolean query parameter,
body fields for slugs and tags that the schema documents with their pattern, and JSON types kept."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from django.contrib.auth.models import User
from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request

from core.errors import InvalidInput
from core.validators import SLUG_PATTERN, slug_validator

# core's slug pattern ends in `$`, which in Python also matches before a final newline; `\Z` does
# not, so the body is checked exactly as the schema (where it becomes `$` again) states it.
_STRICT_SLUG = RegexValidator(SLUG_PATTERN.removesuffix("$") + r"\Z", slug_validator.message)
# Tags are slugs in any case: the service lowercases them.
_TAG = RegexValidator(SLUG_PATTERN.replace("a-z", "a-zA-Z").removesuffix("$") + r"\Z", slug_validator.message)


# Holds a character that is not whitespace as Python's str.strip() sees it (which is not quite
# JavaScript's \s): names that services strip must not be blank after it.
NOT_BLANK = r"[^\t\n\v\f\r \u001c-\u001f\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
not_blank = RegexValidator(NOT_BLANK, "This field may not be blank.")


def slug_field(**kwargs: Any) -> serializers.CharField:
    """A new slug (a dataset's, a team's): not trimmed, so what the pattern refuses is refused."""
    return serializers.CharField(max_length=64, trim_whitespace=False, validators=[_STRICT_SLUG], **kwargs)


def tag_field() -> serializers.CharField:
    return serializers.CharField(max_length=64, trim_whitespace=False, validators=[_TAG])


@extend_schema_field({"oneOf": [{"type": "integer", "minimum": 1}, {"type": "string", "minLength": 1}]})
class VersionRefField(serializers.CharField):
    """A version: its number (3) or any reference to it (latest, prod, sha256:…)."""


class JsonTypes:
    """A body field takes the JSON type the schema gives it, and no other: DRF alone would read 1
    as "1" for a string, "yes" as true for a boolean and "5" as 5 for a number, accepting what the
    schema calls invalid. For serializers of JSON bodies (mixed in before the Serializer)."""

    fields: Any

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            errors = {
                name: [problem]
                for name, field in self.fields.items()
                if not field.read_only and name in data
                for problem in [_wrong_type(field, data[name])]
                if problem
            }
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)  # type: ignore[misc]


def _wrong_type(field: serializers.Field, value: Any) -> str | None:
    if value is None:
        return None  # allow_null decides
    if isinstance(field, VersionRefField):
        ok = isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
        return None if ok else "Not a version number or reference."
    if isinstance(field, serializers.CharField | serializers.ChoiceField):
        return None if isinstance(value, str) else "Not a string."
    if isinstance(field, serializers.BooleanField):
        return None if isinstance(value, bool) else "Not true or false."
    if isinstance(field, serializers.IntegerField):
        return None if isinstance(value, int) and not isinstance(value, bool) else "Not a whole number."
    if isinstance(field, serializers.FloatField):
        return None if isinstance(value, int | float) and not isinstance(value, bool) else "Not a number."
    if isinstance(field, serializers.ListField):
        if not isinstance(value, list):
            return "Not a list."
        return next(filter(None, (_wrong_type(field.child, item) for item in value)), None)
    return None


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
