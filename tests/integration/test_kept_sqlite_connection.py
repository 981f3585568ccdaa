"""The embedded default (SQLite) keeps each web thread's database connection between requests, as
PostgreSQL's are kept: opening one per request (the file, the schema read back, Django's
functions, the PRAGMAs) cost every request 3-4 ms of CPU. A kept connection must still see what
other processes write (a worker's new dataset, a `search_rebuild` that remakes the search
tables): it holds no transaction between requests.

Real parts: gunicorn serving config.wsgi with the production settings on a SQLite file of this
test's own (one worker, one thread, so that every request goes through the same connection), and
other processes writing to the same file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.services import running_granary, running_redis

ROOT = Path(__file__).resolve().parents[2]

# Its own database, server and Redis: the same on every CI leg, so CI runs it once.
pytestmark = [pytest.mark.integration, pytest.mark.own_services]

NEW_DATASET = """
from django.contrib.auth.models import User
from accounts.models import Team
from datasets.services.datasets import dataset_create
dataset_create(user=User.objects.get(username="ops"), team=Team.objects.get(slug="ops"),
               slug="tide-gauges", title="Tide gauges", summary="Sea level every hour")
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("granary-sqlite-kept")
    database = root / "granary.sqlite3"
    with running_redis() as redis_url:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
            "DATABASE_URL": f"sqlite:///{database}",  # the settings' default: connections kept
            "REDIS_URL": redis_url,
            "GRANARY_DATA_DIR": str(root / "data"),
            "GRANARY_STORAGE_URL": "",
            "GRANARY_HTTPS": "false",
            "SECRET_KEY": "test-only-secret-key-test-only-secret-key-0123456789",
            "DJANGO_SUPERUSER_PASSWORD": "kept-pw-0123",
        }
        # One thread: every request goes through the same connection.
        with running_granary(env, root, threads=1) as served:
            created = served.api.post(
                f"{served.url}/api/v1/datasets/",
                json={"slug": "rain-gauges", "title": "Rain gauges", "team": "ops", "visibility": "internal"},
                timeout=30,
            )
            assert created.status_code == 201, created.text
            yield {"url": served.url, "api": served.api, "env": env, "database": database, "web": served.web}


def _found(server: dict[str, Any], q: str) -> list[str]:
    answer = server["api"].get(f"{server['url']}/api/v1/search/", params={"q": q}, timeout=30)
    assert answer.status_code == 200, answer.text
    return [hit["slug"] for hit in answer.json()["results"]]


def _open_by_worker(server: dict[str, Any]) -> bool:
    """Whether gunicorn's worker has the database file open (its kept connection)."""
    children = Path(f"/proc/{server['web'].pid}/task/{server['web'].pid}/children").read_text().split()
    assert len(children) == 1, children
    links = []
    for fd in Path(f"/proc/{children[0]}/fd").iterdir():
        try:
            links.append(os.readlink(fd))
        except FileNotFoundError:
            continue  # closed meanwhile
    return str(server["database"]) in links


def _manage(server: dict[str, Any], *args: str) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=server["env"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr


def test_a_kept_connection_sees_what_other_processes_write_and_a_rebuild_of_the_index(server):
    assert _found(server, "rain") == ["rain-gauges"]
    assert _open_by_worker(server), "the request's connection was closed, not kept"

    # Another process (a worker, a shell) adds a dataset: the kept connection sees it at once.
    _manage(server, "shell", "-c", NEW_DATASET)
    assert sorted(_found(server, "gauges")) == ["rain-gauges", "tide-gauges"]
    assert _found(server, "tide") == ["tide-gauges"]

    # A rebuild makes the search tables anew under the kept connection: it reads the new ones.
    _manage(server, "search_rebuild", "--jobs", "0")
    assert _found(server, "tide") == ["tide-gauges"]
    assert sorted(_found(server, "gauges")) == ["rain-gauges", "tide-gauges"]
    assert _open_by_worker(server)
