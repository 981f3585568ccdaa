"""Writes for access requests: asking to read a restricted dataset, an owner's decision, and
the withdrawal of an approval."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from datasets.errors import AccessDenied, Conflict, InvalidInput
from datasets.models import AccessRequest, Dataset
from datasets.selectors import Access, may_decide_access

REASON_MAX = 2000


def access_request_create(*, user: User, dataset: Dataset, access: Access, reason: str) -> AccessRequest:
    """Ask `dataset`'s owners for access. The caller has checked that the user may discover it
    (selectors.dataset_get with need="discover"); only a restricted dataset's data needs asking."""
    if access.read:
        raise Conflict(f"You can already read '{dataset.slug}'.")
    reason = reason.strip()
    if not reason:
        raise InvalidInput("Say why you need the data: the owners decide on it.", field="reason")
    if len(reason) > REASON_MAX:
        raise InvalidInput(f"Keep the reason under {REASON_MAX:,} characters.", field="reason")
    try:
        with transaction.atomic():
            return AccessRequest.objects.create(dataset=dataset, user=user, reason=reason)
    except IntegrityError:  # the unique pending request per user and dataset
        raise Conflict(
            f"You already asked for access to '{dataset.slug}'; its owners have not decided yet."
        ) from None


@transaction.atomic
def access_request_decide(
    *, user: User, access: Access, request: AccessRequest, approve: bool, note: str = ""
) -> AccessRequest:
    """Approve or deny a pending request; the decision, who made it and when are kept."""
    locked = _locked(user=user, access=access, request=request)
    if locked.status != AccessRequest.Status.PENDING:
        who = locked.decided_by.username if locked.decided_by else "someone"
        when = f"{locked.decided_at:%Y-%m-%d %H:%M} UTC" if locked.decided_at else "earlier"
        raise Conflict(f"This request was already {locked.status} by {who} on {when}.")
    locked.status = AccessRequest.Status.APPROVED if approve else AccessRequest.Status.DENIED
    locked.decided_by = user
    locked.decided_at = timezone.now()
    locked.note = note.strip()[:REASON_MAX]
    locked.save(update_fields=["status", "decided_by", "decided_at", "note"])
    return locked


@transaction.atomic
def access_request_revoke(
    *, user: User, access: Access, request: AccessRequest, note: str = ""
) -> AccessRequest:
    """Withdraw an approved request: its author reads the data no more (and may ask again). The
    approval stays on record beside the revocation."""
    locked = _locked(user=user, access=access, request=request)
    if locked.status != AccessRequest.Status.APPROVED:
        raise Conflict(f"Only an approved request can be revoked; this one is {locked.status}.")
    locked.status = AccessRequest.Status.REVOKED
    locked.revoked_by = user
    locked.revoked_at = timezone.now()
    locked.revoke_note = note.strip()[:REASON_MAX]
    locked.save(update_fields=["status", "revoked_by", "revoked_at", "revoke_note"])
    return locked


def _locked(*, user: User, access: Access, request: AccessRequest) -> AccessRequest:
    if not may_decide_access(access=access, user=user):
        raise AccessDenied(
            f"Access requests for '{request.dataset.slug}' are decided by the owners of the "
            f"{request.dataset.team.slug} team."
        )
    return AccessRequest.objects.select_for_update().get(pk=request.pk)
