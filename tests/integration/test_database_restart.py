"""PostgreSQL restarted in the middle of an upload: the upload is a 503 with Retry-After, nothing of
it stays behind (no version, no blob row), and the next request, the same upload again, works.

Everything is real: a throwaway PostgreSQL cluster of this test's own (never the shared one),
gunicorn serving config.wsgi, Redis for the queue. The upload is held inside its transaction by
a row lock this test takes on the dataset, so the restart lands while the request is mid-way.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests

from tests.conftest import CSV, files_under, sha256_of, wait_for
from tests.services import free_port, running_granary, running_redis

# Its own PostgreSQL, Redis (and S3): the same on every CI leg, so CI runs it once.
pytestmark = [pytest.mark.integration, pytest.mark.own_services]


def _pg_bin() -> Path | None:
    found = shutil.which("initdb") or next(
        iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))[-1:]), None
    )
    return Path(found).parent if found else None


class Cluster:
    """A PostgreSQL cluster in a temporary directory, run as `postgres` when we are root."""

    def __init__(self, bin_dir: Path, root: Path, port: int) -> None:
        self.bin_dir, self.root, self.port = bin_dir, root, port
        self.data = root / "data"
        self.url = f"postgres://postgres@127.0.0.1:{port}/granary"

    def run(self, tool: str, *args: str) -> None:
        command = [str(self.bin_dir / tool), *args]
        if os.geteuid() == 0:  # initdb refuses root
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def pg_ctl(self, *args: str) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off"
        self.run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-o", options, "-w", *args)

    def connect(self, **kwargs: Any) -> psycopg.Connection[Any]:
        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="granary", **kwargs)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL's initdb is not installed (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="granary-pg-restart-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    pg = Cluster(bin_dir, root, free_port())
    pg.run("initdb", "-D", str(pg.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")
    pg.pg_ctl("start")
    try:
        with psycopg.connect(host="127.0.0.1", port=pg.port, user="postgres", autocommit=True) as admin:
            admin.execute("CREATE DATABASE granary")
        yield pg
    finally:
        with contextlib.suppress(subprocess.SubprocessError):
            pg.pg_ctl("-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def server(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data_dir = tmp_path_factory.mktemp("granary-data")
    logs = tmp_path_factory.mktemp("granary-logs")
    with running_redis() as redis_url:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
            "DATABASE_URL": cluster.url,
            "REDIS_URL": redis_url,
            "GRANARY_DATA_DIR": str(data_dir),
            "GRANARY_STORAGE_URL": "",
            "GRANARY_HTTPS": "false",
            "SECRET_KEY": "test-only-secret-key-test-only-secret-key-0123456789",
            "DJANGO_SUPERUSER_PASSWORD": "restart-pw-0123",
        }
        with running_granary(env, logs) as served:
            created = served.api.post(
                f"{served.url}/api/v1/datasets/",
                json={"slug": "scores", "title": "Scores", "team": "ops", "visibility": "internal"},
                timeout=30,
            )
            assert created.status_code == 201, created.text
            yield {"url": served.url, "api": served.api, "data_dir": data_dir}


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def upload_interrupted_by_a_restart(cluster: Cluster, server: dict[str, Any], hold: str) -> requests.Response:
    """POST an upload while this test holds a lock (`hold`, SQL) the upload's transaction will
    wait for, restart PostgreSQL once it waits, and return the upload's answer."""
    url, api = server["url"], server["api"]
    answer: dict[str, requests.Response] = {}

    def post() -> None:
        answer["upload"] = api.post(
            f"{url}/api/v1/datasets/scores/versions/", files={"file": ("scores.csv", CSV)}, timeout=60
        )

    blocker = cluster.connect()
    blocker.execute(hold)
    uploading = threading.Thread(target=post)
    uploading.start()
    with cluster.connect(autocommit=True) as watcher:
        wait_for(
            lambda: watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            ).fetchone()[0],  # type: ignore[index]
            what="the upload to wait on the lock",
        )
    cluster.pg_ctl("-m", "fast", "restart")
    uploading.join(timeout=60)
    with contextlib.suppress(psycopg.Error):
        blocker.close()
    return answer["upload"]


def assert_nothing_was_written(cluster: Cluster, server: dict[str, Any], refused: requests.Response) -> None:
    assert refused.status_code == 503, refused.text
    assert refused.headers["Retry-After"] == "5"
    assert refused.json()["code"] == "database_unavailable"
    assert "Traceback" not in refused.text
    with cluster.connect() as db:
        assert db.execute("SELECT count(*) FROM datasets_version").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM datasets_blob").fetchone() == (0,)
        assert db.execute(
            "SELECT count(*) FROM audit_auditevent WHERE action = 'version.create'"
        ).fetchone() == (0,)
    # A blob stored before the restart may stay without its row (removing it needs the database
    # that just went away); it is whole, under its own digest, and the next upload of the same
    # bytes uses it. Never a partial file, and no temporary file left.
    for blob in files_under(server["data_dir"] / "blobs"):
        assert sha256_of(blob.read_bytes()) == blob.name
    assert files_under(server["data_dir"] / "tmp") == []


@pytest.mark.parametrize(
    "hold",
    [
        # Before anything is written: the upload waits for the dataset's row.
        "SELECT id FROM datasets_dataset WHERE slug = 'scores' FOR UPDATE",
        # After the blob is stored and the version row inserted: it waits to write its audit event.
        "BEGIN; LOCK TABLE audit_auditevent IN EXCLUSIVE MODE",
    ],
    ids=["before-the-version-row", "after-the-blob-and-version-row"],
)
def test_an_upload_caught_by_a_restart_is_a_503_and_leaves_nothing_behind(cluster, server, hold):
    refused = upload_interrupted_by_a_restart(cluster, server, hold)
    assert_nothing_was_written(cluster, server, refused)


def test_the_next_upload_after_a_restart_is_version_1(cluster, server):
    """Nothing half-written: the same bytes are version 1, not "already version 1"."""
    again = server["api"].post(
        f"{server['url']}/api/v1/datasets/scores/versions/", files={"file": ("scores.csv", CSV)}, timeout=60
    )
    assert again.status_code == 202, again.text
    assert again.json()["number"] == 1
    assert len(files_under(server["data_dir"] / "blobs")) == 1


def test_readyz_names_the_database_while_it_is_down_and_recovers_with_it(cluster, server):
    url = server["url"]
    cluster.pg_ctl("-m", "fast", "stop")
    try:
        down = requests.get(f"{url}/readyz", timeout=30)
        assert down.status_code == 503
        assert down.json()["failed"] == ["database"]
        assert down.headers["Retry-After"] == "5"
        page = requests.get(f"{url}/api/v1/datasets/", headers=server["api"].headers, timeout=30)
        assert page.status_code == 503
        assert page.json()["code"] == "database_unavailable"
    finally:
        cluster.pg_ctl("start")
    wait_for(lambda: _answers(f"{url}/readyz"), what="/readyz to answer 200 once PostgreSQL is back")
    assert (
        requests.get(f"{url}/api/v1/datasets/", headers=server["api"].headers, timeout=30).status_code == 200
    )
