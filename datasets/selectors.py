"""Reads, and the one place that decides who may see which dataset.

Every list, page, endpoint and download reaches datasets through `datasets_visible_to` (what a
user may discover) and `dataset_access` (what they may do with one). Visibility:

- public: every signed-in user (and anonymous visitors when GRANARY_ANONYMOUS_READ is on);
- internal: the owning team's members only; to anyone else it does not exist;
- restricted: every signed-in user finds its title and summary; the team sees its data, and so
  does each user whose access request a team owner approved.

Reading data and seeing a dataset differ only for restricted datasets. Writing (editing the card,
uploading versions) needs the maintainer or owner role in the team.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.models import User as UserModel
from django.db.models import (
    Case,
    Count,
    IntegerField,
    Max,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from datasets.errors import AccessDenied, GranaryError, InvalidInput, NotFound, NotReady, NotSignedIn
from datasets.models import (
    AccessRequest,
    Alias,
    AliasMove,
    Checkout,
    CheckoutItem,
    ColumnDoc,
    Dataset,
    Membership,
    SuiteRevision,
    Team,
    ValidationRun,
    Version,
    Webhook,
    WebhookDelivery,
)

User = UserModel | AnonymousUser


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


def _is_signed_in(user: User) -> bool:
    return bool(user.is_authenticated and user.is_active)


def user_may_browse(user: User) -> bool:
    """Whether this visitor may see any of the portal or API beyond the login page."""
    return _is_signed_in(user) or settings.GRANARY_ANONYMOUS_READ


def datasets_visible_to(user: User) -> QuerySet[Dataset]:
    """Every dataset the user may discover (restricted ones included, by title and summary)."""
    datasets = Dataset.objects.all()
    if not _is_signed_in(user):
        if settings.GRANARY_ANONYMOUS_READ:
            return datasets.filter(visibility=Dataset.Visibility.PUBLIC)
        return datasets.none()
    if getattr(user, "is_superuser", False):
        return datasets
    return datasets.filter(
        Q(visibility__in=[Dataset.Visibility.PUBLIC, Dataset.Visibility.RESTRICTED])
        | Q(team_id__in=_team_ids(user))
    )


def datasets_readable_by(user: User) -> QuerySet[Dataset]:
    """The datasets whose versions and data the user may read."""
    visible = datasets_visible_to(user)
    if getattr(user, "is_superuser", False) or not _is_signed_in(user):
        return visible
    return visible.filter(
        Q(visibility=Dataset.Visibility.PUBLIC)
        | Q(team_id__in=_team_ids(user))
        | Q(visibility=Dataset.Visibility.RESTRICTED, pk__in=_granted_ids(user))
    )


def _team_ids(user: User) -> QuerySet[Membership, Any]:
    # A subquery rather than a join, so no dataset appears twice and counts stay right.
    return Membership.objects.filter(user_id=_pk(user)).values("team_id")


def _granted_ids(user: User) -> QuerySet[AccessRequest, Any]:
    """The datasets whose owners approved this user's access request."""
    return AccessRequest.objects.filter(user_id=_pk(user), status=AccessRequest.Status.APPROVED).values(
        "dataset_id"
    )


def _pk(user: User) -> int:
    return int(user.pk or 0)


def team_role(*, user: User, team: Team) -> str:
    if not _is_signed_in(user):
        return ""
    membership = Membership.objects.filter(team=team, user_id=_pk(user)).only("role").first()
    return membership.role if membership else ""


def dataset_access(*, user: User, dataset: Dataset) -> Access:
    granted = (
        dataset.visibility == Dataset.Visibility.RESTRICTED
        and _is_signed_in(user)
        and _granted_ids(user).filter(dataset_id=dataset.pk).exists()
    )
    return _access(user, dataset, team_role(user=user, team=dataset.team), granted=granted)


