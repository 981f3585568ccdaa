"""API tokens: issue, check and revoke. Tokens are random, stored only as their sha256."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.utils import timezone

from catalog.models import ApiToken
from datasets.errors import InvalidInput, NotFound, NotSignedIn

PREFIX = "gra_"


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # shown once to the user, never stored


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def token_create(*, user: User, name: str, days: int | None = None) -> IssuedToken:
    name = name.strip()
    if not name:
        raise InvalidInput("Give the token a name, e.g. the laptop or job that will use it.", field="name")
    if len(name) > 100:
        raise InvalidInput("The name is longer than 100 characters.", field="name")
    days = settings.GRANARY_TOKEN_DAYS if days is None else days
    if not 1 <= days <= 3650:
        raise InvalidInput("A token lives between 1 and 3650 days.", field="days")
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        key_hash=_hash(secret),
        prefix=secret[:10],
        expires_at=timezone.now() + timedelta(days=days),
    )
    return IssuedToken(token=token, secret=secret)


def token_exchange(*, username: str, password: str, name: str = "") -> IssuedToken:
    """A new token for a username and password (what `granary login` uses)."""
    user = authenticate(username=username, password=password)
    if user is None or not user.is_active:
        raise NotSignedIn("The username or password is wrong.")
    return token_create(user=user, name=name or f"login {timezone.now():%Y-%m-%d %H:%M}")


def token_authenticate(*, secret: str) -> User | None:
    """The active user behind a valid, unexpired, unrevoked token, or None."""
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=_hash(secret), revoked_at__isnull=True, expires_at__gt=timezone.now())
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    # Recording every use would make each API call a write; a minute's precision is plenty.
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


def token_revoke(*, user: User, token_id: int) -> ApiToken:
    token = ApiToken.objects.filter(pk=token_id, user_id=user.pk).first()
    if token is None:
        raise NotFound(f"You have no token {token_id}.")
    if token.revoked_at is None:
        ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        token.refresh_from_db()
    return token


def tokens_of(*, user: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user_id=user.pk).order_by("-created_at")
