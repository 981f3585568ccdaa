"""Who is asking: DRF authentication by API token (`Authorization: Bearer <token>`, or HTTP Basic
with the token as the password, for tools that only speak Basic such as mlcroissant's
downloader), and the answer to a sign-in refused by the failed-attempt limits."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from axes.helpers import get_lockout_message
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts.models import ApiToken
from accounts.services import PREFIX, token_authenticate


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, secret = header.partition(" ")
        scheme = scheme.lower()
        if scheme == "basic":
            secret = _basic_password(secret)
            if not secret.startswith(PREFIX):
                return None  # a real password: not ours to check
        elif scheme not in ("bearer", "token"):
            return None
        secret = secret.strip()
        if not secret or " " in secret:
            raise exceptions.AuthenticationFailed("Malformed Authorization header: use 'Bearer <token>'.")
        token = token_authenticate(secret=secret)
        if token is None:
            raise exceptions.AuthenticationFailed("The token is invalid, expired or revoked.")
        return (token.user, token)  # request.auth: the token, whose scope api.permissions checks

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


def _basic_password(credentials: str) -> str:
    """The password of Basic credentials (`user:password`, base64); the user name is ignored."""
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise exceptions.AuthenticationFailed("Malformed Basic credentials.") from None
    return decoded.partition(":")[2]


def login_locked_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict[str, Any] | None
) -> HttpResponse:
    """django-axes' answer to a sign-in refused by the limits (its LOCKOUT_CALLABLE). The API's
    token exchange has already answered with its JSON error (429, `locked_out`); a page gets the
    sign-in page again, saying why and for how long."""
    if original_response is not None and request.path.startswith("/api/"):
        return original_response
    return render(request, "registration/locked_out.html", {"detail": get_lockout_message()}, status=429)