def dataset_access_map(*, user: User, datasets: Iterable[Dataset]) -> dict[int, Access]:
    """Access to each of many datasets, with one query for the user's roles and one for their
    approved access requests (for lists)."""
    datasets = list(datasets)
    roles = user_roles(user=user)
    restricted = [d.pk for d in datasets if d.visibility == Dataset.Visibility.RESTRICTED]
    granted: set[int] = set()
    if restricted and _is_signed_in(user):  # the query only when a grant could matter
        granted = set(
            _granted_ids(user).filter(dataset_id__in=restricted).values_list("dataset_id", flat=True)
        )
    return {
        dataset.pk: _access(user, dataset, roles.get(dataset.team_id, ""), granted=dataset.pk in granted)
        for dataset in datasets
    }


def user_roles(*, user: User) -> dict[int, str]:
    """The user's role in each of their teams, by team id."""
    if not _is_signed_in(user):
        return {}
    return dict(Membership.objects.filter(user_id=_pk(user)).values_list("team_id", "role"))


def _access(user: User, dataset: Dataset, role: str, *, granted: bool = False) -> Access:
    if not _is_signed_in(user):
        public = settings.GRANARY_ANONYMOUS_READ and dataset.visibility == Dataset.Visibility.PUBLIC
        return Access(discover=public, read=public)
    if getattr(user, "is_superuser", False):
        return Access(discover=True, read=True, write=True, role=role, decide=True)
    if role:
        return Access(
            discover=True,
            read=True,
            write=role != Membership.Role.MEMBER,
            role=role,
            decide=role == Membership.Role.OWNER,
        )
    visibility = dataset.visibility
    return Access(
        discover=visibility != Dataset.Visibility.INTERNAL,
        read=visibility == Dataset.Visibility.PUBLIC
        or (visibility == Dataset.Visibility.RESTRICTED and granted),
    )


