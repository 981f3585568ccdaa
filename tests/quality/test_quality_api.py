"""The suite and validations through the API, and `certified` in references and lists."""

from __future__ import annotations

import pytest

from quality.models import ValidationRun
from quality.services import suite_import, validation_run

pytestmark = pytest.mark.django_db

DATA = b"id,age\n1,30\n2,40\n"
SUITE = {
    "name": "churn",
    "expectations": [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "age"}}],
}


def test_put_imports_a_suite_and_queues_validation_of_latest(api, maintainer, public_dataset, publish):
    publish(public_dataset, data=DATA)
    client = api(maintainer)
    response = client.put("/api/v1/datasets/churn/suite/", SUITE, format="json")
    assert response.status_code == 200
    assert response.json()["expectations"] == SUITE["expectations"]
    assert response.json()["meta"] == {"granary_revision": 1}
    run = ValidationRun.objects.get()
    assert (run.status, run.trigger, run.version.number) == ("queued", "suite change", 1)
    assert client.get("/api/v1/datasets/churn/suite/").json()["expectations"] == SUITE["expectations"]


def test_a_member_cannot_edit_the_suite(api, member, public_dataset):
    response = api(member).put("/api/v1/datasets/churn/suite/", SUITE, format="json")
    assert response.status_code == 403
    assert "maintainer or owner role" in response.json()["detail"]


def test_a_bad_suite_is_a_400_naming_the_expectation(api, maintainer, public_dataset, publish):
    publish(public_dataset, data=DATA)
    bad = {
        "expectations": [
            {"type": "expect_column_values_to_be_between", "kwargs": {"column": "agee", "min_value": 1}}
        ]
    }
    response = api(maintainer).put("/api/v1/datasets/churn/suite/", bad, format="json")
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "Expectation 1 (expect_column_values_to_be_between): there is no column 'agee' (columns: id, age)."
    )


def test_validations_are_queued_on_demand_and_listed(api, maintainer, public_dataset, publish):
    version = publish(public_dataset, data=DATA)
    suite_import(dataset=public_dataset, user=maintainer, data=SUITE)
    client = api(maintainer)
    queued = client.post("/api/v1/datasets/churn/versions/1/validations/")
    assert queued.status_code == 202
    run_id = queued.json()["id"]
    validation_run(run_id=run_id)
    runs = client.get("/api/v1/datasets/churn/versions/1/validations/").json()
    assert next(r["id"] for r in runs) == run_id
    detail = client.get(f"/api/v1/datasets/churn/versions/1/validations/{run_id}/").json()
    assert detail["status"] == "passed"
    assert detail["results"][0]["description"] == "`age` is never null"
    assert detail["report_url"].endswith(f"/datasets/churn/versions/1/validations/{run_id}/")
    body = client.get("/api/v1/datasets/churn/versions/certified/").json()
    assert body["number"] == version.number
    assert body["quality_status"] == "passed"
    assert set(body["aliases"]) == {"latest", "certified"}


def test_validating_without_a_suite_says_how_to_add_one(api, maintainer, public_dataset, publish):
    publish(public_dataset, data=DATA)
    response = api(maintainer).post("/api/v1/datasets/churn/versions/1/validations/")
    assert response.status_code == 400
    assert response.json()["detail"] == "'churn' has no expectation suite yet: add expectations first."


def test_certified_resolves_or_says_why_not(api, member, public_dataset, publish):
    publish(public_dataset, data=DATA)
    response = api(member).get("/api/v1/datasets/churn/versions/certified/")
    assert response.status_code == 404
    assert "has no certified version yet" in response.json()["detail"]


def test_the_list_filters_by_certified(
    api, member, maintainer, team, public_dataset, internal_dataset, publish
):
    publish(public_dataset, data=DATA)
    publish(internal_dataset, data=DATA)
    suite_import(dataset=public_dataset, user=maintainer, data=SUITE)
    validation_run(run_id=ValidationRun.objects.get().pk)
    client = api(member)
    certified = client.get("/api/v1/datasets/", {"certified": "true"}).json()["results"]
    assert [(d["slug"], d["certified_version"]) for d in certified] == [("churn", 1)]
    others = client.get("/api/v1/datasets/", {"certified": "false"}).json()["results"]
    assert [d["slug"] for d in others] == ["payroll"]
    assert client.get("/api/v1/datasets/", {"certified": "maybe"}).status_code == 400


def test_suggest_drafts_a_suite_from_the_profile(api, member, public_dataset, publish):
    publish(public_dataset, data=DATA)
    draft = api(member).get("/api/v1/datasets/churn/suite/suggest/").json()
    assert {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "age"}} in draft[
        "expectations"
    ]
