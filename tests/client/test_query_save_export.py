"""A console query's result from Python and the shell, as a file (`Client.query_export`,
`granary query --output`) or as a new version (`Client.query(save_as=…)`, `granary query
--save-as`), against a live server and, for saves, a real worker."""

from __future__ import annotations

import csv
import json
from typing import Any

import pyarrow.parquet as pq
import pytest
from granary import Client, GranaryError

from tests.datasets.test_query_save import ready
from tests.factories import DatasetFactory

pytestmark = pytest.mark.django_db(transaction=True)

WEATHER = b"id,city,temp\n1,Oslo,-3.5\n2,Lima,19.0\n3,Pune,31.25\n"
WARM = 'SELECT city, temp FROM "weather@1" WHERE temp > 0 ORDER BY temp'


@pytest.fixture
def weather(request: pytest.FixtureRequest, team: Any, publish: Any) -> Any:
    return ready(
        request, publish, DatasetFactory(slug="weather", team=team, visibility="internal"), data=WEATHER
    )


@pytest.fixture
def target(team: Any) -> Any:
    return DatasetFactory(slug="warm", team=team, visibility="internal")


def test_client_query_export_writes_csv_and_parquet(live_server, token, member, weather, tmp_path):
    client = Client(live_server.url, token(member, scope="read"))
    out = tmp_path / "out"
    out.mkdir()
    written = client.query_export(WARM, out / "warm.csv")
    assert list(csv.reader(written.open())) == [["city", "temp"], ["Lima", "19"], ["Pune", "31.25"]]
    table = pq.read_table(client.query_export(WARM, out / "warm.parquet"))
    assert table.to_pylist() == [{"city": "Lima", "temp": 19.0}, {"city": "Pune", "temp": 31.25}]
    assert sorted(p.name for p in out.iterdir()) == ["warm.csv", "warm.parquet"]  # no .part left


def test_client_query_export_warns_when_the_result_is_cut(
    live_server, token, member, weather, tmp_path, settings
):
    settings.GRANARY_QUERY_EXPORT_MAX_ROWS = 1
    with pytest.warns(UserWarning, match="cut at the server's limit of 1 rows"):
        path = Client(live_server.url, token(member)).query_export(WARM, tmp_path / "warm.csv")
    assert path.read_text().splitlines()[1:] == ['"Lima",19']


def test_client_query_export_refusal_names_the_reason_and_writes_nothing(
    live_server, token, outsider, weather, tmp_path
):
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(GranaryError) as refused:
        Client(live_server.url, token(outsider)).query_export(WARM, out / "warm.csv")
    assert refused.value.status == 404
    assert list(out.iterdir()) == []


def test_granary_query_output_writes_the_file(cli, live_server, token, member, weather, tmp_path):
    env = {"GRANARY_URL": live_server.url, "GRANARY_TOKEN": token(member, scope="read")}
    out = tmp_path / "warm.parquet"
    result = cli("query", WARM, "--output", str(out), env=env)
    assert result.stdout.startswith(str(out))
    assert pq.read_table(out).num_rows == 2


@pytest.mark.integration
def test_client_query_save_as_waits_for_the_ready_version(
    celery_worker, live_server, token, maintainer, weather, target
):
    client = Client(live_server.url, token(maintainer))
    version = client.query(WARM, save_as="warm", message="warm cities", wait=True, timeout=120)
    assert version.ref == "warm@1"
    assert version.status == "ready"
    assert version.row_count == 2
    assert version.message == "warm cities"
    assert version.raw["derived_from"] == ["weather@1"]
    assert client.query('SELECT * FROM "warm@1" ORDER BY temp').values.tolist() == [
        ["Lima", 19.0],
        ["Pune", 31.25],
    ]


@pytest.mark.integration
def test_client_query_save_as_a_failing_query_raises_with_the_reason(
    celery_worker, live_server, token, maintainer, weather, target
):
    with pytest.raises(GranaryError, match="Could not convert string 'Oslo'"):
        Client(live_server.url, token(maintainer)).query(
            'SELECT CAST(city AS INTEGER) FROM "weather@1"', save_as="warm", timeout=120
        )


def test_client_query_save_as_without_the_write_right_is_refused(live_server, token, member, weather, target):
    with pytest.raises(GranaryError) as refused:
        Client(live_server.url, token(member)).query(WARM, save_as="warm")
    assert refused.value.status == 403


@pytest.mark.integration
def test_granary_query_save_as_prints_the_new_version(
    cli, celery_worker, live_server, token, maintainer, weather, target
):
    env = {"GRANARY_URL": live_server.url, "GRANARY_TOKEN": token(maintainer)}
    result = cli("query", WARM, "--save-as", "warm", "-m", "from the shell", "--json", env=env)
    version = json.loads(result.stdout)
    assert (version["dataset"], version["number"], version["status"]) == ("warm", 1, "ready")
    assert version["message"] == "from the shell"
