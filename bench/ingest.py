#!/usr/bin/env python
"""Ingest benchmark: the worker's full pass over a large CSV, against `pyarrow.csv.read_csv`.

    .venv/bin/python bench/ingest.py [--size-mb 1024] [--also-3gb | --no-3gb]

From one run it prints, for a generated CSV of --size-mb MiB and (unless --no-3gb) of 3 GiB:

1. `pyarrow.csv.read_csv` of the file: wall time (best of --runs, each in a fresh process)
   and that process's peak RSS (and its CPU time: a shared machine's load moves wall times);
2. the full Granary ingest, i.e. the real `version_ingest` (hash, parse, schema, profile,
   preview, zstd Parquet copy, publishing it, saving the version) of a real version published
   with `version_create`, run in a fresh process as a Celery worker would: its wall time as a
   ratio to read_csv, and the process's peak RSS (VmHWM: Python, Django and all);
3. the Parquet copy's size, and checks that the row count (version, profile, Parquet copy) and
   every column's null count equal what was generated.

The CSV is realistic: ids, integers, floats, categories (skewed), country codes, free text of
2-8 words with a unique token (high cardinality), timestamps, booleans, and nulls in five of the
columns. It is generated with numpy and pyarrow in chunks (about 7 s per GB).

Everything lives in one temporary directory (SQLite database, GRANARY_DATA_DIR, the CSVs),
removed at the end, on Ctrl-C and on errors too; no network is used.
Targets: ingest at most 2.5x the read_csv time; peak RSS under 500 MB, for both sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _env
from _env import MB, ROOT, cpu_seconds, current_rss, peak_rss, run_child

MIB = 1024 * 1024
CHUNK_ROWS = 256 * 1024
SEED = 20240601

TARGET_RATIO = 2.5
TARGET_RSS_MB = 500.0


# --- data ----------------------------------------------------------------------------------------

# A vocabulary for the free-text column (a plain list would be one word a line once formatted).
WORDS = (  # noqa: SIM905
    "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar "
    "papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu data model train label "
    "noisy clean sample batch error missing value sensor camera image text audio quick brown fox "
    "jumps over lazy dog the a of to and in is it for on with as at by from customer order "
    "shipped returned delayed refund great poor excellent product service price quality"
).split()
CATEGORIES = [f"category_{i:02d}" for i in range(40)]
COUNTRIES = "US DE FR GB JP BR IN CN CA AU ES IT NL SE PL MX KR ZA NG EG".split()  # noqa: SIM905
NULLABLE = {"user_id": 0.02, "amount": 0.05, "country": 0.10, "comment": 0.15, "is_active": 0.03}


@dataclass
class Generated:
    path: Path
    size: int
    rows: int
    nulls: dict[str, int]
    seconds: float


def _chunk(start: int, n: int, rng):  # -> (pa.Table, {column: nulls})
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    words = pa.array(WORDS)
    masks = {name: rng.random(n) < p for name, p in NULLABLE.items()}

    def masked(name: str, values):
        array = values if isinstance(values, pa.Array) else pa.array(values)
        return pc.if_else(pa.array(masks[name]), pa.scalar(None, array.type), array)

    # Free text: 2 to 8 words and a unique-ish number, so nearly every value is distinct.
    length = rng.integers(2, 9, n)
    parts = []
    for k in range(8):
        part = words.take(pa.array(rng.integers(0, len(words), n)))
        if k >= 2:  # a null part is skipped by the join
            part = pc.if_else(pa.array(length > k), part, pa.scalar(None, pa.string()))
        parts.append(part)
    token = pc.cast(pa.array(rng.integers(0, 2**40, n)), pa.string())
    text = pc.binary_join_element_wise(*parts, token, " ", null_handling="skip")
    category = np.minimum(rng.zipf(1.6, n) - 1, len(CATEGORIES) - 1)
    stamps = (np.int64(1_672_531_200) + rng.integers(0, 2 * 365 * 86400, n)).astype("datetime64[s]")
    table = pa.table(
        {
            "id": pa.array(np.arange(start, start + n, dtype=np.int64)),
            "user_id": masked("user_id", rng.integers(1, 2_000_000, n)),
            "amount": masked("amount", np.round(rng.lognormal(3, 1.2, n), 2)),
            "score": pa.array(rng.normal(0, 1, n)),
            "category": pa.array(CATEGORIES).take(pa.array(category)),
            "country": masked(
                "country", pa.array(COUNTRIES).take(pa.array(rng.integers(0, len(COUNTRIES), n)))
            ),
            "comment": masked("comment", text),
            "created_at": pa.array(stamps),
            "is_active": masked("is_active", rng.random(n) < 0.7),
        }
    )
    return table, {name: int(mask.sum()) for name, mask in masks.items()}


def generate_csv(path: Path, size: int) -> Generated:
    """A CSV of about `size` bytes (the last chunk is sized to land near it), written in chunks."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    started = time.monotonic()
    rng = np.random.default_rng(SEED)
    rows = 0
    nulls = dict.fromkeys(NULLABLE, 0)
    per_row = 130.0
    with pa.OSFile(str(path), "wb") as sink:
        writer = None
        while sink.tell() < size:
            n = max(1000, min(CHUNK_ROWS, int((size - sink.tell()) / per_row) + 1))
            table, chunk_nulls = _chunk(rows, n, rng)
            before = sink.tell()
            if writer is None:
                writer = pacsv.CSVWriter(sink, table.schema)
            writer.write_table(table)
            if rows:
                per_row = (sink.tell() - before) / n
            rows += n
            for name, count in chunk_nulls.items():
                nulls[name] += count
        if writer is not None:
            writer.close()
    return Generated(path, path.stat().st_size, rows, nulls, time.monotonic() - started)


