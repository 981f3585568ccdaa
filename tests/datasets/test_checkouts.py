"""Checkouts: references resolved once into a pinned manifest that never changes, recorded for
its purpose, readable only by those who may read every dataset it names."""

from __future__ import annotations

import base64

import pytest

from datasets.models import Checkout
from datasets.services.aliases import alias_set
from datasets.services.checkouts import checkout_create
from quality.services import suite_save, validation_queue, validation_run
from tests.conftest import CSV, sha256_of

pytestmark = pytest.mark.django_db

V2 = CSV + b"4,alan,0.1\n"
EVENTS = b'{"event": "signup", "user": 1}\n{"event": "churn", "user": 1}\n'


@pytest.fixture
def data(public_dataset, internal_dataset, publish, owner):
    first = publish(public_dataset, data=CSV)
    alias_set(dataset=public_dataset, user=owner, name="prod", version=first)
    publish(internal_dataset, data=EVENTS)
    return first


def post(client, refs, **extra):
    body = {"refs": refs, "purpose": "train churn model v7", **extra}
    return client.post("/api/v1/checkouts/", body, format="json")


def test_a_checkout_pins_each_reference_to_an_exact_version(api, member, data, public_dataset):
    response = post(
        api(member), ["churn@latest", "payroll", "churn@prod"], model="churn-xgb", run_id="run-42"
    )
    assert response.status_code == 201, response.json()
    manifest = response.json()
    assert manifest["created_by"] == "mina"
    assert manifest["purpose"] == "train churn model v7"
    assert (manifest["model"], manifest["run_id"]) == ("churn-xgb", "run-42")
    assert manifest["refs"] == ["churn@latest", "payroll", "churn@prod"]
    first, events, prod = manifest["items"]
    assert first == {
        "ref": "churn@latest",
        "dataset": "churn",
        "version": 1,
        "sha256": sha256_of(CSV),
        "size": len(CSV),
        "format": "csv",
        "compression": "",
        "row_count": 3,
        "filename": "churn-v1.csv",
        "parquet_sha256": data.parquet_blob_id,
        "parquet_size": data.parquet_blob.size,
        "download_url": "http://testserver/api/v1/datasets/churn/versions/1/download/",
        "parquet_url": "http://testserver/api/v1/datasets/churn/versions/1/download/?format=parquet",
        "croissant_url": "http://testserver/api/v1/datasets/churn/versions/1/croissant/",
    }
    assert (events["dataset"], events["version"], events["format"]) == ("payroll", 1, "jsonl")
    assert prod["version"] == 1
    assert manifest["url"] == f"http://testserver/api/v1/checkouts/{manifest['id']}/"


def test_the_manifest_stays_the_same_after_aliases_move_and_new_versions_arrive(
    api, member, owner, data, public_dataset, publish
):
    client = api(member)
    manifest = post(client, ["churn@latest", "churn@prod"]).json()
    second = publish(public_dataset, data=V2)
    alias_set(dataset=public_dataset, user=owner, name="prod", version=second)
    assert client.get("/api/v1/datasets/churn/versions/prod/").json()["number"] == 2

    again = client.get(f"/api/v1/checkouts/{manifest['id']}/")
    assert again.status_code == 200
    assert again.json() == manifest


@pytest.mark.parametrize(
    ("refs", "status", "detail"),
    [
        (["churn@9"], 404, "churn@9: 'churn' has no version 9."),
        (["churn@certified"], 404, "churn@certified: 'churn' has no certified version yet"),
        (["churn@staging"], 404, "churn@staging: 'churn' has no alias 'staging'"),
        (["churn@1", "nope"], 404, "nope: No dataset 'nope'."),
        (["payroll@1"], 404, "payroll@1: No dataset 'payroll'."),
        (["patients@1"], 403, "patients@1: 'patients' is restricted"),
        ([], 400, "refs: This list may not be empty."),
    ],
)
def test_a_reference_that_does_not_resolve_fails_the_whole_checkout(
    api, outsider, data, restricted_dataset, publish, refs, status, detail
):
    publish(restricted_dataset, data=CSV)
    response = post(api(outsider), refs)
    assert response.status_code == status
    assert response.json()["detail"].startswith(detail)
    assert not Checkout.objects.exists()