def dataset_get(*, user: User, slug: str, need: str = "read") -> tuple[Dataset, Access]:
    """The dataset `slug` if the user may `need` ("discover", "read" or "write") it.

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
    return dataset, access


def dataset_search(
    *,
    user: User,
    q: str = "",
    tag: str = "",
    team: str = "",
    ordering: str = "slug",
    certified: bool | None = None,
) -> QuerySet[Dataset]:
    datasets = datasets_visible_to(user)
    if q:
        for word in q.split():
            datasets = datasets.filter(
                Q(title__icontains=word) | Q(summary__icontains=word) | Q(slug__icontains=word)
            )
    if tag:
        datasets = datasets.filter(tags__name=tag)
    if team:
        datasets = datasets.filter(team__slug=team)
    latest = Version.objects.filter(dataset=OuterRef("pk"), status=Version.Status.READY).order_by("-number")
    # A subquery, not a join: joining checkout items would multiply the version counts.
    checkouts = (
        CheckoutItem.objects.filter(dataset=OuterRef("pk"))
        .order_by()
        .values("dataset")
        .annotate(count=Count("checkout", distinct=True))
        .values("count")
    )
    datasets = datasets.annotate(
        latest_number=Subquery(latest.values("number")[:1]),
        certified_number=_certified_number(),
        latest_changed=Max("versions__created_at"),
        version_count=Count("versions", distinct=True),
        checkout_count=Coalesce(Subquery(checkouts, output_field=IntegerField()), 0),
    )
    if certified is not None:
        # Only datasets whose data the user may read can show a certified version.
        readable = datasets_readable_by(user).values("pk")
        datasets = datasets.filter(certified_number__isnull=not certified, pk__in=readable)
    order = {
        "slug": ["slug"],
        "popular": ["-checkout_count", "slug"],
        "title": ["title", "slug"],
        "-updated_at": ["-updated_at", "slug"],
        "updated_at": ["updated_at", "slug"],
        "-created_at": ["-created_at", "slug"],
        "created_at": ["created_at", "slug"],
    }.get(ordering, ["slug"])
    return datasets.select_related("team").prefetch_related("tags").order_by(*order)


def versions_of(*, dataset: Dataset) -> QuerySet[Version]:
    return dataset.versions.select_related("created_by").order_by("-number")


def versions_ready(*, dataset: Dataset) -> QuerySet[Version]:
    """The versions that can be read, pointed at by aliases and pulled: the ready ones."""
    return versions_of(dataset=dataset).filter(status=Version.Status.READY)


def version_latest(*, dataset: Dataset) -> Version | None:
    return dataset.versions.filter(status=Version.Status.READY).order_by("-number").first()


def ref_split(ref: str) -> tuple[str, str]:
    """`churn@prod` as ("churn", "prod"); a bare `churn` means `churn@latest`."""
    slug, _, version_ref = ref.strip().partition("@")
    return slug.strip(), version_ref.strip() or "latest"


def version_resolve(*, dataset: Dataset, ref: str) -> Version:
    """A version of `dataset` by reference: a number, `latest`, `certified`, a named alias
    (`prod`), or `sha256:<at least 12 hex digits>`. One that does not resolve is a NotFound
    that says why."""
    versions = dataset.versions.select_related("created_by", "dataset", "parquet_blob")
    ref = ref.strip() or "latest"
    if ref == "certified":
        certified = version_certified(dataset=dataset)
        if certified is None:
            raise NotFound(
                f"'{dataset.slug}' has no certified version yet: no ready version has passed its current suite."
            )
        return certified
    if ref == "latest":
        version = versions.filter(status=Version.Status.READY).order_by("-number").first()
        if version is None:
            raise NotFound(f"'{dataset.slug}' has no ready version yet.")
        return version
    if ref.startswith("sha256:"):
        prefix = ref.removeprefix("sha256:").lower()
        if len(prefix) < 12 or any(c not in "0123456789abcdef" for c in prefix):
            raise NotFound(f"'{ref}' is not a sha256 reference: give at least 12 hex digits.")
        matches = list(versions.filter(blob__sha256__startswith=prefix)[:2])
        if len(matches) > 1:
            raise NotFound(f"'{ref}' is ambiguous in '{dataset.slug}': give more digits.")
        if not matches:
            raise NotFound(f"No version of '{dataset.slug}' has sha256 {prefix}….")
        return matches[0]
    if ref.isdigit():
        version = versions.filter(number=int(ref)).first()
        if version is None:
            raise NotFound(f"'{dataset.slug}' has no version {ref}.")
        return version
    version = versions.filter(aliases__name=ref).first()
    if version is None:
        raise NotFound(
            f"'{dataset.slug}' has no alias '{ref}': use a version number, 'latest', 'certified', "
            "an alias or 'sha256:<hex>'."
        )
    return version


def version_get(*, user: User, ref: str) -> Version:
    """The version that `churn@prod` (or `churn@3`, `churn`, `churn@sha256:…`) names, if the user
    may read the dataset's data: NotFound for a dataset they may not know of, AccessDenied for
    a restricted one."""
    slug, version_ref = ref_split(ref)
    if not slug:
        raise NotFound(f"'{ref}' names no dataset: write <dataset>@<version>, e.g. churn@3.")
    dataset, _ = dataset_get(user=user, slug=slug, need="read")
    return version_resolve(dataset=dataset, ref=version_ref)


def aliases_of(*, dataset: Dataset) -> QuerySet[Alias]:
    return dataset.aliases.select_related("version", "updated_by").order_by("name")


def alias_get(*, dataset: Dataset, name: str) -> Alias:
    alias = aliases_of(dataset=dataset).filter(name=name).first()
    if alias is None:
        raise NotFound(f"'{dataset.slug}' has no alias '{name}'.")
    return alias


def alias_history(*, dataset: Dataset, name: str | None = None) -> QuerySet[AliasMove]:
    """Every change of the dataset's named aliases (or of one), newest first."""
    moves = dataset.alias_moves.select_related("from_version", "to_version", "moved_by")
    if name is not None:
        moves = moves.filter(name=name)
    return moves.order_by("-moved_at", "-pk")


