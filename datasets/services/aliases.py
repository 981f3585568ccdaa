"""Writes for named aliases (`churn@prod`): setting, moving and removing them, with history."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from core.errors import InvalidInput, NotFound, NotReady
from core.validation import validate
from datasets.models import COMPUTED_ALIASES, Alias, AliasMove, Dataset, Version, alias_validator


def alias_name_check(name: str) -> str:
    """The alias name as it would be stored, or InvalidInput saying why it cannot be set."""
    return _check_name(name)


def _check_name(name: str) -> str:
    name = name.strip()
    if name in COMPUTED_ALIASES:
        meaning = "the newest ready version" if name == "latest" else "the newest certified version"
        raise InvalidInput(f"'{name}' is computed ({meaning}) and cannot be set by hand.", field="name")
    validate(alias_validator, name, field="name")
    return name


@transaction.atomic
def alias_set(*, dataset: Dataset, user: User, name: str, version: Version) -> tuple[Alias, bool]:
    """Point alias `name` of `dataset` at `version`, creating the alias if needed.

    Returns the alias and whether it changed. Each change is kept as an AliasMove; pointing an
    alias at the version it already names changes nothing and records nothing. The caller has
    checked write access (datasets.access.dataset_get with need="write").
    """
    name = _check_name(name)
    if version.dataset_id != dataset.pk:
        raise InvalidInput(f"{version.ref} is not a version of '{dataset.slug}'.", field="version")
    if version.status != Version.Status.READY:
        raise NotReady(f"{version.ref} is {version.status}: an alias can only name a ready version.")
    # Moves of one dataset's aliases happen one at a time, so each history entry's `from` is
    # the version the alias really named just before.
    Dataset.objects.select_for_update().filter(pk=dataset.pk).first()
    alias = Alias.objects.filter(dataset=dataset, name=name).select_related("version").first()
    if alias is not None and alias.version_id == version.pk:
        return alias, False
    now = timezone.now()
    AliasMove.objects.create(
        dataset=dataset,
        name=name,
        from_version=alias.version if alias else None,
        to_version=version,
        moved_by=user,
        moved_at=now,
    )
    if alias is None:
        alias = Alias.objects.create(
            dataset=dataset, name=name, version=version, updated_by=user, updated_at=now
        )
    else:
        alias.version = version
        alias.updated_by = user
        alias.updated_at = now
        alias.save(update_fields=["version", "updated_by", "updated_at"])
    audit_record(action="alias.move", actor=user, version=version, target=name)
    return alias, True


@transaction.atomic
def alias_delete(*, dataset: Dataset, user: User, name: str) -> None:
    """Remove a named alias; its history stays, ending with the removal."""
    name = _check_name(name)
    Dataset.objects.select_for_update().filter(pk=dataset.pk).first()
    alias = Alias.objects.filter(dataset=dataset, name=name).first()
    if alias is None:
        raise NotFound(f"'{dataset.slug}' has no alias '{name}'.")
    AliasMove.objects.create(
        dataset=dataset,
        name=name,
        from_version_id=alias.version_id,
        to_version=None,
        moved_by=user,
        moved_at=timezone.now(),
    )
    alias.delete()
    audit_record(action="alias.remove", actor=user, dataset=dataset, target=name)
