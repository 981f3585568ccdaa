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
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

logger = logging.getLogger(__name__)

QUEUES = ("ingest", "quality", "io")

app = Celery("granary")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name, routing_key=name) for name in QUEUES]
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
