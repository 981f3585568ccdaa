"""What `<dataset>@<ref>` means, decided once: a version number (`churn@3`), `latest` (the newest
ready version), `certified` (the newest ready version whose latest run against the current suite
passed, as the quality app records it on the version), a named alias (`churn@prod`) or
`sha256:<at least 12 hex digits>`. A bare `churn` means `churn@latest`.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import OuterRef, QuerySet

from core.errors import GranaryError, InvalidInput, NotFound
from core.types import AnyUser
from core.validation import whole_number
from datasets.access import dataset_get
from datasets.models import Dataset, Version


def versions_ready_of(dataset: Dataset | OuterRef) -> QuerySet[Version]:
    """The versions that can be read, pointed at by aliases and pulled: the ready ones, newest first.
    `dataset` may be OuterRef("pk"), for a subquery per row of a list of datasets."""
    versions = Version.objects.filter(dataset=dataset, status=Version.Status.READY)  # type: ignore[misc]  # OuterRef lookups are untyped
    return versions.order_by("-number")


def versions_certified_of(dataset: Dataset | OuterRef) -> QuerySet[Version]:
    """The certified ones: ready, and their latest run against the current suite passed (as the
    quality app records it on each version), newest first."""
    return versions_ready_of(dataset).filter(quality_status="passed")


def versions_ready(*, dataset: Dataset) -> QuerySet[Version]:
    return versions_ready_of(dataset).select_related("created_by")


def version_latest(*, dataset: Dataset) -> Version | None:
    return versions_ready(dataset=dataset).first()


def version_certified(*, dataset: Dataset) -> Version | None:
    """The newest certified version: what `@certified` names."""
    return versions_certified_of(dataset).select_related("dataset", "created_by").first()


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
        version = version_latest(dataset=dataset)
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
        number = whole_number(ref)
        version = versions.filter(number=number).first() if number is not None else None
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


def version_get(*, user: AnyUser, ref: str) -> Version:
    """The version that `churn@prod` (or `churn@3`, `churn`, `churn@sha256:…`) names, if the user
    may read the dataset's data: NotFound for a dataset they may not know of, AccessDenied for
    a restricted one."""
    slug, version_ref = ref_split(ref)
    if not slug:
        raise NotFound(f"'{ref}' names no dataset: write <dataset>@<version>, e.g. churn@3.")
    dataset, _ = dataset_get(user=user, slug=slug, need="read")
    return version_resolve(dataset=dataset, ref=version_ref)


def version_refs_split(values: Iterable[str]) -> list[str]:
    """References given repeated and/or comma-separated ("raw@12, users@latest"), in order, once each."""
    refs: list[str] = []
    for value in values:
        for ref in value.split(","):
            ref = ref.strip()
            if ref and ref not in refs:
                refs.append(ref)
    return refs


def versions_resolve(*, user: AnyUser, refs: Iterable[str], field: str = "derived_from") -> list[Version]:
    """The versions that references like `raw@12`, `users@latest` or `x@sha256:<hex>` name.

    A bare slug means `@latest`. A reference that does not resolve, or names a dataset whose data
    the user may not read, is an InvalidInput that names the reference.
    """
    versions: list[Version] = []
    for ref in refs:
        try:
            version = version_get(user=user, ref=ref)
        except GranaryError as exc:
            raise InvalidInput(f"'{ref}' does not resolve: {exc.detail}", field=field) from None
        versions.append(version)
    return versions
