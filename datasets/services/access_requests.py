"""Writes for access requests: asking to read a restricted dataset, an owner's decision, and
the withdrawal of an approval."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.selectors import team_owners
from audit.services import audit_record
from core.errors import AccessDenied, Conflict, InvalidInput
from datasets.access import Access, dataset_access
from datasets.models import ACCESS_PAGE, DATASET_PAGE, AccessRequest, Dataset
from webhooks.notifications import notify
from webhooks.services import absolute_url, webhooks_publish

REASON_MAX = 2000


def access_request_create(*, user: User, dataset: Dataset, access: Access, reason: str) -> AccessRequest:
    """Ask `dataset`'s owners for access. The caller has checked that the user may discover it
    (datasets.access.dataset_get with need="discover"); only a restricted dataset's data needs asking."""
    if access.read:
        raise Conflict(f"You can already read '{dataset.slug}'.")
    reason = reason.strip()
    if not reason:
        raise InvalidInput("Say why you need the data: the owners decide on it.", field="reason")
    if len(reason) > REASON_MAX:
        raise InvalidInput(f"Keep the reason under {REASON_MAX:,} characters.", field="reason")
    try:
        with transaction.atomic():
            made = AccessRequest.objects.create(dataset=dataset, user=user, reason=reason)
            audit_record(action="access.request", actor=user, dataset=dataset, target=user.get_username())
            webhooks_announce_access_request(request=made)
            notify(
                users=team_owners(team=dataset.team),
                subject=f"Granary: {user.get_username()} asks for access to {dataset.slug}",
                body=(
                    f"{user.get_username()} asks to read the data of '{dataset.slug}' ({dataset.title}):\n\n"
                    f"{reason}\n\nApprove or deny it in the Access tab: "
                    f"{absolute_url(reverse(ACCESS_PAGE, args=[dataset.slug]))}\n"
                ),
            )
            return made
    except IntegrityError:  # the one open (pending or approved) request per user and dataset
        approved = AccessRequest.objects.filter(
            dataset=dataset, user=user, status=AccessRequest.Status.APPROVED
        ).exists()
        if approved:
            raise Conflict(f"Your request for '{dataset.slug}' was approved already.") from None
        raise Conflict(
            f"You already asked for access to '{dataset.slug}'; its owners have not decided yet."
        ) from None


@transaction.atomic
def access_request_decide(
    *, user: User, request: AccessRequest, approve: bool, note: str = ""
) -> AccessRequest:
    """Approve or deny a pending request; the decision, who made it and when are kept."""
    locked = _locked(user=user, request=request)
    if locked.status != AccessRequest.Status.PENDING:
        revoked = locked.status == AccessRequest.Status.REVOKED
        by = locked.revoked_by if revoked else locked.decided_by
        at = locked.revoked_at if revoked else locked.decided_at
        who = by.username if by else "someone"
        when = f"{at:%Y-%m-%d %H:%M} UTC" if at else "earlier"
        raise Conflict(f"This request was already {locked.status} by {who} on {when}.")
    if approve and locked.dataset.visibility != Dataset.Visibility.RESTRICTED:
        # An approval now would lie dormant and open the data if the dataset became restricted.
        raise Conflict(
            f"'{locked.dataset.slug}' is {locked.dataset.visibility}, not restricted: there is no access "
            "to grant. Deny the request, or make the dataset restricted first."
        )
    locked.status = AccessRequest.Status.APPROVED if approve else AccessRequest.Status.DENIED
    locked.decided_by = user
    locked.decided_at = timezone.now()
    locked.note = note.strip()[:REASON_MAX]
    locked.save(update_fields=["status", "decided_by", "decided_at", "note"])
    _tell_requester(locked)
    audit_record(
        action=f"access.{'approve' if approve else 'deny'}",
        actor=user,
        dataset=locked.dataset,
        target=locked.user.get_username(),
        detail={"request": locked.pk},
    )
    return locked


@transaction.atomic
def access_request_revoke(*, user: User, request: AccessRequest, note: str = "") -> AccessRequest:
    """Withdraw an approved request: its author reads the data no more (and may ask again). The
    approval stays on record beside the revocation."""
    locked = _locked(user=user, request=request)
    if locked.status != AccessRequest.Status.APPROVED:
        raise Conflict(f"Only an approved request can be revoked; this one is {locked.status}.")
    locked.status = AccessRequest.Status.REVOKED
    locked.revoked_by = user
    locked.revoked_at = timezone.now()
    locked.revoke_note = note.strip()[:REASON_MAX]
    locked.save(update_fields=["status", "revoked_by", "revoked_at", "revoke_note"])
    _tell_requester(locked)
    audit_record(
        action="access.revoke",
        actor=user,
        dataset=locked.dataset,
        target=locked.user.get_username(),
        detail={"request": locked.pk},
    )
    return locked


def _tell_requester(request: AccessRequest) -> None:
    dataset = request.dataset
    note = request.revoke_note if request.status == AccessRequest.Status.REVOKED else request.note
    notify(
        users=[request.user],
        subject=f"Granary: your access to {dataset.slug} was {request.status}",
        body=(
            f"Your request to read the data of '{dataset.slug}' ({dataset.title}) was {request.status}"
            + (f": {note}" if note else ".")
            + f"\n\n{absolute_url(reverse(DATASET_PAGE, args=[dataset.slug]))}\n"
        ),
    )


def _locked(*, user: User, request: AccessRequest) -> AccessRequest:
    """The request, locked, for a user who may decide it: an owner of the team of the request's
    own dataset (worked out here, not taken from the caller), and not its author."""
    locked = AccessRequest.objects.select_for_update().select_related("dataset__team").get(pk=request.pk)
    dataset = locked.dataset
    if not dataset_access(user=user, dataset=dataset).decide:
        raise AccessDenied(
            f"Access requests for '{dataset.slug}' are decided by the owners of the {dataset.team.slug} team."
        )
    if locked.user_id == user.pk:
        raise AccessDenied("Another owner decides your own request.")
    return locked


DECISIONS = ("approve", "deny", "revoke")


def access_request_settle(
    *, user: User, request: AccessRequest, decision: str, note: str = ""
) -> AccessRequest:
    """Apply an owner's `decision` (one of DECISIONS), as the API and the Access tab send it."""
    if decision == "revoke":
        return access_request_revoke(user=user, request=request, note=note)
    if decision not in DECISIONS:
        raise InvalidInput(f"'{decision}' is not a decision: use approve, deny or revoke.", field="decision")
    return access_request_decide(user=user, request=request, approve=decision == "approve", note=note)


def webhooks_announce_access_request(*, request: AccessRequest) -> None:
    """Queue `access.requested` for the dataset's team, so its owners hear of a new request
    without watching the Access tab."""
    dataset = request.dataset
    payload = {
        "event": "access.requested",
        "dataset": dataset.slug,
        "request": request.pk,
        "user": request.user.get_username(),
        "reason": request.reason,
        "decide_url": absolute_url(reverse(ACCESS_PAGE, args=[dataset.slug])),
        "sent_at": timezone.now().isoformat(),
    }
    webhooks_publish(team=dataset.team, event="access.requested", payload=payload)