def version_alias_names(
    *, dataset: Dataset, computed: dict[str, Version | None] | None = None
) -> dict[int, list[str]]:
    """The aliases that point at each version of the dataset, by version id: `latest` and
    `certified` first, then the named ones. `computed` passes latest and certified when the
    caller has them already."""
    if computed is None:
        computed = {
            "latest": version_latest(dataset=dataset),
            "certified": version_certified(dataset=dataset),
        }
    names: dict[int, list[str]] = {}
    for name in ("latest", "certified"):
        version = computed.get(name)
        if version is not None:
            names.setdefault(version.pk, []).append(name)
    for version_id, name in dataset.aliases.order_by("name").values_list("version_id", "name"):
        names.setdefault(version_id, []).append(name)
    return names


def checkout_get(*, user: User, checkout_id: Any) -> Checkout:
    """A checkout, for someone who may read the data of every dataset it names.

    Its purpose and model are no secret among the readers of its datasets (the Usage tab shows
    them), but a checkout that names a dataset the user may not even know of does not exist to
    them, and one that names a restricted dataset is refused.
    """
    if not user_may_browse(user):
        raise NotSignedIn("Sign in, or send an API token as 'Authorization: Bearer <token>'.")
    checkout = (
        Checkout.objects.select_related("created_by")
        .prefetch_related(
            Prefetch(
                "items",
                queryset=CheckoutItem.objects.select_related(
                    "dataset__team", "version__parquet_blob", "version__dataset"
                ).order_by("position"),
            )
        )
        .filter(pk=checkout_id)
        .first()
    )
    if checkout is None:
        raise NotFound(f"No checkout {checkout_id}.")
    datasets = {item.dataset for item in checkout.items.all()}
    access = dataset_access_map(user=user, datasets=datasets)
    if not all(access[dataset.pk].discover for dataset in datasets):
        raise NotFound(f"No checkout {checkout_id}.")
    closed = sorted(dataset.slug for dataset in datasets if not access[dataset.pk].read)
    if closed:
        raise AccessDenied(
            f"Checkout {checkout_id} includes restricted data you may not read: {', '.join(closed)}."
        )
    return checkout


def checkouts_of(*, dataset: Dataset) -> QuerySet[CheckoutItem]:
    """The dataset's side of every checkout that pulled one of its versions, newest first.

    Only this dataset's items: the other datasets of a checkout may be hidden from the reader.
    """
    return (
        CheckoutItem.objects.filter(dataset=dataset)
        .select_related("checkout__created_by", "version")
        .order_by("-checkout__created_at", "position")
    )


def checkout_count(*, dataset: Dataset) -> int:
    """How many checkouts pulled the dataset: its popularity."""
    return CheckoutItem.objects.filter(dataset=dataset).values("checkout_id").distinct().count()


def version_refs_split(values: Iterable[str]) -> list[str]:
    """References given repeated and/or comma-separated ("raw@12, users@latest"), in order, once each."""
    refs: list[str] = []
    for value in values:
        for ref in value.split(","):
            ref = ref.strip()
            if ref and ref not in refs:
                refs.append(ref)
    return refs


def versions_resolve(*, user: User, refs: Iterable[str], field: str = "derived_from") -> list[Version]:
    """The versions that references like `raw@12`, `users@latest` or `x@sha256:<hex>` name.

    A bare slug means `@latest`. A reference that does not resolve, or names a dataset whose data
    the user may not read, is an InvalidInput that names the reference.
    """
    versions: list[Version] = []
    for ref in refs:
        slug, _, version_ref = ref.partition("@")
        try:
            dataset, _ = dataset_get(user=user, slug=slug.strip(), need="read")
            version = version_resolve(dataset=dataset, ref=version_ref.strip() or "latest")
        except GranaryError as exc:
            raise InvalidInput(f"'{ref}' does not resolve: {exc.detail}", field=field) from None
        versions.append(version)
    return versions


