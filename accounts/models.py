"""Who is who: teams, their members' roles, and the API tokens that stand for a user."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse

from core.validators import slug_validator

# The portal's team page; catalog/urls.py registers its view under this name.
TEAM_PAGE = "team-detail"


class Team(models.Model):
    slug = models.CharField(max_length=64, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    members: models.ManyToManyField[Any, Any] = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="teams"
    )

    class Meta:
        db_table = "datasets_team"
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    def get_absolute_url(self) -> str:
        return reverse(TEAM_PAGE, args=[self.slug])


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner"
        MAINTAINER = "maintainer"
        MEMBER = "member"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "datasets_membership"
        ordering = ["team", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="membership_unique_user_per_team"),
            models.CheckConstraint(
                condition=Q(role__in=["owner", "maintainer", "member"]),
                name="membership_role_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} as {self.role}"


# Writing to a team's datasets (editing cards, uploading versions, suites, aliases) takes one of
# these roles; owners alone manage members and decide access requests.
WRITER_ROLES = (Membership.Role.OWNER, Membership.Role.MAINTAINER)


def role_may_write(role: str) -> bool:
    return role in WRITER_ROLES


def role_may_manage(role: str) -> bool:
    """Owners manage the team (members, webhooks), decide access requests and read its audit log."""
    return role == Membership.Role.OWNER


class ApiToken(models.Model):
    """A named, expiring, revocable API token. Only its sha256 is stored; the token is shown once.

    A token acts as its user, narrowed by its scope and, optionally, to one team."""

    class Scope(models.TextChoices):
        READ = "read", "read: pull and browse"
        WRITE = "write", "write: also change datasets"
        ADMIN = "admin", "admin: also manage teams and members"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    # No default: every way of issuing a token chooses one (tokens from before scopes were migrated
    # to admin, the rights they always had).
    scope = models.CharField(max_length=8, choices=Scope.choices)
    # Deleting the team deletes its tokens: a limited token must never outlive its limit.
    team = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="api_tokens",
        help_text="When set, the token changes only this team's datasets and members",
    )
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12, help_text="The first characters, to recognise a token")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "catalog_apitoken"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(scope__in=["read", "write", "admin"]), name="apitoken_scope_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def allows(self, scope: str) -> bool:
        """Whether this token's scope includes `scope` (admin includes write, write includes read)."""
        return SCOPE_RANK[self.scope] >= SCOPE_RANK[scope]


SCOPE_RANK: dict[str, int] = {ApiToken.Scope.READ: 0, ApiToken.Scope.WRITE: 1, ApiToken.Scope.ADMIN: 2}


class Preferences(models.Model):
    """What a user chose about Granary's messages to them; no row means the defaults."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="granary_preferences"
    )
    email_notifications = models.BooleanField(
        default=True, help_text="Email me of access requests to decide, and of decisions on mine"
    )

    class Meta:
        verbose_name_plural = "preferences"

    def __str__(self) -> str:
        return f"preferences of {self.user}"
