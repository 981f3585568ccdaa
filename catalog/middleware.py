"""Turns domain errors raised under portal pages into the right page (the API has its own handler)."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from core.errors import GranaryError, NotSignedIn


class DomainErrorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, GranaryError) or request.path.startswith("/api/"):
            return None
        if isinstance(exception, NotSignedIn):
            return redirect_to_login(request.get_full_path())
        return render(
            request,
            "error.html",
            {"status": exception.status, "detail": exception.detail},
            status=exception.status,
        )
