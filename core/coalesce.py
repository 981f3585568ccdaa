"""Work that a write needs once however often its steps ask for it, done at the write's end.

Publishing a version asks for its dataset's search document six times (the version's status, the
quality standing it records, the dataset's list fields, each announced on its own): inside a
`coalesced()` block, `once()` keeps the work by key and runs each key's work one time when the
block ends, still inside the caller's transaction, so the work commits or rolls back with it.
Outside a block, `once()` runs the work at once, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import connection

_pending: ContextVar[dict[Hashable, Callable[[], object]] | None] = ContextVar("coalesced", default=None)


def once(key: Hashable, work: Callable[[], object]) -> None:
    """Run `work` now, or once at the end of the enclosing `coalesced()` block, whatever number of
    times `key` is asked for in it (the last work asked for a key is the one that runs)."""
    pending = _pending.get()
    if pending is None:
        work()
        return
    pending[key] = work


@contextmanager
def coalesced() -> Iterator[None]:
    """Collect the `once()` work asked for inside and run it at the end, unless the block raised
    (its transaction is going anyway). A block inside another joins the outer one.

    Only inside a transaction: a write committed within the block would otherwise be followed by
    its work only later, or never if the block then raised."""
    if not connection.in_atomic_block:
        raise RuntimeError("coalesced() belongs inside transaction.atomic()")
    if _pending.get() is not None:
        yield
        return
    pending: dict[Hashable, Callable[[], object]] = {}
    token = _pending.set(pending)
    try:
        yield
    finally:
        _pending.reset(token)
    for work in pending.values():  # work that asks for more runs it at once: the block is closed
        work()
