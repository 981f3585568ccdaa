"""Malformed and hostile files end with a precise reason: refused at upload or `failed` by the
worker, with no crash, no leftover file, and the worker's memory within its budget."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import GranaryError
from datasets.models import Blob, Version
from tests.blobs import stored_digests, stored_keys, working_files
from tests.conftest import files_under, sha256_of
from tests.datasets.corpus import DECOMPRESSED_LIMIT, HEAVY, corpus

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
MEMORY_BUDGET_MB = 500
CASES = corpus()


def test_the_corpus_has_at_least_thirty_files():
    assert len(CASES) >= 30


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_bad_file_gets_a_precise_reason_and_leaves_nothing_behind(
    name, public_dataset, publish, data_dir, settings
):
    settings.GRANARY_MAX_DECOMPRESSED_BYTES = DECOMPRESSED_LIMIT
    data, reason = CASES[name]
    try:
        version = publish(public_dataset, data=data)
    except GranaryError as refused:  # refused at upload: nothing was stored
        assert reason in refused.detail, refused.detail
        assert not Version.objects.exists()
        assert files_under(data_dir) == [] and stored_keys() == []
        return
    assert version.status == "failed", f"{name} became {version.status}"
    assert reason in version.failure_reason, version.failure_reason
    assert version.parquet_blob is None and version.schema == [] and version.row_count is None
    # Only the uploaded bytes remain (kept, so the failure can be looked into); no copy, no temp.
    assert working_files(data_dir) == [] and stored_digests() == [sha256_of(data)]
    assert Blob.objects.count() == 1


def test_the_worker_stays_within_its_memory_budget_on_the_heavy_cases(tmp_path):
    """The heavy cases, ingested in a process of their own, as a worker would (files on disk)."""
    paths = {}
    for index, name in enumerate(HEAVY):
        paths[name] = str(tmp_path / f"case-{index}")
        Path(paths[name]).write_bytes(CASES[name][0])
    script = f"""
import gc, json, os, sys
sys.path.insert(0, {str(ROOT)!r})
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
import django
django.setup()
from pathlib import Path
from django.conf import settings
settings.GRANARY_MAX_DECOMPRESSED_BYTES = {DECOMPRESSED_LIMIT}
from core.errors import GranaryError
from datasets.ingest.reader import ingest_file
from datasets.ingest.sources import local_source
def peak_mb():
    # VmHWM, not ru_maxrss: on Linux ru_maxrss keeps the parent's peak across fork and exec.
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024
baseline = peak_mb()
results = {{}}
for name, path in {paths!r}.items():
    try:
        ingest_file(source=local_source(Path(path)), workdir=Path({str(tmp_path)!r}), progress=lambda b, r: None)
        results[name] = "ready"
    except GranaryError as exc:
        results[name] = exc.detail
    gc.collect()  # as version_ingest does after each file
peak = peak_mb()
print(json.dumps({{"results": results, "peak_mb": peak, "baseline_mb": baseline}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600, cwd=ROOT, env=os.environ
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    for name in HEAVY:
        assert CASES[name][1] in report["results"][name], (name, report["results"][name])
    print(
        f"peak RSS of the ingest worker over the heavy cases: {report['peak_mb']:.0f} MB "
        f"(Django and the libraries alone: {report['baseline_mb']:.0f} MB)"
    )
    assert report["peak_mb"] < MEMORY_BUDGET_MB, report
