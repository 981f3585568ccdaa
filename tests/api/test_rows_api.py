"""GET /api/v1/datasets/{slug}/versions/{ref}/rows/: a version's rows over the API, for each
persona, with paging, sort, every filter operator, the text search and the refusals."""

from __future__ import annotations

import json
from typing import Any

import pytest

from datasets.models import Dataset

pytestmark = pytest.mark.django_db

ROWS = 300
JSONL = "".join(
    json.dumps(
        {
            "id": i,
            "name": None if i % 10 == 0 else f"{'Ada' if i % 2 else 'Grace'} {i}",
            "score": i / 4,
            "tags": [i % 3, i % 5],
            "place": {"city": "Oslo" if i % 2 else "Lima", "zip": i},
        }
    )
    + "\n"
    for i in range(ROWS)
).encode()


@pytest.fixture
def datasets(public_dataset: Dataset, internal_dataset: Dataset, restricted_dataset: Dataset, publish: Any):
    for dataset in (public_dataset, internal_dataset, restricted_dataset):
        publish(dataset, data=JSONL, filename="people.jsonl")
    return {"public": public_dataset, "internal": internal_dataset, "restricted": restricted_dataset}


def rows_url(dataset: Dataset, ref: str = "1") -> str:
    return f"/api/v1/datasets/{dataset.slug}/versions/{ref}/rows/"


@pytest.mark.parametrize(
    ("persona", "expected"),
    [
        ("owner", (200, 200, 200)),
        ("maintainer", (200, 200, 200)),
        ("member", (200, 200, 200)),
        ("outsider", (200, 404, 403)),
        ("anonymous", (401, 401, 401)),
    ],
)
def test_each_persona_reads_the_rows_of_what_it_may_read(request, api, datasets, persona, expected):
    user = None if persona == "anonymous" else request.getfixturevalue(persona)
    client = api(user)
    for visibility, status in zip(("public", "internal", "restricted"), expected, strict=True):
        response = client.get(rows_url(datasets[visibility]), {"q": "ada"})
        assert response.status_code == status, (visibility, response.json())
        body = response.json()
        if status == 200:
            assert body["total"] == ROWS // 2 and body["version"] == f"{datasets[visibility].slug}@1"
        else:
            # Nothing of the data in a refusal: no rows, no count, no value of a cell.
            assert set(body) == {"code", "detail"} and "Ada" not in body["detail"]


def test_a_deep_page_and_its_columns(api, owner, datasets):
    body = api(owner).get(rows_url(datasets["public"]), {"offset": 290, "limit": 20}).json()
    assert [row[0] for row in body["rows"]] == list(range(290, 300))
    assert (body["total"], body["offset"], body["limit"]) == (ROWS, 290, 20)
    assert [(c["name"], c["type"]) for c in body["columns"]][:3] == [
        ("id", "integer"),
        ("name", "string"),
        ("score", "float"),
    ]


def test_nested_values_come_as_json(api, owner, datasets):
    row = api(owner).get(rows_url(datasets["public"]), {"offset": 7, "limit": 1}).json()["rows"][0]
    assert row[3] == [1, 2] and row[4] == {"city": "Oslo", "zip": 7}


@pytest.mark.parametrize(("sort", "first"), [("score", [0, 1, 2]), ("-score", [299, 298, 297])])
def test_sort_either_way(api, owner, datasets, sort, first):
    body = api(owner).get(rows_url(datasets["public"]), {"sort": sort, "limit": 3, "offset": 0}).json()
    assert [row[0] for row in body["rows"]] == first


@pytest.mark.parametrize(
    ("filters", "ids"),
    [
        (["id:eq:5"], [5]),
        (["id:=:5"], [5]),
        (["id:ne:5", "id:lt:4"], [0, 1, 2, 3]),
        (["id:!=:0", "id:<=:3"], [1, 2, 3]),
        (["score:gt:73.5"], [295, 296, 297, 298, 299]),
        (["score:ge:74.5"], [298, 299]),
        (["name:is_null", "id:<:35"], [0, 10, 20, 30]),
        (["name:is_not_null", "id:<=:2"], [1, 2]),
        (["id:in:7,9,999"], [7, 9]),
        (["name:contains:ADA 29"], [29, 291, 293, 295, 297, 299]),
    ],
)
def test_every_filter_operator(api, owner, datasets, filters, ids):
    body = (
        api(owner).get(rows_url(datasets["public"]), {"filter": filters, "sort": "id", "limit": 1000}).json()
    )
    assert [row[0] for row in body["rows"]] == ids
    assert body["total"] == len(ids)


def test_a_text_search_with_a_filter(api, owner, datasets):
    body = api(owner).get(rows_url(datasets["public"]), {"q": "grace 1", "filter": "id:lt:20"}).json()
    assert sorted(row[0] for row in body["rows"]) == [12, 14, 16, 18]


@pytest.mark.parametrize(
    ("params", "field", "detail"),
    [
        ({"sort": "nope"}, "sort", "sort: 'nope' is not a column of churn@1"),
        ({"filter": "nope:eq:1"}, "filter", "'nope' is not a column"),
        ({"filter": "id:like:1"}, "filter", "names no operator"),
        ({"filter": "id:eq"}, "filter", "'eq' needs a value"),
        ({"filter": "id:eq:one"}, "filter", "'one' is not a value of its type"),
        ({"filter": "id:contains:1"}, "filter", "contains works on string columns"),
        ({"filter": "tags:eq:1"}, "filter", "can only be tested with is null / is not null"),
        ({"limit": "1001"}, "limit", "limit=1001: give 1 to 1000 rows per page."),
        ({"limit": "-1"}, "limit", "is not a whole number"),
        ({"offset": "x"}, "offset", "is not a whole number"),
    ],
)
def test_bad_input_is_a_400_that_says_what(api, owner, datasets, params, field, detail):
    response = api(owner).get(rows_url(datasets["public"]), params)
    assert response.status_code == 400
    assert response.json()["field"] == field and detail in response.json()["detail"]


def test_a_version_not_ready_is_a_409(api, owner, public_dataset, publish):
    publish(public_dataset, ingest=False)
    response = api(owner).get(rows_url(public_dataset))
    assert response.status_code == 409 and response.json()["code"] == "not_ready"


def test_the_route_is_in_the_schema_with_its_filter_syntax(api, owner):
    response = api(owner).get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    schema = response.json()
    operation = schema["paths"]["/api/v1/datasets/{slug}/versions/{ref}/rows/"]["get"]
    names = {parameter["name"]: parameter for parameter in operation["parameters"]}
    assert {"offset", "limit", "sort", "filter", "q"} <= set(names)
    assert "column:op:value" in names["filter"]["description"]
