"""Writes for checkouts: resolving references once into a pinned, reproducible manifest."""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.auth.models import User
from django.db import transaction

from audit.services import audit_record
from core.errors import GranaryError, InvalidInput, NotReady
from datasets.models import Checkout, CheckoutItem, Version
from datasets.references import version_get
from datasets.services.summary import datasets_checkouts_refresh

MAX_REFS = 100


def checkout_create(
    *, user: User, refs: Sequence[str], purpose: str, model: str = "", run_id: str = ""
) -> Checkout:
    """Resolve each reference (`churn@prod`, `users@3`, `events`) to an exact ready version the
    user may read, and record the pull with its purpose.

    Every reference is resolved once, here; the checkout keeps the versions and their digests,
    so its manifest never changes, whatever happens to aliases later. A reference that does not
    resolve keeps its error's status (404, 403) with the reference named in the detail.
    """
    wanted = _clean_refs(refs)
    purpose = purpose.strip()
    if not purpose:
        raise InvalidInput("Say what the data is for, e.g. 'train churn model v7'.", field="purpose")
    for name, value, limit in (("purpose", purpose, 500), ("model", model, 200), ("run_id", run_id, 200)):
        if len(value.strip()) > limit:
            raise InvalidInput(f"The {name} is longer than {limit} characters.", field=name)
    versions = [_resolve(user, ref) for ref in wanted]
    with transaction.atomic():
        checkout = Checkout.objects.create(
            purpose=purpose, model=model.strip(), run_id=run_id.strip(), created_by=user
        )
        CheckoutItem.objects.bulk_create(
            CheckoutItem(
                checkout=checkout,
                position=position,
                ref=ref,
                dataset_id=version.dataset_id,
                version=version,
                sha256=version.sha256,
                parquet_sha256=version.parquet_blob_id or "",
            )
            for position, (ref, version) in enumerate(zip(wanted, versions, strict=True))
        )
        for ref, version in zip(wanted, versions, strict=True):  # each dataset's owners see their part
            audit_record(
                action="checkout.create",
                actor=user,
                version=version,
                target=str(checkout.pk),
                detail={"ref": ref, "purpose": checkout.purpose, "model": checkout.model},
            )
        # Locked in id order, as the popularity refresh locks them, so the two never deadlock.
        datasets_checkouts_refresh(dataset_ids=sorted({version.dataset_id for version in versions}))
    return checkout


def _clean_refs(refs: Sequence[str]) -> list[str]:
    if isinstance(refs, str):
        refs = [refs]
    wanted: list[str] = []
    for ref in refs:
        ref = str(ref).strip()
        if ref and ref not in wanted:
            wanted.append(ref)
    if not wanted:
        raise InvalidInput("Name at least one version reference, e.g. churn@latest.", field="refs")
    if len(wanted) > MAX_REFS:
        raise InvalidInput(f"A checkout names at most {MAX_REFS} references.", field="refs")
    too_long = [ref for ref in wanted if len(ref) > 300]
    if too_long:
        raise InvalidInput(f"'{too_long[0][:40]}…' is longer than 300 characters.", field="refs")
    return wanted


def _resolve(user: User, ref: str) -> Version:
    try:
        version = version_get(user=user, ref=ref)
    except GranaryError as exc:
        raise type(exc)(f"{ref}: {exc.detail}", field="refs") from None
    if version.status != Version.Status.READY:
        reason = f" ({version.failure_reason})" if version.failure_reason else ""
        raise NotReady(
            f"{ref}: {version.ref} is {version.status}{reason}; only ready versions can be checked out.",
            field="refs",
        )
    return version