# --- child processes -----------------------------------------------------------------------------


def child_read_csv(path: str) -> dict:
    import pyarrow.csv as pacsv

    started = time.perf_counter()
    table = pacsv.read_csv(path)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "cpu": cpu_seconds(), "rows": table.num_rows, "peak_rss": peak_rss()}


def child_ingest(version_id: str) -> dict:
    """Run the real `version_ingest`, as the Celery task does, and report time and memory."""
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    # Import everything the worker has imported before its first task.
    import datasets.ingest.reader
    import datasets.tasks
    from datasets.services import versions

    timings: dict[str, float] = {}
    # version_ingest imports ingest_file from the reader when it runs: time it there.
    real_ingest_file = datasets.ingest.reader.ingest_file

    def timed_ingest_file(**kwargs):  # the same call, timed: no behaviour changes
        started = time.perf_counter()
        try:
            return real_ingest_file(**kwargs)
        finally:
            timings["ingest_file"] = time.perf_counter() - started

    datasets.ingest.reader.ingest_file = timed_ingest_file
    baseline = current_rss()
    cpu_before = cpu_seconds()
    started = time.perf_counter()
    version = versions.version_ingest(version_id=int(version_id))
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "cpu": cpu_seconds() - cpu_before,
        "ingest_file": timings.get("ingest_file"),
        "baseline_rss": baseline,
        "peak_rss": peak_rss(),
        "status": version.status if version else None,
    }


# --- Granary -------------------------------------------------------------------------------------


def setup_granary(workdir: Path) -> dict[str, str]:
    return _env.setup_granary(workdir, GRANARY_MAX_UPLOAD_BYTES=str(64 * 1024**3))


def publish(generated: Generated, slug: str, sha256: str) -> int:
    """A new dataset with the file as its version 1, in `processing`; the version's id."""
    from django.contrib.auth import get_user_model
    from django.db import connections

    from accounts.models import Team
    from datasets.models import Dataset
    from datasets.services import versions
    from datasets.services.datasets import dataset_create

    user = get_user_model().objects.get(username="bench")
    dataset = dataset_create(
        user=user,
        team=Team.objects.get(slug="bench"),
        slug=slug,
        title=f"Bench ingest {slug}",
        visibility=Dataset.Visibility.INTERNAL,
    )
    version = versions.version_create(
        dataset=dataset,
        user=user,
        path=generated.path,
        sha256=sha256,
        size=generated.size,
        filename=generated.path.name,
        message="bench",
    )
    connections.close_all()  # the child writes to the SQLite database
    return version.pk


def check_version(version_id: int, generated: Generated) -> tuple[int, list[str]]:
    """(Parquet copy size, problems) for an ingested version."""
    import pyarrow.parquet as pq

    from datasets import storage
    from datasets.models import Version

    version = Version.objects.select_related("parquet_blob").get(pk=version_id)
    problems = []
    if version.status != Version.Status.READY:
        return 0, [f"version is {version.status}: {version.failure_reason}"]
    profile = version.profile
    if version.row_count != generated.rows:
        problems.append(f"row_count {version.row_count:,} != {generated.rows:,}")
    if profile.get("rows") != generated.rows:
        problems.append(f"profile rows {profile.get('rows')} != {generated.rows:,}")
    for column in profile["columns"]:
        if column["count"] + column["nulls"] != generated.rows:
            problems.append(f"{column['name']}: count + nulls != rows")
        expected = generated.nulls.get(column["name"], 0)
        if column["nulls"] != expected:
            problems.append(f"{column['name']}: {column['nulls']:,} nulls, generated {expected:,}")
    if len(version.preview.get("rows", [])) != 100:
        problems.append(f"preview has {len(version.preview.get('rows', []))} rows")
    parquet = storage.blob_path(version.parquet_blob.sha256)
    parquet_rows = pq.ParquetFile(parquet).metadata.num_rows
    if parquet_rows != generated.rows:
        problems.append(f"Parquet copy has {parquet_rows:,} rows")
    types = ", ".join(f"{c['name']}:{c['type']}" for c in version.schema)
    print(f"    schema: {types}")
    return version.parquet_blob.size, problems