def version_upstream_refs(*, user: User, versions: Iterable[Version]) -> dict[int, list[str]]:
    """Each version's declared upstreams as references (`raw@12`), by version id, in two queries.

    An upstream whose data the user may not read appears as "restricted", without its name.
    """
    ids = [version.pk for version in versions]
    through = Version.derived_from.through
    rows = list(
        through.objects.filter(from_version_id__in=ids)
        .select_related("to_version__dataset")
        .order_by("to_version__dataset__slug", "to_version__number")
    )
    access = dataset_access_map(user=user, datasets={row.to_version.dataset for row in rows})
    refs: dict[int, list[str]] = {pk: [] for pk in ids}
    for row in rows:
        upstream = row.to_version
        readable = access[upstream.dataset_id].read
        refs[row.from_version_id].append(upstream.ref if readable else "restricted")
    return refs


def teams_visible_to(*, user: User) -> QuerySet[Team]:
    """Team names are no secret among signed-in users: anyone may ask to join one."""
    if not _is_signed_in(user):
        return Team.objects.none()
    return Team.objects.order_by("slug")


def teams_of(*, user: User) -> QuerySet[Team]:
    if not _is_signed_in(user):
        return Team.objects.none()
    return Team.objects.filter(memberships__user_id=_pk(user)).distinct()


def teams_writable_by(*, user: User) -> QuerySet[Team]:
    """Teams in which the user may register datasets (maintainer or owner)."""
    if not _is_signed_in(user):
        return Team.objects.none()
    return Team.objects.filter(
        memberships__user_id=_pk(user),
        memberships__role__in=[Membership.Role.OWNER, Membership.Role.MAINTAINER],
    ).distinct()


def team_get(*, user: User, slug: str) -> Team:
    if not _is_signed_in(user):
        raise NotSignedIn("Sign in to see teams.")
    team = Team.objects.filter(slug=slug).first()
    if team is None:
        raise NotFound(f"No team '{slug}'.")
    return team


def team_members(*, team: Team) -> QuerySet[Membership]:
    return team.memberships.select_related("user").order_by("user__username")


def version_ready(*, version: Version) -> Version:
    """The version itself, if it is ready; what it has learned about its data is shown only then."""
    if version.status != Version.Status.READY:
        reason = f" ({version.failure_reason})" if version.failure_reason else ""
        raise NotReady(f"{version.dataset.slug}@{version.number} is {version.status}{reason}.")
    return version


def version_previous(*, version: Version) -> Version | None:
    """The newest ready version before this one, for the diff on its page."""
    return (
        Version.objects.filter(
            dataset_id=version.dataset_id, number__lt=version.number, status=Version.Status.READY
        )
        .order_by("-number")
        .first()
    )


def column_docs(*, dataset: Dataset) -> dict[str, ColumnDoc]:
    return {doc.name: doc for doc in ColumnDoc.objects.filter(dataset=dataset)}


def schema_documented(*, version: Version) -> list[dict[str, Any]]:
    """The version's columns with the dataset's documentation, matched by name."""
    docs = column_docs(dataset=version.dataset)
    columns = []
    for column in version.schema:
        doc = docs.get(column["name"])
        columns.append(
            {
                **column,
                "description": doc.description if doc else "",
                "pii": doc.pii if doc else False,
                "documented": doc is not None,
            }
        )
    return columns


