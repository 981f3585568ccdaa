"""The API's gate: who may call it at all, and what an API token's scope lets it change.
Per-dataset rights are decided by the selectors."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from accounts.models import ApiToken, Team
from accounts.scopes import token_scope_check, token_team_check
from accounts.selectors import user_may_browse
from datasets.models import Dataset

READ, WRITE, ADMIN = ApiToken.Scope.READ, ApiToken.Scope.WRITE, ApiToken.Scope.ADMIN

# What a token needs to call each endpoint that changes something (by URL name), and the words its
# 403 uses. Reading (GET, HEAD, OPTIONS) needs `read`. An endpoint missing here needs `admin`, so
# a new one stays closed to narrower tokens until it is named here.
CHANGES: dict[str, tuple[str, str]] = {
    "api-checkout-list": (READ, "pinning a checkout"),  # a pull records what it pinned
    "api-query": (READ, "running queries"),  # a POST only to carry the SQL: it reads
    # A token issues and revokes only tokens no wider than itself (accounts.scopes).
    "api-token-list": (READ, "issuing tokens"),
    "api-token-detail": (READ, "revoking tokens"),
    "api-preferences": (READ, "changing your preferences"),  # the user's own, like their tokens
    "api-dataset-list": (WRITE, "registering datasets"),
    "api-dataset-detail": (WRITE, "changing datasets"),
    "api-version-list": (WRITE, "uploading versions"),
    "api-direct-upload-list": (WRITE, "uploading versions"),
    "api-direct-upload-detail": (WRITE, "aborting uploads"),
    "api-direct-upload-complete": (WRITE, "uploading versions"),
    "api-suite": (WRITE, "changing suites"),
    "api-validations": (WRITE, "running validations"),
    "api-column-docs": (WRITE, "documenting columns"),
    "api-alias-detail": (WRITE, "moving aliases"),
    "api-access-request-list": (WRITE, "asking for access"),
    "api-access-request-decision": (WRITE, "deciding access requests"),
    "api-lineage": (WRITE, "reporting lineage"),
    "api-dataset-external-names": (WRITE, "linking lineage names"),
    "api-dataset-external-name": (WRITE, "unlinking lineage names"),
    "api-team-list": (ADMIN, "creating teams"),
    "api-team-detail": (ADMIN, "renaming teams"),
    "api-team-members": (ADMIN, "managing team members"),
    "api-team-member": (ADMIN, "managing team members"),
}
# Endpoints whose `slug` is a team's (the others' is a dataset's).
TEAM_SLUGS = {"api-team-detail", "api-team-members", "api-team-member"}
# An OpenLineage event names its own datasets: each output is checked as it is resolved
# (datasets.access asks accounts.scopes.token_may_change).
EACH_DATASET = {"api-lineage"}


class PortalAccess(BasePermission):
    """Signed-in users may call the API; anonymous visitors may read only with anonymous read on."""

    message = "Sign in, or send an API token as 'Authorization: Bearer <token>'."

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.user and request.user.is_authenticated:
            return True
        return request.method in SAFE_METHODS and user_may_browse(request.user)


class TokenScope(BasePermission):
    """What an API token may change: its scope, and its team when it is limited to one. Portal
    sessions and anonymous visitors pass; a refusal is a 403 `token_scope` naming the scope."""

    def has_permission(self, request: Request, view: Any) -> bool:
        token = request_token(request)
        if token is None or request.method in SAFE_METHODS:
            return True
        name = request.resolver_match.url_name if request.resolver_match else None
        need, what = CHANGES.get(name or "", (ADMIN, "this change"))
        token_scope_check(token=token, need=need, what=what)
        if token.team_id is not None and need != READ and name not in EACH_DATASET:
            token_team_check(token=token, team_id=_team_of(request, view, name), what=what)
        return True


def request_token(request: Request) -> ApiToken | None:
    """The API token the request came with; None for a portal session or a visitor."""
    return request.auth if isinstance(request.auth, ApiToken) else None


def _team_of(request: Request, view: Any, name: str | None) -> int | None:
    """The id of the team a change is about; None for a new team or an endpoint we cannot place.
    A team or dataset that does not exist counts as another team's (0), so the 403 for it is the
    same as for one that does and says nothing about which exist."""
    if name == "api-dataset-list":  # registering: the team is named in the body
        data = request.data
        team = str(data.get("team") or "") if isinstance(data, dict) else ""
        return Team.objects.filter(slug=team).values_list("pk", flat=True).first() or 0
    slug = getattr(view, "kwargs", {}).get("slug")
    if slug is None:
        return None
    if name in TEAM_SLUGS:
        return Team.objects.filter(slug=slug).values_list("pk", flat=True).first() or 0
    return Dataset.objects.filter(slug=slug).values_list("team_id", flat=True).first() or 0