# --- the run -------------------------------------------------------------------------------------


@dataclass
class Result:
    label: str
    generated: Generated
    read_seconds: list[float] = field(default_factory=list)
    read_cpu: list[float] = field(default_factory=list)
    read_rss: int = 0
    ingest_seconds: list[float] = field(default_factory=list)
    ingest_cpu: list[float] = field(default_factory=list)
    ingest_file_seconds: list[float] = field(default_factory=list)
    ingest_rss: int = 0
    baseline_rss: int = 0
    parquet_size: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return min(self.ingest_seconds) / min(self.read_seconds)

    @property
    def cpu_ratio(self) -> float:
        return min(self.ingest_cpu) / min(self.read_cpu)


def bench_size(
    label: str, size: int, workdir: Path, env: dict[str, str], runs: int, ingest_runs: int
) -> Result:
    from datasets import storage

    path = storage.tmp_dir() / f"bench-{size // MIB}mib.csv"  # same filesystem: version_create links it
    generated = generate_csv(path, size)
    sha_started = time.monotonic()
    sha256 = storage.file_sha256(path)  # also puts the file in the page cache
    print(
        f"{label}: generated {generated.size / MIB:,.0f} MiB, {generated.rows:,} rows in "
        f"{generated.seconds:.1f} s; sha256 {sha256[:12]}… in {time.monotonic() - sha_started:.1f} s"
    )
    result = Result(label, generated)
    timeout = 60 + 60 * size / 1e9

    def read_csv() -> None:
        got = run_child(__file__, "read-csv", str(path), env, timeout)
        if got["rows"] != generated.rows:
            result.problems.append(f"read_csv read {got['rows']:,} rows")
        result.read_seconds.append(got["seconds"])
        result.read_cpu.append(got["cpu"])
        result.read_rss = max(result.read_rss, got["peak_rss"])
        print(
            f"    read_csv: {got['seconds']:.2f} s (CPU {got['cpu']:.1f} s), "
            f"peak RSS {got['peak_rss'] / MB:,.0f} MB"
        )

    def ingest(run: int) -> None:
        version_id = publish(generated, f"bench-{size // MIB}-{run}", sha256)
        got = run_child(__file__, "ingest", str(version_id), env, timeout * 4)
        result.ingest_seconds.append(got["seconds"])
        result.ingest_cpu.append(got["cpu"])
        result.ingest_file_seconds.append(got["ingest_file"] or 0.0)
        result.ingest_rss = max(result.ingest_rss, got["peak_rss"])
        result.baseline_rss = max(result.baseline_rss, got["baseline_rss"])
        print(
            f"    ingest: {got['seconds']:.2f} s (ingest_file {got['ingest_file'] or 0:.2f} s, "
            f"CPU {got['cpu']:.1f} s), "
            f"peak RSS {got['peak_rss'] / MB:,.0f} MB (after imports {got['baseline_rss'] / MB:,.0f} MB), "
            f"{got['status']}"
        )
        parquet_size, problems = check_version(version_id, generated)
        result.parquet_size = parquet_size
        result.problems.extend(problems)

    # Interleaved (read_csv, ingest, read_csv, ...) so that a shared machine's drift hits both.
    for run in range(max(runs, ingest_runs)):
        if run < runs:
            read_csv()
        if run < ingest_runs:
            ingest(run)
    path.unlink(missing_ok=True)  # the blob (a hard link) goes with the temporary directory
    return result


