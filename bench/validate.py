#!/usr/bin/env python
"""Validation benchmark: a Granary validation run against plain Great Expectations on pandas.

    .venv/bin/python bench/validate.py [--rows 1000000] [--runs 3] [--no-sqlite]

From one run it prints, for a generated version of --rows rows and 10 realistic columns (ids,
integers, floats, categories, codes, free text, timestamps; nulls in four columns; a few rows
that break the suite on purpose) and a 10-expectation suite (not null with `mostly`, between, in
set, regex, unique, mean between, row count, column pair A >= B, compound unique, lengths):

1. the time of a Granary validation run, from `validation_queue` to the result stored (the real
   `validation_run` the Celery task calls, in a fresh worker-like process), as a ratio to plain
   GX validating the same pandas DataFrame in-process (ephemeral context, same expectations,
   result_format SUMMARY; the DataFrame is read before the clock starts), and the worker's peak
   RSS (VmHWM: Python, Django, GX and all). Target: ratio <= 1.5. Both sides are measured after
   a warm-up run on a small version in the same process (a worker has done tasks before), in
   --runs fresh processes each, interleaved; medians. Where Granary's time goes is printed too;
2. GX on pandas' bytes per cell for this suite (peak RSS minus the RSS before the run, over
   rows x referenced columns), against GRANARY_VALIDATION_BYTES_PER_CELL, and the largest
   version validated in memory within GRANARY_VALIDATION_MEMORY_BYTES (4 GiB by default);
3. the same run forced onto the SQLite path (GRANARY_VALIDATION_MEMORY_BYTES=1 in that process):
   its time and peak RSS, and whether each expectation's success and unexpected count (and
   observed value) equal the pandas path's.

Everything lives in one temporary directory (SQLite database, GRANARY_DATA_DIR), removed at the
end, on Ctrl-C and on errors too. No Celery, Redis or network: runs are queued with their
broker call stubbed out and run by calling `validation_run` directly.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _env
from _env import MB, ROOT, cpu_seconds, current_rss, peak_rss, run_child

GIB = 1024**3
SEED = 20240611
WARM_ROWS = 2_000
TARGET_RATIO = 1.5

WORDS = (  # noqa: SIM905
    "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar "
    "papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu data model train label "
    "noisy clean sample batch error missing value sensor camera image text audio quick brown fox "
    "jumps over lazy dog the a of to and in is it for on with as at by from customer order "
    "shipped returned delayed refund great poor excellent product service price quality"
).split()
CATEGORIES = [f"category_{i:02d}" for i in range(40)]
COUNTRIES = "US DE FR GB JP BR IN CN CA AU ES IT NL SE PL MX KR ZA NG EG".split()  # noqa: SIM905


# --- data ----------------------------------------------------------------------------------------


def make_table(rows: int, seed: int):  # -> pa.Table
    """10 columns; nulls in user_id (2%), amount (5%), country (10%), comment (15%); about 0.1% of
    sku values malformed, 0.05% of updated_at before created_at, a tail of amounts above 2000 and
    comments longer than 70 characters, so that some expectations fail with unexpected rows."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    rng = np.random.default_rng(seed)

    def nulled(values, share: float):
        array = values if isinstance(values, pa.Array) else pa.array(values)
        return pc.if_else(pa.array(rng.random(rows) < share), pa.scalar(None, array.type), array)

    words = pa.array(WORDS)
    length = rng.integers(2, 9, rows)
    parts = []
    for k in range(8):
        part = words.take(pa.array(rng.integers(0, len(words), rows)))
        if k >= 2:
            part = pc.if_else(pa.array(length > k), part, pa.scalar(None, pa.string()))
        parts.append(part)
    token = pc.cast(pa.array(rng.integers(0, 2**40, rows)), pa.string())
    comment = pc.binary_join_element_wise(*parts, token, " ", null_handling="skip")

    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    prefix = ["".join(t) for t in letters[rng.integers(0, 26, (rows, 3))]]
    sku = np.char.add(np.char.add(prefix, "-"), np.char.zfill(rng.integers(0, 10**6, rows).astype(str), 6))
    bad = rng.random(rows) < 0.001
    sku[bad] = np.char.lower(sku[bad])

    created = np.int64(1_672_531_200_000_000) + rng.integers(0, 2 * 365 * 86400 * 10**6, rows)
    delta = rng.integers(0, 30 * 86400 * 10**6, rows)
    delta[rng.random(rows) < 0.0005] *= -1
    category = np.minimum(rng.zipf(1.6, rows) - 1, len(CATEGORIES) - 1)
    return pa.table(
        {
            "id": pa.array(np.arange(1, rows + 1, dtype=np.int64)),
            "user_id": nulled(rng.integers(1, 2_000_000, rows), 0.02),
            "amount": nulled(np.round(rng.lognormal(3, 1.2, rows), 2), 0.05),
            "score": pa.array(rng.normal(0, 1, rows)),
            "category": pa.array(CATEGORIES).take(pa.array(category)),
            "country": nulled(
                pa.array(COUNTRIES).take(pa.array(rng.integers(0, len(COUNTRIES), rows))), 0.10
            ),
            "sku": pa.array(sku.tolist(), pa.string()),
            "comment": nulled(comment, 0.15),
            "created_at": pa.array(created.astype("datetime64[us]")),
            "updated_at": pa.array((created + delta).astype("datetime64[us]")),
        }
    )


