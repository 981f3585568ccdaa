"""Reads about people: who is signed in, their teams and roles, their API tokens."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import QuerySet

from accounts.models import WRITER_ROLES, ApiToken, Membership, Preferences, Team
from core.errors import AccessDenied, NotFound, NotSignedIn
from core.types import AnyUser


def is_signed_in(user: AnyUser) -> bool:
    return bool(user.is_authenticated and user.is_active)


def user_may_browse(user: AnyUser) -> bool:
    """Whether this visitor may see any of the portal or API beyond the login page."""
    return is_signed_in(user) or settings.GRANARY_ANONYMOUS_READ


def user_pk(user: AnyUser) -> int:
    return int(user.pk or 0)


def team_ids_of(user: AnyUser) -> QuerySet[Membership, Any]:
    """The user's teams as a subquery (rather than a join, so no row of the outer query appears
    twice and counts stay right)."""
    return Membership.objects.filter(user_id=user_pk(user)).values("team_id")


def team_role(*, user: AnyUser, team: Team) -> str:
    if not is_signed_in(user):
        return ""
    membership = Membership.objects.filter(team=team, user_id=user_pk(user)).only("role").first()
    return membership.role if membership else ""


def user_roles(*, user: AnyUser) -> dict[int, str]:
    """The user's role in each of their teams, by team id."""
    if not is_signed_in(user):
        return {}
    return dict(Membership.objects.filter(user_id=user_pk(user)).values_list("team_id", "role"))


def teams_visible_to(*, user: AnyUser) -> QuerySet[Team]:
    """Team names are no secret among signed-in users: anyone may ask to join one."""
    if not is_signed_in(user):
        return Team.objects.none()
    return Team.objects.order_by("slug")


def teams_of(*, user: AnyUser) -> QuerySet[Team]:
    if not is_signed_in(user):
        return Team.objects.none()
    return Team.objects.filter(memberships__user_id=user_pk(user)).distinct()


def teams_writable_by(*, user: AnyUser) -> QuerySet[Team]:
    """Teams in which the user may register datasets (maintainer or owner)."""
    if not is_signed_in(user):
        return Team.objects.none()
    return Team.objects.filter(
        memberships__user_id=user_pk(user), memberships__role__in=WRITER_ROLES
    ).distinct()


def team_get(*, user: AnyUser, slug: str) -> Team:
    if not is_signed_in(user):
        raise NotSignedIn("Sign in to see teams.")
    team = Team.objects.filter(slug=slug).first()
    if team is None:
        raise NotFound(f"No team '{slug}'.")
    return team


def team_members_visible(*, user: AnyUser, team: Team) -> bool:
    """Who is in a team is for its members (and superusers) to see: to anyone else a member list
    says whose password to guess and whom to ask for a restricted dataset's data."""
    if not is_signed_in(user):
        return False
    if getattr(user, "is_superuser", False):
        return True
    return Membership.objects.filter(team=team, user_id=user_pk(user)).exists()


def team_members(*, user: AnyUser, team: Team) -> QuerySet[Membership]:
    if not team_members_visible(user=user, team=team):
        raise AccessDenied(f"Only members of {team.slug} see who is in it.")
    return team.memberships.select_related("user").order_by("user__username")


def tokens_of(*, user: AnyUser) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user_id=user_pk(user)).select_related("team").order_by("-created_at")


def team_ids_managed_by(*, user: AnyUser) -> QuerySet[Membership, Any]:
    """The teams the user owns, as a subquery (see role_may_manage)."""
    return Membership.objects.filter(user_id=user_pk(user), role=Membership.Role.OWNER).values("team_id")


def team_owners(*, team: Team) -> list[User]:
    """The people who manage a team (see role_may_manage): who hears of its access requests."""
    owners = Membership.objects.filter(team=team, role=Membership.Role.OWNER).select_related("user")
    return [membership.user for membership in owners]


def owners_of_teams_of(*, user: AnyUser) -> dict[Team, list[str]]:
    """The owners of each of the user's teams, by team: whom to ask for the maintainer role."""
    owners: dict[Team, list[str]] = {}
    rows = (
        Membership.objects.filter(team_id__in=team_ids_of(user), role=Membership.Role.OWNER)
        .select_related("team", "user")
        .order_by("team__slug", "user__username")
    )
    for membership in rows:
        owners.setdefault(membership.team, []).append(membership.user.username)
    return owners


def preferences_of(*, user: User) -> Preferences:
    """The user's preferences: their row, or the defaults (unsaved) when they never chose."""
    return Preferences.objects.filter(user=user).first() or Preferences(user=user)
