"""The `granary` CLI end to end, as a separate process against a live server with a real Celery
worker: push, checkout to a lock, a new version moves `latest`, the lock still pulls the first."""

from __future__ import annotations

import hashlib
import json
import stat

import pytest
import requests

from tests.client.conftest import big_csv
from tests.client.proxy import FaultyProxy

pytestmark = pytest.mark.django_db(transaction=True)

V1 = big_csv(40_000)
V2 = big_csv(41_000)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.integration
def test_push_checkout_and_pull_the_lock_after_latest_moved(
    cli, live_server, maintainer, public_dataset, celery_worker, tmp_path, client_home
):
    (tmp_path / "v1.csv").write_bytes(V1)
    (tmp_path / "v2.csv").write_bytes(V2)
    env = {"GRANARY_URL": live_server.url}

    login = cli(
        "login",
        "--username",
        maintainer.username,
        "--password-stdin",
        "--scope",
        "write",
        input="pw-for-tests-1\n",
        env=env,
    )
    assert f"Signed in to {live_server.url} as {maintainer.username}" in login.stdout
    config = client_home / "config" / "granary.json"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert json.loads(config.read_text())["token"].startswith("gra_")

    pushed = json.loads(cli("push", "churn", str(tmp_path / "v1.csv"), "-m", "first cut", "--json").stdout)
    assert pushed["status"] == "ready" and pushed["sha256"] == sha(V1) and pushed["row_count"] == 40_000

    lock = tmp_path / "granary.lock"
    out = cli(
        "checkout", "churn@latest", "--purpose", "train churn v7", "--model", "churn-xgb", "-o", str(lock)
    )
    assert "churn@latest" in out.stdout and "churn@1" in out.stdout
    locked = json.loads(lock.read_text())
    assert locked["granary_lock"] == 1 and locked["items"][0]["sha256"] == sha(V1)

    cli("push", "churn", str(tmp_path / "v2.csv"), "-m", "more rows", "--derived-from", "churn@1")
    info = json.loads(cli("info", "churn@latest", "--json").stdout)
    assert info["number"] == 2 and info["sha256"] == sha(V2)  # latest moved
    assert info["derived_from"] == ["churn@1"]  # the declared lineage went with the upload

    pulled = json.loads(cli("pull", "--lock", str(lock), "-o", str(tmp_path / "data"), "--json").stdout)
    assert pulled == [
        {
            "ref": "churn@latest",
            "version": "churn@1",
            "sha256": sha(V1),
            "path": str(tmp_path / "data" / "churn-v1.csv"),
        }
    ]
    assert sha((tmp_path / "data" / "churn-v1.csv").read_bytes()) == sha(V1)
    assert cli("verify", str(lock), "-d", str(tmp_path / "data")).stdout.startswith("ok ")

    (tmp_path / "data" / "churn-v1.csv").write_bytes(V2)  # someone edits the training file
    bad = cli("verify", str(lock), "-d", str(tmp_path / "data"), check=5)
    assert "BAD churn@1" in bad.stdout and "do not match" in bad.stderr

    # The server kept the checkout: its manifest is the lock's, unchanged after latest moved.
    token = json.loads(config.read_text())["token"]
    response = requests.get(locked["url"], headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.json() == {k: v for k, v in locked.items() if k not in ("granary_lock", "server")}
    assert response.json()["model"] == "churn-xgb"


def test_pull_resumes_an_interrupted_download_and_refetches_a_corrupted_cache(
    cli, live_server, member, token, public_dataset, publish, tmp_path, client_home
):
    version = publish(public_dataset, data=V1)
    with FaultyProxy(live_server.url) as proxy:
        env = {"GRANARY_URL": proxy.url, "GRANARY_TOKEN": token(member)}
        proxy.faults.cut_after = 700_000
        proxy.faults.cuts = 1
        out = cli("pull", "churn@1", "-o", str(tmp_path / "a.csv"), "--progress", env=env)
        assert (tmp_path / "a.csv").read_bytes() == V1
        assert "100%" in out.stderr  # the progress bar went to stderr
        assert f"sha256 {version.sha256[:12]}… verified" in out.stdout
        ranges = [r["headers"].get("Range") for r in proxy.faults.downloads()]
        assert ranges == [None, "bytes=700000-"]

        cached = client_home / "cache" / "sha256" / version.sha256[:2] / version.sha256
        cached.chmod(0o644)
        cached.write_bytes(V1[:-10] + b"0123456789")  # same size, other bytes
        cli("pull", "churn@1", "-o", str(tmp_path / "b.csv"), env=env)
        assert (tmp_path / "b.csv").read_bytes() == V1
        assert len(proxy.faults.downloads()) == 3  # the bad cache entry was fetched again


def test_exit_codes_and_messages(
    cli, live_server, member, outsider, token, public_dataset, restricted_dataset, publish, tmp_path
):
    publish(public_dataset, data=V1)
    publish(restricted_dataset, data=V1)
    env = {"GRANARY_URL": live_server.url, "GRANARY_TOKEN": token(outsider)}

    missing = cli("pull", "churn@7", env=env, check=3)
    assert missing.stderr.strip() == "granary: error: 'churn' has no version 7."
    assert (
        cli("pull", "churn@certified", env=env, check=3)
        .stderr.strip()
        .endswith("has no certified version yet: no ready version has passed its current suite.")
    )
    denied = cli("pull", "patients@1", env=env, check=4)
    assert "restricted" in denied.stderr
    assert cli("pull", "churn@1", env={**env, "GRANARY_TOKEN": "gra_nope"}, check=4).stderr.endswith(
        "The token is invalid, expired or revoked.\n"
    )
    assert "No Granary server" in cli("search", env={"GRANARY_URL": ""}, check=2).stderr
    assert cli("verify", str(tmp_path / "none.lock"), check=2).stderr.startswith(
        "granary: error: No lock file"
    )
    upload = cli("push", "churn", str(tmp_path / "v1.csv"), env=env, check=3)
    assert "No file" in upload.stderr
    (tmp_path / "v1.csv").write_bytes(V1)
    assert "maintainer or owner" in cli("push", "churn", str(tmp_path / "v1.csv"), env=env, check=4).stderr

    found = json.loads(cli("search", "churn", "--json", env=env).stdout)
    assert [d["slug"] for d in found["results"]] == ["churn"]
    assert "churn" in cli("search", env=env).stdout and "patients" in cli("search", env=env).stdout
