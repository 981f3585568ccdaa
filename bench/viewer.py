#!/usr/bin/env python
"""Data viewer benchmark: a version's rows and the SQL console on a 1 GB, 8M-row version, through
the production server, against DuckDB's own time for the same SQL on the same Parquet file.

    .venv/bin/python bench/viewer.py [--size-mb 1024] [--keep | --reuse DIR] [--requests 20]

1. Builds the version once (unless --reuse): bench/ingest.py's realistic CSV of --size-mb MiB,
   published with `version_create` and ingested by the real `version_ingest` in a child process,
   in a directory of its own (SQLite database, GRANARY_DATA_DIR); --keep leaves it for --reuse,
   which skips the generation and the ingest.
2. Serves it with gunicorn as deployed (`-c deploy/gunicorn.conf.py`: gthread, 2 workers x 8
   threads, DEBUG off, the viewer's settings at their defaults: GRANARY_QUERY_THREADS,
   GRANARY_QUERY_MEMORY_BYTES, GRANARY_QUERY_TIMEOUT_SECONDS), and times, one request after
   another on new connections with a read token, interleaved round by round:
   the first page, a page in the middle and the last page (100 rows each; --page-requests, 100);
   a sort on a numeric column, a filter, a text search (--requests, 20 each; the first page);
   a GROUP BY with COUNT and AVG over every row through POST /api/v1/query/.
3. Beside each, DuckDB's own time in this process (duckdb.connect(), same threads and memory
   settings) for the same SQL on the same Parquet file: the page SQL a user would write
   (`LIMIT 100 OFFSET n`), and for the others the count and the page the viewer needs, the
   console's SELECT as written.
4. The web process's memory: each gunicorn worker's RSS from /proc before the first viewer
   request (after a plain request and Great Expectations' background load) and its maximum
   while the viewer is measured (sampled every 10 ms, and VmHWM).

Targets (issue #14): any page p95 < 100 ms; sort, filter, search and the group-by p95 < 1.5 s;
each web worker's growth < 300 MB. Every figure prints with the load average beside it and the
CPU the gunicorn workers spent per request: the machine is shared, other work moves wall times.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import platform
import resource
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _env
import download as serving  # bench/download.py: the process supervisor and ports
import ingest  # bench/ingest.py: the realistic CSV and its real ingest

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
MIB = 1024 * 1024
MB = 1e6
SLUG = "bench-viewer"
LIMIT = 100
WARMUP = 3
TARGET_PAGE_MS = 100.0
TARGET_QUERY_MS = 1500.0
TARGET_RSS_MB = 300.0


def say(text: str) -> None:
    print(text, flush=True)


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


# --- the version ---------------------------------------------------------------------------------


def django_env(workdir: Path, meta: dict[str, Any]) -> dict[str, str]:
    """The environment of this process and the server: the kept SQLite database and data dir."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DATABASE_URL": f"sqlite:///{workdir / 'granary.sqlite3'}",
        "GRANARY_DATA_DIR": str(workdir / "data"),
        "SECRET_KEY": meta["secret_key"],
        "DEBUG": "false",
        "GRANARY_HTTPS": "false",  # plain http on 127.0.0.1
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "PYTHONUNBUFFERED": "1",
        "PYTHONWARNINGS": "ignore:No directory at",  # static files are not collected
    }
    os.environ.clear()
    os.environ.update(env)
    return env


