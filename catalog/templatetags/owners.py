"""Template helpers for what waits on a dataset's owners."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def pending_requests_of(context: template.Context, dataset: Any) -> int:
    """How many access requests for `dataset` wait for the signed-in user's decision (0 for
    anyone who decides none): from the page's one grouped count."""
    pending = context.get("pending_requests")
    return pending.of(dataset.pk) if pending is not None else 0
