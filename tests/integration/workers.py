"""Celery workers as separate processes, for fault tests: started, killed and started again.

Each is `celery -A config.celery:app worker` with the test's database (SQLite file or PostgreSQL),
data directory or S3 prefix, and Redis, as a worker on another machine would be. Leases are short
and beat sweeps every second, so a dead worker's work comes back in seconds rather than minutes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection

CELERY = str(Path(sys.executable).parent / "celery")
LEASE_SECONDS = 4
SWEEP_SECONDS = 1


def database_url() -> str:
    """The URL of the test database this process uses, for processes of their own to open."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def worker_env(redis_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        DATABASE_URL=database_url(),
        REDIS_URL=redis_url,
        GRANARY_DATA_DIR=str(settings.GRANARY_DATA_DIR),
        GRANARY_STORAGE_URL=settings.GRANARY_STORAGE_URL,
        GRANARY_S3_ENDPOINT_URL=settings.GRANARY_S3_ENDPOINT_URL,
        GRANARY_LEASE_SECONDS=str(LEASE_SECONDS),
        GRANARY_SWEEP_SECONDS=str(SWEEP_SECONDS),
        PYTHONUNBUFFERED="1",
    )
    return env


class Worker:
    """One `celery worker` (prefork), with beat embedded unless told, in its own process group."""

    def __init__(
        self, redis_url: str, *, queues: str = "ingest,quality,io", concurrency: int = 1, beat: bool = True
    ) -> None:
        self.redis_url = redis_url
        self.beat = beat
        self.queues = queues
        self.concurrency = concurrency
        self.workdir = Path(tempfile.mkdtemp(prefix="granary-test-worker-"))
        self.logfile = self.workdir / "worker.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, timeout: float = 90.0) -> None:
        self.starts += 1
        log = self.logfile.open("ab")
        self.process = subprocess.Popen(
            [
                CELERY, "-A", "config.celery:app", "worker", "-P", "prefork",
                "-c", str(self.concurrency), "-Q", self.queues, "-l", "INFO",
                "--hostname", f"test{self.starts}@%h", "--without-mingle", "--without-gossip",
                *(["-B", "--schedule", str(self.workdir / "beat-schedule")] if self.beat else []),
            ],
            env=worker_env(self.redis_url),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + timeout
        marker = f"test{self.starts}@"
        while not any(
            marker in line and line.rstrip().endswith("ready.") for line in self.log().splitlines()
        ):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the worker did not start:\n{self.log()[-5000:]}")
            time.sleep(0.1)

    def log(self) -> str:
        return self.logfile.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL to the parent, its processes and beat: a machine lost."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # anything left of its group


def holder_pid(lease_owner: str) -> int:
    """The process holding a lease (core.leases writes `<pid>.<random>`)."""
    return int(lease_owner.split(".", 1)[0])


@contextmanager
def running_worker(redis_url: str, **options: Any) -> Iterator[Worker]:
    worker = Worker(redis_url, **options)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


@contextmanager
def busy_cores(count: int | None = None) -> Iterator[None]:
    """Busy loops on every core (or `count`): a machine under load, as in production."""
    spinners = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(count or os.cpu_count() or 2)
    ]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def wait_or_show(worker: Worker, predicate: Any, *, timeout: float, what: str) -> Any:
    """tests.conftest.wait_for, failing with the end of the worker's log."""
    from tests.conftest import wait_for

    try:
        return wait_for(predicate, timeout=timeout, what=what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the worker's log ends:\n{worker.log()[-6000:]}") from None
