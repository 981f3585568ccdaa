"""Recording events in the audit log, and forgetting the old ones."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Protocol

from django.conf import settings
from django.utils import timezone

from audit.context import client_ip
from audit.models import AuditEvent


class _Dataset(Protocol):
    pk: Any
    slug: str
    team_id: Any


class _Version(Protocol):
    number: int
    dataset: Any


def audit_record(
    *,
    action: str,
    actor: Any,
    dataset: _Dataset | None = None,
    version: _Version | None = None,
    team: Any = None,
    target: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Record that `actor` did `action`; call it inside the transaction of the change itself, so
    the change and its record are kept together or not at all.

    `dataset` and `version` are whatever the caller has (duck-typed: this app sits below the ones
    that define them); `version` implies its dataset, a dataset its team.
    """
    if version is not None and dataset is None:
        dataset = version.dataset
    team_id = getattr(team, "pk", team) if team is not None else getattr(dataset, "team_id", None)
    signed_in = actor is not None and getattr(actor, "is_authenticated", False)
    return AuditEvent.objects.create(
        actor=actor if signed_in else None,
        actor_name=actor.get_username() if signed_in else "",
        action=action,
        team_id=team_id,
        dataset_id=dataset.pk if dataset is not None else None,
        dataset=dataset.slug if dataset is not None else "",
        version=version.number if version is not None else None,
        target=target[:300],
        detail=detail or {},
        ip=client_ip.get(),
    )


def audit_prune(*, now: Any = None) -> int:
    """Delete the events older than GRANARY_AUDIT_RETENTION_DAYS (0 keeps them all); how many went."""
    days = settings.GRANARY_AUDIT_RETENTION_DAYS
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    deleted, _ = AuditEvent.objects.filter(at__lt=cutoff).delete()
    return deleted
