"""DRF authentication by API token: `Authorization: Bearer <token>`, or HTTP Basic with the token
as the password (for tools that only speak Basic, such as mlcroissant's downloader)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts.services import PREFIX, token_authenticate


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, None] | None:
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
        user = token_authenticate(secret=secret)
        if user is None:
            raise exceptions.AuthenticationFailed("The token is invalid, expired or revoked.")
        return (user, None)

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


def _basic_password(credentials: str) -> str:
    """The password of Basic credentials (`user:password`, base64); the user name is ignored."""
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise exceptions.AuthenticationFailed("Malformed Basic credentials.") from None
    return decoded.partition(":")[2]
