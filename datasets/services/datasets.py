"""Writes for datasets: registering one and editing its card."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Team
from accounts.selectors import teams_writable_by
from audit.services import audit_record
from core.errors import AccessDenied, Conflict, InvalidInput
from core.validation import validate
from core.validators import slug_validator
from datasets.models import AccessRequest, Dataset, Tag
from datasets.signals import dataset_changed

EDITABLE = ("title", "summary", "readme", "license", "visibility", "status", "tags")


@transaction.atomic
def dataset_create(
    *,
    user: User,
    team: Team,
    slug: str,
    title: str,
    summary: str = "",
    readme: str = "",
    license: str = "",
    visibility: str = Dataset.Visibility.INTERNAL,
    status: str = Dataset.Status.ACTIVE,
    tags: Iterable[str] = (),
) -> Dataset:
    validate(slug_validator, slug, field="slug")
    _require_team_writer(user=user, team=team)
    if Dataset.objects.filter(slug=slug).exists():
        raise _slug_taken()
    dataset = Dataset(team=team, slug=slug, created_by=user)
    _apply(
        dataset,
        {
            "title": title,
            "summary": summary,
            "readme": readme,
            "license": license,
            "visibility": visibility,
            "status": status,
        },
    )
    try:
        with transaction.atomic():
            dataset.save()
            dataset.tags.set(_tags(tags))
            audit_record(
                action="dataset.create", actor=user, dataset=dataset, detail={"visibility": visibility}
            )
            dataset_changed.send(sender=Dataset, dataset_id=dataset.pk)
    except IntegrityError:
        raise _slug_taken() from None
    return dataset


@transaction.atomic
def dataset_update(*, dataset: Dataset, changes: dict[str, Any], user: User | None = None) -> Dataset:
    """Edit a dataset's card; the caller has checked write access (datasets.access.dataset_get)."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise InvalidInput(f"These fields cannot be changed: {', '.join(sorted(unknown))}.")
    tags = changes.pop("tags", None)
    was = dataset.visibility
    with transaction.atomic():
        _apply(dataset, changes)
        dataset.save()
        if tags is not None:
            dataset.tags.set(_tags(tags))
        fields = sorted([*changes, *(["tags"] if tags is not None else [])])
        audit_record(action="dataset.update", actor=user, dataset=dataset, detail={"fields": fields})
        if dataset.visibility != was:
            audit_record(
                action="dataset.visibility",
                actor=user,
                dataset=dataset,
                detail={"from": was, "to": dataset.visibility},
            )
        if was == Dataset.Visibility.RESTRICTED and dataset.visibility != was:
            # Approved access requests were grants on a restricted dataset: they end here, so
            # that making it restricted again does not wake them up.
            AccessRequest.objects.filter(dataset=dataset, status=AccessRequest.Status.APPROVED).update(
                status=AccessRequest.Status.REVOKED,
                revoked_at=timezone.now(),
                revoke_note=f"The dataset became {dataset.visibility}.",
            )
        dataset_changed.send(sender=Dataset, dataset_id=dataset.pk)
    return dataset


def _apply(dataset: Dataset, values: dict[str, Any]) -> None:
    for name, value in values.items():
        setattr(dataset, name, value.strip() if isinstance(value, str) and name != "readme" else value)
    if not dataset.title:
        raise InvalidInput("A title is required.", field="title")
    if dataset.visibility not in Dataset.Visibility.values:
        raise InvalidInput(
            f"'{dataset.visibility}' is not a visibility: use public, internal or restricted.",
            field="visibility",
        )
    if dataset.status not in Dataset.Status.values:
        raise InvalidInput(f"'{dataset.status}' is not a status: use active or deprecated.", field="status")
    for name in ("title", "summary", "license"):
        limit = getattr(Dataset._meta.get_field(name), "max_length", None)
        if limit and len(getattr(dataset, name)) > limit:
            raise InvalidInput(f"The {name} is longer than {limit} characters.", field=name)


def _tags(names: Iterable[str]) -> list[Tag]:
    clean = sorted({name.strip().lower() for name in names if name.strip()})
    for name in clean:
        validate(slug_validator, name, field="tags")
    return [Tag.objects.get_or_create(name=name)[0] for name in clean]


def _slug_taken() -> Conflict:
    # Slugs are unique across the catalog, internal datasets included, so a taken one is refused;
    # the answer is the same whether or not the caller may see the dataset, so it names none.
    return Conflict("This slug is not available: choose another.", field="slug")


def _require_team_writer(*, user: User, team: Team) -> None:
    if getattr(user, "is_superuser", False):
        return
    if not teams_writable_by(user=user).filter(pk=team.pk).exists():
        raise AccessDenied(
            f"Registering a dataset for {team.slug} needs the maintainer or owner role in it.",
            field="team",
        )
