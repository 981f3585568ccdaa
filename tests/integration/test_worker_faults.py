"""Workers killed with SIGKILL in the middle of an ingest and of a validation, on a busy machine:
every version and run still ends, once, in a final state, through real workers, Redis and GX.

CI kills 3 of each (GRANARY_FAULT_KILLS); `python bench/faults.py` kills 20 of each and prints
the counts the README reports.
"""

from __future__ import annotations

import hashlib
import os
import signal
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from datasets import storage
from datasets.models import Version
from quality.models import ValidationRun
from quality.services import suite_save, validation_queue
from tests.conftest import wait_for
from tests.integration.workers import Worker, busy_cores, holder_pid, running_worker, wait_or_show
from tests.services import RedisServer, restartable_redis

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

KILLS = int(os.environ.get("GRANARY_FAULT_KILLS", "3"))


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    from tests.integration.broker import broker_at

    with restartable_redis() as server, broker_at(server.url):
        yield server


def csv_rows(rows: int, seed: int) -> bytes:
    return b"id,age,plan\n" + b"".join(
        b"%d,%d,%s\n" % (i, (i * 7 + seed) % 90, b"basic" if i % 3 else b"pro") for i in range(rows)
    )


UNFINISHED = ("processing", "queued", "running")
TRIES = 5  # works queued to catch one in progress


def kill_holder(model: type[Any], pk: int, worker: Worker, *, whole_worker: bool) -> bool | None:
    """Wait until a worker process holds the row's lease, then SIGKILL it (or its whole worker,
    parent and beat included, then start that worker again); True if it was killed mid-work,
    None if the work ended between two looks (a warm worker validated 300,000 rows in 0.09 s,
    under the 0.1 s between looks), so nothing was killed."""

    def taken_or_ended() -> tuple[str, str] | None:
        owner, status = model.objects.filter(pk=pk).values_list("lease_owner", "status").get()
        return (owner, status) if owner or status not in UNFINISHED else None

    owner, _ = wait_for(taken_or_ended, timeout=90, what=f"a worker to take {model.__name__} {pk}")
    if not owner:
        return None
    if whole_worker:
        worker.kill()
    else:
        os.kill(holder_pid(owner), signal.SIGKILL)
    unfinished = model.objects.filter(pk=pk, status__in=UNFINISHED).exists()
    if whole_worker:
        worker.start()
    return unfinished


def test_versions_whose_worker_is_killed_mid_ingest_end_ready_once(
    redis_server, public_dataset, maintainer, publish
):
    rows = 400_000
    outcomes: Counter[str] = Counter()
    with running_worker(redis_server.url, queues="ingest,io") as worker:
        for attempt in range(KILLS):
            for tried in range(TRIES):
                data = csv_rows(rows, seed=attempt * TRIES + tried)
                version = publish(public_dataset, data=data, user=maintainer, ingest=False)
                killed = kill_holder(Version, version.pk, worker, whole_worker=attempt % 2 == 1)
                if killed is not None:
                    break
            assert killed is not None, f"no ingest caught in progress in {TRIES} tries"
            outcomes["killed mid-ingest"] += killed
            wait_or_show(
                worker,
                # Ended, and its last holder gone (a killed one never releases its lease).
                lambda v=version: (
                    Version.objects.filter(pk=v.pk, lease_owner="").exclude(status="processing").exists()
                ),
                timeout=90,
                what=f"version {version.number} to end after the kill",
            )
            version.refresh_from_db()
            outcomes[version.status] += 1
            consistent = (
                version.status == Version.Status.READY
                and version.row_count == rows
                and version.parquet_blob_id is not None
                and storage.blob_sha256(version.sha256) == hashlib.sha256(data).hexdigest()
            )
            outcomes["consistent"] += consistent
            if not consistent:
                print(f"inconsistent: {version.__dict__}")
        assert worker.alive(), worker.log()[-3000:]
    print(f"\ningest kills: {dict(outcomes)}")
    assert outcomes == Counter({"killed mid-ingest": KILLS, "ready": KILLS, "consistent": KILLS})
    assert not Version.objects.filter(status="processing").exists()


def test_runs_whose_worker_is_killed_mid_validation_on_a_busy_machine_end_once(
    redis_server, public_dataset, maintainer, publish
):
    version = publish(public_dataset, data=csv_rows(300_000, seed=1), user=maintainer)
    assert version.status == "ready", version.failure_reason
    expectations = [
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "age", "min_value": 0, "max_value": 80},
        },
        {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "plan", "value_set": ["basic", "pro"]},
        },
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}},
    ]
    suite_save(dataset=public_dataset, user=maintainer, expectations=expectations)  # queues a run
    outcomes: Counter[str] = Counter()
    # Both cores busy, as on the machine where a replacement process loading GX outran Celery's
    # start timeout and no task ran again: now the parent has GX before it forks.
    with running_worker(redis_server.url, queues="quality,io") as worker, busy_cores():
        wait_for(
            lambda: not ValidationRun.objects.exclude(status__in=ValidationRun.TERMINAL).exists(),
            timeout=120,
            what="the suite's first run",
        )
        for attempt in range(KILLS):
            for _ in range(TRIES):
                run = validation_queue(version=version, trigger="fault test", user=maintainer)
                killed = kill_holder(ValidationRun, run.pk, worker, whole_worker=attempt % 2 == 1)
                if killed is not None:
                    break
            assert killed is not None, f"no run caught in progress in {TRIES} tries"
            outcomes["killed mid-validation"] += killed
            wait_or_show(
                worker,
                lambda r=run: ValidationRun.objects.filter(
                    pk=r.pk, lease_owner="", status__in=ValidationRun.TERMINAL
                ).exists(),
                timeout=120,
                what=f"run {run.pk} to end after the kill",
            )
            run.refresh_from_db()
            version.refresh_from_db()
            outcomes[run.status] += 1
            outcomes["consistent"] += (
                run.evaluated == 3 and run.successful == 2 and version.quality_status == run.status
            )
        # The next task after the last kill runs too.
        last = validation_queue(version=version, trigger="after the kills", user=maintainer)
        wait_for(
            lambda: ValidationRun.objects.filter(pk=last.pk, status__in=ValidationRun.TERMINAL).exists(),
            timeout=120,
            what="a validation after the kills",
        )
        assert worker.alive(), worker.log()[-3000:]
    print(f"\nvalidation kills: {dict(outcomes)}")
    assert outcomes == Counter({"killed mid-validation": KILLS, "failed": KILLS, "consistent": KILLS})
    assert not ValidationRun.objects.filter(status__in=["queued", "running"]).exists()
