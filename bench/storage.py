#!/usr/bin/env python
"""Storage benchmark: Granary on S3 (moto's server on loopback) against Granary on the filesystem.

    .venv/bin/python bench/storage.py ingest [--size-mb 256] [--runs 2] [--versions 3] [--formats CSV,Parquet,Snappy]
    .venv/bin/python bench/storage.py transfer [--size-mb 1024] [--runs 2] [--workers 2]

`ingest`: the real `version_ingest` (hash, parse, profile, Parquet copy, publish) of a generated
CSV (bench/ingest.py's realistic data) and of Parquet files of the same rows, once with the blob
on the filesystem and once with it in S3, runs alternating so both see the same load. Each run is
a worker in small, as Celery's prefork pool runs one: a process starts as a worker does (Django,
the modules it imports before its first task, config.celery's worker_init settings: the C
allocator's arenas bounded and the storage client prepared), then forks a child that ingests
--versions versions in turn (default 3), as a long-lived worker child takes tasks. It prints, per
file and backend, the first ingest and the steady state after it (the median of the later ones),
each the best of --runs: wall time, the read pass (`ingest_file`: hash, parse, profile, the
Parquet copy written locally; the rest is publishing that copy, a link on disk, an upload to S3),
CPU time and the child's peak RSS during that ingest (VmHWM, reset before each) and during its
read pass alone, the child's RSS before its first task, the S3/filesystem ratio (target <= 1.3x;
the worker's peak RSS should not grow), and the CPU the S3 server itself spent per ingest (in this
process, on the same cores as the worker; a real S3 is another machine). Every version has the
same rows and so the same Parquet copy: the child removes each stored copy after its ingest (not
timed), so every ingest stores its own, as a new upload's is. Nothing is copied to local disk on
S3: a pass over the file is one streamed GET (for Parquet too: its row groups are read from that
GET, the footer from the tail the format sniff read). The zstd Parquet file is its own Parquet
copy (none written); the same rows in Snappy get one, as any Parquet file unlike the copy does.

`transfer`: a file of --size-mb (1 GiB by default) uploaded through the app (the upload endpoint,
the client's streamed POST of the file as the raw body to gunicorn sync workers, with the sha256
the client computed first in Repr-Digest, so gunicorn sends the parts to S3 while it receives
them, before the 202; and, as context, the same upload as a multipart form, as before),
uploaded directly (the client hashes it, PUTs presigned parts ten at a time, completes), and
downloaded through the API's presigned redirect (or, where the API streams, a presigned GET made
here), each against boto3's own `upload_file`/`download_file` of the same file on the same S3
server (moto_server, in its own process), side by side in each run; best of --runs, with the
client's and the servers' CPU time and the load average. Target: each ratio >= 0.8. Each run's
file differs by a trailing newline, so no run finds its bytes stored by the one before.

Two rows are context, not targets: a put of the file alone (`S3Storage.put`, from this process,
as gunicorn did after receiving a file whose digest was not declared), and a second download
baseline, one streamed `get_object` (moto copies the whole object for every GET, ranged or not, so
download_file's parallel ranged GETs cost it the object once per 8 MiB range).

Everything lives in one temporary directory, removed at the end; no network beyond loopback.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _env
from _env import MB, cpu_seconds, run_child

MIB = 1024 * 1024
TARGET_RATIO = 1.3
TRANSFER_TARGET = 0.8
BUCKET = "granary-bench"
INGEST_SCRIPT = str(Path(__file__).resolve().parent / "ingest.py")


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# --- ingest ----------------------------------------------------------------------------------------


@dataclass
class Runs:
    """One file on one backend: per run (a worker), its first ingest and the steady state after it."""

    first: list[dict[str, Any]] = field(default_factory=list)
    steady: list[dict[str, Any]] = field(default_factory=list)  # the median ingest after the first
    start_rss: list[int] = field(default_factory=list)  # the worker child's RSS before its first task
    server_cpu: list[float] = field(default_factory=list)

    def best(self, phase: str) -> dict[str, Any]:
        return min(getattr(self, phase), key=lambda got: got["seconds"])

    def peak(self, phase: str, figure: str = "peak_rss") -> int:
        return max(got[figure] for got in getattr(self, phase))


def _parquet_of(csv_path: Path, out: Path, compression: str = "zstd") -> None:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    reader = pacsv.open_csv(csv_path)
    with pq.ParquetWriter(out, reader.schema, compression=compression) as writer:
        pending = []
        for batch in reader:
            pending.append(batch)
            if sum(b.num_rows for b in pending) >= 128 * 1024:
                writer.write_table(pa.Table.from_batches(pending))
                pending = []
        if pending:
            writer.write_table(pa.Table.from_batches(pending))


def _reset_peak_rss() -> None:
    """Start VmHWM again from the current RSS (Linux: 5 to clear_refs), so each ingest's peak is
    its own, not the worker's highest so far."""
    with suppress(OSError), open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def _ingest_in_child(version_ids: list[int]) -> dict[str, Any]:
    """The versions ingested one after another in this (forked) process, as a worker child takes
    tasks: per version, the wall and CPU time, the read pass and the peak RSS."""
    import datasets.ingest.reader
    from datasets import storage
    from datasets.services import versions

    timings: dict[str, float] = {}
    real_ingest_file = datasets.ingest.reader.ingest_file

    def timed_ingest_file(**kwargs: Any) -> Any:  # the same call, timed: no behaviour changes
        started = time.perf_counter()
        try:
            return real_ingest_file(**kwargs)
        finally:
            timings["ingest_file"] = time.perf_counter() - started
            timings["read_peak"] = _env.peak_rss()  # the read pass's own, before publishing

    datasets.ingest.reader.ingest_file = timed_ingest_file  # type: ignore[assignment]
    out: dict[str, Any] = {"start_rss": _env.current_rss(), "ingests": []}
    for version_id in version_ids:
        _reset_peak_rss()
        rss_before = _env.current_rss()
        cpu_before = cpu_seconds()
        started = time.perf_counter()
        version = versions.version_ingest(version_id=version_id)
        seconds = time.perf_counter() - started
        got = {
            "seconds": seconds,
            "cpu": cpu_seconds() - cpu_before,
            "ingest_file": timings.get("ingest_file") or 0.0,
            "peak_rss": _env.peak_rss(),
            "read_peak_rss": timings.get("read_peak") or 0,
            "rss_before": rss_before,
            "status": version.status if version else None,
        }
        out["ingests"].append(got)
        # Every version here has the same rows, so the same Parquet copy: the next would find it
        # stored and skip its upload (or link), which a new upload's copy never does. Removed
        # outside the measured time, unless the upload is its own copy.
        copy = version.parquet_blob if version else None
        if copy is not None and version is not None and copy.sha256 != version.sha256:
            storage.blob_discard(copy.sha256)
    return out


