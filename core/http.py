"""The request a view sees once the login gate (or the API's permission) has let it through."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import HttpRequest


class AuthenticatedHttpRequest(HttpRequest):
    """An HttpRequest whose user is signed in: for type checking only, nothing checks it at run time.

    Views behind the login gate annotate their request with it instead of casting the user.
    """

    user: User
