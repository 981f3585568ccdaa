"""Leases on rows that a worker is carrying to their end (a version's ingest, a validation run).

A task takes the lease with one conditional UPDATE (free, or expired), so two deliveries of one
message never run at the same time; while it works a thread renews it every third of its length,
so a lease that expires means its worker is gone (SIGKILL, a lost machine), and the sweepers
(`versions_requeue`, `runs_requeue`) send the work again within a lease and a sweep.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connections, models
from django.db.models import Q
from django.utils import timezone

logger = logging.getLogger(__name__)


def lease_seconds() -> float:
    return float(settings.GRANARY_LEASE_SECONDS)


def send_grace() -> timedelta:
    """How long a sweeper leaves a row whose own send (on commit) has not been recorded yet."""
    return timedelta(seconds=min(10.0, lease_seconds()))


def lease_is_free() -> Q:
    """Rows nobody holds: never leased, released, or whose holder stopped renewing."""
    return Q(lease_until__isnull=True) | Q(lease_until__lt=timezone.now())


@contextmanager
def lease_hold(queryset: models.QuerySet, *, pk: int) -> Iterator[bool]:
    """Take the lease on row `pk` of `queryset` (which filters the states worth working on) and
    keep it renewed until the block ends; yields False, at once, if the row is held or not found.

    The model needs `lease_until` (nullable datetime) and `lease_owner` (char) fields.
    """
    # Which process holds it, for people (and fault tests) looking for it: `<pid>.<random>`.
    owner = f"{os.getpid()}.{uuid.uuid4().hex[:24]}"
    length = lease_seconds()
    taken = queryset.filter(lease_is_free(), pk=pk).update(
        lease_until=timezone.now() + timedelta(seconds=length), lease_owner=owner
    )
    if not taken:
        yield False
        return
    model = queryset.model
    stop = threading.Event()
    renewer = threading.Thread(
        target=_renew, args=(model, pk, owner, length, stop), name=f"lease-{model.__name__}-{pk}", daemon=True
    )
    renewer.start()
    try:
        yield True
    finally:
        stop.set()
        renewer.join()
        # Released only if still ours: after a long stall another worker may have taken it.
        model._default_manager.filter(pk=pk, lease_owner=owner).update(lease_until=None, lease_owner="")


def _renew(model: type[models.Model], pk: int, owner: str, length: float, stop: threading.Event) -> None:
    try:
        while not stop.wait(length / 3):
            try:
                renewed = model._default_manager.filter(pk=pk, lease_owner=owner).update(
                    lease_until=timezone.now() + timedelta(seconds=length)
                )
            except DatabaseError:
                # The database is away for a moment: the next beat tries again, and if none
                # lands before the lease runs out, the work is sent again (and ends only once).
                logger.warning("Could not renew the lease on %s %s", model.__name__, pk, exc_info=True)
                continue
            if not renewed:  # released with the work's end (the row says so), or taken over
                if model._default_manager.filter(pk=pk).exclude(lease_owner="").exists():
                    logger.warning("Lost the lease on %s %s: another worker has taken it", model.__name__, pk)
                return
    finally:
        connections.close_all()  # this thread's own connection
