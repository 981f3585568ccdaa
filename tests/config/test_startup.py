"""A web process starts light: the data libraries load on first use, Great Expectations beside the
first requests, so no page waits seconds for an import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("pandas", "pyarrow", "polars", "numpy", "great_expectations", "duckdb")


def run_python(code: str, tmp_path: Path) -> dict[str, object]:
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "GRANARY_DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "SECRET_KEY": "test-only-secret-key-test-only-secret-key-0123456789",
    }
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_loading_every_page_and_endpoint_imports_no_data_library(tmp_path):
    found = run_python(
        f"""
import json, sys
import django
django.setup()
from django.urls import get_resolver
def walk(patterns):
    for pattern in patterns:
        if hasattr(pattern, "url_patterns"):
            walk(pattern.url_patterns)
        else:
            pattern.callback  # imports the view's module
walk(get_resolver().url_patterns)
print(json.dumps({{"heavy": sorted(m for m in {HEAVY!r} if m in sys.modules)}}))
""",
        tmp_path,
    )
    assert found == {"heavy": []}


def test_the_wsgi_app_loads_great_expectations_beside_its_first_request(tmp_path):
    found = run_python(
        """
import json, sys, threading
from django.test import RequestFactory
import config.wsgi
at_import = "great_expectations" in sys.modules
environ = RequestFactory().get("/accounts/login/").environ
config.wsgi.application(environ, lambda status, headers, exc_info=None: None)
config.wsgi.application(environ, lambda status, headers, exc_info=None: None)
loaders = [t for t in threading.enumerate() if t.name == "granary-load-gx"]
for loader in loaders:
    loader.join(timeout=90)
print(json.dumps({"at_import": at_import, "loaders": len(loaders),
                  "registry": "great_expectations.expectations.registry" in sys.modules}))
""",
        tmp_path,
    )
    assert found == {"at_import": False, "loaders": 1, "registry": True}


def test_the_wsgi_app_leaves_great_expectations_unloaded_when_make_run_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("GRANARY_WEB_PRELOAD_GX", "false")  # make run's default: a small web process
    found = run_python(
        """
import json, sys, threading
from django.test import RequestFactory
import config.wsgi
environ = RequestFactory().get("/accounts/login/").environ
config.wsgi.application(environ, lambda status, headers, exc_info=None: None)
loaders = [t for t in threading.enumerate() if t.name == "granary-load-gx"]
print(json.dumps({"loaders": len(loaders), "gx": "great_expectations" in sys.modules}))
""",
        tmp_path,
    )
    assert found == {"loaders": 0, "gx": False}


def test_gunicorns_arbiter_loads_great_expectations_once_before_forking_its_workers(tmp_path):
    """deploy/gunicorn.conf.py preloads the app and GX in the arbiter (`when_ready`, before any
    worker forks): a worker has GX before its first request, and its first request still works."""
    found = run_python(
        """
import json, os, runpy, sys
from django.test import RequestFactory
conf = runpy.run_path("deploy/gunicorn.conf.py")
import config.wsgi  # what preload_app does in the arbiter
conf["when_ready"](None)
in_arbiter = "great_expectations.expectations.registry" in sys.modules
read, write = os.pipe()
pid = os.fork()
if pid == 0:  # a worker
    try:
        before = "great_expectations.expectations.registry" in sys.modules
        statuses = []
        environ = RequestFactory().get("/accounts/login/", HTTP_HOST="localhost").environ
        config.wsgi.application(environ, lambda status, headers, exc_info=None: statuses.append(status))
        os.write(write, json.dumps({"worker_before_a_request": before, "status": statuses}).encode())
    except BaseException:
        import traceback
        traceback.print_exc()  # for the test's message: the worker never reaches the top level
    os._exit(0)
os.close(write)  # a worker that died leaves the pipe empty: the read ends instead of waiting
os.waitpid(pid, 0)
answer = os.read(read, 1000)
if not answer:
    sys.exit("the worker died before answering")
worker = json.loads(answer)
print(json.dumps({"preload_app": conf["preload_app"], "in_arbiter": in_arbiter, **worker}))
""",
        tmp_path,
    )
    assert found == {
        "preload_app": True,
        "in_arbiter": True,
        "worker_before_a_request": True,
        "status": ["200 OK"],
    }