def make_suite(rows: int) -> list[dict[str, Any]]:
    return [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "country", "mostly": 0.85}},
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "amount", "min_value": 0, "max_value": 2000},
        },
        {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "category", "value_set": CATEGORIES},
        },
        {
            "type": "expect_column_values_to_match_regex",
            "kwargs": {"column": "sku", "regex": r"^[A-Z]{3}-[0-9]{6}$"},
        },
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}},
        {
            "type": "expect_column_mean_to_be_between",
            "kwargs": {"column": "score", "min_value": -0.05, "max_value": 0.05},
        },
        {
            "type": "expect_table_row_count_to_be_between",
            "kwargs": {"min_value": int(rows * 0.99), "max_value": int(rows * 1.01) + 1},
        },
        {
            "type": "expect_column_pair_values_a_to_be_greater_than_b",
            "kwargs": {"column_A": "updated_at", "column_B": "created_at", "or_equal": True},
        },
        {
            "type": "expect_compound_columns_to_be_unique",
            "kwargs": {"column_list": ["user_id", "created_at"]},
        },
        {
            "type": "expect_column_value_lengths_to_be_between",
            "kwargs": {"column": "comment", "min_value": 5, "max_value": 70},
        },
    ]


def short(expectation: dict[str, Any]) -> str:
    kw = expectation["kwargs"]
    cols = kw.get("column") or kw.get("column_list") or [kw.get("column_A"), kw.get("column_B")]
    cols = "" if cols == [None, None] else (cols if isinstance(cols, str) else ",".join(cols))
    return f"{expectation['type'].removeprefix('expect_')[:34]}({cols})"


# --- process measurements --------------------------------------------------------------------------


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0), so the next peak is the next step's own."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def trim() -> None:
    """Give freed heap back to the OS so the baseline RSS is what is really held."""
    import ctypes
    import gc

    gc.collect()
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


# --- children ------------------------------------------------------------------------------------


