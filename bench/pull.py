#!/usr/bin/env python
"""Pull benchmark: the Python client downloading a large version, against curl on the same URL.

    .venv/bin/python bench/pull.py [--size-mb 1024] [--runs 5] [--dir DIR ...]

One run publishes a version of --size-mb (as bench/download.py does: a temporary SQLite
database and GRANARY_DATA_DIR, ingest in this process), serves it with gunicorn (gthread, 2 x 8
threads, as `make run` does) on 127.0.0.1, and then, round by round, downloads it:

- with curl: `curl -s -o DIR/curl.out -H "Authorization: Bearer …" URL`;
- with the client, in a fresh process: `Client(url, token, cache_dir=DIR/…).download(ref,
  format="original")`, which also verifies the sha256 and moves the file into the cache;
- and, for reference, curl followed by `sha256sum` of what it wrote (the same guarantee as the
  client's, done the shell way).

The three run in an order that rotates from round to round, each after `sync` and a second's
rest, so that none pays for the pages another left behind. It prints the medians, the client's throughput as a ratio to curl's (target at least 0.9), and
the client process's peak RSS (target under 150 MB). Each --dir is measured on its own (the
default: a temporary directory on the disk, and /dev/shm, a tmpfs, where the disk is no limit).
Everything it starts is stopped at the end, on Ctrl-C and on errors too.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import download as serving  # bench/download.py: setup, servers, ports

PYTHON = sys.executable
TARGET_RATIO = 0.9
TARGET_RSS_MB = 150.0
GB = 1e9

# The client side, in a process of its own so that its peak RSS is its own.
CLIENT = """
import json, sys, time
from granary import Client
url, token, cache = sys.argv[1:4]
client = Client(url, token, cache_dir=cache)
started = time.perf_counter()
path = client.download("bench-download@1", format="original")
seconds = time.perf_counter() - started
# VmHWM, not ru_maxrss: after fork+exec, Linux's ru_maxrss still counts the parent's pages.
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"seconds": seconds, "path": str(path), "rss_mb": peak_kb / 1024}))
"""


@dataclass
class Row:
    where: Path
    curl: list[float] = field(default_factory=list)
    curl_sha: list[float] = field(default_factory=list)
    client: list[float] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)


def timed(argv: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return seconds, done.stdout


def settle() -> None:
    """Write back and forget what the previous step wrote, so no step pays for another's pages."""
    os.sync()
    time.sleep(1.0)


def one_round(row: Row, *, url: str, server: str, token: str, sha256: str, size: int, order: int) -> None:
    """curl, curl then sha256sum, and the client, in an order that rotates from round to round."""
    out = row.where / "curl.out"
    cache = row.where / "client-cache"
    curl_argv = ["curl", "-sf", "-o", str(out), "-H", f"Authorization: Bearer {token}", url]

    def curl() -> None:
        seconds, _ = timed(curl_argv)
        row.curl.append(seconds)
        out.unlink()

    def curl_then_sha256sum() -> None:
        seconds, _ = timed(curl_argv)
        hashed, printed = timed(["sha256sum", str(out)])
        if printed.split()[0] != sha256:
            raise RuntimeError("curl's download has another sha256")
        row.curl_sha.append(seconds + hashed)
        out.unlink()

    def client() -> None:
        _, printed = timed([PYTHON, "-c", CLIENT, server, token, str(cache)])
        result = json.loads(printed)
        row.client.append(result["seconds"])
        row.rss.append(result["rss_mb"])
        if Path(result["path"]).stat().st_size != size:
            raise RuntimeError("the client's download has the wrong size")
        shutil.rmtree(cache)

    steps = [curl, client, curl_then_sha256sum]
    for step in steps[order % 3 :] + steps[: order % 3]:
        settle()
        step()


