"""Display helpers for lineage pages."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def web_link(url: str) -> str:
    """The URL if a browser can open it safely (http or https), else "": code URLs come from users
    and pipelines, and a `javascript:` one must never become a link."""
    return url if url.lower().startswith(("https://", "http://")) else ""
