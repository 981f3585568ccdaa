"""Where a change came from: the client address of the request being served, if any.

Services record events without being handed the request; the middleware puts the address here for
the length of a request (a context variable, so threads and async tasks each see their own).
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

from django.http import HttpRequest, HttpResponseBase

from core.http import client_address

client_ip: ContextVar[str | None] = ContextVar("granary_client_ip", default=None)


class ClientAddressMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        token = client_ip.set(client_address(request))
        try:
            return self.get_response(request)
        finally:
            client_ip.reset(token)
