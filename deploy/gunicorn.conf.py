"""gunicorn settings for Granary's web processes: `gunicorn -c deploy/gunicorn.conf.py config.wsgi`.

Metrics: each worker process counts in files under PROMETHEUS_MULTIPROC_DIR, and /metrics adds
them up. The directory is emptied when the server starts (stale files from a previous run would
count twice) and a dead worker's live gauges are dropped.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

bind = os.environ.get("GRANARY_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GRANARY_WEB_THREADS", "8"))
# Uploads through the app stream for as long as the client sends; nginx buffers nothing.
timeout = 300
graceful_timeout = 30
accesslog = "-"
control_socket_disable = True
# The app loads once, in the arbiter, and Great Expectations with it (GRANARY_WEB_PRELOAD_GX,
# `when_ready`), before the workers fork: they start with both and share their pages. Loaded
# in each worker beside its first requests, GX's import held the GIL for seconds (a 256 MiB
# upload as a worker's first request: 6.0 s, against 2.3 s after). A code change needs a restart
# then, not a HUP, which re-forks the workers from the arbiter's copy.
preload_app = True


def on_starting(server: Any) -> None:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    if directory:
        path = Path(directory)
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True, exist_ok=True)


def when_ready(server: Any) -> None:
    from config.wsgi import preload

    preload()


def child_exit(server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
