"""Requests: the one a view sees once the login gate has let it through, and where it came from."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.contrib.auth.models import User
from django.http import HttpRequest


class AuthenticatedHttpRequest(HttpRequest):
    """An HttpRequest whose user is signed in: for type checking only, nothing checks it at run time.

    Views behind the login gate annotate their request with it instead of casting the user.
    """

    user: User


def client_address(request: HttpRequest) -> str | None:
    """The client's IP address: the connection's, or with GRANARY_TRUSTED_PROXIES = n, the n-th
    X-Forwarded-For entry from the right. Each trusted proxy appends the address it received the
    request from, so only those last n entries are facts; anything left of them the client wrote."""
    remote = request.META.get("REMOTE_ADDR") or None
    hops: int = getattr(settings, "GRANARY_TRUSTED_PROXIES", 0)
    if hops <= 0:
        return remote
    forwarded = [entry.strip() for entry in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [entry for entry in forwarded if entry]
    if not forwarded:
        return remote  # reached us without passing the proxy (a health check on the host itself)
    # Fewer entries than proxies: the request skipped an outer proxy, so every entry is a proxy's.
    candidate = forwarded[-min(hops, len(forwarded))]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote
