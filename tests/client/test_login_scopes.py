"""`granary login` asks for a read token unless told more; a push with it is refused, and the CLI
says which scope it needs and how to get it. The CLI runs as a process against a live server."""

from __future__ import annotations

import hashlib
import json

import pytest

from accounts.models import ApiToken
from datasets.models import Version
from tests.client.conftest import big_csv

pytestmark = pytest.mark.django_db(transaction=True)

DATA = big_csv(40_000)  # about 2 MB: the refusal comes while the body is still being sent


def login(cli, live_server, user, *flags: str):
    return cli(
        "login",
        "--username",
        user.username,
        "--password-stdin",
        *flags,
        input="pw-for-tests-1\n",
        env={"GRANARY_URL": live_server.url},
    )


def test_login_asks_for_a_read_token_that_pulls_but_cannot_push(
    cli, live_server, maintainer, public_dataset, publish, tmp_path
):
    publish(public_dataset, data=DATA)
    signed_in = login(cli, live_server, maintainer)
    assert (
        "The token's scope is read. It pulls and browses; `granary login --scope write`" in signed_in.stdout
    )
    token = ApiToken.objects.get()
    assert (token.scope, token.team) == ("read", None)

    pulled = json.loads(cli("pull", "churn@1", "-o", str(tmp_path / "churn.csv"), "--json").stdout)
    assert pulled["sha256"] == hashlib.sha256(DATA).hexdigest()

    (tmp_path / "v2.csv").write_bytes(DATA + b"40000,sensor-00,1.00,note,true\n")
    refused = cli("push", "churn", str(tmp_path / "v2.csv"), check=4)
    assert refused.stderr == (
        "granary: error: This token is read-only: uploading versions needs a token with the write "
        "scope. Sign in for such a token with `granary login --scope write`.\n"
    )
    assert Version.objects.count() == 1


def test_login_with_scope_write_and_a_team_pushes(cli, live_server, maintainer, public_dataset, tmp_path):
    signed_in = json.loads(
        login(cli, live_server, maintainer, "--scope", "write", "--team", "ml-core", "--json").stdout
    )
    assert (signed_in["scope"], signed_in["team"]) == ("write", "ml-core")

    (tmp_path / "v1.csv").write_bytes(DATA)
    pushed = json.loads(cli("push", "churn", str(tmp_path / "v1.csv"), "--no-wait", "--json").stdout)
    assert pushed["number"] == 1 and pushed["sha256"] == hashlib.sha256(DATA).hexdigest()
    assert Version.objects.get().created_by == maintainer