def child_plain(spec_path: str) -> dict[str, Any]:
    """Plain GX in-process: the DataFrame read first, then context + suite + validate, timed."""
    spec = json.loads(Path(spec_path).read_text())
    import great_expectations as gx
    import pyarrow.parquet as pq
    from great_expectations.data_context.types.base import ProgressBarsConfig

    def validate(frame) -> tuple[Any, dict[str, float]]:
        started = time.perf_counter()
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        suite = context.suites.add(gx.ExpectationSuite(name="plain", expectations=spec["suite"]))
        batch = (
            context.data_sources.add_pandas("plain")
            .add_dataframe_asset("df")
            .add_batch_definition_whole_dataframe("all")
            .get_batch(batch_parameters={"dataframe": frame})
        )
        setup = time.perf_counter()
        result = batch.validate(suite, result_format="SUMMARY")
        done = time.perf_counter()
        by_id = {r.expectation_config.id: r for r in result.results}
        ordered = [by_id[e.id].to_json_dict() for e in suite.expectations]
        return ordered, {
            "setup": setup - started,
            "validate": done - setup,
            "total": time.perf_counter() - started,
        }

    warm = next(
        pq.ParquetFile(spec["warm_parquet"]).iter_batches(batch_size=WARM_ROWS, columns=spec["columns"])
    )
    warm_started = time.perf_counter()
    validate(warm.to_pandas())
    warm_seconds = time.perf_counter() - warm_started
    trim()
    baseline = current_rss()
    before_peak = peak_rss()
    reset_peak()
    read_started = time.perf_counter()
    frame = pq.read_table(spec["parquet"], columns=spec["columns"]).to_pandas()
    read_seconds = time.perf_counter() - read_started
    frame_bytes = int(frame.memory_usage(deep=True).sum())
    cpu_before = cpu_seconds()
    results, timings = validate(frame)
    return {
        "seconds": timings["total"],
        "cpu": cpu_seconds() - cpu_before,
        "timings": timings,
        "read_seconds": read_seconds,
        "warm_seconds": warm_seconds,
        "frame_bytes": frame_bytes,
        "baseline_rss": baseline,
        "peak_rss": max(before_peak, peak_rss()),
        "run_peak_rss": peak_rss(),
        "results": [
            {
                "success": r["success"],
                "unexpected_count": (r.get("result") or {}).get("unexpected_count"),
                "observed_value": (r.get("result") or {}).get("observed_value"),
            }
            for r in results
        ],
    }


class _Timings:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds
        self.calls[name] = self.calls.get(name, 0) + 1

    def wrap(self, name: str, fn):
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.add(name, time.perf_counter() - started)

        return timed


def child_granary(spec_path: str) -> dict[str, Any]:
    """The real `validation_run`, as the Celery task calls it, queued and finished here.

    Pieces are timed by wrapping the functions `_validate` calls (same calls, same arguments):
    Parquet read, to_pandas, the SQLite copy, GX context setup, GX's validate, the GX pass(es)
    and the run's final DB write. Nothing in datasets/ is changed."""
    spec = json.loads(Path(spec_path).read_text())
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from contextlib import contextmanager
    from types import SimpleNamespace

    import great_expectations as gx
    import pyarrow.parquet as pq
    from great_expectations.datasource.fluent.interfaces import Batch

    import quality.tasks
    from datasets.models import Version
    from quality import runner
    from quality import services as quality
    from quality.models import ValidationRun

    quality._send = lambda run_id: None  # no broker: this process is the worker
    t = _Timings()
    marks: dict[str, int] = {}

    class _Table:
        def __init__(self, table) -> None:
            self._table = table

        def to_pandas(self, *args, **kwargs):
            return t.wrap("to_pandas", self._table.to_pandas)(*args, **kwargs)

    real_read_table = pq.read_table
    runner.pq = SimpleNamespace(
        read_table=lambda *a, **k: _Table(t.wrap("read_parquet", real_read_table)(*a, **k)),
        ParquetFile=pq.ParquetFile,
    )
    real_copy = runner._sqlite_copy

    @contextmanager
    def timed_copy(*args, **kwargs):
        started = time.perf_counter()
        with real_copy(*args, **kwargs) as database:
            t.add("sqlite_copy", time.perf_counter() - started)
            marks["copy_peak_rss"] = peak_rss()
            marks["copy_file_bytes"] = Path(database).stat().st_size
            marks["copy_end_rss"] = current_rss()
            reset_peak()
            yield database

    runner._sqlite_copy = timed_copy
    if os.environ.get("BENCH_NO_PRE_BUFFER"):  # an experiment: the copy without pyarrow's pre-buffering
        runner.pq.ParquetFile = lambda *a, **k: pq.ParquetFile(*a, **k, pre_buffer=False)
    runner._run_gx = t.wrap("gx_pass", runner._run_gx)
    quality._finish = t.wrap("db_finish", quality._finish)
    quality.webhooks_announce_run = t.wrap("announce", quality.webhooks_announce_run)
    gx.get_context = t.wrap("gx_context", gx.get_context)
    Batch.validate = t.wrap("gx_validate", Batch.validate)

    def run_once(version_id: int) -> tuple[int, float, float]:
        version = Version.objects.select_related("dataset").get(pk=version_id)
        cpu_before = cpu_seconds()
        started = time.perf_counter()
        run = quality.validation_queue(version=version, trigger="bench")
        quality.validation_run(run_id=run.pk)
        stored = ValidationRun.objects.get(pk=run.pk)  # the result as stored
        seconds = time.perf_counter() - started
        assert stored.status in ValidationRun.TERMINAL, stored.status
        return run.pk, seconds, cpu_seconds() - cpu_before

    _, warm_seconds, _ = run_once(spec["warm_version"])
    t.seconds.clear()
    t.calls.clear()
    trim()
    baseline = current_rss()
    before_peak = peak_rss()
    reset_peak()
    run_id, seconds, cpu = run_once(spec["version"])
    stored = ValidationRun.objects.get(pk=run_id)
    return {
        "seconds": seconds,
        "cpu": cpu,
        "warm_seconds": warm_seconds,
        "timings": t.seconds,
        "calls": t.calls,
        "baseline_rss": baseline,
        "peak_rss": max(before_peak, peak_rss(), marks.get("copy_peak_rss", 0)),
        "run_peak_rss": max(peak_rss(), marks.get("copy_peak_rss", 0)),
        "gx_peak_rss": peak_rss(),
        "marks": marks,
        "run_id": run_id,
        "status": stored.status,
        "error": stored.error,
        "stored_seconds": (stored.finished_at - stored.started_at).total_seconds(),
        "results": [
            {
                "success": r["success"],
                "unexpected_count": r["unexpected_count"],
                "observed_value": r["observed_value"],
                "error": r["error"],
            }
            for r in stored.results
        ],
    }


