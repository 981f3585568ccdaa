"""What bench/ingest.py and bench/validate.py share: a throwaway Granary to measure in, child
processes that report JSON, and the process's own CPU and memory figures."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MB = 1e6  # memory is reported in MB = 10^6 bytes, as the targets are written


def _status(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def peak_rss() -> int:
    """This process's peak resident set size in bytes (VmHWM: after fork and exec, ru_maxrss
    still counts the parent's pages)."""
    return _status("VmHWM")


def current_rss() -> int:
    return _status("VmRSS")


def cpu_seconds() -> float:
    """User + system CPU time of this process so far: less sensitive than wall time to other load."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_child(script: str, kind: str, arg: str, env: dict[str, str], timeout: float) -> dict[str, Any]:
    """Run `script --child kind arg` in a fresh process; its last line of output is JSON."""
    proc = subprocess.run(
        [sys.executable, str(Path(script).resolve()), "--child", kind, arg],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the {kind} process exited with {proc.returncode}:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def setup_granary(workdir: Path, **extra: str) -> dict[str, str]:
    """A fresh SQLite database and GRANARY_DATA_DIR in `workdir`, migrated, with a user and a team
    both named `bench`, Django set up in this process; the environment for the children. Ingest is
    not queued: the benches run it themselves, so no Celery worker or Redis is needed."""
    data_dir = workdir / "data"
    data_dir.mkdir()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DATABASE_URL": f"sqlite:///{workdir / 'granary.sqlite3'}",
        "GRANARY_DATA_DIR": str(data_dir),
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DEBUG": "false",
        "GRANARY_HTTPS": "false",  # the benches talk plain http to 127.0.0.1
        "PYTHONUNBUFFERED": "1",
        **extra,
    }
    os.environ.clear()
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from accounts.services import team_create
    from datasets.services import versions

    call_command("migrate", verbosity=0, interactive=False)
    user = get_user_model().objects.create_user("bench", password=secrets.token_urlsafe(16))
    team_create(user=user, slug="bench", name="Bench")
    # version_create queues ingest on commit through this name; the benches run it themselves.
    versions.ingest_version = SimpleNamespace(delay=lambda version_id: None)  # type: ignore[assignment]
    return env
