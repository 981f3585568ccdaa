"""WSGI entry point for gunicorn: `gunicorn config.wsgi`."""

import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")


def _load_great_expectations() -> None:
    from quality.runner import gx_load

    gx_load()


def _preloads() -> bool:
    # Off in `make run` (GRANARY_WEB_PRELOAD_GX=false): GX holds ~230 MB in each web process.
    from django.conf import settings

    return bool(settings.GRANARY_WEB_PRELOAD_GX)


def preload() -> None:
    """Load Great Expectations in this process now, where the settings say a web process has it:
    for gunicorn's arbiter (deploy/gunicorn.conf.py, `preload_app`), before it forks the workers,
    which then start with it, sharing its pages, rather than each importing it beside its first
    requests (the import holds the GIL for seconds: a 256 MiB upload through the app took 6.0 s
    as a worker's first request against 2.3 s after, bench/storage.py transfer)."""
    if _preloads():
        _load_great_expectations()


class LoadsGreatExpectations:
    """The Django app, which loads Great Expectations in a background thread on its first request.

    Saving a suite checks each expectation with Great Expectations, whose import takes seconds:
    loaded beside the first request rather than inside the first suite save. Not at import time,
    so a server that imports the app before forking its workers (gunicorn --preload) forks no
    thread, and a process that serves no request never loads it. Forked from an arbiter that
    preloaded it (`preload`), the thread finds it loaded and ends at once.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self._started_in: int | None = None
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if self._started_in != os.getpid() and _preloads():
            with self._lock:
                if self._started_in != os.getpid():
                    self._started_in = os.getpid()
                    threading.Thread(
                        target=_load_great_expectations, name="granary-load-gx", daemon=True
                    ).start()
        return self.app(environ, start_response)


application = LoadsGreatExpectations(get_wsgi_application())