def schema_diff(*, old: Version, new: Version) -> dict[str, Any]:
    """What changed in the columns from `old` to `new`, and whether it breaks readers of `old`.

    Breaking: a column removed, a column's type changed, or a column that never held nulls
    now holding some.
    """
    for version in (old, new):
        if version.status != Version.Status.READY:
            raise InvalidInput(f"{version.ref} is {version.status}: only ready versions have a schema.")
    before = {c["name"]: c for c in old.schema}
    after = {c["name"]: c for c in new.schema}
    added = [after[name] for name in after if name not in before]
    removed = [before[name] for name in before if name not in after]
    retyped = [
        {"name": name, "from": before[name]["type"], "to": after[name]["type"]}
        for name in after
        if name in before and before[name]["type"] != after[name]["type"]
    ]
    nullability = [
        {"name": name, "from": before[name]["nullable"], "to": after[name]["nullable"]}
        for name in after
        if name in before and before[name]["nullable"] != after[name]["nullable"]
    ]
    breaking = [f"column '{c['name']}' was removed" for c in removed]
    breaking += [f"column '{c['name']}' changed type from {c['from']} to {c['to']}" for c in retyped]
    breaking += [f"column '{c['name']}' now has nulls" for c in nullability if c["to"]]
    return {
        "from": old.ref,
        "to": new.ref,
        "added": added,
        "removed": removed,
        "retyped": retyped,
        "nullability": nullability,
        "breaking": bool(breaking),
        "breaking_changes": breaking,
    }


# --- quality -------------------------------------------------------------------------------------


def suite_revision_current(*, dataset: Dataset) -> SuiteRevision | None:
    return SuiteRevision.objects.filter(dataset=dataset).order_by("-number").first()


def _latest_run_status(revision_id: int | None) -> Subquery:
    runs = ValidationRun.objects.filter(version=OuterRef("pk"), revision_id=revision_id).order_by(
        "-queued_at", "-pk"
    )
    return Subquery(runs.values("status")[:1])


def versions_with_quality(*, dataset: Dataset) -> QuerySet[Version]:
    """The dataset's versions, each annotated with `quality_status`: its latest run's status
    against the current suite (None when there is no suite or no run yet)."""
    revision = suite_revision_current(dataset=dataset)
    versions = dataset.versions.select_related("created_by").order_by("-number")
    return versions.annotate(quality_status=_latest_run_status(revision.pk if revision else None))


def versions_annotate_quality(versions: QuerySet[Version]) -> QuerySet[Version]:
    """Versions of any datasets, each annotated with `quality_status` as `version_quality_status`
    reports it (None without a suite, "unchecked" without a run), in the same query (for graphs)."""
    current_revision = (
        SuiteRevision.objects.filter(dataset_id=OuterRef("dataset_id")).order_by("-number").values("pk")[:1]
    )
    latest_run = (
        ValidationRun.objects.filter(version_id=OuterRef("pk"), revision_id=OuterRef("suite_revision"))
        .order_by("-queued_at", "-pk")
        .values("status")[:1]
    )
    return versions.annotate(suite_revision=Subquery(current_revision)).annotate(
        quality_status=Case(
            When(suite_revision__isnull=True, then=Value(None)),
            default=Coalesce(Subquery(latest_run), Value("unchecked")),
        )
    )


def _certified_number() -> Subquery:
    """Per dataset row: the number of its newest certified version (for lists, in one query)."""
    current_revision = (
        SuiteRevision.objects.filter(dataset_id=OuterRef(OuterRef("dataset_id")))
        .order_by("-number")
        .values("pk")[:1]
    )
    latest_run = (
        ValidationRun.objects.filter(version_id=OuterRef("pk"), revision_id=Subquery(current_revision))
        .order_by("-queued_at", "-pk")
        .values("status")[:1]
    )
    certified = (
        Version.objects.filter(dataset_id=OuterRef("pk"), status=Version.Status.READY)
        .annotate(run_status=Subquery(latest_run))
        .filter(run_status=ValidationRun.Status.PASSED)
        .order_by("-number")
        .values("number")[:1]
    )
    return Subquery(certified)


