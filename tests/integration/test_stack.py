"""The production-shaped stack (scripts/stack.py) comes up, passes its smoke test through the
Python client and stops cleanly: PostgreSQL, Redis with AOF, the S3 server, gunicorn with 2
processes, one worker per queue. About 100 s on 2 busy cores."""

from __future__ import annotations

import glob
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Its own PostgreSQL, Redis (and S3): the same on every CI leg, so CI runs it once.
pytestmark = [pytest.mark.integration, pytest.mark.own_services]


def test_the_stack_script_passes_its_smoke_test_and_stops_cleanly():
    if not (shutil.which("initdb") or glob.glob("/usr/lib/postgresql/*/bin/initdb")):
        pytest.skip("PostgreSQL's initdb is not installed (apt-get install postgresql)")
    done = subprocess.run(
        [sys.executable, "scripts/stack.py"], cwd=ROOT, capture_output=True, text=True, timeout=420
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("stack |")]
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "stack | SMOKE TEST PASSED" in lines
    assert "stack | validated scores@1: run 1 passed" in lines
    assert "stack | download: a presigned redirect to storage, sha256 verified" in lines
    assert lines[-1] == "stack | stopped"
