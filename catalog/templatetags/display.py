"""Template filters for numbers and byte sizes (catalog.presentation.numbers says how)."""

from __future__ import annotations

from typing import Any

from django import template

from catalog.presentation.numbers import bytes_text, number_text

register = template.Library()


@register.filter
def number(value: Any) -> str:
    """A statistic with the precision it has: `1999999.5`, `1154700.54`, `0.0123`, `42`."""
    return number_text(value)


@register.filter
def bytesize(value: Any) -> str:
    """A size in IEC units, as the upload progress writes it: `46.7 KiB`, `229.2 MiB`."""
    return bytes_text(value)
