"""Writes for teams and their memberships."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from datasets.errors import AccessDenied, Conflict, InvalidInput, NotFound
from datasets.models import Membership, Team, slug_validator
from datasets.services.validation import validate


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
    return team


@transaction.atomic
def membership_set(*, actor: User, team: Team, username: str, role: str) -> Membership:
    """Add a member or change their role; only the team's owners may."""
    _require_owner(actor=actor, team=team)
    if role not in Membership.Role.values:
        raise InvalidInput(f"'{role}' is not a role: use owner, maintainer or member.", field="role")
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise NotFound(f"No user '{username}'.", field="username")
    current = Membership.objects.select_for_update().filter(team=team, user=user).first()
    if current and current.role == Membership.Role.OWNER and role != Membership.Role.OWNER:
        _keep_an_owner(team=team, leaving=current)
    membership, _ = Membership.objects.update_or_create(team=team, user=user, defaults={"role": role})
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


def _require_owner(*, actor: User, team: Team) -> None:
    if getattr(actor, "is_superuser", False):
        return
    if not Membership.objects.filter(team=team, user_id=actor.pk, role=Membership.Role.OWNER).exists():
        raise AccessDenied(f"Only owners of {team.slug} may change its members.")


def _keep_an_owner(*, team: Team, leaving: Membership) -> None:
    others = Membership.objects.filter(team=team, role=Membership.Role.OWNER).exclude(pk=leaving.pk)
    if not others.exists():
        raise Conflict(f"{team.slug} must keep at least one owner.")
