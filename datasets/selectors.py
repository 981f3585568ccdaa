"""Reads of datasets, their versions, aliases, schemas, checkouts and access requests.

Who may see what is decided in `datasets.access`; what a reference names, in `datasets.references`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import (
    Case,
    F,
    Prefetch,
    Q,
    QuerySet,
    Value,
    When,
)

from accounts.selectors import team_ids_managed_by, user_may_browse, user_pk
from audit.models import AuditEvent
from core.errors import AccessDenied, InvalidInput, NotFound, NotReady, NotSignedIn
from core.types import AnyUser, SchemaColumn
from datasets.access import (
    Access,
    dataset_access_map,
    dataset_get,
    datasets_readable_by,
    datasets_visible_to,
    deciding,
    readable_among_visible,
)
from datasets.models import (
    AccessRequest,
    Alias,
    AliasMove,
    Checkout,
    CheckoutItem,
    ColumnDoc,
    Dataset,
    Version,
)
from datasets.references import version_certified, version_latest


def dataset_search(
    *,
    user: AnyUser,
    q: str = "",
    tag: str = "",
    team: str = "",
    ordering: str = "slug",
    certified: bool | None = None,
) -> QuerySet[Dataset]:
    datasets = datasets_visible_to(user)
    # A restricted dataset shows only its title, summary and team to those who may not read it:
    # filters and orderings on anything else consider the datasets whose data the user may read.
    readable = readable_among_visible(user) or Q()  # Q(): they read all they see
    if q:
        for word in q.split():
            datasets = datasets.filter(
                Q(title__icontains=word) | Q(summary__icontains=word) | Q(slug__icontains=word)
            )
    if tag:
        datasets = datasets.filter(readable, tags__name=tag)
    if team:
        datasets = datasets.filter(team__slug=team)
    if certified is not None:
        datasets = datasets.filter(readable, certified_version__isnull=not certified)
    if ordering == "popular":
        # How often a dataset is pulled is part of what it hides: unreadable ones count as unused.
        datasets = datasets.annotate(
            popularity=Case(When(readable, then=F("checkout_count")), default=Value(0))
            if readable
            else F("checkout_count")
        )
    order = {
        "slug": ["slug"],
        "popular": ["-popularity", "slug"],
        "title": ["title", "slug"],
        "-updated_at": ["-updated_at", "slug"],
        "updated_at": ["updated_at", "slug"],
        "-created_at": ["-created_at", "slug"],
        "created_at": ["created_at", "slug"],
    }.get(ordering, ["slug"])
    # What each row shows is kept on the dataset (datasets.services.summary): no per-row subquery.
    # The version numbers are fetched for the page alone: joined in, the versions stayed in the
    # page count's statement too (Django keeps an unused annotation's joins), 190 of its 240 ms on
    # SQLite at 100,000 datasets.
    numbers = Version.objects.only("id", "number")
    return (
        datasets.select_related("team")
        .prefetch_related(
            "tags",
            Prefetch("latest_version", queryset=numbers),
            Prefetch("certified_version", queryset=numbers),
        )
        .order_by(*order)
    )


def versions_of(*, dataset: Dataset) -> QuerySet[Version]:
    return dataset.versions.select_related("created_by").order_by("-number")


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


def checkout_get(*, user: AnyUser, checkout_id: Any) -> Checkout:
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


def checkout_readable_items(*, user: AnyUser, checkout_id: Any) -> tuple[Checkout, list[CheckoutItem]]:
    """A checkout as the portal shows it: its items whose data the user may read, in order.

    Unlike `checkout_get` (the API's manifest, all or nothing), a reader of one of its datasets
    sees that part, as on the dataset's Usage tab; the others are left out without a word, and a
    checkout with no readable item does not exist to them.
    """
    if not user_may_browse(user):
        raise NotSignedIn("Sign in to see checkouts.")
    checkout = Checkout.objects.select_related("created_by").filter(pk=checkout_id).first()
    items = (
        list(
            checkout.items.filter(dataset__in=datasets_readable_by(user).values("pk"))
            .select_related("dataset", "version")
            .order_by("position")
        )
        if checkout
        else []
    )
    if checkout is None or not items:
        raise NotFound(f"No checkout {checkout_id}.")
    return checkout, items


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
    """How many checkouts pulled the dataset: its popularity, as kept on it by every checkout."""
    return dataset.checkout_count


def version_upstream_refs(*, user: AnyUser, versions: Iterable[Version]) -> dict[int, list[str]]:
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
    schema: list[SchemaColumn] = version.schema
    for column in schema:
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
    old_schema: list[SchemaColumn] = old.schema
    new_schema: list[SchemaColumn] = new.schema
    before = {c["name"]: c for c in old_schema}
    after = {c["name"]: c for c in new_schema}
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


def access_requests_of(*, dataset: Dataset) -> QuerySet[AccessRequest]:
    """Every request for the dataset, newest first: what its owners see."""
    return AccessRequest.objects.filter(dataset=dataset).select_related("user", "decided_by")


def access_requests_pending_for(*, user: AnyUser) -> QuerySet[AccessRequest]:
    """The pending requests this user may decide, newest first: those for the datasets of the
    teams they own (every one, for a superuser), as `datasets.access` grants `decide`."""
    pending = AccessRequest.objects.filter(deciding(user, team="dataset__team_id"))
    return pending.filter(status=AccessRequest.Status.PENDING).order_by("-created_at", "-pk")


def access_requests_visible_to(*, user: AnyUser, dataset: Dataset, access: Access) -> QuerySet[AccessRequest]:
    """The requests for a dataset that the user may see: all of them for those who decide them,
    their own for anyone else (a request's reason is between its author and the owners)."""
    return (
        access_requests_of(dataset=dataset)
        if access.decide
        else access_requests_by(user=user, dataset=dataset)
    )


def access_requests_by(*, user: AnyUser, dataset: Dataset) -> QuerySet[AccessRequest]:
    """The user's own requests for the dataset, newest first."""
    return access_requests_of(dataset=dataset).filter(user_id=user_pk(user))


def access_request_get(*, dataset: Dataset, request_id: int) -> AccessRequest:
    found = access_requests_of(dataset=dataset).filter(pk=request_id).first()
    if found is None:
        raise NotFound(f"'{dataset.slug}' has no access request {request_id}.")
    return found


def audit_events_visible_to(
    *, user: AnyUser, dataset: str = "", actor: str = "", action: str = ""
) -> QuerySet[AuditEvent]:
    """The audit log the user may read, newest first: everything for superusers; for a team's
    owners, the events of the team and of its datasets; nothing for anyone else.

    `dataset` (a slug) narrows it to one dataset, which the user must own (403) or see (404);
    `action` is an action (`version.download`) or a prefix ending in a dot (`version.`).
    """
    if not user_may_browse(user) or not user.is_authenticated:
        raise NotSignedIn("Sign in, or send an API token as 'Authorization: Bearer <token>'.")
    events = AuditEvent.objects.all()
    if not getattr(user, "is_superuser", False):
        events = events.filter(team_id__in=team_ids_managed_by(user=user))
    if dataset:
        found, _ = dataset_get(user=user, slug=dataset, need="discover")
        # Reading the log is the owner's role, whatever the token (a read token may read it).
        owner = team_ids_managed_by(user=user).filter(team_id=found.team_id).exists()
        if not owner and not getattr(user, "is_superuser", False):
            raise AccessDenied(
                f"The audit log of '{found.slug}' is read by the {found.team.slug} team's owners."
            )
        events = events.filter(dataset_id=found.pk)
    if actor:
        events = events.filter(actor_name=actor)
    if action:
        events = (
            events.filter(action__startswith=action) if action.endswith(".") else events.filter(action=action)
        )
    return events.order_by("-at", "-pk")