def child_worker(ids: str) -> dict[str, Any]:
    """A Celery prefork worker in small: the parent starts as a worker's does (Django, the modules
    a worker has imported before its first task, and config.celery's worker_init preparation of
    the storage client), then forks a child that ingests the versions in turn. What the child
    sends back through a pipe is this process's answer."""
    import json

    sys.path.insert(0, str(_env.ROOT))
    import django

    django.setup()
    from django.db import connections

    # As bench/ingest.py: pyarrow and the reader are loaded before the first task, on both backends.
    import datasets.ingest.reader
    import datasets.tasks  # noqa: F401
    from config.celery import malloc_arenas_bounded
    from datasets import storage

    # What config.celery's worker_init hook does in the parent of a worker that ingests.
    malloc_arenas_bounded()
    storage.backend_prepare()
    connections.close_all()  # a forked child must not share the parent's connection
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        try:
            answer: dict[str, Any] = _ingest_in_child([int(i) for i in ids.split(",")])
        except BaseException:
            import traceback

            answer = {"error": traceback.format_exc()}
        with os.fdopen(write_end, "w") as pipe:
            pipe.write(json.dumps(answer))
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        text = pipe.read()
    os.waitpid(pid, 0)
    answer = json.loads(text or '{"error": "the worker child died"}')
    if "error" in answer:
        raise RuntimeError(answer["error"])
    return answer


