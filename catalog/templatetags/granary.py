"""Template helpers that only format: JSON-LD embedded safely in a page."""

from __future__ import annotations

import json
from typing import Any

from django import template
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

# As django.utils.html.json_script: nothing in the data can close the script element.
_ESCAPES = {ord(">"): "\\u003E", ord("<"): "\\u003C", ord("&"): "\\u0026"}


@register.simple_tag
def ld_json(data: Any) -> SafeString:
    """`<script type="application/ld+json">` holding `data`, for search engines and crawlers."""
    text = json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False).translate(_ESCAPES)
    return format_html('<script type="application/ld+json">{}</script>', mark_safe(text))  # noqa: S308


@register.filter
def get_item(mapping: dict[Any, Any], key: Any) -> Any:
    """`mapping[key]`, or an empty list when it is missing (for lists looked up by id)."""
    return mapping.get(key, []) if mapping else []