def test_a_version_still_processing_cannot_be_checked_out(api, member, data, public_dataset, publish):
    publish(public_dataset, data=V2, ingest=False)
    response = post(api(member), ["churn@2"])
    assert response.status_code == 409
    assert (
        response.json()["detail"] == "churn@2: churn@2 is processing; only ready versions can be checked out."
    )


def test_a_checkout_needs_a_purpose(api, member, data):
    response = api(member).post("/api/v1/checkouts/", {"refs": ["churn"], "purpose": "  "}, format="json")
    assert response.status_code == 400
    assert "purpose" in response.json()["detail"]


def test_a_checkout_is_hidden_from_those_who_may_not_read_all_its_data(api, member, outsider, data):
    manifest = post(api(member), ["churn", "payroll"]).json()
    response = api(outsider).get(f"/api/v1/checkouts/{manifest['id']}/")
    assert response.status_code == 404
    assert response.json()["detail"] == f"No checkout {manifest['id']}."
    only_public = post(api(member), ["churn"]).json()
    assert api(outsider).get(f"/api/v1/checkouts/{only_public['id']}/").status_code == 200


def test_an_unknown_checkout_is_a_404(api, member):
    response = api(member).get("/api/v1/checkouts/00000000-0000-0000-0000-000000000000/")
    assert response.status_code == 404


def test_checkouts_count_towards_a_datasets_popularity(api, member, data, team, publish):
    from tests.factories import DatasetFactory

    quiet = DatasetFactory(slug="aardvark", team=team, visibility="public")
    publish(quiet, data=CSV)
    for _ in range(2):
        checkout_create(user=member, refs=["churn"], purpose="train")
    client = api(member)
    listed = client.get("/api/v1/datasets/?ordering=popular").json()["results"]
    assert [(d["slug"], d["checkout_count"]) for d in listed][:2] == [("churn", 2), ("aardvark", 0)]
    assert client.get("/api/v1/datasets/churn/").json()["checkout_count"] == 2


def test_an_api_token_also_works_as_the_basic_auth_password(client, member, data):
    from accounts.services import token_create

    secret = token_create(user=member, name="basic").secret
    basic = base64.b64encode(f"anyone:{secret}".encode()).decode()
    response = client.get("/api/v1/datasets/churn/versions/1/", HTTP_AUTHORIZATION=f"Basic {basic}")
    assert response.status_code == 200
    password = base64.b64encode(b"mina:pw-for-tests-1").decode()
    refused = client.get("/api/v1/datasets/churn/versions/1/", HTTP_AUTHORIZATION=f"Basic {password}")
    assert refused.status_code == 401  # a password is not a token: no Basic login with passwords


def test_certified_is_resolved_once_and_stays_pinned_when_certification_moves(
    api, member, maintainer, public_dataset, publish
):

    good = b"id,age\n1,34\n2,51\n"
    first = publish(public_dataset, data=good)
    suite_save(
        dataset=public_dataset,
        user=maintainer,
        expectations=[{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "age"}}],
    )
    validation_run(run_id=validation_queue(version=first, trigger="test").pk)
    client = api(member)
    manifest = post(client, ["churn@certified"]).json()
    assert (manifest["items"][0]["version"], manifest["items"][0]["sha256"]) == (1, first.sha256)
    assert client.get("/api/v1/datasets/churn/versions/1/").json()["aliases"] == ["latest", "certified"]

    second = publish(public_dataset, data=good + b"3,29\n")
    validation_run(run_id=validation_queue(version=second, trigger="test").pk)
    assert client.get("/api/v1/datasets/churn/versions/certified/").json()["number"] == 2
    assert client.get(f"/api/v1/checkouts/{manifest['id']}/").json() == manifest