def bench_ingest(args: argparse.Namespace) -> int:
    from moto.server import ThreadedMotoServer

    started = time.monotonic()
    print(f"bench/storage.py ingest: {os.cpu_count()} CPUs, load average {load()}")
    workdir = Path(tempfile.mkdtemp(prefix="granary-bench-storage-"))
    server = None
    try:
        import logging

        import ingest as bench_ingest_module  # bench/ingest.py: its data and publishing

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request otherwise
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        credentials = {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        os.environ.update(credentials)
        env = _env.setup_granary(workdir, GRANARY_MAX_UPLOAD_BYTES=str(64 * 1024**3), **credentials)
        s3_env = {
            **env,
            "GRANARY_STORAGE_URL": f"s3://{BUCKET}/bench",
            "GRANARY_S3_ENDPOINT_URL": endpoint,
        }
        import boto3
        from django.conf import settings

        from datasets import storage

        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)

        kinds = [kind.strip() for kind in args.formats.split(",") if kind.strip()]
        csv_path = storage.tmp_dir() / "bench.csv"
        generated = bench_ingest_module.generate_csv(csv_path, args.size_mb * MIB)
        files = {"CSV": generated}
        for kind, compression in (("Parquet", "zstd"), ("Snappy", "snappy")):
            if kind in kinds:
                # zstd: its own Parquet copy (none written); Snappy: unlike the copy, so it gets one.
                path = storage.tmp_dir() / f"bench-{compression}.parquet"
                _parquet_of(csv_path, path, compression=compression)
                files[kind] = bench_ingest_module.Generated(
                    path, path.stat().st_size, generated.rows, generated.nulls, 0.0
                )
        files = {kind: files[kind] for kind in kinds}
        sizes = ", ".join(f"{kind} {file.size / MIB:.0f} MiB" for kind, file in files.items())
        print(
            f"generated {generated.rows:,} rows: {sizes}; S3 server {endpoint} (in this process); "
            f"each worker ingests {args.versions} versions"
        )
        results: dict[tuple[str, str], Runs] = {}
        for kind, file in files.items():
            sha256 = storage.file_sha256(file.path)
            for run in range(args.runs):
                for backend, child_env in (("filesystem", env), ("S3", s3_env)):
                    settings.GRANARY_STORAGE_URL = child_env.get("GRANARY_STORAGE_URL", "")
                    settings.GRANARY_S3_ENDPOINT_URL = child_env.get("GRANARY_S3_ENDPOINT_URL", "")
                    ids = [
                        bench_ingest_module.publish(
                            file, f"{kind.lower()}-{backend.lower()}-{run}-{n}", sha256
                        )
                        for n in range(args.versions)
                    ]
                    server_before = cpu_seconds()
                    got = run_child(
                        __file__, "worker", ",".join(map(str, ids)), child_env, timeout=3600 * args.versions
                    )
                    runs = results.setdefault((kind, backend), Runs())
                    ingests = got["ingests"]
                    if any(one["status"] != "ready" for one in ingests):
                        print(f"    {kind} on {backend}: ended {[one['status'] for one in ingests]}")
                        return 1
                    runs.first.append(ingests[0])
                    if len(ingests) > 1:
                        later = sorted(ingests[1:], key=lambda one: one["seconds"])
                        runs.steady.append(later[(len(later) - 1) // 2])
                    runs.start_rss.append(got["start_rss"])
                    runs.server_cpu.append((cpu_seconds() - server_before) / len(ingests))  # per ingest
                    each = ", ".join(
                        f"{one['seconds']:.2f} s ({one['ingest_file']:.2f}; CPU {one['cpu']:.1f} s; "
                        f"{one['rss_before'] / MB:.0f}->{one['read_peak_rss'] / MB:.0f}/{one['peak_rss'] / MB:.0f} MB)"
                        for one in ingests
                    )
                    print(f"    {kind:8} {backend:10} run {run + 1}: {each}; load {load()}")
        print()
        header = (
            f"{'file':8} {'backend':10} {'ingest':7} {'wall':>8} {'read pass':>10} {'CPU':>7} "
            f"{'read peak':>10} {'peak RSS':>9} {'start RSS':>10} {'S3 server CPU/ingest':>21}"
        )
        print(header)
        print("-" * len(header))
        phases = ["first", "steady"] if args.versions > 1 else ["first"]
        for kind in files:
            for backend in ("filesystem", "S3"):
                runs = results[(kind, backend)]
                for phase in phases:
                    best = runs.best(phase)
                    served = f"{min(runs.server_cpu):.1f} s" if backend == "S3" and phase == "first" else ""
                    start = f"{max(runs.start_rss) / MB:.0f} MB" if phase == "first" else ""
                    print(
                        f"{kind:8} {backend:10} {phase:7} {best['seconds']:>6.2f} s "
                        f"{best['ingest_file']:>8.2f} s {best['cpu']:>5.1f} s "
                        f"{runs.peak(phase, 'read_peak_rss') / MB:>7.0f} MB "
                        f"{runs.peak(phase) / MB:>6.0f} MB {start:>10} {served:>21}"
                    )
        print()
        ok = True
        for kind in files:
            fs, s3 = results[(kind, "filesystem")], results[(kind, "S3")]
            for phase in phases:
                ratio = s3.best(phase)["seconds"] / fs.best(phase)["seconds"]
                cpu_ratio = s3.best(phase)["cpu"] / fs.best(phase)["cpu"]
                rss = (s3.peak(phase) - fs.peak(phase)) / MB
                read_rss = (s3.peak(phase, "read_peak_rss") - fs.peak(phase, "read_peak_rss")) / MB
                verdict = "ok" if ratio <= TARGET_RATIO else "MISSED"
                ok = ok and ratio <= TARGET_RATIO
                print(
                    f"  {kind} ({phase} ingest): from S3 {ratio:.2f}x the filesystem (target <= "
                    f"{TARGET_RATIO}x) [{verdict}] (worker CPU {cpu_ratio:.2f}x); peak RSS {rss:+.0f} MB on S3 "
                    f"(read pass {read_rss:+.0f} MB)"
                )
            paired = ", ".join(
                f"{s['seconds'] / f['seconds']:.2f}x" for f, s in zip(fs.first, s3.first, strict=True)
            )
            print(f"    first ingest, S3/filesystem per run (side by side): {paired}")
        busy = os.getloadavg()[0] > (os.cpu_count() or 1) / 2
        if busy:
            print("  WARNING: the machine was busy: wall times and their ratio are not representative")
        print(f"total {time.monotonic() - started:.0f} s; load average at the end {load()}")
        return 0 if ok else 1
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


# --- transfer --------------------------------------------------------------------------------------


def _proc_cpu(pid: int) -> float:
    """User + system CPU seconds of process `pid` and its live descendants (gunicorn's workers)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def _wait_port(port: int, proc: subprocess.Popen[bytes], name: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{name} did not listen on {port}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Measure:
    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # this process (the client) during the run
    server_cpu: list[float] = field(default_factory=list)  # gunicorn and moto during the run

    def best(self) -> int:
        return self.seconds.index(min(self.seconds))


def _form_upload(client: Any, dataset: str, source: Path) -> None:
    """The app's upload as the client sent it before raw bodies: a multipart form, with the
    digest declared (context for the raw body's figures, side by side in each run)."""
    import base64

    from granary.transfer import MultipartFile, hash_file

    digest = base64.b64encode(bytes.fromhex(hash_file(source, lambda n: None))).decode()
    body = MultipartFile(fields=[("message", "")], path=source, filename=source.name)
    response = client.session.post(
        f"{client.url}/api/v1/datasets/{dataset}/versions/",
        data=body,
        headers={"Content-Type": body.content_type, "Repr-Digest": f"sha-256=:{digest}:"},
        timeout=900,
    )
    response.raise_for_status()


def baseline_name(name: str) -> str:
    return "boto3 download_file" if "download" in name or "get_object" in name else "boto3 upload_file"


def bench_transfer(args: argparse.Namespace) -> int:
    """boto3's own upload_file/download_file against Granary's three paths, on one S3 server."""
    started = time.monotonic()
    size = int(args.size_mb * MIB)
    print(
        f"bench/storage.py transfer: {os.cpu_count()} CPUs, load average {load()}, {size / MIB:.0f} MiB file"
    )
    workdir = Path(tempfile.mkdtemp(prefix="granary-bench-transfer-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        sys.path.insert(0, str(_env.ROOT))
        from tests.services import running_redis

        redis_context = running_redis()
        redis_url = redis_context.__enter__()  # queued ingests go somewhere (nothing consumes them)
        credentials = {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        moto_port = _free_port()
        # moto in its own process, as S3 would be another machine: it does not share our GIL.
        moto = subprocess.Popen(
            [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(moto_port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(moto)
        _wait_port(moto_port, moto, "moto_server")
        endpoint = f"http://127.0.0.1:{moto_port}"
        env = _env.setup_granary(
            workdir,
            GRANARY_MAX_UPLOAD_BYTES=str(64 * 1024**3),
            GRANARY_STORAGE_URL=f"s3://{BUCKET}/bench",
            GRANARY_S3_ENDPOINT_URL=endpoint,
            REDIS_URL=redis_url,
            **credentials,
        )
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config
        from django.contrib.auth import get_user_model

        from accounts.models import Team
        from accounts.services import token_create
        from datasets.models import Version
        from datasets.services.datasets import dataset_create

        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            config=Config(s3={"addressing_style": "path"}, signature_version="s3v4", max_pool_connections=20),
        )
        s3.create_bucket(Bucket=BUCKET)
        user = get_user_model().objects.get(username="bench")
        team = Team.objects.get(slug="bench")
        token = token_create(user=user, name="bench", scope="write").secret
        runs = args.runs
        for run in range(runs):
            for path in ("app", "direct", "form"):
                dataset_create(user=user, team=team, slug=f"{path}-{run}", title=f"{path} {run}")

        port = _free_port()
        gunicorn = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("gunicorn")),
                # Production's settings (the app and Great Expectations preloaded before the
                # workers fork), with this bench's workers, bind and timeout over them.
                "-c",
                "deploy/gunicorn.conf.py",
                "config.wsgi",
                "--workers",
                str(args.workers),
                "--worker-class",
                "sync",
                "--bind",
                f"127.0.0.1:{port}",
                "--timeout",
                "900",
                "--log-level",
                "warning",
            ],
            cwd=_env.ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        procs.append(gunicorn)
        _wait_port(port, gunicorn, "gunicorn")
        base_url = f"http://127.0.0.1:{port}"

        source = workdir / "bench.csv"
        import ingest as bench_ingest_module  # bench/ingest.py's realistic CSV

        bench_ingest_module.generate_csv(source, size)
        size = source.stat().st_size
        sys.path.insert(0, str(_env.ROOT / "client" / "src"))
        from granary import Client

        client = Client(base_url, token, progress=False, timeout=900, cache_dir=workdir / "cache")
        # boto3's defaults (8 MiB parts, 10 threads) are what "boto3's own upload_file" means.
        boto_config = TransferConfig()
        print(
            f"S3 {endpoint} (moto_server process), Granary {base_url} (gunicorn {args.workers} sync workers)"
        )

        from datasets import storage

        results: dict[str, Measure] = {}
        downloaded = workdir / "downloaded"
        redirected = None

        def timed(name: str, action: Any) -> Any:
            if downloaded.exists():
                downloaded.unlink()
            cpu0, server0, t0 = cpu_seconds(), _proc_cpu(gunicorn.pid) + _proc_cpu(moto.pid), time.monotonic()
            value = action()
            seconds = time.monotonic() - t0
            measure = results.setdefault(name, Measure())
            measure.seconds.append(seconds)
            measure.cpu.append(cpu_seconds() - cpu0)
            measure.server_cpu.append(_proc_cpu(gunicorn.pid) + _proc_cpu(moto.pid) - server0)
            print(f"    {name:26} {seconds:6.2f} s  {size / MIB / seconds:7.0f} MiB/s  load {load()}")
            return value

        for run in range(runs):
            print(f"  run {run + 1}/{runs}")
            if run:
                with open(source, "ab") as more:  # new bytes: a stored blob would skip the transfer
                    more.write(b"\n")
            timed(
                "boto3 upload_file",
                lambda run=run: s3.upload_file(str(source), BUCKET, f"baseline/{run}", Config=boto_config),
            )
            via_app = timed(
                "upload through the app", lambda run=run: client.upload(f"app-{run}", source, direct=False)
            )
            direct = timed(
                "direct multipart upload", lambda run=run: client.upload(f"direct-{run}", source, direct=True)
            )
            assert via_app.sha256 == direct.sha256, "both paths must declare the same digest"
            timed(
                "  S3Storage.put alone",
                lambda run=run: storage.backend().put(source=source, key=f"bench-put/{run}"),
            )
            with open(source, "ab") as more:  # new bytes: the app's upload stored these
                more.write(b"\n")
            timed("  app, multipart form", lambda run=run: _form_upload(client, f"form-{run}", source))

            def get_object(run: int = run) -> None:
                body = s3.get_object(Bucket=BUCKET, Key=f"baseline/{run}")["Body"]
                with open(downloaded, "wb") as out:
                    shutil.copyfileobj(body, out, 8 * MIB)

            timed("  boto3 get_object", get_object)
            timed(
                "boto3 download_file",
                lambda run=run: s3.download_file(
                    BUCKET, f"baseline/{run}", str(downloaded), Config=boto_config
                ),
            )
            # The download API needs a ready version; its ingest is bench/storage.py ingest's subject.
            Version.objects.filter(pk=Version.objects.get(dataset__slug=f"app-{run}").pk).update(
                status="ready"
            )
            api_url = f"{base_url}/api/v1/datasets/app-{run}/versions/1/download/"
            answer = client.session.get(api_url, allow_redirects=False, timeout=60)
            redirected = answer.status_code in (302, 303, 307)
            if redirected:
                shutil.rmtree(client.cache.root, ignore_errors=True)  # a cache hit would transfer nothing
                timed(
                    "download (presigned)",
                    lambda run=run: client.download(f"app-{run}@1", downloaded, format="original"),
                )
            else:  # the API streams: measure a presigned GET of the same blob directly
                url = storage.backend().presigned_url(storage.blob_key(via_app.sha256), seconds=600)

                def presigned_get(url: str = url) -> None:
                    with (
                        requests.get(url, stream=True, timeout=600) as response,
                        open(downloaded, "wb") as out,
                    ):
                        response.raise_for_status()
                        for chunk in response.iter_content(8 * MIB):
                            out.write(chunk)

                timed("download (presigned)", presigned_get)

        print()
        header = (
            f"{'transfer':26} {'best':>8} {'MiB/s':>7} {'ratio':>6} {'client CPU':>11} {'server CPU':>11}"
        )
        print(header)
        print("-" * len(header))
        ok = True
        baselines = {"upload": results["boto3 upload_file"], "download": results["boto3 download_file"]}
        for name, measure in results.items():
            i = measure.best()
            baseline = baselines["download" if "download" in name or "get_object" in name else "upload"]
            ratio = min(baseline.seconds) / min(measure.seconds)
            is_target = not name.startswith(("boto3", " "))  # indented rows are context
            ok = ok and (ratio >= TRANSFER_TARGET or not is_target)
            shown = f"{ratio:>5.2f}x" if name != baseline_name(name) else f"{1.0:>5.2f}x"
            print(
                f"{name:26} {measure.seconds[i]:>6.2f} s {size / MIB / measure.seconds[i]:>7.0f} "
                f"{shown} {measure.cpu[i]:>9.1f} s {measure.server_cpu[i]:>9.1f} s"
            )
        # The load moves between minutes: the ratio within each run (side by side) says more.
        for name, measure in results.items():
            base = results[baseline_name(name)]
            if name != baseline_name(name) and len(measure.seconds) == len(base.seconds):
                paired = ", ".join(
                    f"{b / m:.2f}x" for b, m in zip(base.seconds, measure.seconds, strict=True)
                )
                print(f"  {name.strip()} per run: {paired}")
        if "download (presigned)" in results and "  boto3 get_object" in results:
            fair = min(results["  boto3 get_object"].seconds) / min(results["download (presigned)"].seconds)
            print(f"  download (presigned) against one streamed get_object: {fair:.2f}x")
        print()
        how = (
            "through the API's presigned redirect"
            if redirected
            else "a presigned GET made here (the API streams)"
        )
        print(
            f"  download measured {how}; ratios are boto3's best time / Granary's best (target >= {TRANSFER_TARGET})"
        )
        print(
            "  upload through the app: the client hashes, then POSTs the raw body with Repr-Digest to gunicorn,"
        )
        print(
            "  which sends 8 MiB parts to S3 while it receives and completes once its hash agrees, until the"
        )
        print("  202 (`app, multipart form`: the same as a form, as the client sent it before);")
        print(
            "  direct: hashing locally, parts, complete (and the server's check of the head), until the 202"
        )
        if os.getloadavg()[0] > (os.cpu_count() or 1):
            print("  WARNING: the machine was busy: wall times and their ratio are not representative")
        print(f"total {time.monotonic() - started:.0f} s; load average at the end {load()}")
        return 0 if ok else 1
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        if "redis_context" in locals():
            redis_context.__exit__(None, None, None)
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    if sys.argv[1:2] == ["--child"]:  # _env.run_child: `--child worker <version ids>`
        import json

        print(json.dumps(child_worker(sys.argv[3])))
        return 0
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    ingest = commands.add_parser("ingest", help="ingest from S3 against ingest from the filesystem")
    ingest.add_argument("--size-mb", type=int, default=256, help="size of the CSV in MiB (default 256)")
    ingest.add_argument("--runs", type=int, default=2, help="runs per file and backend (best of; default 2)")
    ingest.add_argument(
        "--versions",
        type=int,
        default=3,
        help="versions each worker ingests: the first, then the steady state (median; default 3)",
    )
    ingest.add_argument(
        "--formats", default="CSV,Parquet,Snappy", help="which files (default CSV,Parquet,Snappy)"
    )
    transfer = commands.add_parser("transfer", help="uploads and downloads against boto3's own")
    transfer.add_argument(
        "--size-mb", type=float, default=1024, help="size of the file in MiB (default 1024)"
    )
    transfer.add_argument("--runs", type=int, default=2, help="runs of each transfer (best of; default 2)")
    transfer.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (default 2)")
    args = parser.parse_args()
    if args.command == "ingest":
        return bench_ingest(args)
    if args.command == "transfer":
        return bench_transfer(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