def build(workdir: Path, size_mb: int) -> dict[str, Any]:
    """Generate the CSV, publish it as version 1 of SLUG and ingest it in a child process."""
    env = _env.setup_granary(workdir, GRANARY_MAX_UPLOAD_BYTES=str(64 * 1024**3))
    from datasets import storage

    path = storage.tmp_dir() / f"bench-viewer-{size_mb}mib.csv"  # same filesystem: version_create links it
    generated = ingest.generate_csv(path, size_mb * MIB)
    sha256 = storage.file_sha256(path)
    say(f"generated {generated.size / MIB:,.0f} MiB, {generated.rows:,} rows in {generated.seconds:.1f} s")
    version_id = ingest.publish(generated, SLUG, sha256)
    got = _env.run_child(ingest.__file__, "ingest", str(version_id), env, 600 + 240 * size_mb / 1024)
    say(f"ingested in {got['seconds']:.1f} s ({got['status']})")
    _, problems = ingest.check_version(version_id, generated)
    path.unlink(missing_ok=True)
    if problems:
        raise RuntimeError("the ingest is not what was generated: " + "; ".join(problems))
    return {"secret_key": env["SECRET_KEY"], "rows": generated.rows, "csv_bytes": generated.size}


def version_facts() -> dict[str, Any]:
    from datasets.models import Version
    from datasets.storage import blob_path

    version = Version.objects.select_related("dataset").get(dataset__slug=SLUG, number=1)
    assert version.parquet_blob_id is not None
    parquet = blob_path(version.parquet_blob_id)
    return {
        "ref": version.ref,
        "rows": version.row_count,
        "parquet": str(parquet),
        "parquet_bytes": parquet.stat().st_size,
        "schema": {c["name"]: c["type"] for c in version.schema},
    }


def bench_token() -> str:
    from django.contrib.auth import get_user_model

    from accounts.services import token_create

    user = get_user_model().objects.get(username="bench")
    return token_create(user=user, name=f"bench-viewer-{secrets.token_hex(4)}", days=1).secret


# --- what is measured ----------------------------------------------------------------------------


@dataclass
class Probe:
    name: str
    path: str
    target_ms: float
    n: int
    reference: list[tuple[str, list[Any]]]  # DuckDB's SQL (over the view `data`) and parameters
    body: dict[str, Any] | None = None  # a POST's JSON
    expect: dict[str, Any] = field(default_factory=dict)  # checks on the first answer
    # Other requests of the same kind, taken in turn after the first: (path, DuckDB's SQL).
    variants: list[tuple[str, list[tuple[str, list[Any]]]]] = field(default_factory=list)
    warm: str = ""  # the warm-up's path, if it must not be one of the timed ones
    walls: list[float] = field(default_factory=list)
    cpu: float = 0.0
    errors: list[str] = field(default_factory=list)
    ref_walls: list[float] = field(default_factory=list)
    ref_cpu: list[float] = field(default_factory=list)
    ref_result: Any = None
    answer: dict[str, Any] = field(default_factory=dict)


def turn(probe: Probe, round_: int) -> tuple[str, list[tuple[str, list[Any]]]]:
    every = [(probe.path, probe.reference), *probe.variants]
    return every[round_ % len(every)]


def rows_path(ref: str, **params: Any) -> str:
    slug, number = ref.split("@")
    query = urlencode(
        [(k, v) for k, values in params.items() for v in (values if isinstance(values, list) else [values])]
    )
    return f"/api/v1/datasets/{slug}/versions/{number}/rows/?{query}"


