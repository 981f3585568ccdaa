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


def subsection_blocks(title: str) -> dict[str, list[str]]:
    """The fenced code blocks of the README's "### <title>" subsection."""
    text = README.read_text(encoding="utf-8")
    section = re.split(r"\n#{2,3} ", text.split(f"\n### {title}\n", 1)[1], maxsplit=1)[0]
    blocks: dict[str, list[str]] = {}
    for language, body in re.findall(r"^```(\w+)\n(.*?)^```$", section, flags=re.MULTILINE | re.DOTALL):
        blocks.setdefault(language, []).append(body)
    return blocks


def test_the_cli_and_client_sections_have_one_block_each():
    assert list(subsection_blocks("The CLI")) == ["sh"]
    assert len(subsection_blocks("The CLI")["sh"]) == 1
    assert list(subsection_blocks("The Python client")) == ["python"]
    assert len(subsection_blocks("The Python client")["python"]) == 1


def test_the_readme_cli_and_python_client_examples_work_verbatim(
    live_server, celery_worker, redis_url, settings, tmp_path
):
    """The CLI block signs in, reads the demo and pushes iris@2; the client block, with what that
    login saved, reads iris@1 again and pushes iris@3: as one reader would paste them in order."""
    from datasets.models import Version

    settings.CELERY_BROKER_URL = redis_url
    call_command("seed_demo", "--username", "admin", "--password", "granary-demo", verbosity=0)
    # Run from a scratch copy of the repository's layout: demo/ for the push, .venv for activate.
    (tmp_path / "demo").symlink_to(ROOT / "demo")
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    port = live_server.url.rsplit(":", 1)[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRANARY_")} | {
        "PORT": port,
        # Where `granary login` keeps its token and the client its cache: this test's, not ~.
        "GRANARY_CONFIG": str(tmp_path / "config" / "granary.json"),
        "GRANARY_CACHE_DIR": str(tmp_path / "cache"),
    }
    iris = (ROOT / "demo" / "iris.csv").read_bytes()
    iris_sha = hashlib.sha256(iris).hexdigest()

    cli = subprocess.run(
        ["bash", "-c", "set -eo pipefail\n" + subsection_blocks("The CLI")["sh"][0]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert cli.returncode == 0, cli.stdout + cli.stderr
    out = cli.stdout
    assert f"Signed in to http://127.0.0.1:{port} as admin" in out
    assert "The token's scope is write." in out
    assert re.search(r"^palmer-penguins\s.*\bspecies\b", out, flags=re.MULTILINE), out  # search
    assert re.search(r"^iris\s+species\s+string", out, flags=re.MULTILINE), out  # columns
    assert "iris@latest → iris@1" in out and f"sha256      {iris_sha}" in out  # info
    assert (tmp_path / "iris.csv").read_bytes() == iris
    import pyarrow.parquet as pq

    penguins = pq.read_table(tmp_path / "penguins.parquet")
    assert (penguins.num_rows, penguins.column_names) == (344, ["species", "body_mass_g"])
    setosa = b"".join(iris.splitlines(keepends=True)[:51])
    assert f"iris@2 ready: sha256 {hashlib.sha256(setosa).hexdigest()}, 50 rows" in out  # push
    lock = json.loads((tmp_path / "granary.lock").read_text())
    assert [(i["dataset"], i["version"]) for i in lock["items"]] == [("iris", 2), ("palmer-penguins", 1)]
    for item in lock["items"]:
        pulled = tmp_path / "data" / item["filename"]
        assert hashlib.sha256(pulled.read_bytes()).hexdigest() == item["sha256"]
    assert len(re.findall(r"^ok ", out, flags=re.MULTILINE)) == 2  # verify

    # The client block, with no URL or token of its own (what `granary login` saved), in a new
    # directory: it must not lean on the files the CLI block left (data/ among them).
    fresh = tmp_path / "client"
    fresh.mkdir()
    python = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-c", subsection_blocks("The Python client")["python"][0]],
        cwd=fresh,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert python.returncode == 0, python.stdout + python.stderr
    lines = python.stdout.splitlines()
    ref, sha256, cached = lines[0].split(" ", 2)
    assert (ref, sha256, Path(cached).read_bytes()) == ("iris@1", iris_sha, iris)
    assert pq.read_table(fresh / "data" / "penguins.parquet").num_rows == 344
    means = dict(line.split() for line in lines if line.startswith(("setosa ", "virginica ")))
    assert means == {"setosa": "1.462", "virginica": "5.552"}, python.stdout  # the groupby's mean
    assert "iris@3 ready 50" in lines
    v3 = Version.objects.get(dataset__slug="iris", number=3)
    assert (v3.row_count, [v.number for v in v3.derived_from.all()]) == (50, [1])
    lock = json.loads((fresh / "species.lock").read_text())
    pinned = [(i["dataset"], i["version"], i["sha256"]) for i in lock["items"]]
    assert pinned[0] == ("iris", 1, iris_sha) and pinned[1][:2] == ("palmer-penguins", 1)
    assert (fresh / "data" / lock["items"][0]["filename"]).read_bytes() == iris
    assert "['palmer-penguins']" in lines
    assert "['iris', 'palmer-penguins']" in lines
    assert lines[-1].startswith("{'kind': 'dataset', 'value': 'palmer-penguins'")
