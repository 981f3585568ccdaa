"""What an API token may do: its scope (read, write, admin) and its team limit, checked in one place.

A token acts as its user, narrowed: `read` pulls and browses, `write` also changes datasets,
`admin` also manages teams and members; a token limited to a team changes only that team's
datasets and members (it still reads whatever its user may read). Portal sessions carry no token
and are never narrowed. The API asks `token_scope_check` and `token_team_check` for every request
(api.permissions.TokenScope); rights checks further down ask `token_may_change` about the token
the user signed in with, which `token_authenticate` attaches to the user it returns.
"""

from __future__ import annotations

from accounts.models import ApiToken
from core.errors import TokenScopeDenied
from core.types import AnyUser

# The attribute of a user (loaded afresh for each request) that holds the token it signed in with.
TOKEN_ATTRIBUTE = "granary_api_token"  # noqa: S105 (an attribute name, not a secret)


def token_of(user: AnyUser) -> ApiToken | None:
    """The API token this request's user signed in with; None for portal sessions and visitors."""
    token = getattr(user, TOKEN_ATTRIBUTE, None)
    return token if isinstance(token, ApiToken) else None


def token_scope_check(*, token: ApiToken, need: str, what: str) -> None:
    """Refuse (403 `token_scope`) unless the token's scope includes `need`; `what` names the
    action for the message, e.g. "changing datasets"."""
    if token.allows(need):
        return
    has = "is read-only" if token.scope == ApiToken.Scope.READ else f"has the {token.scope} scope"
    raise TokenScopeDenied(f"This token {has}: {what} needs a token with the {need} scope.")


def token_team_check(*, token: ApiToken, team_id: int | None, what: str) -> None:
    """Refuse (403 `token_scope`) a team-limited token acting on another team; `team_id` None
    means no existing team (a new one, or a token without a limit)."""
    if token.team is None or token.team_id == team_id:
        return
    limited = f"This token is limited to the {token.team.slug} team"
    if team_id is None:
        raise TokenScopeDenied(f"{limited}: {what} needs a token without a team limit.")
    raise TokenScopeDenied(
        f"{limited}: {what} of another team needs a token for that team or one without a team limit."
    )


def token_covers_check(*, token: ApiToken, scope: str, team_id: int | None, verb: str) -> None:
    """Refuse a token acting on a token wider than itself (issuing or revoking one), so a narrow
    token can never widen its own reach."""
    token_scope_check(token=token, need=scope, what=f"{verb} a {scope} token")
    if token.team_id is not None and team_id != token.team_id:
        what = f"{verb} a token without that limit" if team_id is None else f"{verb} a token for another team"
        token_team_check(token=token, team_id=None, what=what)


def token_may_change(*, user: AnyUser, team_id: int) -> bool:
    """Whether the token the user signed in with (if any) lets them change a dataset of team
    `team_id`: a write or admin scope, and no limit to another team."""
    token = token_of(user)
    if token is None:
        return True
    return token.allows(ApiToken.Scope.WRITE) and token.team_id in (None, team_id)
