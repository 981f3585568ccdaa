"""Schema, profile, preview, schema diff and column documentation through the API."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

V1 = b"id,city,temp\n1,Oslo,3.5\n2,Lima,19.0\n3,Pune,31.2\n"
V2 = b"id,city,temp\n1,Oslo,3\n2,,19\n"


def test_schema_profile_and_preview_of_a_version(api, member, public_dataset, publish):
    publish(public_dataset, data=V1)
    client = api(member)
    schema = client.get("/api/v1/datasets/churn/versions/1/schema/").json()
    assert schema["version"] == "churn@1"
    assert [(c["name"], c["type"], c["nullable"], c["documented"]) for c in schema["columns"]] == [
        ("id", "integer", False, False),
        ("city", "string", False, False),
        ("temp", "float", False, False),
    ]
    profile = client.get("/api/v1/datasets/churn/versions/latest/profile/").json()
    assert profile["rows"] == 3
    temp = profile["columns"][2]
    assert (temp["min"], temp["max"]) == (3.5, 31.2)
    preview = client.get("/api/v1/datasets/churn/versions/1/preview/").json()
    assert preview["columns"] == ["id", "city", "temp"]
    assert preview["rows"][1] == [2, "Lima", 19.0]


def test_the_version_carries_its_schema_and_progress(api, member, public_dataset, publish):
    publish(public_dataset, data=V1)
    body = api(member).get("/api/v1/datasets/churn/versions/1/").json()
    assert [c["name"] for c in body["schema"]] == ["id", "city", "temp"]
    assert body["progress"] == 1.0
    assert len(body["parquet_sha256"]) == 64


def test_schema_of_a_processing_version_is_a_409(api, member, public_dataset, publish):
    publish(public_dataset, data=V1, ingest=False)
    response = api(member).get("/api/v1/datasets/churn/versions/1/schema/")
    assert response.status_code == 409
    assert response.json()["detail"] == "churn@1 is processing."


def test_schema_diff_flags_retyped_columns_and_new_nulls_as_breaking(api, member, public_dataset, publish):
    publish(public_dataset, data=V1)
    publish(public_dataset, data=V2)
    diff = api(member).get("/api/v1/datasets/churn/schema-diff/", {"from": "1", "to": "2"}).json()
    assert diff["from"] == "churn@1" and diff["to"] == "churn@2"
    assert diff["retyped"] == [{"name": "temp", "from": "float", "to": "integer"}]
    assert diff["nullability"] == [{"name": "city", "from": False, "to": True}]
    assert diff["breaking"] is True
    assert diff["breaking_changes"] == [
        "column 'temp' changed type from float to integer",
        "column 'city' now has nulls",
    ]


def test_schema_diff_defaults_to_latest_against_its_predecessor(api, member, public_dataset, publish):
    publish(public_dataset, data=V1)
    publish(public_dataset, data=V1.replace(b"id,city,temp", b"id,city,temp_c"))
    diff = api(member).get("/api/v1/datasets/churn/schema-diff/").json()
    assert (diff["from"], diff["to"]) == ("churn@1", "churn@2")
    assert [c["name"] for c in diff["added"]] == ["temp_c"]
    assert [c["name"] for c in diff["removed"]] == ["temp"]


def test_schema_diff_without_an_earlier_version_says_so(api, member, public_dataset, publish):
    publish(public_dataset, data=V1)
    response = api(member).get("/api/v1/datasets/churn/schema-diff/")
    assert response.status_code == 400
    assert response.json()["detail"] == "churn@1 has no earlier ready version to compare with: give from=."


def test_column_docs_are_set_by_maintainers_and_shown_with_the_schema(
    api, maintainer, member, public_dataset, publish
):
    publish(public_dataset, data=V1)
    put = api(maintainer).put(
        "/api/v1/datasets/churn/columns/",
        [
            {"name": "city", "description": "Nearest city", "pii": False},
            {"name": "id", "description": "", "pii": True},
        ],
        format="json",
    )
    assert put.status_code == 200
    assert [d["name"] for d in put.json()] == ["city", "id"]
    columns = api(member).get("/api/v1/datasets/churn/versions/1/schema/").json()["columns"]
    assert [(c["name"], c["description"], c["pii"], c["documented"]) for c in columns] == [
        ("id", "", True, True),
        ("city", "Nearest city", False, True),
        ("temp", "", False, False),
    ]
    assert api(member).put("/api/v1/datasets/churn/columns/", [], format="json").status_code == 403
