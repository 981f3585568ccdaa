"""The Celery application, its queues and the worker's start-up: `celery -A config.celery:app worker`.

Three queues, one per kind of work, so each can get its own machines (README, "Workers, queues and
faults"):

  ingest   reading uploads: long, I/O and memory heavy
  quality  Great Expectations runs: long, CPU and memory heavy
  io       webhooks, notifications, sweeps, daily housekeeping: short; the default queue
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import Celery
from celery.signals import worker_init, worker_ready
from celery.worker.consumer import Consumer as CeleryConsumer
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

logger = logging.getLogger(__name__)

QUEUES = ("ingest", "quality", "io")


class Consumer(CeleryConsumer):
    """Celery's consumer, surviving Redis going away while a task holds an unacknowledged message.

    On a lost connection Celery 5.7 `collect()`s and closes the connection, which detaches kombu's
    transport from its client (`transport.client = None`); but the channels of that connection
    live on in the messages of running tasks. Closing the Redis channel tries to put such a
    message back, and a task that finishes later acknowledges it on its old channel: both need
    the client's hostname, and the AttributeError (`'NoneType' object has no attribute
    'hostname'`) escaped and killed the worker, at the first disconnect or at the ack after the
    reconnect (tests/integration/test_redis_faults.py). Here the old transport gets its client
    back, so that ack reaches Redis by delivery tag once it is up again (and is logged, not
    fatal, while it is down), and a failed close is logged; the consumer then reconnects as after
    any connection error.
    """

    def on_connection_error_after_connected(self, exc: Exception) -> None:
        connection = self.connection
        transport = getattr(connection, "_transport", None)
        try:
            super().on_connection_error_after_connected(exc)
        except AttributeError:
            if self.connection is not None:  # not the failure above: someone else's bug
                raise
            logger.warning("Closing the lost broker connection failed; reconnecting anyway", exc_info=True)
        finally:
            if transport is not None and transport.client is None:
                transport.client = connection


app = Celery("granary")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name, routing_key=name) for name in QUEUES]
app.conf.worker_consumer = "config.celery:Consumer"
app.conf.task_routes = {
    "datasets.tasks.ingest_version": {"queue": "ingest"},
    # A query saved as a version reads and writes whole results, as ingest does.
    "datasets.tasks.save_query": {"queue": "ingest"},
    # Named as before the apps were split (quality.tasks).
    "datasets.tasks.validate_version": {"queue": "quality"},
    # Everything else (webhooks, notifications, sweeps, popularity) goes to the default, `io`.
}
app.autodiscover_tasks()


def consumes(worker: Any, queue: str) -> bool:
    """Whether this worker takes from `queue` (all queues unless `-Q` narrows them)."""
    selected = worker.app.amqp.queues.consume_from
    return not selected or queue in selected


@worker_init.connect
def _load_great_expectations(sender: Any = None, **kwargs: Any) -> None:
    """In the worker's parent, before it forks its processes: they inherit GX already imported.

    Importing GX takes 4 s, 9 s or more on a loaded machine; done in each new process, it outran
    Celery's timeout for a process to come up, and every replacement of a killed process was
    killed in turn, for ever. Only workers that run validations pay for it, and only where
    GRANARY_WORKER_PRELOAD_GX is on (the default; `make run` turns it off to idle small).
    """
    from django.conf import settings

    if sender is None or not consumes(sender, "quality") or not settings.GRANARY_WORKER_PRELOAD_GX:
        return
    from quality.runner import gx_load

    gx_load()


@worker_init.connect
def _prepare_storage(sender: Any = None, **kwargs: Any) -> None:
    """In the worker's parent, before it forks: boto3 and S3's client model (datasets.storage.s3)
    are loaded once, and each child builds its own client from them in about 10 ms. Loaded in a
    child, they cost its first ingest or validation 0.2-0.5 s (more under load) and 25-30 MB of
    memory of its own, where loaded here the children share the parent's pages."""
    if sender is None or not (consumes(sender, "ingest") or consumes(sender, "quality")):
        return
    from datasets.storage import backend_prepare

    malloc_arenas_bounded()
    try:
        backend_prepare()
    except Exception:  # a child loads it at its first read instead
        logger.warning("Could not prepare the storage client at worker start", exc_info=True)


# glibc's mallopt parameter: how many arenas threads share (by default up to 8 per core).
_M_ARENA_MAX = -8
ARENAS = 2


def malloc_arenas_bounded() -> None:
    """Have the C allocator give this process's threads (and those of processes it forks) two
    arenas between them instead of up to eight per core. What a thread frees stays in its arena,
    and a thread's arena keeps a large freed block at its top for good: each upload of a Parquet
    copy to S3 (8 MiB parts from ten threads) left about 100 MB in a worker child (an 81 MiB put
    five times in one process: 52 -> 152 MB; with two arenas 52-62 MB), and a child's peak grew
    30-50 MB with each ingest; for the same CPU time. MALLOC_ARENA_MAX=2 in the environment does
    the same. A no-op off glibc."""
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_ARENA_MAX, ARENAS)


@worker_ready.connect
def _sweep_on_start(sender: Any = None, **kwargs: Any) -> None:
    """A worker that starts (often: after one died) sends again the work nobody holds."""
    if sender is None or not consumes(sender, "io"):
        return
    for task in (
        "datasets.tasks.versions_sweep",
        "datasets.tasks.query_saves_sweep",
        "quality.tasks.runs_sweep",
        "webhooks.tasks.deliveries_sweep",
    ):
        try:
            app.send_task(task)
        except Exception:  # the broker went away again: beat's next sweep does it
            logger.warning("Could not queue %s at worker start", task, exc_info=True)


@worker_ready.connect
def _sweep_tmp_on_start(sender: Any = None, **kwargs: Any) -> None:
    """Every worker, whatever its queues, sweeps its own machine's working files: tmp/ is local,
    so beat's hourly sweep reaches only the machine that takes it (datasets.services.workfiles)."""
    from django.db import connections

    from datasets.services.workfiles import tmp_sweep

    try:
        tmp_sweep()
    except Exception:  # the database is down, say: the next start or beat's sweep does it
        logger.warning("Could not sweep working files at worker start", exc_info=True)
    finally:
        connections.close_all()  # processes forked later must not share this one's connection