# --- Granary setup -------------------------------------------------------------------------------


def setup_granary(workdir: Path) -> dict[str, str]:
    os.environ.pop("GRANARY_VALIDATION_MEMORY_BYTES", None)  # the default budget, unless forced below
    env = _env.setup_granary(workdir)
    import logging

    logging.getLogger("great_expectations").setLevel(logging.WARNING)  # its INFO lines, here only
    from quality import services as quality

    quality._send = lambda run_id: None  # runs are made by the children
    return env


def publish(table, slug: str, suite: list[dict[str, Any]]) -> int:
    """A dataset whose version 1 is `table` (a Parquet upload), ingested, with `suite` saved."""
    import pyarrow.parquet as pq
    from django.contrib.auth import get_user_model

    from accounts.models import Team
    from datasets import storage
    from datasets.models import Dataset, Version
    from datasets.services import versions
    from datasets.services.datasets import dataset_create
    from quality import services as quality

    user = get_user_model().objects.get(username="bench")
    path = storage.tmp_dir() / f"{slug}.parquet"
    pq.write_table(table, path, compression="zstd")
    dataset = dataset_create(
        user=user,
        team=Team.objects.get(slug="bench"),
        slug=slug,
        title=slug,
        visibility=Dataset.Visibility.INTERNAL,
    )
    version = versions.version_create(
        dataset=dataset,
        user=user,
        path=path,
        sha256=storage.file_sha256(path),
        size=path.stat().st_size,
        filename=path.name,
        message="bench",
    )
    versions.version_ingest(version_id=version.pk)
    path.unlink(missing_ok=True)
    version = Version.objects.get(pk=version.pk)
    if version.status != Version.Status.READY:
        raise RuntimeError(f"{slug}: ingest ended {version.status}: {version.failure_reason}")
    quality.suite_save(dataset=dataset, user=user, expectations=suite)
    return version.pk


# --- report --------------------------------------------------------------------------------------


