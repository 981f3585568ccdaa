"""The SQL console from Python and the shell: `Client.query` (a DataFrame, or dicts without pandas)
and `granary query` run as a separate process against a live server, printing an aligned table
or the server's JSON, and the refusals as the server words them."""

from __future__ import annotations

import builtins
import json
from typing import Any

import pytest
from granary import Client, GranaryError

from tests.factories import DatasetFactory

pytestmark = pytest.mark.django_db(transaction=True)

WEATHER = b"id,city,temp\n1,Oslo,-3.5\n2,Lima,19.0\n3,Pune,31.25\n"
JOIN = 'SELECT c.name, w.city, w.temp FROM "churn@1" c JOIN "weather@1" w USING (id) ORDER BY w.temp DESC'


@pytest.fixture
def shelf(public_dataset: Any, restricted_dataset: Any, team: Any, publish: Any) -> None:
    publish(public_dataset)
    publish(DatasetFactory(slug="weather", team=team, visibility="internal"), data=WEATHER)
    publish(restricted_dataset, data=b"id,diagnosis\n1,secret-flu\n")


def test_client_query_returns_a_dataframe(live_server, token, member, shelf):
    frame = Client(live_server.url, token(member, scope="read")).query(JOIN)
    assert list(frame.columns) == ["name", "city", "temp"]
    assert frame.values.tolist() == [["linus", "Pune", 31.25], ["grace", "Lima", 19.0], ["ada", "Oslo", -3.5]]
    assert frame.attrs["truncated"] is False and sorted(frame.attrs["versions"]) == ["churn@1", "weather@1"]


def test_client_query_gives_dicts_without_pandas(live_server, token, member, shelf, monkeypatch):
    real_import = builtins.__import__

    def no_pandas(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "pandas":
            raise ImportError("no pandas here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pandas)
    rows = Client(live_server.url, token(member, scope="read")).query(
        "SELECT count(*) AS n FROM data", version="churn@latest"
    )
    assert rows == [{"n": 3}]


def test_client_query_of_a_restricted_version_is_refused_saying_nothing(live_server, token, outsider, shelf):
    with pytest.raises(GranaryError) as refused:
        Client(live_server.url, token(outsider, scope="read")).query('SELECT * FROM "patients@1"')
    assert refused.value.code == "permission_denied" and "secret-flu" not in str(refused.value)


def test_granary_query_prints_an_aligned_table(cli, live_server, token, member, shelf):
    env = {"GRANARY_URL": live_server.url, "GRANARY_TOKEN": token(member, scope="read")}
    lines = cli("query", JOIN, env=env).stdout.splitlines()
    assert lines[:4] == [
        "name   city   temp",
        "linus  Pune  31.25",
        "grace  Lima   19.0",
        "ada    Oslo   -3.5",
    ]
    assert lines[5].startswith("3 row(s) in ")


def test_granary_query_json_is_the_servers_answer(cli, live_server, token, member, shelf):
    env = {"GRANARY_URL": live_server.url, "GRANARY_TOKEN": token(member, scope="read")}
    out = cli("query", "--json", "SELECT range AS n FROM range(2)", env=env).stdout
    body = json.loads(out)
    assert body["rows"] == [[0], [1]] and body["columns"] == [{"name": "n", "type": "BIGINT"}]


def test_granary_query_says_why_sql_is_refused(cli, live_server, token, member, shelf):
    env = {"GRANARY_URL": live_server.url, "GRANARY_TOKEN": token(member, scope="read")}
    result = cli("query", "SELECT * FROM read_csv('/etc/passwd')", env=env, check=None)
    assert result.returncode != 0 and "read_csv() is not allowed" in result.stderr
    assert result.stdout == ""
