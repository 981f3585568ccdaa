"""The one place that decides who may see, read, change and decide on which dataset.

Every list, page, endpoint and download reaches datasets through `datasets_visible_to` (what a
user may discover), `datasets_readable_by` (whose data they may read) and `dataset_get` /
`dataset_access` (what they may do with one). Visibility:

- public: every signed-in user (and anonymous visitors when GRANARY_ANONYMOUS_READ is on);
- internal: the owning team's members only; to anyone else it does not exist;
- restricted: every signed-in user finds its title and summary; the team sees its data, and so
  does each user whose access request a team owner approved.

Reading data and seeing a dataset differ only for restricted datasets. Writing (editing the card,
uploading versions, suites, aliases) needs the maintainer or owner role in the team; deciding
access requests needs the owner role.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, Literal

from django.conf import settings
from django.db.models import Q, QuerySet

from accounts.models import role_may_manage, role_may_write
from accounts.scopes import token_may_change
from accounts.selectors import (
    is_signed_in,
    team_ids_managed_by,
    team_ids_of,
    team_role,
    teams_writable_by,
    user_may_browse,
    user_pk,
    user_roles,
)
from core.errors import AccessDenied, NotFound, NotSignedIn
from core.types import AnyUser
from datasets.models import AccessRequest, Dataset

# What a caller needs to do with a dataset: know it exists, read its data, change it, or decide
# who else may read it.
Need = Literal["discover", "read", "write", "decide"]


@dataclass(frozen=True)
class Access:
    discover: bool = False  # knows it exists: title, summary, team
    read: bool = False  # card, versions, data
    write: bool = False  # edit, upload
    role: str = ""  # the user's role in the owning team, if any
    decide: bool = False  # approve, deny and revoke access requests: the team's owners

    @property
    def restricted_only(self) -> bool:
        return self.discover and not self.read


def datasets_visible_to(user: AnyUser) -> QuerySet[Dataset]:
    """Every dataset the user may discover (restricted ones included, by title and summary)."""
    datasets = Dataset.objects.all()
    if not is_signed_in(user):
        if settings.GRANARY_ANONYMOUS_READ:
            return datasets.filter(visibility=Dataset.Visibility.PUBLIC)
        return datasets.none()
    if getattr(user, "is_superuser", False):
        return datasets
    return datasets.filter(
        Q(visibility__in=[Dataset.Visibility.PUBLIC, Dataset.Visibility.RESTRICTED])
        | Q(team_id__in=team_ids_of(user))
    )


def datasets_readable_by(user: AnyUser) -> QuerySet[Dataset]:
    """The datasets whose versions and data the user may read."""
    readable = readable_among_visible(user)
    visible = datasets_visible_to(user)
    return visible if readable is None else visible.filter(readable)


def readable_among_visible(user: AnyUser) -> Q | None:
    """Which of the datasets the user may see (`datasets_visible_to`) they may also read, as a
    condition on the dataset's own row; None: all of them. For a list that narrows what it shows
    to readable datasets (a filter on what a restricted card hides): `pk IN (every readable id)`
    made SQLite gather 83,000 ids for each page of the dataset list at 100,000 datasets."""
    if getattr(user, "is_superuser", False) or not is_signed_in(user):
        return None
    return (
        Q(visibility=Dataset.Visibility.PUBLIC)
        | Q(team_id__in=team_ids_of(user))
        | Q(visibility=Dataset.Visibility.RESTRICTED, pk__in=_granted_ids(user))
    )


def datasets_writable_by(user: AnyUser) -> QuerySet[Dataset]:
    """The datasets of the teams in which a person maintains (`Access.write` through a role): what
    the portal offers as the target of a saved query. A superuser writes everywhere, but a list of
    every dataset (100,000 options) is no choice: outside their teams they name one in the API."""
    if not is_signed_in(user):
        return Dataset.objects.none()
    return Dataset.objects.filter(team__in=teams_writable_by(user=user))


def deciding(user: AnyUser, *, team: str) -> Q:
    """A filter on rows whose `team` (a path to a team id) is one whose datasets' access requests
    the person decides (`Access.decide`). None at all for a superuser: a filter naming every team
    made SQLite walk all 100,000 datasets on every page (26-89 ms against 0.7 ms)."""
    if not is_signed_in(user):
        return Q(pk__in=[])
    if getattr(user, "is_superuser", False):
        return Q()
    return Q(**{f"{team}__in": team_ids_managed_by(user=user)})


def _granted_ids(user: AnyUser) -> QuerySet[AccessRequest, Any]:
    """The datasets whose owners approved this user's access request."""
    return AccessRequest.objects.filter(user_id=user_pk(user), status=AccessRequest.Status.APPROVED).values(
        "dataset_id"
    )


