"""Template filters that only format: numbers and byte sizes (catalog.presentation.numbers says
how) and the code spans of check descriptions."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

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


@register.filter
def code_spans(text: Any) -> SafeString:
    """Markdown's `code` spans as <code>, the rest escaped: check descriptions write column names
    so (`age` is never null), in the portal and in the API alike."""
    parts = str(text).split("`")
    if len(parts) % 2 == 0:  # an unmatched backtick: show the text as it is
        return escape(text)
    return mark_safe(  # noqa: S308 (every part is escaped)
        "".join(
            escape(part) if i % 2 == 0 else f"<code>{escape(part)}</code>" for i, part in enumerate(parts)
        )
    )
