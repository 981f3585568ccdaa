"""Celery's queues: each kind of work goes to its own queue, and the limits fit together."""

from __future__ import annotations

import pytest
from django.conf import settings

from config.celery import QUEUES, app


@pytest.mark.parametrize(
    ("task", "queue"),
    [
        ("datasets.tasks.ingest_version", "ingest"),
        ("datasets.tasks.validate_version", "quality"),
        ("datasets.tasks.deliver_webhook", "io"),
        ("webhooks.tasks.send_notification", "io"),
        ("datasets.tasks.versions_sweep", "io"),
        ("quality.tasks.runs_sweep", "io"),
        ("datasets.tasks.popularity_refresh", "io"),
    ],
)
def test_each_kind_of_work_is_routed_to_its_queue(task, queue):
    assert task in app.tasks
    route = app.amqp.router.route({}, task)
    assert route["queue"].name == queue


def test_every_task_goes_to_a_queue_a_worker_consumes():
    own = [name for name in app.tasks if not name.startswith("celery.")]
    assert {app.amqp.router.route({}, name)["queue"].name for name in own} <= set(QUEUES)


def test_a_running_task_is_never_handed_to_a_second_worker_by_redis():
    # Redis redelivers an unacknowledged message after the visibility timeout: it must outlast
    # the hard limit, and the soft limit (which fails the version with a reason) comes first.
    timeout = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    assert settings.CELERY_TASK_SOFT_TIME_LIMIT < settings.CELERY_TASK_TIME_LIMIT < timeout
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.task_acks_late and app.conf.task_reject_on_worker_lost


def test_sweeps_run_every_few_seconds_within_their_own_limits():
    for name in ("datasets-versions-sweep", "quality-runs-sweep"):
        entry = settings.CELERY_BEAT_SCHEDULE[name]
        task = app.tasks[entry["task"]]
        assert entry["schedule"] == settings.GRANARY_SWEEP_SECONDS
        assert task.soft_time_limit < task.time_limit
