"""Request hygiene before any view runs: addresses with NUL characters are refused."""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import unquote

from django.http import HttpRequest, HttpResponse


class RefuseNulMiddleware:
    """A NUL (%00) in the path or the query string is a 400. PostgreSQL refuses NUL in text, so a
    search, a slug or a reference holding one would otherwise reach the database and fail there
    (a 500); no name, reference or search term in Granary can contain one."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        query = unquote(request.META.get("QUERY_STRING", ""))
        if "\x00" not in request.path and "\x00" not in query:
            return self.get_response(request)
        message = "The address holds a NUL character (%00)."
        if request.path.startswith("/api/"):
            body = json.dumps({"code": "bad_request", "detail": message})
            return HttpResponse(body, status=400, content_type="application/json")
        return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")