@dataclass(frozen=True)
class Audience:
    """The visibility rule above as plain facts about one user, for tables that copy each
    dataset's visibility and team (the search index) and filter on those copies in SQL.

    `visible(visibility, team_id, dataset_id)` and `readable(...)` state the rule once more for
    them; tests/datasets/test_audience.py proves they agree with `datasets_visible_to` and
    `datasets_readable_by` for every persona.
    """

    everything: bool = False  # a superuser
    public_only: bool = False  # an anonymous visitor where GRANARY_ANONYMOUS_READ is on
    team_ids: frozenset[int] = frozenset()
    granted_ids: frozenset[int] = frozenset()  # restricted datasets whose owners approved a request

    @property
    def nothing(self) -> bool:
        return not self.everything and not self.public_only and not self.signed_in

    signed_in: bool = False

    def visible(self, *, visibility: str, team_id: int) -> bool:
        if self.everything:
            return True
        if self.public_only or not self.signed_in:
            return self.public_only and visibility == Dataset.Visibility.PUBLIC
        return visibility != Dataset.Visibility.INTERNAL or team_id in self.team_ids

    def readable(self, *, visibility: str, team_id: int, dataset_id: int) -> bool:
        if self.everything:
            return True
        if self.public_only or not self.signed_in:
            return self.public_only and visibility == Dataset.Visibility.PUBLIC
        return (
            visibility == Dataset.Visibility.PUBLIC
            or team_id in self.team_ids
            or (visibility == Dataset.Visibility.RESTRICTED and dataset_id in self.granted_ids)
        )


def audience_of(user: AnyUser) -> Audience:
    """Who `user` is to the visibility rule, in at most two queries."""
    if not is_signed_in(user):
        return Audience(public_only=bool(settings.GRANARY_ANONYMOUS_READ))
    if getattr(user, "is_superuser", False):
        return Audience(everything=True, signed_in=True)
    return Audience(
        signed_in=True,
        team_ids=frozenset(team_ids_of(user).values_list("team_id", flat=True)),
        granted_ids=frozenset(_granted_ids(user).values_list("dataset_id", flat=True)),
    )


def dataset_access(*, user: AnyUser, dataset: Dataset) -> Access:
    granted = (
        dataset.visibility == Dataset.Visibility.RESTRICTED
        and is_signed_in(user)
        and _granted_ids(user).filter(dataset_id=dataset.pk).exists()
    )
    return _access(user, dataset, team_role(user=user, team=dataset.team), granted=granted)


def dataset_access_map(*, user: AnyUser, datasets: Iterable[Dataset]) -> dict[int, Access]:
    """Access to each of many datasets, with one query for the user's roles and one for their
    approved access requests (for lists)."""
    datasets = list(datasets)
    roles = user_roles(user=user)
    restricted = [d.pk for d in datasets if d.visibility == Dataset.Visibility.RESTRICTED]
    granted: set[int] = set()
    if restricted and is_signed_in(user):  # the query only when a grant could matter
        granted = set(
            _granted_ids(user).filter(dataset_id__in=restricted).values_list("dataset_id", flat=True)
        )
    return {
        dataset.pk: _access(user, dataset, roles.get(dataset.team_id, ""), granted=dataset.pk in granted)
        for dataset in datasets
    }


def _access(user: AnyUser, dataset: Dataset, role: str, *, granted: bool = False) -> Access:
    access = _user_access(user, dataset, role, granted=granted)
    if (access.write or access.decide) and not token_may_change(user=user, team_id=dataset.team_id):
        # An API token narrower than its user (read-only, or limited to another team) reads what
        # its user reads and changes nothing here.
        return replace(access, write=False, decide=False)
    return access


def _user_access(user: AnyUser, dataset: Dataset, role: str, *, granted: bool = False) -> Access:
    if not is_signed_in(user):
        public = settings.GRANARY_ANONYMOUS_READ and dataset.visibility == Dataset.Visibility.PUBLIC
        return Access(discover=public, read=public)
    if getattr(user, "is_superuser", False):
        return Access(discover=True, read=True, write=True, role=role, decide=True)
    if role:
        return Access(
            discover=True,
            read=True,
            write=role_may_write(role),
            role=role,
            decide=role_may_manage(role),
        )
    visibility = dataset.visibility
    return Access(
        discover=visibility != Dataset.Visibility.INTERNAL,
        read=visibility == Dataset.Visibility.PUBLIC
        or (visibility == Dataset.Visibility.RESTRICTED and granted),
    )


def dataset_get(*, user: AnyUser, slug: str, need: Need = "read") -> tuple[Dataset, Access]:
    """The dataset `slug` if the user may `need` it.

    A dataset the user may not even discover is reported as missing, so its name leaks nothing.
    """
    if not user_may_browse(user):
        raise NotSignedIn("Sign in, or send an API token as 'Authorization: Bearer <token>'.")
    dataset = Dataset.objects.select_related("team").filter(slug=slug).first()
    access = dataset_access(user=user, dataset=dataset) if dataset else Access()
    if dataset is None or not access.discover:
        raise NotFound(f"No dataset '{slug}'.")
    if need == "read" and not access.read:
        raise AccessDenied(
            f"'{slug}' is restricted: its data is visible to the {dataset.team.slug} team and to "
            "those whose access request an owner approved."
        )
    if need == "write" and not access.write:
        raise AccessDenied(
            f"Changing '{slug}' needs the maintainer or owner role in the {dataset.team.slug} team."
        )
    if need == "decide" and not access.decide:
        # Requests are private to their authors and the owners: a 403 says no more than that.
        raise AccessDenied(
            f"Access requests for '{slug}' are decided by the {dataset.team.slug} team's owners."
        )
    return dataset, access
