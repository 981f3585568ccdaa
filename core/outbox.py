"""Rows that are their own outbox: a version to ingest, a validation run, a webhook delivery.

The row is committed first and its task is put on the broker after the commit; `sent_at` records
that the broker took it. A send that fails (Redis down, a broker client in a bad state) leaves
`sent_at` as it was, and a sweeper (Celery beat, worker start) sends the row again later, so
accepted work is never lost and never answers a 500 to the request that made it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from core.leases import lease_is_free, send_grace

logger = logging.getLogger(__name__)


def outbox_send(model: type[models.Model], pk: int, send: Callable[[int], Any]) -> bool:
    """Put row `pk`'s task on the broker and record when; False, never an exception, if it could
    not be sent (the row waits for the sweeper)."""
    name = model._meta.verbose_name
    try:
        send(pk)
    except KombuOperationalError:
        logger.warning("The broker is down: %s %s will be sent by the sweeper", name, pk, exc_info=True)
        return False
    except Exception:
        # Runs after the commit: whatever went wrong, the work was accepted and the row holds it.
        logger.exception("Sending %s %s failed: the sweeper will send it", name, pk)
        return False
    model._default_manager.filter(pk=pk).update(sent_at=timezone.now())
    return True


def outbox_due(*, created: str) -> Q:
    """The leased rows (core.leases) a sweeper sends again: those nobody holds that were never
    sent (`created` names when the row was made), whose worker died after the last send (the
    lease expired), or whose send was lost (GRANARY_STUCK_AFTER_MINUTES ago)."""
    now = timezone.now()
    return lease_is_free() & (
        Q(sent_at__isnull=True, **{f"{created}__lt": now - send_grace()})
        | Q(lease_until__isnull=False, sent_at__lt=F("lease_until"))
        | Q(sent_at__lt=now - timedelta(minutes=settings.GRANARY_STUCK_AFTER_MINUTES))
    )


def outbox_sweep(due: models.QuerySet, send: Callable[[int], Any], *, limit: int | None = None) -> list[int]:
    """Send every row of `due` again, oldest first; the ids sent.

    Each row is claimed by a conditional update of `sent_at` (from the value read to now), so two
    sweepers never send one row twice; a send the broker refuses puts the old value back and stops
    the sweep, as the rest would fail the same way.
    """
    now = timezone.now()
    rows = due.order_by("pk").values_list("pk", "sent_at")
    sent: list[int] = []
    for pk, sent_at in rows[:limit] if limit is not None else rows:
        if not due.filter(pk=pk, sent_at=sent_at).update(sent_at=now):
            continue  # another sweeper has it
        try:
            send(pk)
        except KombuOperationalError:
            due.model._default_manager.filter(pk=pk, sent_at=now).update(sent_at=sent_at)
            logger.warning("The broker is down: %s %s stays unsent", due.model._meta.verbose_name, pk)
            break
        sent.append(pk)
    return sent