def probes(facts: dict[str, Any], args: argparse.Namespace) -> list[Probe]:
    ref, rows = facts["ref"], facts["rows"]
    middle, last = (rows // 2) // LIMIT * LIMIT, rows - LIMIT

    def page(offset: int) -> list[tuple[str, list[Any]]]:
        return [(f"SELECT * FROM data LIMIT {LIMIT} OFFSET {offset}", [])]  # noqa: S608 (our numbers)

    def queried(
        where: str, values: list[Any], order: str = "", offset: int = 0
    ) -> list[tuple[str, list[Any]]]:
        # What the viewer needs for a page: the matching rows' count and the page itself. Only the
        # bench's own column names are spliced in; values are bound.
        return [
            (f"SELECT count(*) FROM data{where}", values),  # noqa: S608
            (f"SELECT * FROM data{where}{order} LIMIT {LIMIT} OFFSET {offset}", values),  # noqa: S608
        ]

    searched = [name for name, kind in facts["schema"].items() if kind == "string"]
    search = " OR ".join(f'contains(lower("{name}"), ?)' for name in searched)
    group_by = "SELECT category, count(*) AS n, avg(amount) AS mean_amount FROM data GROUP BY category ORDER BY category"
    n, pages = args.requests, args.page_requests
    # The same filter or search paged through (its total counted once per worker), and a new
    # one for each request (a total never counted before): 20 country codes, 20 common words.
    paged_filter = [
        (
            rows_path(ref, filter="country:eq:JP", offset=i * LIMIT, limit=LIMIT),
            queried(' WHERE "country" = ?', ["JP"], offset=i * LIMIT),
        )
        for i in range(1, n)
    ]
    new_filters = [
        (rows_path(ref, filter=f"country:eq:{code}", limit=LIMIT), queried(' WHERE "country" = ?', [code]))
        for code in ingest.COUNTRIES[1:]
    ]
    paged_search = [
        (
            rows_path(ref, q="refund", offset=i * LIMIT, limit=LIMIT),
            queried(f" WHERE ({search})", ["refund"] * len(searched), offset=i * LIMIT),
        )
        for i in range(1, n)
    ]
    new_searches = [
        (rows_path(ref, q=word, limit=LIMIT), queried(f" WHERE ({search})", [word] * len(searched)))
        for word in ingest.WORDS[1:20]
    ]
    return [
        Probe("first page", rows_path(ref, offset=0, limit=LIMIT), TARGET_PAGE_MS, pages, page(0), expect={"first_id": 0}),
        Probe("middle page", rows_path(ref, offset=middle, limit=LIMIT), TARGET_PAGE_MS, pages, page(middle), expect={"first_id": middle}),
        Probe("last page", rows_path(ref, offset=last, limit=LIMIT), TARGET_PAGE_MS, pages, page(last), expect={"first_id": last}),
        Probe("sort -amount", rows_path(ref, sort="-amount", limit=LIMIT), TARGET_QUERY_MS, n,
              queried("", [], ' ORDER BY "amount" DESC NULLS LAST')),
        Probe("filter: JP, pages 1-20", rows_path(ref, filter="country:eq:JP", limit=LIMIT), TARGET_QUERY_MS, n,
              queried(' WHERE "country" = ?', ["JP"]), variants=paged_filter),
        Probe("filter: a new country", rows_path(ref, filter=f"country:eq:{ingest.COUNTRIES[0]}", limit=LIMIT),
              TARGET_QUERY_MS, n, queried(' WHERE "country" = ?', [ingest.COUNTRIES[0]]), variants=new_filters,
              warm=rows_path(ref, filter="country:eq:ZZ", limit=LIMIT)),
        Probe("search: refund, pages", rows_path(ref, q="refund", limit=LIMIT), TARGET_QUERY_MS, n,
              queried(f" WHERE ({search})", ["refund"] * len(searched)), variants=paged_search),
        Probe("search: a new word", rows_path(ref, q=ingest.WORDS[0], limit=LIMIT), TARGET_QUERY_MS, n,
              queried(f" WHERE ({search})", [ingest.WORDS[0]] * len(searched)), variants=new_searches,
              warm=rows_path(ref, q="zzzz", limit=LIMIT)),
        Probe("GROUP BY, COUNT, AVG", "/api/v1/query/", TARGET_QUERY_MS, n, [(group_by, [])],
              body={"sql": group_by, "version": ref}),
    ]  # fmt: skip


# --- the server ----------------------------------------------------------------------------------


def start_gunicorn(servers: serving.Servers, env: dict[str, str], workers: int) -> tuple[Any, int]:
    """The web process as deployed: deploy/gunicorn.conf.py (gthread, 8 threads per worker)."""
    port = serving.free_port()
    argv = [GUNICORN, "-c", str(ROOT / "deploy" / "gunicorn.conf.py"), "config.wsgi:application"]
    env = {**env, "GRANARY_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(workers)}
    proc = servers.start("gunicorn", argv, env, stop_signal=signal.SIGTERM)
    serving.wait_listening(servers, "gunicorn", proc, port, timeout=60)
    return proc, port


def worker_pids(master: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == master:
                pids.append(int(entry.name))
    return sorted(pids)


def cpu_of(pids: list[int]) -> float:
    """User + system CPU seconds of these processes so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def status_bytes(pid: int, name: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class RssSampler(threading.Thread):
    """The highest VmRSS of each worker, read from /proc every 10 ms until stopped."""

    def __init__(self, pids: list[int]) -> None:
        super().__init__(daemon=True)
        self.pids = pids
        self.peak = {pid: status_bytes(pid, "VmRSS") for pid in pids}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.01):
            for pid in self.pids:
                self.peak[pid] = max(self.peak[pid], status_bytes(pid, "VmRSS"))


def wait_idle(workers: list[int], timeout: float = 120) -> None:
    """Until the workers use no CPU between requests: each loads Great Expectations in a background
    thread after its first request (config/wsgi.py), which would land in the first figures."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = cpu_of(workers)
        time.sleep(1.0)
        if cpu_of(workers) - before < 0.03:
            return
    say(f"  the gunicorn workers were still busy after {timeout:.0f} s without requests")


def request(port: int, token: str, probe: Probe, path: str = "") -> tuple[float, int, bytes]:
    """One request on a new connection, as a client would make it: (seconds, status, body)."""
    headers = {"Connection": "close", "Authorization": f"Bearer {token}"}
    body = None
    if probe.body is not None:
        body = json.dumps(probe.body)
        headers["Content-Type"] = "application/json"
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        connection.request("POST" if body else "GET", path or probe.path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
    finally:
        connection.close()
    return time.perf_counter() - started, response.status, data


# --- DuckDB's own time ---------------------------------------------------------------------------


def reference_connection(parquet: str) -> Any:
    """DuckDB as the viewer configures it (threads, memory), reading the Parquet file itself."""
    import duckdb
    from django.conf import settings

    connection = duckdb.connect(":memory:", config={"threads": settings.GRANARY_QUERY_THREADS})
    memory = max(1, settings.GRANARY_QUERY_MEMORY_BYTES // MIB)
    connection.execute(f"SET memory_limit='{memory}MiB'")
    escaped = parquet.replace("'", "''")
    connection.execute(f"CREATE VIEW data AS SELECT * FROM read_parquet('{escaped}')")  # noqa: S608
    return connection


def reference_run(connection: Any, probe: Probe, reference: list[tuple[str, list[Any]]], timed: bool) -> Any:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime
    started = time.perf_counter()
    results = [connection.execute(sql, values).fetchall() for sql, values in reference]
    if timed:
        probe.ref_walls.append(time.perf_counter() - started)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        probe.ref_cpu.append(usage.ru_utime + usage.ru_stime - cpu)
    return results


# --- checks --------------------------------------------------------------------------------------


def check(probe: Probe, facts: dict[str, Any]) -> list[str]:
    """The server's first answer against DuckDB's own result for the same SQL."""
    answer, problems = probe.answer, []
    if not answer or probe.ref_result is None:
        return ["no answer to check"]
    expected_rows = probe.ref_result[-1]
    if "total" in answer:
        total = probe.ref_result[0][0][0] if len(probe.ref_result) == 2 else facts["rows"]
        if answer["total"] != total:
            problems.append(f"total {answer['total']:,} != {total:,}")
        if "first_id" in probe.expect and (
            not answer["rows"] or answer["rows"][0][0] != probe.expect["first_id"]
        ):
            problems.append(f"the page does not start at id {probe.expect['first_id']:,}")
    if len(answer["rows"]) != len(expected_rows):
        problems.append(f"{len(answer['rows'])} rows != {len(expected_rows)}")
    elif probe.name.startswith("sort"):
        column = list(facts["schema"]).index("amount")
        got = [row[column] for row in answer["rows"]]
        want = [row[column] for row in expected_rows]
        if got != want:
            problems.append("the sorted amounts differ from DuckDB's")
    elif probe.body is not None:
        got = [[row[0], row[1], round(row[2], 6)] for row in answer["rows"]]
        want = [[row[0], row[1], round(row[2], 6)] for row in expected_rows]
        if got != want:
            problems.append("the groups differ from DuckDB's")
    elif "first_id" not in probe.expect:
        ids = {row[0] for row in expected_rows}
        total = probe.ref_result[0][0][0]
        if total <= LIMIT and {row[0] for row in answer["rows"]} != ids:
            problems.append("the matching rows differ from DuckDB's")
    return problems


# --- the run -------------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    """The nearest-rank percentile: of 20 requests, p95 is the 19th fastest."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def measure(
    port: int, master: int, token: str, facts: dict[str, Any], todo: list[Probe], count: int
) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while len(workers := worker_pids(master)) < count and time.monotonic() < deadline:
        time.sleep(0.1)  # the master listens before it has forked every worker
    # A plain request per worker first: each loads Great Expectations in the background after its
    # first request, which is no part of the viewer's memory.
    plain = Probe("datasets", "/api/v1/datasets/", 0, 0, [])
    for _ in range(4 * len(workers)):
        request(port, token, plain)
    wait_idle(workers)
    before = {pid: status_bytes(pid, "VmRSS") for pid in workers}
    hwm_before = {pid: status_bytes(pid, "VmHWM") for pid in workers}
    sampler = RssSampler(workers)
    sampler.start()
    connection = reference_connection(facts["parquet"])
    say(f"  warm-up: {WARMUP} requests each (DuckDB and pyarrow load on the first); load {load()}")
    for probe in todo:
        for i in range(WARMUP):
            _, status, body = request(port, token, probe, probe.warm)
            if status != 200:
                probe.errors.append(f"warm-up {i + 1}: {status}: {body[:200]!r}")
        reference_run(connection, probe, probe.reference, False)  # DuckDB's warm-up: the page cache
    wait_idle(workers)
    rounds = max(probe.n for probe in todo)
    say(f"  timing {rounds} rounds (pages) and {min(p.n for p in todo)} (queries); load {load()}")
    loads = [os.getloadavg()[0]]
    for round_ in range(rounds):
        for probe in todo:
            if round_ >= probe.n:
                continue
            path, reference = turn(probe, round_)
            cpu = cpu_of(workers)
            seconds, status, body = request(port, token, probe, path)
            probe.cpu += cpu_of(workers) - cpu
            probe.walls.append(seconds)
            if status != 200:
                probe.errors.append(f"{status}: {body[:200]!r}")
            result = reference_run(connection, probe, reference, True)
            if round_ == 0 and status == 200:  # checked against DuckDB's own answer
                probe.answer, probe.ref_result = json.loads(body), result
        if round_ % 10 == 9:
            loads.append(os.getloadavg()[0])
    sampler.done.set()
    sampler.join()
    connection.close()
    peak = {}
    for pid in workers:
        # A new high-water mark is a peak the 10 ms samples may have missed; an old one is not ours.
        hwm = status_bytes(pid, "VmHWM")
        peak[pid] = max(sampler.peak[pid], hwm if hwm > hwm_before[pid] else 0)
    return {"before": before, "peak": peak, "loads": loads}


def report(todo: list[Probe], memory: dict[str, Any], facts: dict[str, Any]) -> bool:
    ok = True
    say("")
    header = (
        f"{'request':<22} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'CPU ms':>7}   {'DuckDB p50':>10} "
        f"{'p95':>7} {'CPU':>6}  {'target p95':>10}  verdict"
    )
    say(header)
    say("-" * len(header))
    for probe in todo:
        walls = [w * 1000 for w in probe.walls]
        refs = [w * 1000 for w in probe.ref_walls]
        p95 = pct(walls, 0.95)
        problems = check(probe, facts)
        met = p95 < probe.target_ms and not probe.errors and not problems
        ok &= met
        say(
            f"{probe.name:<22} {len(walls):>4} {statistics.median(walls):>8,.1f} {p95:>8,.1f} "
            f"{probe.cpu * 1000 / max(1, len(walls)):>7,.0f}   {statistics.median(refs):>10,.1f} "
            f"{pct(refs, 0.95):>7,.1f} {statistics.median(probe.ref_cpu) * 1000:>6,.0f}  "
            f"< {probe.target_ms:>8,.0f}  {'ok' if met else 'MISSED'}"
            + (
                f"  (total {probe.answer.get('total', len(probe.answer.get('rows', []))):,})"
                if probe.answer
                else ""
            )
        )
        for problem in problems + probe.errors[:3]:
            say(f"    problem: {problem}")
    say("")
    say(
        "web process memory (each gunicorn worker's RSS from /proc: before the first viewer request, max during)"
    )
    for pid, before in memory["before"].items():
        growth = (memory["peak"][pid] - before) / MB
        met = growth < TARGET_RSS_MB
        ok &= met
        say(
            f"  worker {pid}: {before / MB:,.0f} MB -> {memory['peak'][pid] / MB:,.0f} MB, "
            f"{growth:+,.0f} MB (target < {TARGET_RSS_MB:.0f} MB) {'ok' if met else 'MISSED'}"
        )
    loads = memory["loads"]
    say(
        f"load average (1 min) during the timing: {min(loads):.2f}-{max(loads):.2f}; CPU ms = the gunicorn "
        "workers' user+system per request; DuckDB = this process, same SQL, same file, same threads"
    )
    return ok


def machine() -> str:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no", "--", "datasets", "api", "config"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    import duckdb

    return (
        f"bench/viewer.py at {commit or '?'}{' (with uncommitted changes)' if dirty else ''}; "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, DuckDB {duckdb.__version__}; "
        f"load average {load()}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=int, default=1024, help="size of the CSV in MiB (default 1024)")
    parser.add_argument("--requests", type=int, default=20, help="timed requests per query (default 20)")
    parser.add_argument(
        "--page-requests", type=int, default=100, help="timed requests per page (default 100)"
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="gunicorn workers (WEB_CONCURRENCY, default 2)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the version's directory for --reuse")
    parser.add_argument("--reuse", type=Path, help="measure the version kept in DIR by an earlier --keep")
    args = parser.parse_args()

    def terminated(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminated)
    started = time.monotonic()
    say(machine())
    workdir = args.reuse.resolve() if args.reuse else Path(tempfile.mkdtemp(prefix="granary-bench-viewer-"))
    keep = args.keep or bool(args.reuse)
    servers = serving.Servers(workdir)
    ok = False
    try:
        if args.reuse:
            meta = json.loads((workdir / "viewer.json").read_text())
            env = django_env(workdir, meta)
            sys.path.insert(0, str(ROOT))
            import django

            django.setup()
            from django.core.management import call_command

            call_command("migrate", verbosity=0, interactive=False)  # whatever came since --keep
        else:
            meta = build(workdir, args.size_mb)
            (workdir / "viewer.json").write_text(json.dumps(meta, indent=2))
            env = django_env(workdir, meta)
        facts = version_facts()
        say(
            f"version {facts['ref']}: {facts['rows']:,} rows, CSV {meta['csv_bytes'] / MIB:,.0f} MiB, "
            f"Parquet copy {facts['parquet_bytes'] / MIB:,.0f} MiB"
        )
        token = bench_token()
        from django.db import connections

        connections.close_all()
        todo = probes(facts, args)
        proc, port = start_gunicorn(servers, env, args.workers)
        say(f"gunicorn -c deploy/gunicorn.conf.py, {args.workers} workers, on 127.0.0.1:{port}")
        memory = measure(port, proc.pid, token, facts, todo, args.workers)
        ok = report(todo, memory, facts)
    finally:
        servers.stop_all()
        if keep:
            say(f"version kept in {workdir} (rerun with --reuse {workdir})")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    say(
        f"total {time.monotonic() - started:.0f} s; load average at the end {load()}; "
        + ("every target met" if ok else "some target MISSED")
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
