"""Worker faults, counted: `python bench/faults.py [--kills 20] [--skip-kills]`.

1. How long a new worker process takes to come up on a machine whose cores are all busy: before
   (each process imported Great Expectations in `worker_process_init`; Celery kills a process not
   up within `worker_proc_alive_timeout`, 4 s by default) and now (the parent imports it once
   before forking): the GX import in a fresh process, and the time from SIGKILL of a worker's
   only process to a task run by its replacement.
2. The SIGKILL fault tests (tests/integration/test_worker_faults.py) with --kills kills each of
   an ingest and a validation (20 by default; CI runs 3), printing their tallies for the README.

Uses a throwaway SQLite database and data directory, and a Redis of its own.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def gx_import_seconds() -> float:
    """What each new worker process used to spend before it could say it was alive."""
    code = (
        "import time, django; django.setup(); t = time.perf_counter();"
        "from quality.runner import gx_load; gx_load(); print(time.perf_counter() - t)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def pool_children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def respawn_seconds(rounds: int) -> tuple[list[float], list[float]]:
    """SIGKILL the only process of a quality worker, then time a task run by its replacement."""
    import django

    django.setup()
    from config.celery import app
    from tests.integration.broker import broker_at
    from tests.integration.workers import busy_cores, running_worker
    from tests.services import running_redis

    took: list[float] = []
    forked: list[float] = []
    with (
        running_redis() as url,
        broker_at(url),
        running_worker(url, queues="quality,io", beat=False) as worker,
    ):
        assert worker.process is not None
        with busy_cores():
            for _ in range(rounds):
                [child] = pool_children(worker.process.pid)
                done = worker.log().count("succeeded")
                started = time.perf_counter()
                os.kill(child, signal.SIGKILL)
                app.send_task("quality.tasks.runs_sweep")
                while pool_children(worker.process.pid) in ([], [child]):
                    time.sleep(0.005)
                forked.append(time.perf_counter() - started)
                while worker.log().count("succeeded") <= done:
                    if time.perf_counter() - started > 120:
                        raise SystemExit(f"no task ran after the kill:\n{worker.log()[-3000:]}")
                    time.sleep(0.02)
                took.append(time.perf_counter() - started)
    return forked, took


ORIGINAL_ENV = dict(os.environ)  # the tests run on the caller's DATABASE_URL, not the scratch one


def fault_tests(kills: int) -> list[str]:
    env = dict(ORIGINAL_ENV, GRANARY_FAULT_KILLS=str(kills))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-s",
            "-p",
            "no:cacheprovider",
            "tests/integration/test_worker_faults.py",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    tallies = re.findall(r"^(?:ingest|validation) kills: .*$", run.stdout, re.M)
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr[-2000:]
    return [*tallies, f"pytest: {summary}"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5, help="respawns to time")
    parser.add_argument("--skip-kills", action="store_true", help="only time process start-up")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="granary-bench-faults-"))
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings.base",
        DATABASE_URL=f"sqlite:///{scratch / 'db.sqlite3'}",
        GRANARY_DATA_DIR=str(scratch / "data"),
        GRANARY_HTTPS="false",
    )
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True)

    from tests.integration.workers import busy_cores

    with busy_cores():
        before = [gx_import_seconds() for _ in range(3)]
    print(f"cores: {os.cpu_count()}, all busy with spinning processes during the timings")
    print(
        f"before: a new process imported GX in {statistics.median(before):.1f} s "
        f"(median of 3; max {max(before):.1f} s; Celery's default limit 4 s)"
    )
    forked, after = respawn_seconds(args.rounds)
    print(
        f"now:    SIGKILL of the only process to its replacement forked {statistics.median(forked):.2f} s, "
        f"to a task run by it {statistics.median(after):.2f} s (medians of {len(after)}; max {max(after):.2f} s)"
    )
    if not args.skip_kills:
        print(f"SIGKILL fault tests, {args.kills} kills each (tests/integration/test_worker_faults.py):")
        for line in fault_tests(args.kills):
            print(f"  {line}")


if __name__ == "__main__":
    main()