def report(rows: list[Row], size: int) -> bool:
    print()
    print(
        f"{'written to':<28} {'curl':>9} {'curl+sha256sum':>15} {'client':>9} {'ratio':>7} {'peak RSS':>9}  targets"
    )
    print("-" * 96)
    ok = True
    for row in rows:
        curl = size / statistics.median(row.curl) / GB
        curl_sha = size / statistics.median(row.curl_sha) / GB
        client = size / statistics.median(row.client) / GB
        ratio = client / curl
        rss = max(row.rss)
        verdict = f"ratio {'ok' if ratio >= TARGET_RATIO else 'MISSED'}, RSS {'ok' if rss < TARGET_RSS_MB else 'MISSED'}"
        ok = ok and ratio >= TARGET_RATIO and rss < TARGET_RSS_MB
        print(
            f"{str(row.where)[:28]:<28} {curl:>6.2f} GB/s {curl_sha:>10.2f} GB/s {client:>4.2f} GB/s "
            f"{ratio:>6.2f}x {rss:>6.0f} MB  {verdict}"
        )
    print(
        f"\nmedians of {len(rows[0].curl)} rounds; the client verifies the sha256 while it downloads "
        "(curl does not: curl+sha256sum is the same guarantee the shell way)."
    )
    print(f"targets: client >= {TARGET_RATIO}x curl, client peak RSS < {TARGET_RSS_MB:.0f} MB")
    return ok


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=int, default=1024, help="size of the version in MiB (default 1024)")
    parser.add_argument("--runs", type=int, default=5, help="rounds per directory (median; default 5)")
    parser.add_argument("--dir", action="append", type=Path, help="where downloads are written (repeatable)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    if not 1 <= args.size_mb <= 16384 or not 1 <= args.runs <= 20:
        parser.error("--size-mb 1..16384, --runs 1..20")
    return args


def main() -> int:
    args = parse_args()
    if not shutil.which("curl"):
        print("curl is not installed (apt-get install curl)", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="granary-bench-pull-"))
    servers = serving.Servers(workdir)
    made: list[Path] = []

    def terminated(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminated)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    started = time.monotonic()
    try:
        load = os.getloadavg()[0]
        busy = " (other processes are busy: the figures will vary more)" if load > 1.0 else ""
        print(f"machine: {os.cpu_count()} cores, load average {load:.2f} at the start{busy}")
        env, token, sha256, size = serving.setup_granary(workdir, args.size_mb * serving.MIB)
        _, port = serving.start_gunicorn(
            servers, "gunicorn", env, args, worker_class="gthread", threads=args.threads
        )
        server = f"http://127.0.0.1:{port}"
        url = f"{server}/api/v1/datasets/{serving.DATASET}/versions/1/download/"
        dirs = args.dir or [workdir / "downloads", *([Path("/dev/shm")] if Path("/dev/shm").is_dir() else [])]
        rows = []
        for where in dirs:
            where.mkdir(parents=True, exist_ok=True)
            target = Path(tempfile.mkdtemp(prefix="granary-pull-", dir=where))
            made.append(target)
            rows.append(Row(where=target))
        # Warm up: the blob in the page cache, gunicorn's workers started.
        timed(["curl", "-sf", "-o", os.devnull, "-H", f"Authorization: Bearer {token}", url])
        for round_number in range(args.runs):
            for row in rows:
                one_round(
                    row, url=url, server=server, token=token, sha256=sha256, size=size, order=round_number
                )
            for row in rows:
                print(
                    f"round {round_number + 1}/{args.runs} {row.where}: curl {size / row.curl[-1] / GB:.2f} GB/s, "
                    f"client {size / row.client[-1] / GB:.2f} GB/s ({row.rss[-1]:.0f} MB)"
                )
        ok = report(rows, size)
        load = os.getloadavg()[0]
        print(f"load average {load:.2f} at the end; total {time.monotonic() - started:.0f} s")
        return 0 if ok else 1
    except KeyboardInterrupt:
        print("\ninterrupted: stopping the server", file=sys.stderr)
        return 130
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)
        servers.stop_all()
        for path in made:
            shutil.rmtree(path, ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
