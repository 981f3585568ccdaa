"""Croissant 1.0 metadata per version: its shape, and mlcroissant reading real records from it."""

from __future__ import annotations

import socket
from typing import Any

import pandas as pd
import pytest

from tests.conftest import sha256_of

DATA = (
    b"id,city,temp,rainy,observed\n"
    b"1,Oslo,3.5,true,2024-01-02\n"
    b"2,Lima,19.25,false,2024-01-03\n"
    b"3,Pune,31.0,false,2024-01-04\n"
)


@pytest.fixture
def version(public_dataset, publish):
    public_dataset.license = "CC-BY-4.0"
    public_dataset.save()
    return publish(public_dataset, data=DATA, message="first cut")


def croissant(client, ref: str = "1") -> Any:
    return client.get(f"/api/v1/datasets/churn/versions/{ref}/croissant/")


@pytest.mark.django_db
def test_croissant_describes_exactly_this_version(api, member, version):
    response = croissant(api(member))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/ld+json")
    doc = response.json()
    assert doc["@type"] == "sc:Dataset"
    assert doc["conformsTo"] == "http://mlcommons.org/croissant/1.0"
    assert doc["name"] == "churn"
    assert doc["version"] == "1.0.0"
    assert doc["license"] == "https://spdx.org/licenses/CC-BY-4.0.html"
    assert doc["creator"]["name"] == "ML Core"
    original, parquet = doc["distribution"]
    assert original["sha256"] == sha256_of(DATA)
    assert original["encodingFormat"] == "text/csv"
    assert original["contentUrl"].endswith("/api/v1/datasets/churn/versions/1/download/")
    assert parquet["sha256"] == version.parquet_blob_id
    assert parquet["contentUrl"].endswith("/download/?format=parquet")
    (records,) = doc["recordSet"]
    types = {field["name"]: field["dataType"] for field in records["field"]}
    assert types == {
        "id": "sc:Integer",
        "city": "sc:Text",
        "temp": "sc:Float",
        "rainy": "sc:Boolean",
        "observed": "sc:Date",
    }


@pytest.mark.django_db
def test_croissant_of_an_alias_names_the_version_it_points_at(
    api, member, owner, public_dataset, version, publish
):
    from datasets.services.aliases import alias_set

    publish(public_dataset, data=DATA + b"4,Rome,12.0,true,2024-01-05\n")
    alias_set(dataset=public_dataset, user=owner, name="prod", version=version)
    doc = croissant(api(member), "prod").json()
    assert doc["version"] == "1.0.0"
    assert doc["distribution"][0]["sha256"] == sha256_of(DATA)


@pytest.mark.django_db
def test_croissant_needs_the_right_to_read_the_data(api, outsider, restricted_dataset, publish):
    publish(restricted_dataset, data=DATA)
    response = api(outsider).get("/api/v1/datasets/patients/versions/1/croissant/")
    assert response.status_code == 403


@pytest.fixture
def loopback_only(monkeypatch):
    """Refuse every connection that leaves this machine: the test proves mlcroissant needs none."""
    real_connect = socket.socket.connect
    attempts: list[Any] = []

    def connect(sock: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else str(address)
        if sock.family in (socket.AF_INET, socket.AF_INET6) and host not in ("127.0.0.1", "::1", "localhost"):
            attempts.append(address)
            raise OSError(f"test blocks the network: {address}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return attempts


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore:The inplace keyword")
@pytest.mark.django_db(transaction=True)
def test_mlcroissant_reads_the_records_from_the_live_server(
    live_server, member, version, monkeypatch, tmp_path, loopback_only
):
    """The real library, offline: it fetches nothing but the Parquet copy from our server (the
    API token as its Basic password), checks that file's sha256, and yields the rows."""
    import mlcroissant as mlc
    import requests
    from mlcroissant._src.core import constants

    from accounts.services import token_create

    token = token_create(user=member, name="croissant").secret
    monkeypatch.setattr(constants, "DOWNLOAD_PATH", constants.epath.Path(tmp_path / "download"))
    monkeypatch.setattr(constants, "EXTRACT_PATH", constants.epath.Path(tmp_path / "extract"))
    monkeypatch.setenv("CROISSANT_BASIC_AUTH_USERNAME", member.username)
    monkeypatch.setenv("CROISSANT_BASIC_AUTH_PASSWORD", token)
    url = f"{live_server.url}/api/v1/datasets/churn/versions/1/croissant/"
    metadata = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10).json()

    dataset = mlc.Dataset(jsonld=metadata)
    assert dataset.metadata.ctx.issues.errors == set()
    rows = list(dataset.records(record_set="records"))

    assert rows == [
        {
            "records/id": 1,
            "records/city": b"Oslo",
            "records/temp": 3.5,
            "records/rainy": True,
            "records/observed": pd.Timestamp("2024-01-02"),
        },
        {
            "records/id": 2,
            "records/city": b"Lima",
            "records/temp": 19.25,
            "records/rainy": False,
            "records/observed": pd.Timestamp("2024-01-03"),
        },
        {
            "records/id": 3,
            "records/city": b"Pune",
            "records/temp": 31.0,
            "records/rainy": False,
            "records/observed": pd.Timestamp("2024-01-04"),
        },
    ]
    assert loopback_only == []  # it never tried to reach anything else
    downloaded = list((tmp_path / "download").iterdir())
    assert [sha256_of(path.read_bytes()) for path in downloaded] == [version.parquet_blob_id]
