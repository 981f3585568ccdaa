#!/usr/bin/env python
"""Storage benchmark: Granary on S3 (moto's server on loopback) against Granary on the filesystem.

    .venv/bin/python bench/storage.py ingest [--size-mb 256] [--runs 2]

`ingest`: the real `version_ingest` (hash, parse, profile, Parquet copy, publish) of a generated
CSV (bench/ingest.py's realistic data) and of a Parquet file of the same rows, each run in a fresh
process as a Celery worker would, once with the blob on the filesystem and once with it in S3,
runs alternating so both see the same load. It prints, per file and backend, the best wall time,
that run's CPU time and the worker's peak RSS (VmHWM: after fork and exec, ru_maxrss still counts
the parent's pages), the S3/filesystem ratio (target <= 1.3x; the worker's peak RSS should not
grow), and the CPU the S3 server itself spent serving the reads (in this process; a real S3 is
another machine). Nothing is copied to local disk on S3: the reads are ranged GETs.

Everything lives in one temporary directory, removed at the end; no network beyond loopback.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _env
from _env import MB, cpu_seconds, run_child

MIB = 1024 * 1024
TARGET_RATIO = 1.3
BUCKET = "granary-bench"
INGEST_SCRIPT = str(Path(__file__).resolve().parent / "ingest.py")


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# --- ingest ----------------------------------------------------------------------------------------


@dataclass
class Runs:
    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    peak_rss: list[int] = field(default_factory=list)
    server_cpu: list[float] = field(default_factory=list)

    def best(self) -> int:
        return self.seconds.index(min(self.seconds))


def _parquet_of(csv_path: Path, out: Path) -> None:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    reader = pacsv.open_csv(csv_path)
    with pq.ParquetWriter(out, reader.schema, compression="zstd") as writer:
        pending = []
        for batch in reader:
            pending.append(batch)
            if sum(b.num_rows for b in pending) >= 128 * 1024:
                writer.write_table(pa.Table.from_batches(pending))
                pending = []
        if pending:
            writer.write_table(pa.Table.from_batches(pending))


def bench_ingest(args: argparse.Namespace) -> int:
    from moto.server import ThreadedMotoServer

    started = time.monotonic()
    print(f"bench/storage.py ingest: {os.cpu_count()} CPUs, load average {load()}")
    workdir = Path(tempfile.mkdtemp(prefix="granary-bench-storage-"))
    server = None
    try:
        import logging

        import ingest as bench_ingest_module  # bench/ingest.py: its data, publishing and worker child

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

        csv_path = storage.tmp_dir() / "bench.csv"
        generated = bench_ingest_module.generate_csv(csv_path, args.size_mb * MIB)
        parquet_path = storage.tmp_dir() / "bench.parquet"
        _parquet_of(csv_path, parquet_path)
        files = {
            "CSV": generated,
            "Parquet": bench_ingest_module.Generated(
                parquet_path, parquet_path.stat().st_size, generated.rows, generated.nulls, 0.0
            ),
        }
        print(
            f"generated {generated.size / MIB:.0f} MiB CSV, {generated.rows:,} rows; "
            f"Parquet {files['Parquet'].size / MIB:.0f} MiB; S3 server {endpoint}"
        )
        results: dict[tuple[str, str], Runs] = {}
        for kind, file in files.items():
            sha256 = storage.file_sha256(file.path)
            for run in range(args.runs):
                for backend, child_env in (("filesystem", env), ("S3", s3_env)):
                    settings.GRANARY_STORAGE_URL = child_env.get("GRANARY_STORAGE_URL", "")
                    settings.GRANARY_S3_ENDPOINT_URL = child_env.get("GRANARY_S3_ENDPOINT_URL", "")
                    slug = f"{kind.lower()}-{backend.lower()}-{run}"
                    version_id = bench_ingest_module.publish(file, slug, sha256)
                    server_before = cpu_seconds()
                    got = run_child(INGEST_SCRIPT, "ingest", str(version_id), child_env, timeout=3600)
                    runs = results.setdefault((kind, backend), Runs())
                    if got["status"] != "ready":
                        print(f"    {kind} on {backend}: version ended {got['status']}")
                        return 1
                    runs.seconds.append(got["seconds"])
                    runs.cpu.append(got["cpu"])
                    runs.peak_rss.append(got["peak_rss"])
                    runs.server_cpu.append(cpu_seconds() - server_before)
                    print(
                        f"    {kind:8} {backend:10} run {run + 1}: {got['seconds']:.2f} s "
                        f"(CPU {got['cpu']:.1f} s), peak RSS {got['peak_rss'] / MB:.0f} MB, "
                        f"load {load()}"
                    )
        print()
        header = f"{'file':8} {'backend':10} {'wall':>8} {'CPU':>7} {'peak RSS':>9} {'S3 server CPU':>14}"
        print(header)
        print("-" * len(header))
        ok = True
        for kind in files:
            for backend in ("filesystem", "S3"):
                runs = results[(kind, backend)]
                i = runs.best()
                served = f"{runs.server_cpu[i]:.1f} s" if backend == "S3" else ""
                print(
                    f"{kind:8} {backend:10} {runs.seconds[i]:>6.2f} s {runs.cpu[i]:>5.1f} s "
                    f"{runs.peak_rss[i] / MB:>6.0f} MB {served:>14}"
                )
        print()
        for kind in files:
            fs, s3 = results[(kind, "filesystem")], results[(kind, "S3")]
            ratio = min(s3.seconds) / min(fs.seconds)
            cpu_ratio = s3.cpu[s3.best()] / fs.cpu[fs.best()]
            rss = (max(s3.peak_rss) - max(fs.peak_rss)) / MB
            verdict = "ok" if ratio <= TARGET_RATIO else "MISSED"
            ok = ok and ratio <= TARGET_RATIO
            print(
                f"  {kind}: ingest from S3 {ratio:.2f}x the filesystem (target <= {TARGET_RATIO}x) "
                f"[{verdict}] (worker CPU {cpu_ratio:.2f}x); worker peak RSS {rss:+.0f} MB on S3"
            )
        busy = os.getloadavg()[0] > (os.cpu_count() or 1) / 2
        if busy:
            print("  WARNING: the machine was busy: wall times and their ratio are not representative")
        print(f"total {time.monotonic() - started:.0f} s; load average at the end {load()}")
        return 0 if ok else 1
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    ingest = commands.add_parser("ingest", help="ingest from S3 against ingest from the filesystem")
    ingest.add_argument("--size-mb", type=int, default=256, help="size of the CSV in MiB (default 256)")
    ingest.add_argument("--runs", type=int, default=2, help="runs per file and backend (best of; default 2)")
    args = parser.parse_args()
    if args.command == "ingest":
        return bench_ingest(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
