"""Point this process's Celery app (what the web side sends tasks with) at a test's own Redis."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


def _forget_connections(app: object) -> None:
    # The producer pool keeps connections to the URL it was made for: drop it with the URL.
    if getattr(app, "_pool", None) is not None:
        app._pool.force_close_all()  # type: ignore[attr-defined]
        app._pool = None  # type: ignore[attr-defined]
    app.amqp._producer_pool = None  # type: ignore[attr-defined]


@contextmanager
def broker_at(url: str) -> Iterator[None]:
    from config.celery import app

    before = app.conf.broker_url
    _forget_connections(app)
    app.conf.broker_url = url
    try:
        yield
    finally:
        _forget_connections(app)
        app.conf.broker_url = before
