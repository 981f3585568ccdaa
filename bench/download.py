#!/usr/bin/env python
"""Download benchmark: serving a large version, and the API's latency while slow clients download.

    .venv/bin/python bench/download.py [--size-mb 1024]

From one run it prints, for each server setup:

1. the throughput of downloading a version of --size-mb through the app, as a ratio to a static
   file server sending the same blob (nginx; `python -m http.server` where nginx is absent);
2. the p99 latency of a small API request (`GET /api/v1/datasets/` with a Bearer token) while
   four slow clients download the version (each reads at --slow-mbps for --slow-seconds).

Setups:
  (a) gunicorn sync workers sending the FileResponse themselves (sendfile);
  (b) nginx in front of the same gunicorn with GRANARY_SENDFILE=x-accel-redirect: the app
      authorises the download and nginx sends the bytes from an `internal` location;
  (c) gunicorn gthread workers (threads) sending the FileResponse: the fallback without nginx.

Everything runs on 127.0.0.1 with ephemeral ports, in a temporary directory (SQLite database,
GRANARY_DATA_DIR, nginx prefix) that is removed at the end; every server started here is stopped
at the end, on Ctrl-C and on errors too. Targets: throughput >= 0.8x the static server, p99 < 50 ms.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _env

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
SENDFILE_PREFIX = "/_granary_blobs/"
DATASET = "bench-download"
API_PATH = "/api/v1/datasets/"
MIB = 1024 * 1024
GB = 1e9  # throughput is reported in GB/s = 10^9 bytes per second

TARGET_RATIO = 0.8
TARGET_P99_MS = 50.0


# --- processes -----------------------------------------------------------------------------------


class Servers:
    """Every process this bench starts, so that all of them are stopped whatever happens."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.procs: list[tuple[str, subprocess.Popen[bytes], int]] = []

    def start(
        self, name: str, argv: list[str], env: dict[str, str], *, stop_signal: int
    ) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the bench only; it stops them in order
        )
        log.close()
        self.procs.append((name, proc, stop_signal))
        return proc

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        for entry in list(self.procs):
            if entry[1] is proc:
                self._stop(*entry)
                self.procs.remove(entry)

    def stop_all(self) -> None:
        while self.procs:
            self._stop(*self.procs.pop())

    @staticmethod
    def _stop(name: str, proc: subprocess.Popen[bytes], stop_signal: int) -> None:
        if proc.poll() is not None:
            return
        try:
            proc.send_signal(stop_signal)
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()  # this process only, by its id
            proc.wait(timeout=5)
        except ProcessLookupError:
            pass

    def log_tail(self, name: str, lines: int = 20) -> str:
        path = self.workdir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(
    servers: Servers, name: str, proc: subprocess.Popen[bytes], port: int, timeout: float = 20
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{servers.log_tail(name)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(
        f"{name} did not listen on 127.0.0.1:{port} within {timeout:.0f} s:\n{servers.log_tail(name)}"
    )


# --- data ----------------------------------------------------------------------------------------


def write_csv(path: Path, size: int) -> None:
    """A CSV of `size` bytes (a multiple of 1 MiB) in 64-byte rows, written in 1 MiB blocks: about
    a second per GB. Every block is one template with the block's number stamped into the ids."""
    row = 64
    lines = []
    for i in range(MIB // row):
        text = (
            f"BBBBBB{i:05d},sensor-{i % 997:03d},{(i * 7919) % 100000 / 100:.2f},"
            f"2024-06-{1 + i % 28:02d}T{i % 24:02d}:00:00Z,"
        )
        lines.append(text + "x" * (row - 1 - len(text)) + "\n")
    template = "".join(lines).encode()
    header = b"id,sensor,value,observed_at,note"
    header = header + b" " * (row - 1 - len(header)) + b"\n"
    with open(path, "wb") as out:
        for block in range(size // MIB):
            data = template.replace(b"BBBBBB", b"%06d" % (block % 1_000_000))
            out.write(header + data[row:] if block == 0 else data)


def setup_granary(workdir: Path, size: int) -> tuple[dict[str, str], str, str, int]:
    """Migrate a fresh database and publish a ready version of `size` bytes; (env, token, sha256, size)."""
    started = time.monotonic()
    env = _env.setup_granary(
        workdir,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        GRANARY_SENDFILE="",
        GRANARY_SENDFILE_PREFIX=SENDFILE_PREFIX,
        GRANARY_MAX_UPLOAD_BYTES=str(max(size * 2, 10 * MIB)),
    )
    from django.contrib.auth import get_user_model
    from django.db import connections

    from accounts.models import Team
    from accounts.services import token_create
    from datasets import storage
    from datasets.models import Dataset, Version
    from datasets.services import versions
    from datasets.services.datasets import dataset_create

    user = get_user_model().objects.get(username="bench")
    team = Team.objects.get(slug="bench")
    for n in range(5):  # a few datasets for the small API request to list
        dataset_create(
            user=user,
            team=team,
            slug=f"bench-{n:02d}",
            title=f"Bench dataset {n}",
            summary="A small dataset listed by the API request.",
            visibility=Dataset.Visibility.INTERNAL,
        )
    dataset = dataset_create(
        user=user,
        team=team,
        slug=DATASET,
        title="Bench download",
        summary=f"{size} bytes of CSV",
        visibility=Dataset.Visibility.INTERNAL,
    )
    token = token_create(user=user, name="bench").secret

    upload = storage.tmp_dir() / "bench-upload.csv"
    write_csv(upload, size)
    sha256 = storage.file_sha256(upload)
    # Ingest is run here, in this process (_env does not queue it): no Celery worker or Redis is needed.
    try:
        version = versions.version_create(
            dataset=dataset,
            user=user,
            path=upload,
            sha256=sha256,
            size=size,
            filename="bench.csv",
            message="bench",
        )
    finally:
        upload.unlink(missing_ok=True)
    done = versions.version_ingest(version_id=version.pk)
    if done is None or done.status != Version.Status.READY:
        raise RuntimeError(f"the bench version did not become ready: {done and done.failure_reason}")
    connections.close_all()
    print(
        f"setup: {size / MIB:.0f} MiB CSV, {done.row_count:,} rows, sha256 {sha256[:16]}…, ready in "
        f"{time.monotonic() - started:.1f} s"
    )
    # nginx workers run as an unprivileged user: let them read the blobs, as in production.
    os.chmod(workdir, 0o755)  # noqa: S103 (the blobs themselves are read-only)
    return env, token, sha256, size


def measure_audit_cost(count: int = 2000) -> None:
    """What recording one download in the audit log costs: the INSERT the download view makes,
    timed in this process against the same database (target < 1 ms)."""
    from django.contrib.auth import get_user_model
    from django.db import connections

    from datasets.models import Version
    from datasets.services.downloads import version_download_record

    user = get_user_model().objects.get(username="bench")
    version = Version.objects.select_related("dataset").get(dataset__slug=DATASET, number=1)
    for _ in range(50):  # warm the connection and the statement cache
        version_download_record(user=user, version=version, format="original", columns=None, status=200)
    samples = []
    cpu_before = _env.cpu_seconds()
    for _ in range(count):
        started = time.perf_counter()
        version_download_record(user=user, version=version, format="original", columns=None, status=200)
        samples.append(time.perf_counter() - started)
    cpu = (_env.cpu_seconds() - cpu_before) / count
    connections.close_all()
    samples.sort()
    p50, p99_ = samples[len(samples) // 2], samples[int(len(samples) * 0.99)]
    # The target is the typical cost (median wall and mean CPU); the p99 shows the machine's noise,
    # SQLite's commit flushing to disk included.
    ok = p50 < 0.001 and cpu < 0.001
    print(
        f"audit: recording a download costs p50 {p50 * 1000:.3f} ms wall, {cpu * 1000:.3f} ms CPU "
        f"(p99 {p99_ * 1000:.3f} ms), over {count} records, load {os.getloadavg()[0]:.2f} "
        f"(target < 1 ms: {'met' if ok else 'MISSED'})"
    )


# --- clients -------------------------------------------------------------------------------------


@dataclass
class Download:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    received: int = 0
    seconds: float = 0.0
    sha256: str = ""
    error: str = ""


def download(
    port: int,
    path: str,
    token: str | None,
    *,
    verify: bool = False,
    rate: float | None = None,
    seconds: float | None = None,
    timeout: float = 60,
) -> Download:
    """GET `path` over a raw socket. Fast by default (recv_into a 1 MiB buffer); with `rate` it
    reads at most `rate` bytes/s and hangs up after `seconds`, like a slow client."""
    result = Download()
    started = time.monotonic()
    deadline = started + (seconds if seconds is not None else timeout)
    digest = hashlib.sha256() if verify else None
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Connection: close",
        "User-Agent: granary-bench",
    ]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(request)
            head = b""
            while b"\r\n\r\n" not in head:
                if time.monotonic() > deadline:
                    raise TimeoutError("no response headers before the deadline")
                sock.settimeout(max(0.01, min(timeout, deadline - time.monotonic())))
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("closed before the response headers")
                head += chunk
            raw, rest = head.split(b"\r\n\r\n", 1)
            status_line, *header_lines = raw.decode("latin-1").split("\r\n")
            result.status = int(status_line.split()[1])
            for line in header_lines:
                name, _, value = line.partition(":")
                result.headers[name.strip().lower()] = value.strip()
            length = int(result.headers.get("content-length", "-1"))
            if length < 0:
                raise ConnectionError(f"no Content-Length in a {result.status} response")
            if digest:
                digest.update(rest)
            got = len(rest)
            step = 64 * 1024 if rate else MIB
            buffer = bytearray(step)
            view = memoryview(buffer)
            while got < length:
                now = time.monotonic()
                if now >= deadline:
                    break
                if rate and got > (now - started) * rate:
                    time.sleep(min(got / rate - (now - started), deadline - now, 0.5))
                    continue
                sock.settimeout(max(0.01, min(timeout, deadline - now)))
                n = sock.recv_into(view, min(step, length - got))
                if n == 0:
                    break
                if digest:
                    digest.update(view[:n])
                got += n
            result.received = got
    except (OSError, ValueError) as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    result.seconds = time.monotonic() - started
    if digest:
        result.sha256 = digest.hexdigest()
    return result


def api_request(port: int, token: str, timeout: float) -> tuple[float | None, int]:
    """Seconds for one `GET /api/v1/datasets/` on a new connection, or None if it failed."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(
            "GET", API_PATH, headers={"Authorization": f"Bearer {token}", "Connection": "close"}
        )
        response = connection.getresponse()
        response.read()
        status = response.status
    except (OSError, http.client.HTTPException):
        return None, 0
    finally:
        connection.close()
    return time.perf_counter() - started, status


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(0.99 * len(ordered)) - 1))]


# --- measurements --------------------------------------------------------------------------------


@dataclass
class Target:
    """A server that sends the version: the static baseline, or one of the app's setups."""

    name: str
    port: int
    path: str
    token: str | None  # None: the static baseline (no API, no ETag)
    rates: list[float] = field(default_factory=list)  # bytes/s of each timed download
    idle_p99: float | None = None
    loaded_p99: float | None = None
    loaded_p50: float | None = None
    loaded_samples: int = 0
    loaded_failures: int = 0
    slow_served: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return statistics.median(self.rates)


def verify_once(target: Target, sha256: str, size: int) -> None:
    """Download the whole body once, hashing it, and check it against the version's sha256 (and,
    through the app, against the ETag). This also puts the blob in the page cache."""
    got = download(target.port, target.path, target.token, verify=True, timeout=120)
    problems = []
    if got.error or got.status != 200:
        problems.append(f"status {got.status} {got.error}")
    if got.received != size:
        problems.append(f"{got.received} of {size} bytes")
    if got.sha256 != sha256:
        problems.append(f"body sha256 {got.sha256[:16]}… is not {sha256[:16]}…")
    etag = got.headers.get("etag", "")
    if target.token is not None and etag.strip('"') != got.sha256:
        problems.append(f"ETag {etag or '(none)'} is not the body's sha256")
    if problems:
        raise RuntimeError(
            f"{target.name}: the download is wrong: {'; '.join(problems)}; headers {got.headers}"
        )
    check = "= ETag" if target.token is not None else "(static server: no ETag to compare)"
    print(f"  verified {target.name}: body sha256 {got.sha256[:16]}… {check}")


def measure_throughput(targets: list[Target], size: int, runs: int) -> None:
    """`runs` rounds of one full download from each target, the order rotating every round, so
    that the machine's drift (a shared VM varies by 30 % from minute to minute) hits all alike."""
    for round_ in range(runs):
        shift = round_ % len(targets)
        for target in targets[shift:] + targets[:shift]:
            got = download(target.port, target.path, target.token, timeout=120)
            if got.error or got.status != 200 or got.received != size:
                raise RuntimeError(
                    f"{target.name}: timed download failed: status {got.status}, "
                    f"{got.received} of {size} bytes {got.error}"
                )
            target.rates.append(size / got.seconds)


def warm_up(target: Target, workers: int) -> None:
    for _ in range(4 * workers):  # every worker has imported everything and connected
        api_request(target.port, target.token or "", timeout=30)


def latency_idle(target: Target, count: int = 200, budget: float = 10) -> None:
    samples = []
    deadline = time.monotonic() + budget
    for _ in range(count):
        if time.monotonic() > deadline:
            break
        seconds, status = api_request(target.port, target.token or "", timeout=5)
        if seconds is None or status != 200:
            raise RuntimeError(f"{target.name}: the API request failed (status {status})")
        samples.append(seconds)
    target.idle_p99 = p99(samples) if samples else None


def latency_loaded(target: Target, *, slow: int, rate: float, seconds: float) -> None:
    """p99 of API requests sent one after another while `slow` clients download at `rate`."""
    results: list[Download] = []
    lock = threading.Lock()

    def slow_client() -> None:
        got = download(target.port, target.path, target.token, rate=rate, seconds=seconds)
        with lock:
            results.append(got)

    threads = [threading.Thread(target=slow_client, daemon=True) for _ in range(slow)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)  # let the slow downloads take their places first
    window_end = time.monotonic() + seconds - 0.5
    samples: list[float] = []
    failures = 0
    for _ in range(2000):
        if time.monotonic() >= window_end:
            break
        elapsed, status = api_request(target.port, target.token or "", timeout=seconds + 10)
        if elapsed is None or status != 200:
            failures += 1
        else:
            samples.append(elapsed)
        time.sleep(0.01)
    for thread in threads:
        thread.join(timeout=seconds + 15)
    target.loaded_samples = len(samples)
    target.loaded_failures = failures
    target.loaded_p99 = p99(samples) if samples else None
    target.loaded_p50 = statistics.median(samples) if samples else None
    target.slow_served = sum(1 for got in results if got.status == 200 and got.received > 0)
    if target.slow_served < slow:
        target.notes.append(
            f"only {target.slow_served} of {slow} slow downloads got a byte within "
            f"{seconds:g} s: the others waited for a free worker"
        )
    if samples and len(samples) < 20:
        target.notes.append(
            f"only {len(samples)} API request(s) finished in the {seconds:g} s window: "
            "each waited for a slow download to end"
        )


# --- servers -------------------------------------------------------------------------------------


def start_gunicorn(
    servers: Servers,
    name: str,
    env: dict[str, str],
    args: argparse.Namespace,
    *,
    worker_class: str = "sync",
    threads: int = 1,
    sendfile: str = "",
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    argv = [
        GUNICORN,
        "config.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(args.workers),
        "--worker-class",
        worker_class,
        "--graceful-timeout",
        "5",
        "--timeout",
        "120",
        "--log-level",
        "warning",
    ]
    if worker_class == "gthread":
        argv += ["--threads", str(threads)]
    proc = servers.start(name, argv, {**env, "GRANARY_SENDFILE": sendfile}, stop_signal=signal.SIGTERM)
    wait_listening(servers, name, proc, port)
    return proc, port


NGINX_CONF = """\
# Written by bench/download.py for one run; see bench/README.md for the production version.
worker_processes auto;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    types {{ text/csv csv; }}
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    tcp_nopush on;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;

    # The static baseline: nginx sending the blob straight from GRANARY_DATA_DIR.
    server {{
        listen 127.0.0.1:{static_port};
        location / {{ root {data_dir}; }}
    }}

{front}
}}
"""

NGINX_FRONT = """\
    # Content-Digest is the digest of the body sent: the whole file's for a 200, none for a 206.
    map "$http_range|$http_if_range|$upstream_http_etag" $granary_content_digest {{
        default                    $upstream_http_repr_digest;  # no Range, or a stale If-Range: a 200
        "~^[^|]*,"                 $upstream_http_repr_digest;  # several ranges: a 200 (max_ranges 1)
        "~^[^|]+\\|\\|"              "";                          # Range without If-Range: a 206
        "~^[^|]+\\|([^|]+)\\|\\1$"    "";                          # Range, If-Range current: a 206
    }}

    upstream granary {{
        server {upstream};
    }}

    server {{
        listen {listen};
        client_max_body_size {max_body};  # GRANARY_MAX_UPLOAD_BYTES

        location / {{
            proxy_pass http://granary;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_read_timeout 300s;
            # On an X-Accel-Redirect, do not copy the app's Accept-Ranges: nginx adds its own.
            proxy_force_ranges on;
        }}

        # GRANARY_SENDFILE=x-accel-redirect, GRANARY_SENDFILE_PREFIX={sendfile_prefix}
        location {sendfile_prefix} {{
            internal;
            alias {data_dir}/;
            max_ranges 1;              # several ranges: the whole file, as the app does
            # nginx keeps only Content-Type, Content-Disposition, Cache-Control, Expires,
            # Accept-Ranges and Set-Cookie of the app's response: restore the others.
            etag off;                  # nginx's own ETag is mtime-size; the app's is the sha256
            add_header ETag $upstream_http_etag always;
            add_header Repr-Digest $upstream_http_repr_digest always;
            add_header Digest $upstream_http_digest always;
            add_header Content-Digest $granary_content_digest always;
            add_header X-Content-Type-Options $upstream_http_x_content_type_options always;
        }}
    }}
"""


def nginx_front_config(*, listen: str, upstream: str, data_dir: str, max_body: str) -> str:
    return NGINX_FRONT.format(
        listen=listen,
        upstream=upstream,
        data_dir=data_dir.rstrip("/"),
        max_body=max_body,
        sendfile_prefix=SENDFILE_PREFIX,
    )


def start_nginx(
    servers: Servers,
    nginx: str,
    workdir: Path,
    data_dir: Path,
    *,
    static_port: int,
    front_port: int | None,
    upstream_port: int | None,
    size: int,
) -> subprocess.Popen[bytes]:
    prefix = workdir / "nginx"
    prefix.mkdir(exist_ok=True)
    front = ""
    if front_port and upstream_port:
        front = nginx_front_config(
            listen=f"127.0.0.1:{front_port}",
            upstream=f"127.0.0.1:{upstream_port}",
            data_dir=str(data_dir),
            max_body=str(max(size * 2, 10 * MIB)),
        )
    conf = prefix / "nginx.conf"
    conf.write_text(NGINX_CONF.format(prefix=prefix, static_port=static_port, data_dir=data_dir, front=front))
    argv = [nginx, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]
    check = subprocess.run([*argv, "-t", "-q"], capture_output=True, text=True, timeout=30)
    if check.returncode != 0:
        raise RuntimeError(f"nginx rejected its config:\n{check.stderr}")
    proc = servers.start("nginx", argv, dict(os.environ), stop_signal=signal.SIGQUIT)
    wait_listening(servers, "nginx", proc, static_port)
    if front_port:
        wait_listening(servers, "nginx", proc, front_port)
    return proc


COMPARED_HEADERS = (
    "Content-Length",
    "Content-Type",
    "Content-Disposition",
    "ETag",
    "Content-Digest",
    "Repr-Digest",
    "Digest",
    "Accept-Ranges",
    "Cache-Control",
    "X-Content-Type-Options",
    "Content-Range",
)


def response_head(port: int, path: str, token: str, extra: dict[str, str]) -> tuple[int, dict[str, str]]:
    """Status and headers of a GET, hanging up before the body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {token}", **extra})
        response = connection.getresponse()
        return response.status, {name: response.getheader(name) or "" for name in COMPARED_HEADERS}
    finally:
        connection.close()


def check_headers(reference: Target, target: Target, sha256: str) -> list[str]:
    """The production setup must answer like the app's own download: same status and headers for
    a whole download, a resumed one (Range + If-Range) and a stale resume (If-Range of other bytes)."""
    token = target.token or ""
    cases = {
        "GET": {},
        "Range + If-Range": {"Range": "bytes=10-19", "If-Range": f'"{sha256}"'},
        "Range + stale If-Range": {"Range": "bytes=10-19", "If-Range": '"' + "0" * 64 + '"'},
        "Range suffix": {"Range": "bytes=-5"},
        "two ranges": {"Range": "bytes=0-1,5-6"},
        "If-None-Match": {"If-None-Match": f'"{sha256}"'},
    }
    problems = []
    for case, extra in cases.items():
        want = response_head(reference.port, reference.path, token, extra)
        got = response_head(target.port, target.path, token, extra)
        if want[0] != got[0]:
            problems.append(f"{case}: status {got[0]}, the app alone answers {want[0]}")
        for name in COMPARED_HEADERS:
            if name == "Accept-Ranges" and want[0] == 206:
                continue  # optional on a 206, which nginx sends without it
            if want[1][name] != got[1][name]:
                problems.append(f"{case}: {name} is {got[1][name]!r}, the app alone sends {want[1][name]!r}")
    blob = f"{SENDFILE_PREFIX}blobs/sha256/{sha256[:2]}/{sha256[2:4]}/{sha256}"
    status, _ = response_head(target.port, blob, token, {})
    if status != 404:
        problems.append(f"GET {SENDFILE_PREFIX}… from outside answered {status}, not 404 (`internal`)")
    for problem in problems:
        print(f"  WARNING {target.name}: {problem}")
    if not problems:
        print(
            f"  headers of {target.name} match the app's own download (GET, Range, If-Range, suffix, two ranges, If-None-Match); the blob location is internal"
        )
    return problems


# --- report --------------------------------------------------------------------------------------


def ms(value: float | None) -> str:
    return "-" if value is None else (f"{value * 1000:.1f} ms" if value < 10 else f"{value:.1f} s")


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def meets_p99(target: Target) -> bool:
    return (
        target.loaded_p99 is not None
        and target.loaded_p99 * 1000 < TARGET_P99_MS
        and not target.loaded_failures
    )


def report(
    baseline: Target, rows: list[Target], production: Target, label: str, args: argparse.Namespace
) -> None:
    print()
    print(
        f"Throughput: {args.size_mb} MiB downloads, median of {args.runs} interleaved rounds "
        f"(GB = 10^9 bytes); baseline {baseline.name}: {baseline.throughput / GB:.2f} GB/s "
        f"(min {min(baseline.rates) / GB:.2f}, max {max(baseline.rates) / GB:.2f})."
    )
    print(
        f"Latency: GET {API_PATH} with a Bearer token, one after another on new connections; idle, "
        f"and while {args.slow_clients} clients read the version at {args.slow_mbps:g} MB/s for "
        f"{args.slow_seconds:g} s."
    )
    print()
    header = (
        f"{'setup':<46} {'GB/s':>5} {'min-max':>9} {'ratio':>6} {'p99 idle':>9} {'p99 loaded':>10} "
        f"{'n':>4}  targets"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        ratio = row.throughput / baseline.throughput
        n = f"{row.loaded_samples}" + (f"+{row.loaded_failures} failed" if row.loaded_failures else "")
        spread = f"{min(row.rates) / GB:.2f}-{max(row.rates) / GB:.2f}"
        print(
            f"{row.name:<46} {row.throughput / GB:>5.2f} {spread:>9} {ratio:>5.2f}x {ms(row.idle_p99):>9} "
            f"{ms(row.loaded_p99):>10} {n:>4}  ratio {verdict(ratio >= TARGET_RATIO)}, "
            f"p99 {verdict(meets_p99(row))}"
        )
        for note in row.notes:
            print(f"    {note}")
    print()
    ratio = production.throughput / baseline.throughput
    print(
        f"Targets: throughput >= {TARGET_RATIO}x {baseline.name}; p99 with {args.slow_clients} slow downloads "
        f"< {TARGET_P99_MS:.0f} ms."
    )
    print(f"Summary, {label} {production.name}:")
    print(
        f"  throughput: app {production.throughput / GB:.2f} GB/s vs {baseline.name} "
        f"{baseline.throughput / GB:.2f} GB/s = {ratio:.2f}x  [{verdict(ratio >= TARGET_RATIO)}]"
    )
    print(
        f"  p99 small request with {args.slow_clients} slow downloads: {ms(production.loaded_p99)} "
        f"(median {ms(production.loaded_p50)}, n={production.loaded_samples})  [{verdict(meets_p99(production))}]"
    )


# --- main ----------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=int, default=1024, help="size of the version in MiB (default 1024)")
    parser.add_argument("--runs", type=int, default=5, help="timed download rounds (median; default 5)")
    parser.add_argument(
        "--workers", type=int, default=2, help="gunicorn workers (default 2, the machine's cores)"
    )
    parser.add_argument("--threads", type=int, default=8, help="threads per gthread worker in setup (c)")
    parser.add_argument("--slow-clients", type=int, default=4)
    parser.add_argument("--slow-mbps", type=float, default=4.0, help="each slow client's read rate, MB/s")
    parser.add_argument("--slow-seconds", type=float, default=10.0, help="how long each slow client reads")
    parser.add_argument("--no-nginx", action="store_true", help="behave as if nginx were not installed")
    args = parser.parse_args()
    if not 1 <= args.size_mb <= 16384 or not 1 <= args.runs <= 20 or not 1 <= args.slow_clients <= 16:
        parser.error("--size-mb 1..16384, --runs 1..20, --slow-clients 1..16")
    if not 1 <= args.slow_seconds <= 60 or args.slow_mbps <= 0 or not 1 <= args.workers <= 16:
        parser.error("--slow-seconds 1..60, --slow-mbps > 0, --workers 1..16")
    return args


def find_nginx() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    return next((p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None)


def main() -> int:
    args = parse_args()
    nginx = None if args.no_nginx else find_nginx()
    workdir = Path(tempfile.mkdtemp(prefix="granary-bench-"))
    servers = Servers(workdir)

    def terminated(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminated)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started with SIGINT ignored
    started = time.monotonic()
    try:
        load = os.getloadavg()[0]
        busy = " (other processes are busy: the figures will vary more)" if load > 1.0 else ""
        print(f"machine: {os.cpu_count()} cores, load average {load:.2f} at the start{busy}")
        env, token, sha256, size = setup_granary(workdir, args.size_mb * MIB)
        measure_audit_cost()
        data_dir = Path(env["GRANARY_DATA_DIR"])
        blob_url = f"/blobs/sha256/{sha256[:2]}/{sha256[2:4]}/{sha256}"
        download_url = f"/api/v1/datasets/{DATASET}/versions/1/download/"

        _, port_a = start_gunicorn(servers, "gunicorn-a", env, args)
        row_a = Target(f"(a) gunicorn sync x{args.workers}, FileResponse", port_a, download_url, token)
        _, port_c = start_gunicorn(
            servers, "gunicorn-c", env, args, worker_class="gthread", threads=args.threads
        )
        row_c = Target(
            f"(c) gunicorn gthread x{args.workers}x{args.threads}, FileResponse", port_c, download_url, token
        )
        static_port = free_port()
        if nginx:
            _, port_b = start_gunicorn(servers, "gunicorn-b", env, args, sendfile="x-accel-redirect")
            front_port = free_port()
            start_nginx(
                servers,
                nginx,
                workdir,
                data_dir,
                static_port=static_port,
                front_port=front_port,
                upstream_port=port_b,
                size=size,
            )
            baseline = Target("nginx", static_port, blob_url, None)
            row_b = Target(
                f"(b) nginx + gunicorn sync x{args.workers}, X-Accel", front_port, download_url, token
            )
            rows = [row_a, row_b, row_c]
            production = row_b
            print(f"baseline: nginx ({nginx}) serving the blob file from GRANARY_DATA_DIR")
        else:
            proc = servers.start(
                "http.server",
                [
                    PYTHON,
                    "-m",
                    "http.server",
                    "--bind",
                    "127.0.0.1",
                    "--directory",
                    str(data_dir),
                    str(static_port),
                ],
                dict(os.environ),
                stop_signal=signal.SIGTERM,
            )
            wait_listening(servers, "http.server", proc, static_port)
            baseline = Target("python -m http.server", static_port, blob_url, None)
            rows = [row_a, row_c]
            production = row_c
            print(
                "baseline: python -m http.server, because nginx is not installed (`apt-get install -y nginx` "
                "gives the real baseline and setup (b)); setup (b) is skipped and (c), gunicorn's gthread "
                "workers (gevent/eventlet are not installed), is the non-blocking alternative"
            )

        for row in rows:
            warm_up(row, args.workers)
        for target in [baseline, *rows]:
            verify_once(target, sha256, size)
        if nginx and check_headers(row_a, row_b, sha256):
            row_b.notes.append("WARNING: its headers differ from the app's own download (see above)")
        print(f"throughput: {args.runs} rounds of {len(rows) + 1} downloads of {args.size_mb} MiB")
        measure_throughput([baseline, *rows], size, args.runs)
        for row in rows:
            print(f"latency: {row.name}")
            latency_idle(row)
            latency_loaded(row, slow=args.slow_clients, rate=args.slow_mbps * 1e6, seconds=args.slow_seconds)
        label = "recommended production setup" if nginx else "non-blocking setup without nginx"
        report(baseline, rows, production, label, args)
        print(f"\n(total {time.monotonic() - started:.0f} s)")
        return 0
    except KeyboardInterrupt:
        print("\ninterrupted: stopping the servers", file=sys.stderr)
        return 130
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not cut the cleanup short
            signal.signal(signum, signal.SIG_IGN)
        servers.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
