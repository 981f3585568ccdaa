"""Named aliases: set and moved by maintainers, each move kept; latest and certified computed."""

from __future__ import annotations

import pytest

from core.errors import InvalidInput, NotReady
from datasets.models import Alias, AliasMove
from datasets.services.aliases import alias_delete, alias_set
from tests.conftest import CSV

pytestmark = pytest.mark.django_db

V2 = CSV + b"4,alan,0.1\n"
URL = "/api/v1/datasets/churn/aliases/"


@pytest.fixture
def versions(public_dataset, publish):
    return publish(public_dataset, data=CSV), publish(public_dataset, data=V2)


def test_a_maintainer_sets_and_moves_an_alias_and_every_move_is_kept(api, maintainer, owner, versions):
    client = api(maintainer)
    created = client.put(f"{URL}prod/", {"version": 1}, format="json")
    assert created.status_code == 200, created.json()
    assert created.json()["version"] == 1 and created.json()["updated_by"] == "mario"

    moved = api(owner).put(f"{URL}prod/", {"version": "latest"}, format="json").json()
    assert moved["version"] == 2
    assert [(m["from_version"], m["to_version"], m["moved_by"]) for m in moved["history"]] == [
        (1, 2, "olivia"),
        (None, 1, "mario"),
    ]
    same = client.put(f"{URL}prod/", {"version": 2}, format="json").json()
    assert len(same["history"]) == 2  # pointing at the same version records nothing

    assert client.get("/api/v1/datasets/churn/versions/prod/").json()["number"] == 2
    assert [a["name"] for a in client.get(URL).json()] == ["prod"]


def test_removing_an_alias_keeps_its_history(api, maintainer, versions, public_dataset):
    client = api(maintainer)
    client.put(f"{URL}2026-q4/", {"version": 1}, format="json")
    assert client.delete(f"{URL}2026-q4/").status_code == 204
    assert client.get(f"{URL}2026-q4/").status_code == 404
    assert client.get("/api/v1/datasets/churn/versions/2026-q4/").status_code == 404
    moves = AliasMove.objects.filter(dataset=public_dataset, name="2026-q4").order_by("pk")
    assert [
        (m.from_version and m.from_version.number, m.to_version and m.to_version.number) for m in moves
    ] == [
        (None, 1),
        (1, None),
    ]
    assert client.delete(f"{URL}2026-q4/").status_code == 404


@pytest.mark.parametrize("name", ["latest", "certified"])
def test_computed_aliases_cannot_be_set_or_removed(api, maintainer, versions, name):
    client = api(maintainer)
    response = client.put(f"{URL}{name}/", {"version": 1}, format="json")
    assert response.status_code == 400
    assert f"'{name}' is computed" in response.json()["detail"]
    assert client.delete(f"{URL}{name}/").status_code == 400


def test_latest_reads_as_a_computed_alias_and_certified_is_not_there_yet(api, member, versions):
    client = api(member)
    latest = client.get(f"{URL}latest/").json()
    assert latest["version"] == 2 and latest["computed"] is True
    certified = client.get(f"{URL}certified/")
    assert certified.status_code == 404
    assert (
        certified.json()["detail"]
        == "'churn' has no certified version yet: no ready version has passed its current suite."
    )


@pytest.mark.parametrize(
    ("name", "message"),
    [("3", "not only digits"), ("Prod", "lowercase"), ("-x", "starting and ending"), ("a" * 65, "1 to 64")],
)
def test_an_alias_name_that_could_be_misread_is_refused(api, maintainer, versions, name, message):
    response = api(maintainer).put(f"{URL}{name}/", {"version": 1}, format="json")
    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert not Alias.objects.exists()


def test_an_alias_names_a_ready_version_of_its_own_dataset(
    api, maintainer, public_dataset, publish, internal_dataset
):
    publish(public_dataset, data=CSV)
    processing = publish(public_dataset, data=V2, ingest=False)
    other = publish(internal_dataset, data=CSV)
    with pytest.raises(NotReady, match="churn@2 is processing"):
        alias_set(dataset=public_dataset, user=maintainer, name="prod", version=processing)
    with pytest.raises(InvalidInput, match="payroll@1 is not a version of 'churn'"):
        alias_set(dataset=public_dataset, user=maintainer, name="prod", version=other)
    response = api(maintainer).put(f"{URL}prod/", {"version": 9}, format="json")
    assert response.status_code == 400 and response.json()["detail"] == "'churn' has no version 9."


def test_members_and_outsiders_cannot_move_aliases(api, member, outsider, versions):
    assert api(member).put(f"{URL}prod/", {"version": 1}, format="json").status_code == 403
    assert api(outsider).put(f"{URL}prod/", {"version": 1}, format="json").status_code == 403
    assert not Alias.objects.exists()


def test_the_service_records_who_moved_what(versions, public_dataset, owner, maintainer):
    first, second = versions
    alias, changed = alias_set(dataset=public_dataset, user=owner, name="prod", version=first)
    assert changed and str(alias) == "churn@prod"
    alias_set(dataset=public_dataset, user=maintainer, name="prod", version=second)
    alias_delete(dataset=public_dataset, user=owner, name="prod")
    assert [str(m) for m in AliasMove.objects.order_by("pk")] == [
        "churn@prod: ∅ → 1",
        "churn@prod: 1 → 2",
        "churn@prod: 2 → ∅",
    ]


def test_the_version_list_names_aliases_in_a_fixed_number_of_queries(
    api, member, owner, public_dataset, publish, django_assert_max_num_queries
):
    versions = [publish(public_dataset, data=CSV + f"{n},x,1\n".encode()) for n in range(6)]
    for n, version in enumerate(versions):
        alias_set(dataset=public_dataset, user=owner, name=f"alias-{n}", version=version)
    client = api(member)
    client.get("/api/v1/datasets/churn/versions/")  # warm: the token's last use is recorded once
    with django_assert_max_num_queries(13):
        rows = client.get("/api/v1/datasets/churn/versions/").json()["results"]
    assert rows[0]["aliases"] == ["latest", "alias-5"] and rows[5]["aliases"] == ["alias-0"]
