"""Point this process's Celery app (what the web side sends tasks with) at a test's own Redis."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


def _forget_connections(app: object) -> None:
    # Celery's pools live in kombu's registries, keyed by broker URL: a pool closed but left
    # registered was handed to the next test on that URL ("Acquire on closed pool", a 500 on
    # upload). Closing and forgetting them all makes the next send open a fresh one.
    from kombu import pools

    pools.reset()
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
