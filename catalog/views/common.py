"""What the portal's views share: the gate for pages open to anonymous readers, a redirect htmx
follows, and the one way a posted form reaches a service."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect

from accounts.selectors import user_may_browse
from catalog.forms import ServiceErrorsMixin
from core.errors import GranaryError

View = Callable[..., HttpResponseBase]
Result = TypeVar("Result")


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


def form_submit(
    request: HttpRequest,
    form: ServiceErrorsMixin,
    action: Callable[[dict[str, Any]], Result],
    *,
    success: str | Callable[[Result], str] = "",
) -> Result | None:
    """Hand a posted, valid form's data to a service: what it returns (after flashing `success`),
    or None when the form or the service refused (the service's error is then on the form)."""
    if request.method != "POST" or not form.is_valid():
        return None
    try:
        result = action(form.cleaned_data)
    except GranaryError as exc:
        form.add_service_error(exc)
        return None
    text = success(result) if callable(success) else success
    if text:
        messages.success(request, text)
    return result
