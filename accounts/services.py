"""Writes for teams, their memberships, and API tokens (random, stored only as their sha256)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from axes.helpers import get_lockout_message
from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import ApiToken, Membership, Preferences, Team, role_may_manage
from accounts.scopes import TOKEN_ATTRIBUTE, token_covers_check
from accounts.signals import team_changed
from audit.services import audit_record
from core.errors import AccessDenied, Conflict, InvalidInput, LockedOut, NotFound, NotSignedIn
from core.validation import validate
from core.validators import slug_validator

NAME_MAX = Team._meta.get_field("name").max_length or 200


@transaction.atomic
def team_create(*, user: User, slug: str, name: str) -> Team:
    validate(slug_validator, slug, field="slug")
    if Team.objects.filter(slug=slug).exists():
        raise Conflict(f"A team '{slug}' already exists.", field="slug")
    try:
        team = Team.objects.create(slug=slug, name=name.strip() or slug)
    except IntegrityError:
        raise Conflict(f"A team '{slug}' already exists.", field="slug") from None
    Membership.objects.create(team=team, user=user, role=Membership.Role.OWNER)
    audit_record(action="team.create", actor=user, team=team, target=team.slug)
    return team


@transaction.atomic
def team_update(*, actor: User, team: Team, name: str) -> Team:
    """Rename a team (its slug stays: references and URLs use it); only its owners may. The
    datasets hear of it (`team_changed`) in the same transaction: search indexes the name."""
    _require_owner(actor=actor, team=team, what="rename it")
    name = name.strip()
    if not name:
        raise InvalidInput("A team's name may not be blank.", field="name")
    if len(name) > NAME_MAX:
        raise InvalidInput(f"A team's name is at most {NAME_MAX} characters.", field="name")
    locked = Team.objects.select_for_update().get(pk=team.pk)
    was = locked.name
    if name != was:
        locked.name = name
        locked.save(update_fields=["name"])
        audit_record(
            action="team.update",
            actor=actor,
            team=locked,
            target=locked.slug,
            detail={"from": was, "to": name},
        )
        team_changed.send(sender=Team, team_id=locked.pk)
    return locked


@transaction.atomic
def membership_set(*, actor: User, team: Team, username: str, role: str) -> Membership:
    """Add a member or change their role; only the team's owners may."""
    _require_owner(actor=actor, team=team)
    _check_role(role)
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise NotFound(f"No user '{username}'.", field="username")
    current = Membership.objects.select_for_update().filter(team=team, user=user).first()
    if current and current.role == Membership.Role.OWNER and role != Membership.Role.OWNER:
        _keep_an_owner(team=team, leaving=current)
    membership, _ = Membership.objects.update_or_create(team=team, user=user, defaults={"role": role})
    audit_record(action="member.set", actor=actor, team=team, target=username, detail={"role": role})
    return membership


@transaction.atomic
def membership_role_change(*, actor: User, team: Team, username: str, role: str) -> Membership:
    """Change a member's role. Someone who is not a member, or no longer is, is a 404: a removal
    is final, and adding someone back is membership_set's deliberate act, not a role change's."""
    _require_owner(actor=actor, team=team)
    _check_role(role)
    membership = (
        Membership.objects.select_for_update()
        .select_related("user")
        .filter(team=team, user__username=username)
        .first()
    )
    if membership is None:
        raise NotFound(f"'{username}' is not a member of {team.slug}.")
    if membership.role == Membership.Role.OWNER and role != Membership.Role.OWNER:
        _keep_an_owner(team=team, leaving=membership)
    was = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    audit_record(
        action="member.role", actor=actor, team=team, target=username, detail={"from": was, "to": role}
    )
    return membership


@transaction.atomic
def membership_remove(*, actor: User, team: Team, username: str) -> None:
    _require_owner(actor=actor, team=team)
    membership = Membership.objects.select_for_update().filter(team=team, user__username=username).first()
    if membership is None:
        raise NotFound(f"'{username}' is not a member of {team.slug}.")
    if membership.role == Membership.Role.OWNER:
        _keep_an_owner(team=team, leaving=membership)
    membership.delete()
    audit_record(action="member.remove", actor=actor, team=team, target=username)


def _require_owner(*, actor: User, team: Team, what: str = "change its members") -> None:
    if getattr(actor, "is_superuser", False):
        return
    membership = Membership.objects.filter(team=team, user_id=actor.pk).only("role").first()
    if membership is None or not role_may_manage(membership.role):
        raise AccessDenied(f"Only owners of {team.slug} may {what}.")


def _check_role(role: str) -> None:
    if role not in Membership.Role.values:
        raise InvalidInput(f"'{role}' is not a role: use owner, maintainer or member.", field="role")


def _keep_an_owner(*, team: Team, leaving: Membership) -> None:
    others = Membership.objects.filter(team=team, role=Membership.Role.OWNER).exclude(pk=leaving.pk)
    if not others.exists():
        raise Conflict(f"{team.slug} must keep at least one owner.")


# --- API tokens ---------------------------------------------------------------------------------

