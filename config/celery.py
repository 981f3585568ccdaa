"""The Celery application, its queues and the worker's start-up: `celery -A config.celery:app worker`.

Three queues, one per kind of work, so each can get its own machines (README, "Workers and queues"):

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
    """Celery's consumer, surviving a broker that drops while a task holds an unacknowledged message.

    On a lost connection Celery 5.7 first `collect()`s the connection, which detaches kombu's
    transport from it, then closes it; closing the Redis channel tries to put the unacknowledged
    message back, needs the detached client's hostname, and the AttributeError escapes
    `ignore_errors` and kills the worker (`'NoneType' object has no attribute 'hostname'`; seen
    when Redis stopped during an ingest, tests/integration/test_redis_faults.py). The step that
    raised was the last of the cleanup: the connection is already dropped, and the consumer
    reconnects as after any connection error. The message stays in Redis's unacked set until the
    running task acknowledges it (acks go by delivery tag, across connections) or, if its worker
    dies, the sweeper sends the work again (core.leases).
    """

    def on_connection_error_after_connected(self, exc: Exception) -> None:
        try:
            super().on_connection_error_after_connected(exc)
        except AttributeError:
            if self.connection is not None:  # not the failure above: someone else's bug
                raise
            logger.warning("Closing the lost broker connection failed; reconnecting anyway", exc_info=True)


app = Celery("granary")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name, routing_key=name) for name in QUEUES]
app.conf.worker_consumer = "config.celery:Consumer"
app.conf.task_routes = {
    "datasets.tasks.ingest_version": {"queue": "ingest"},
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
    killed in turn, for ever. Only workers that run validations pay for it.
    """
    if sender is None or not consumes(sender, "quality"):
        return
    from quality.runner import gx_load

    gx_load()


@worker_ready.connect
def _sweep_on_start(sender: Any = None, **kwargs: Any) -> None:
    """A worker that starts (often: after one died) sends again the work nobody holds."""
    if sender is None or not consumes(sender, "io"):
        return
    for task in ("datasets.tasks.versions_sweep", "quality.tasks.runs_sweep"):
        try:
            app.send_task(task)
        except Exception:  # the broker went away again: beat's next sweep does it
            logger.warning("Could not queue %s at worker start", task, exc_info=True)