def version_certified(*, dataset: Dataset) -> Version | None:
    """The newest version that is ready and whose latest run against the current suite passed."""
    revision = suite_revision_current(dataset=dataset)
    if revision is None:
        return None
    return (
        versions_with_quality(dataset=dataset)
        .filter(status=Version.Status.READY, quality_status=ValidationRun.Status.PASSED)  # type: ignore[misc]
        .select_related("dataset")
        .first()
    )


def version_quality_status(*, version: Version) -> str | None:
    revision = suite_revision_current(dataset=version.dataset)
    if revision is None:
        return None
    run = (
        ValidationRun.objects.filter(version=version, revision=revision).order_by("-queued_at", "-pk").first()
    )
    return run.status if run else "unchecked"


def validation_runs_of(*, version: Version) -> QuerySet[ValidationRun]:
    return version.validation_runs.select_related("revision", "created_by").order_by("-queued_at", "-pk")


def validation_run_get(*, version: Version, run_id: int) -> ValidationRun:
    run = validation_runs_of(version=version).filter(pk=run_id).first()
    if run is None:
        raise NotFound(f"{version.ref} has no validation run {run_id}.")
    return run


def quality_history(*, dataset: Dataset, limit: int = 30) -> list[dict[str, Any]]:
    """Per version (oldest first), the pass rate of its latest finished run, for the chart."""
    history = []
    finished = ValidationRun.objects.filter(version__dataset=dataset, status__in=ValidationRun.TERMINAL)
    latest_by_version: dict[int, ValidationRun] = {}
    for run in finished.select_related("version", "revision").order_by("queued_at", "pk"):
        latest_by_version[run.version.number] = run
    for number in sorted(latest_by_version)[-limit:]:
        run = latest_by_version[number]
        rate = run.successful / run.evaluated if run.evaluated else 0.0
        history.append(
            {
                "version": number,
                "status": run.status,
                "pass_rate": rate,
                "revision": run.revision.number,
                "run": run.pk,
            }
        )
    return history


def webhooks_of(*, team: Team) -> QuerySet[Webhook]:
    """A team's webhooks (the caller has checked the user owns the team)."""
    return Webhook.objects.filter(team=team).order_by("pk")


def webhook_deliveries_of(*, team: Team, limit: int = 50) -> list[WebhookDelivery]:
    return list(WebhookDelivery.objects.filter(webhook__team=team).select_related("webhook")[:limit])


def dataset_get_to_decide_access(*, user: User, slug: str) -> tuple[Dataset, Access]:
    """The dataset `slug`, for someone who may decide its access requests (403 for others)."""
    dataset, access = dataset_get(user=user, slug=slug, need="discover")
    if not access.decide:
        # Requests are private to their authors and the owners: a 403 says no more than that.
        raise AccessDenied(
            f"Access requests for '{slug}' are decided by the {dataset.team.slug} team's owners."
        )
    return dataset, access


def access_requests_of(*, dataset: Dataset) -> QuerySet[AccessRequest]:
    """Every request for the dataset, newest first: what its owners see."""
    return AccessRequest.objects.filter(dataset=dataset).select_related("user", "decided_by")


def access_requests_visible_to(*, user: User, dataset: Dataset, access: Access) -> QuerySet[AccessRequest]:
    """The requests for a dataset that the user may see: all of them for those who decide them,
    their own for anyone else (a request's reason is between its author and the owners)."""
    return (
        access_requests_of(dataset=dataset)
        if access.decide
        else access_requests_by(user=user, dataset=dataset)
    )


def access_requests_by(*, user: User, dataset: Dataset) -> QuerySet[AccessRequest]:
    """The user's own requests for the dataset, newest first."""
    return access_requests_of(dataset=dataset).filter(user_id=_pk(user))


def access_request_get(*, dataset: Dataset, request_id: int) -> AccessRequest:
    found = access_requests_of(dataset=dataset).filter(pk=request_id).first()
    if found is None:
        raise NotFound(f"'{dataset.slug}' has no access request {request_id}.")
    return found