PREFIX = "gra_"
# Why a lifetime is refused, with the limit as {max_value} (the API's serializer says it too).
LIFETIME_LIMIT = (
    "A token lives at most {max_value} days here (GRANARY_TOKEN_MAX_DAYS): ask for {max_value} or fewer."
)


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # shown once to the user, never stored


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def token_create(
    *,
    user: User,
    name: str,
    days: int | None = None,
    scope: str = ApiToken.Scope.READ,
    team: str = "",
    issuer: ApiToken | None = None,
) -> IssuedToken:
    """A new token for `user`: read-only unless `scope` says more, limited to `team` (the slug of
    one of the user's teams) when given. `issuer` is the token the request came with, if any: a
    token issues no token wider than itself, nor one that outlives it (its expiry caps theirs), so
    revoking a stolen token also ends what it issued in time."""
    name = name.strip()
    if not name:
        raise InvalidInput("Give the token a name, e.g. the laptop or job that will use it.", field="name")
    if len(name) > 100:
        raise InvalidInput("The name is longer than 100 characters.", field="name")
    days = settings.GRANARY_TOKEN_DAYS if days is None else days
    longest: int = settings.GRANARY_TOKEN_MAX_DAYS
    if days < 1:
        raise InvalidInput("A token lives at least 1 day.", field="days")
    if days > longest:
        raise InvalidInput(LIFETIME_LIMIT.format(max_value=longest), field="days")
    if scope not in ApiToken.Scope.values:
        raise InvalidInput(f"'{scope}' is not a scope: use read, write or admin.", field="scope")
    limited_to = _token_team(user=user, slug=team) if team else None
    if issuer is not None:
        token_covers_check(
            token=issuer, scope=scope, team_id=limited_to.pk if limited_to else None, verb="issuing"
        )
    expires_at = timezone.now() + timedelta(days=days)
    if issuer is not None:
        expires_at = min(expires_at, issuer.expires_at)
    secret = PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name,
            scope=scope,
            team=limited_to,
            key_hash=_hash(secret),
            prefix=secret[:10],
            expires_at=expires_at,
        )
        audit_record(
            action="token.create",
            actor=user,
            team=limited_to,
            target=f"{name} ({token.prefix}…)",
            detail={"scope": scope, "days": days},
        )
    return IssuedToken(token=token, secret=secret)


def _token_team(*, user: User, slug: str) -> Team:
    team = Team.objects.filter(slug=slug).first()
    if team is None:
        raise NotFound(f"No team '{slug}'.", field="team")
    if not user.is_superuser and not Membership.objects.filter(team=team, user_id=user.pk).exists():
        raise InvalidInput(
            f"You are not a member of {slug}: a token limited to it could change nothing.", field="team"
        )
    return team


def token_exchange(
    *,
    request: HttpRequest,
    username: str,
    password: str,
    name: str = "",
    scope: str = ApiToken.Scope.READ,
    team: str = "",
) -> IssuedToken:
    """A new token for a username and password (what `granary login` uses).

    The password is checked with the request, as the portal's form does, so each failure counts
    towards the same per-account and per-address limits (django-axes) and a locked account or
    address is refused before its password is compared."""
    user = authenticate(request, username=username, password=password)
    if getattr(request, "axes_locked_out", False):
        raise LockedOut(get_lockout_message())
    if user is None or not user.is_active:
        raise NotSignedIn("The username or password is wrong.")
    name = name or f"login {timezone.now():%Y-%m-%d %H:%M}"
    return token_create(user=user, name=name, scope=scope, team=team)


def token_authenticate(*, secret: str) -> ApiToken | None:
    """The valid (unexpired, unrevoked) token of an active user, or None. Its user carries it
    (`accounts.scopes.token_of`), so rights checks can narrow what the user may do to its scope."""
    token = (
        ApiToken.objects.select_related("user", "team")
        .filter(key_hash=_hash(secret), revoked_at__isnull=True, expires_at__gt=timezone.now())
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    # Recording every use would make each API call a write; a minute's precision is plenty.
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    setattr(token.user, TOKEN_ATTRIBUTE, token)
    return token


def token_revoke(*, user: User, token_id: int, by: ApiToken | None = None) -> ApiToken:
    """Revoke one of the user's tokens. `by` is the token the request came with, if any: a token
    revokes no token wider than itself (itself included, to sign out)."""
    token = ApiToken.objects.filter(pk=token_id, user_id=user.pk).first()
    if token is None:
        raise NotFound(f"You have no token {token_id}.")
    if by is not None:
        token_covers_check(token=by, scope=token.scope, team_id=token.team_id, verb="revoking")
    if token.revoked_at is None:
        with transaction.atomic():
            revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
                revoked_at=timezone.now()
            )
            if revoked:
                audit_record(
                    action="token.revoke",
                    actor=user,
                    team=token.team,
                    target=f"{token.name} ({token.prefix}…)",
                )
        token.refresh_from_db()
    return token


def preferences_set(*, user: User, email_notifications: bool) -> Preferences:
    preferences, _ = Preferences.objects.update_or_create(
        user=user, defaults={"email_notifications": email_notifications}
    )
    return preferences