def mark(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def same_observed(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))
    return a == b


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the version (default 1,000,000)")
    parser.add_argument(
        "--runs", type=int, default=3, help="runs of each side, interleaved (median; default 3)"
    )
    parser.add_argument("--no-sqlite", action="store_true", help="skip the forced SQLite run")
    parser.add_argument(
        "--experiment-no-pre-buffer",
        action="store_true",
        help="also run the SQLite path with the copy reading ParquetFile(pre_buffer=False) (monkeypatched here)",
    )
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, arg = args.child
        print(json.dumps(child_plain(arg) if kind == "plain" else child_granary(arg)))
        return 0

    started = time.monotonic()
    load = os.getloadavg()
    print(
        f"bench/validate.py: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
        "(other processes slow both sides; the CPU-time ratio is printed too)"
    )
    workdir = Path(tempfile.mkdtemp(prefix="granary-bench-validate-"))
    try:
        return bench(args, workdir, started)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        print(f"total {time.monotonic() - started:.0f} s; temporary directory removed")


def bench(args: argparse.Namespace, workdir: Path, started: float) -> int:
    env = setup_granary(workdir)
    from django.conf import settings
    from django.db import connections

    from datasets import storage
    from datasets.models import Version

    rows = args.rows
    suite = make_suite(rows)
    gen_started = time.monotonic()
    table = make_table(rows, SEED)
    version_id = publish(table, "bench-validate", suite)
    warm_id = publish(make_table(WARM_ROWS, SEED + 1), "bench-warm", suite)
    del table
    version = Version.objects.select_related("parquet_blob").get(pk=version_id)
    warm = Version.objects.select_related("parquet_blob").get(pk=warm_id)
    columns = sorted({c for e in suite for c in _referenced(e)})
    cells = rows * len(columns)
    spec = {
        "parquet": str(storage.blob_path(version.parquet_blob.sha256)),
        "warm_parquet": str(storage.blob_path(warm.parquet_blob.sha256)),
        "columns": columns,
        "suite": suite,
        "version": version_id,
        "warm_version": warm_id,
    }
    spec_path = workdir / "spec.json"
    spec_path.write_text(json.dumps(spec))
    budget = settings.GRANARY_VALIDATION_MEMORY_BYTES
    per_cell_setting = settings.GRANARY_VALIDATION_BYTES_PER_CELL
    types = ", ".join(f"{c['name']}:{c['type']}" for c in version.schema)
    print(
        f"version: {rows:,} rows x {len(version.schema)} columns "
        f"({types}); "
        f"Parquet copy {version.parquet_blob.size / MB:.0f} MB; generated and ingested in "
        f"{time.monotonic() - gen_started:.1f} s"
    )
    print(
        f"suite: {len(suite)} expectations over {len(columns)} columns; {args.runs} run(s) per side, interleaved"
    )
    connections.close_all()

    timeout = 120 + rows / 1000
    plain: list[dict[str, Any]] = []
    granary: list[dict[str, Any]] = []
    for round_ in range(1, args.runs + 1):
        p = run_child(__file__, "plain", str(spec_path), env, timeout)
        g = run_child(__file__, "granary", str(spec_path), env, timeout)
        plain.append(p)
        granary.append(g)
        print(
            f"  round {round_}: plain GX {p['seconds']:.2f} s (cpu {p['cpu']:.2f} s; setup "
            f"{p['timings']['setup']:.2f} + validate {p['timings']['validate']:.2f}), peak RSS "
            f"{p['peak_rss'] / MB:,.0f} MB | Granary {g['seconds']:.2f} s (cpu {g['cpu']:.2f} s), peak RSS "
            f"{g['peak_rss'] / MB:,.0f} MB, run {g['status']}"
        )

    sqlite = no_pre_buffer = None
    if not args.no_sqlite:
        forced = {**env, "GRANARY_VALIDATION_MEMORY_BYTES": "1"}
        sqlite = run_child(__file__, "granary", str(spec_path), forced, timeout * 10)
        if args.experiment_no_pre_buffer:
            no_pre_buffer = run_child(
                __file__, "granary", str(spec_path), {**forced, "BENCH_NO_PRE_BUFFER": "1"}, timeout * 10
            )
        print(
            f"  SQLite path: {sqlite['seconds']:.2f} s (cpu {sqlite['cpu']:.2f} s), peak RSS "
            f"{sqlite['peak_rss'] / MB:,.0f} MB, run {sqlite['status']} {sqlite['error'][:200]}"
        )

    med = statistics.median
    plain_s, granary_s = med(r["seconds"] for r in plain), med(r["seconds"] for r in granary)
    ratio = granary_s / plain_s
    cpu_ratio = med(r["cpu"] for r in granary) / med(r["cpu"] for r in plain)
    worker_peak = max(r["peak_rss"] for r in granary)
    # The breakdowns are those of the median run (medians taken piece by piece would not add up).
    g_median = sorted(granary, key=lambda r: r["seconds"])[(len(granary) - 1) // 2]
    p_median = sorted(plain, key=lambda r: r["seconds"])[(len(plain) - 1) // 2]
    g_parts = g_median["timings"]
    p_parts = p_median["timings"]

    print()
    print("Per expectation (pandas path, Granary run):")
    reference = granary[0]["results"]
    for expectation, r in zip(suite, reference, strict=True):
        observed = r["observed_value"]
        observed = f"{observed:.4g}" if isinstance(observed, float) else observed
        print(
            f"  {short(expectation):<58} {'pass' if r['success'] else 'FAIL'}  unexpected "
            f"{r['unexpected_count'] if r['unexpected_count'] is not None else '-':>6}  observed {observed}"
        )
    plain_same = all(
        a["success"] == b["success"] and a["unexpected_count"] == b["unexpected_count"]
        for a, b in zip(plain[0]["results"], reference, strict=True)
    )

    print()
    print("1. Granary validation run (queue -> result stored) vs plain GX on the same DataFrame")
    print(
        f"   plain GX: {plain_s:.2f} s (median; that run: context+suite+batch {p_parts['setup']:.2f} s, validate "
        f"{p_parts['validate']:.2f} s; the DataFrame's read, {med(r['read_seconds'] for r in plain):.2f} s, not counted)"
    )
    print(
        f"   Granary:  {granary_s:.2f} s (median; stored run says {med(r['stored_seconds'] for r in granary):.2f} s "
        f"from started_at to finished_at)"
    )
    print(
        f"   ratio: {ratio:.2f}x wall, {cpu_ratio:.2f}x CPU (target <= {TARGET_RATIO}x) [{mark(ratio <= TARGET_RATIO)}]; "
        f"same success and unexpected counts as plain GX [{mark(plain_same)}]"
    )
    named = ["read_parquet", "to_pandas", "gx_context", "gx_validate", "db_finish", "announce"]
    gx_rest = g_parts.get("gx_pass", 0) - g_parts.get("gx_context", 0) - g_parts.get("gx_validate", 0)
    other = g_median["seconds"] - sum(
        g_parts.get(k, 0) for k in ("read_parquet", "to_pandas", "gx_pass", "db_finish", "announce")
    )
    print(
        "   where Granary's time goes (median run, s): "
        + ", ".join(f"{k} {g_parts.get(k, 0):.2f}" for k in named)
        + f", rest of GX passes (suite, datasource, results) {gx_rest:.2f}; GX passes "
        f"{g_median['calls'].get('gx_pass', 0)}; queue/claim/checks/reads {other:.2f}"
    )
    print(
        f"   first run in a fresh process ({WARM_ROWS:,} rows, after imports; not counted): plain "
        f"{med(r['warm_seconds'] for r in plain):.2f} s, Granary {med(r['warm_seconds'] for r in granary):.2f} s"
    )
    print(
        f"   worker peak RSS: {worker_peak / MB:,.0f} MB (after imports and a warm-up run "
        f"{med(r['baseline_rss'] for r in granary) / MB:,.0f} MB); plain GX process {max(r['peak_rss'] for r in plain) / MB:,.0f} MB"
    )

    print()
    g_cell = med((r["run_peak_rss"] - r["baseline_rss"]) / cells for r in granary)
    p_cell = med((r["run_peak_rss"] - r["baseline_rss"]) / cells for r in plain)
    frame_cell = med(r["frame_bytes"] for r in plain) / cells
    per_cell = max(g_cell, p_cell)
    print(
        f"2. Memory of GX on pandas for this suite ({rows:,} rows x {len(columns)} referenced columns = {cells:,} cells)"
    )
    print(
        f"   measured: Granary run {g_cell:.1f} bytes/cell, plain GX (DataFrame included) {p_cell:.1f} bytes/cell "
        f"(the DataFrame itself {frame_cell:.1f}); setting GRANARY_VALIDATION_BYTES_PER_CELL = {per_cell_setting} "
        f"[{'ok' if per_cell <= per_cell_setting else 'TOO LOW'}]"
    )
    largest = budget / per_cell
    setting_largest = budget / per_cell_setting
    print(
        f"   largest version validated in memory within {budget / GIB:g} GiB: {largest / 1e6:,.0f}M cells by this "
        f"measurement (e.g. {largest / 10 / 1e6:,.1f}M rows x 10 columns); the setting allows "
        f"{setting_largest / 1e6:,.0f}M cells ({setting_largest / 10 / 1e6:,.1f}M rows x 10 columns)"
    )

    ok = ratio <= TARGET_RATIO and plain_same
    if sqlite is not None:
        print()
        mismatches = []
        for i, (expectation, a, b) in enumerate(
            zip(suite, reference, sqlite["results"], strict=True), start=1
        ):
            if a["success"] != b["success"] or a["unexpected_count"] != b["unexpected_count"]:
                mismatches.append(
                    f"   {i}. {short(expectation)}: pandas {a['success']}/{a['unexpected_count']}, SQLite "
                    f"{b['success']}/{b['unexpected_count']} {b.get('error', '')[:160]}"
                )
            elif not same_observed(a["observed_value"], b["observed_value"]):
                mismatches.append(
                    f"   {i}. {short(expectation)}: observed value differs only: pandas {a['observed_value']!r}, "
                    f"SQLite {b['observed_value']!r}"
                )
        counts_same = not any("observed value differs only" not in m for m in mismatches)
        s = sqlite["timings"]
        print("3. The same run forced onto the SQLite path (GRANARY_VALIDATION_MEMORY_BYTES=1)")
        print(
            f"   {sqlite['seconds']:.2f} s = {sqlite['seconds'] / granary_s:.1f}x the pandas path "
            f"({sqlite['seconds'] / plain_s:.1f}x plain GX): copy to SQLite {s.get('sqlite_copy', 0):.2f} s, GX "
            f"validate {s.get('gx_validate', 0):.2f} s; peak RSS {sqlite['peak_rss'] / MB:,.0f} MB (run's own "
            f"{(sqlite['run_peak_rss'] - sqlite['baseline_rss']) / MB:,.0f} MB above the "
            f"{sqlite['baseline_rss'] / MB:,.0f} MB baseline)"
        )
        for label, r in [("", sqlite), (" (experiment, ParquetFile(pre_buffer=False))", no_pre_buffer)]:
            m = r["marks"] if r else None
            if m:
                print(
                    f"   memory by phase{label}: copy peak {(m['copy_peak_rss'] - r['baseline_rss']) / MB:,.0f} MB "
                    f"above the baseline, {(m['copy_end_rss'] - r['baseline_rss']) / MB:,.0f} MB still held after it; "
                    f"GX on SQLite {(r['gx_peak_rss'] - m['copy_end_rss']) / MB:,.0f} MB more; SQLite file "
                    f"{m['copy_file_bytes'] / MB:,.0f} MB; {r['seconds']:.2f} s"
                )
        print(
            f"   same per-expectation success and unexpected counts as the pandas path [{mark(counts_same)}]"
            + ("" if not mismatches else ":")
        )
        for line in mismatches:
            print(line)
        ok = ok and counts_same
    print()
    print(
        f"Summary: ratio {ratio:.2f}x (target <= {TARGET_RATIO}x) [{mark(ratio <= TARGET_RATIO)}]; worker peak RSS {worker_peak / MB:,.0f} MB"
    )
    return 0 if ok else 1


def _referenced(expectation: dict[str, Any]) -> list[str]:
    from quality.expectations import referenced_columns

    return referenced_columns(expectation)


if __name__ == "__main__":
    sys.exit(main())
