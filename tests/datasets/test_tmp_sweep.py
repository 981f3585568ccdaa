"""Working files crashed processes leave in GRANARY_DATA_DIR/tmp are swept once nothing inside
them changed for the grace period, or at once for an ingest whose version is done; work in
flight and files Granary did not make are kept."""

from __future__ import annotations

import os
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from datasets import storage
from datasets.models import Version
from datasets.services.workfiles import tmp_sweep
from datasets.tasks import tmp_sweep as tmp_sweep_task

pytestmark = pytest.mark.django_db

HOURS = 3600


def leftover(name: str, *, age: float, size: int = 1000, directory: bool = True) -> Path:
    """A working file or directory as a process made it `age` seconds ago."""
    path = storage.tmp_dir() / name
    then = time.time() - age
    if directory:
        path.mkdir()
        (path / "part-0.parquet").write_bytes(b"x" * size)
        os.utime(path / "part-0.parquet", (then, then))
    else:
        path.write_bytes(b"x" * size)
    os.utime(path, (then, then))
    return path


def test_old_working_files_of_crashed_processes_are_removed(settings):
    settings.GRANARY_TMP_GRACE_MINUTES = 60
    dead = [
        leftover("validate-abc123", age=3 * HOURS),
        leftover("upload-xyz", age=3 * HOURS, directory=False),
        leftover("repair-q1", age=2 * HOURS, directory=False),
    ]
    sweep = tmp_sweep()

    assert sorted(sweep.removed) == ["repair-q1", "upload-xyz", "validate-abc123"]
    assert sweep.bytes >= 3000
    assert not any(path.exists() for path in dead)


def test_work_in_flight_is_kept_even_in_an_old_directory(settings):
    settings.GRANARY_TMP_GRACE_MINUTES = 60
    running = leftover("validate-live", age=5 * HOURS)
    (running / "part-1.parquet").write_bytes(b"still being written")  # touched just now
    fresh_upload = leftover("upload-new", age=60, directory=False)

    sweep = tmp_sweep()

    assert sweep.removed == [] and sweep.kept == 2
    assert running.exists() and fresh_upload.exists()


def test_files_granary_did_not_make_are_left_alone(settings):
    settings.GRANARY_TMP_GRACE_MINUTES = 1
    mine = leftover("bench-1024mib.csv", age=9 * HOURS, directory=False)
    assert tmp_sweep().removed == []
    assert mine.exists()


def test_an_ingest_directory_goes_at_once_when_its_version_is_done(public_dataset, publish, settings):
    settings.GRANARY_TMP_GRACE_MINUTES = 24 * 60
    done = publish(public_dataset)
    processing = publish(public_dataset, data=b"a,b\n1,2\n", ingest=False)
    crashed = leftover(f"ingest-{done.pk}-k2j3", age=60)  # its worker died; another finished it
    running = leftover(f"ingest-{processing.pk}-p9q8", age=60)
    gone = leftover("ingest-999999-zz", age=60)  # the version was deleted

    sweep = tmp_sweep()

    assert sorted(sweep.removed) == sorted([crashed.name, gone.name])
    assert running.exists()
    assert Version.objects.get(pk=processing.pk).status == Version.Status.PROCESSING


def test_the_command_lists_what_it_would_remove_and_then_removes_it():
    old = leftover("validate-old", age=10 * HOURS)
    out = StringIO()
    call_command("tmp_sweep", "--older-than-minutes", "60", "--dry-run", stdout=out)
    assert "Would remove validate-old" in out.getvalue()
    assert old.exists()

    out = StringIO()
    call_command("tmp_sweep", "--older-than-minutes", "60", stdout=out)
    assert "Removed 1 (" in out.getvalue()
    assert not old.exists()


def test_the_periodic_task_sweeps_and_is_on_beats_schedule(settings):
    settings.GRANARY_TMP_GRACE_MINUTES = 60
    leftover("validate-old", age=10 * HOURS)
    assert tmp_sweep_task() == 1
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "datasets.tasks.tmp_sweep" in tasks


def test_a_worker_sweeps_its_machine_when_it_starts(settings):
    from config.celery import _sweep_tmp_on_start

    settings.GRANARY_TMP_GRACE_MINUTES = 60
    old = leftover("validate-old", age=10 * HOURS)
    _sweep_tmp_on_start(sender=None)
    assert not old.exists()


def test_the_default_grace_outlasts_the_longest_task(settings):
    assert settings.GRANARY_TMP_GRACE_MINUTES * 60 > settings.CELERY_TASK_TIME_LIMIT