def mark(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def report(results: list[Result], busy: bool) -> bool:
    print()
    header = (
        f"{'file':<9} {'MiB':>6} {'rows':>11}  {'read_csv':>8} {'CPU':>6} {'peak RSS':>9}  "
        f"{'ingest':>7} {'CPU':>6} {'ratio':>6} {'peak RSS':>9}  {'Parquet':>8}  checks"
    )
    print(header)
    print("-" * len(header))
    # Best of the runs: other work on a shared machine only ever adds time.
    for r in results:
        rows_ok = not r.problems
        print(
            f"{r.label:<9} {r.generated.size / MIB:>6,.0f} {r.generated.rows:>11,}  "
            f"{min(r.read_seconds):>6.2f} s {min(r.read_cpu):>4.1f} s "
            f"{r.read_rss / MB:>6,.0f} MB  "
            f"{min(r.ingest_seconds):>5.1f} s {min(r.ingest_cpu):>4.1f} s "
            f"{r.ratio:>5.2f}x {r.ingest_rss / MB:>6,.0f} MB  "
            f"{r.parquet_size / MIB:>4,.0f} MiB  {'ok' if rows_ok else 'FAILED'}"
        )
        for problem in r.problems:
            print(f"    problem: {problem}")
    print()
    all_ok = True
    print(
        f"Targets: ingest <= {TARGET_RATIO}x read_csv; worker peak RSS < {TARGET_RSS_MB:.0f} MB for every size"
    )
    for r in results:
        ratio_ok = r.ratio <= TARGET_RATIO
        rss_ok = r.ingest_rss < TARGET_RSS_MB * MB
        all_ok = all_ok and ratio_ok and rss_ok and not r.problems
        print(
            f"  {r.label}: ingest {min(r.ingest_seconds):.1f} s / read_csv "
            f"{min(r.read_seconds):.2f} s = {r.ratio:.2f}x (target <= {TARGET_RATIO}x) "
            f"[{mark(ratio_ok)}] (CPU time {r.cpu_ratio:.2f}x); "
            f"peak RSS {r.ingest_rss / MB:,.0f} MB vs read_csv {r.read_rss / MB:,.0f} MB "
            f"(target < {TARGET_RSS_MB:.0f} MB) [{mark(rss_ok)}]; "
            f"{r.generated.rows:,} rows in profile, version and Parquet copy [{mark(not r.problems)}]"
        )
    if busy:
        print(
            "  WARNING: the machine was busy (load average above half the CPUs): wall times and their "
            "ratio are not representative; rerun when it is quiet"
        )
    if len(results) > 1:
        first, last = results[0], results[-1]
        growth = (last.ingest_rss - first.ingest_rss) / MB
        scale = last.generated.size / first.generated.size
        print(
            f"  memory vs size: {scale:.1f}x the bytes, peak RSS {first.ingest_rss / MB:,.0f} -> "
            f"{last.ingest_rss / MB:,.0f} MB ({growth:+,.0f} MB)"
        )
    return all_ok


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=int, default=1024, help="size of the CSV in MiB (default 1024)")
    parser.add_argument(
        "--also-3gb",
        dest="also_3gb",
        action="store_true",
        default=True,
        help="also measure a 3 GiB CSV (the default: about 1.5 minutes more)",
    )
    parser.add_argument("--no-3gb", dest="also_3gb", action="store_false", help="only --size-mb")
    parser.add_argument(
        "--runs", type=int, default=3, help="read_csv runs for --size-mb (best of; default 3; 2 for 3 GiB)"
    )
    parser.add_argument(
        "--ingest-runs",
        type=int,
        default=2,
        help="ingest runs for --size-mb (best of; default 2; 1 for 3 GiB)",
    )
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        kind, arg = args.child
        out = child_read_csv(arg) if kind == "read-csv" else child_ingest(arg)
        print(json.dumps(out))
        return 0

    started = time.monotonic()
    load = os.getloadavg()
    print(
        f"bench/ingest.py: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
        "(other processes slow both figures; compare runs on a quiet machine)"
    )
    workdir = Path(tempfile.mkdtemp(prefix="granary-bench-ingest-"))
    try:
        env = setup_granary(workdir)
        sizes = [(f"{args.size_mb} MiB", args.size_mb * MIB)]
        if args.also_3gb:
            sizes.append(("3 GiB", 3 * 1024 * MIB))
        results = []
        for n, (label, size) in enumerate(sizes):
            # The 3 GiB file is there for memory: fewer runs (each read_csv of it holds 8 GB).
            runs, ingest_runs = (args.runs, args.ingest_runs) if n == 0 else (2, 1)
            results.append(bench_size(label, size, workdir, env, runs, ingest_runs))
        end_load = os.getloadavg()[0]
        # The bench itself keeps about one CPU busy: more than that at the start, or well above
        # it at the end, is other work.
        busy = load[0] > 0.5 * (os.cpu_count() or 1) or end_load > 1.5 * (os.cpu_count() or 1)
        ok = report(results, busy)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    load = os.getloadavg()
    print(
        f"total {time.monotonic() - started:.0f} s; load average at the end {load[0]:.2f} {load[1]:.2f} "
        f"{load[2]:.2f}; temporary directory removed"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
