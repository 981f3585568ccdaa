"""What the portal's views share: the gate for pages open to anonymous readers, the signed-in
user, a redirect htmx follows, and the post-a-form-to-a-service step."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.models import User
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect

from accounts.selectors import (
    user_may_browse,
)

View = Callable[..., HttpResponseBase]


def portal_page(view: View) -> View:
    """A page readable without signing in when GRANARY_ANONYMOUS_READ is on."""

    @login_not_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not user_may_browse(request.user):
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    return wrapped


def htmx_redirect(request: HttpRequest, url: str) -> HttpResponse:
    """A redirect that htmx follows as a full page load."""
    if request.headers.get("HX-Request"):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


def me(request: Any) -> User:
    """The signed-in user of a request that the gate (login or API permission) let through."""
    return cast(User, request.user)
