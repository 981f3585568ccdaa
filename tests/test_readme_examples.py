"""The README's API examples, run verbatim against a live server with a real worker: the curl
blocks in a shell, then the Python block, as a reader would paste them after `make run`."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

pytestmark = pytest.mark.integration


def api_section_blocks() -> dict[str, list[str]]:
    """The fenced code blocks of the README's "The API" section, up to its first subsection."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## The API\n", 1)[1].split("\n### ", 1)[0]
    blocks: dict[str, list[str]] = {}
    for language, body in re.findall(r"^```(\w+)\n(.*?)^```$", section, flags=re.MULTILINE | re.DOTALL):
        blocks.setdefault(language, []).append(body)
    return blocks


def test_the_api_section_has_the_curl_and_the_python_examples():
    blocks = api_section_blocks()
    assert len(blocks["sh"]) == 2, "the curl block and the checkout block"
    assert len(blocks["python"]) == 1
    assert all("curl -s " not in block for block in blocks["sh"]), "-s alone hides HTTP errors"


def test_the_readme_curl_and_python_examples_work_verbatim(
    live_server, celery_worker, redis_url, settings, tmp_path
):
    settings.CELERY_BROKER_URL = redis_url  # what /readyz, which the example waits for, pings
    call_command("seed_demo", "--username", "admin", "--password", "granary-demo", verbosity=0)
    blocks = api_section_blocks()
    # The examples run from the repository (they upload demo/iris.csv) and write their downloads
    # into the current directory: here, a scratch one that sees the repository's demo/.
    (tmp_path / "demo").symlink_to(ROOT / "demo")
    port = live_server.url.rsplit(":", 1)[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRANARY_")} | {"PORT": port}
    # The token the shell exported, for the Python block (which reads it from the environment).
    script = "set -eo pipefail\n" + "\n".join(blocks["sh"]) + '\nprintf %s "$GRANARY_TOKEN" > .token\n'

    shell = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180
    )

    assert shell.returncode == 0, shell.stdout + shell.stderr
    assert "flowers-v1.csv: OK" in shell.stdout  # sha256sum -c against the version's digest
    iris = (ROOT / "demo" / "iris.csv").read_bytes()
    assert (tmp_path / "flowers-v1.csv").read_bytes() == iris
    lock = json.loads((tmp_path / "flowers.lock.json").read_text())
    [pinned] = lock["items"]
    assert (pinned["dataset"], pinned["version"]) == ("flowers", 1)
    assert pinned["sha256"] == hashlib.sha256(iris).hexdigest()

    token = (tmp_path / ".token").read_text()
    python = subprocess.run(
        [sys.executable, "-c", blocks["python"][0]],
        cwd=tmp_path,
        env=env | {"GRANARY_URL": f"http://127.0.0.1:{port}", "GRANARY_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert python.returncode == 0, python.stderr
