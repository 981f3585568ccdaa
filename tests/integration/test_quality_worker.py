"""Quality end to end: a real worker, real Redis, real Great Expectations."""

from __future__ import annotations

import great_expectations as gx
import pytest

from tests.conftest import wait_for

pytestmark = [pytest.mark.integration]

GOOD = b"id,age,plan\n1,34,basic\n2,51,pro\n3,29,basic\n"
BAD = b"id,age,plan\n1,34,basic\n2,-7,pro\n3,29,gold\n4,-1,basic\n"


def gx_suite_json() -> dict:
    """A suite written with GX itself, exported as GX exports it."""
    context = gx.get_context(mode="ephemeral")
    suite = context.suites.add(gx.ExpectationSuite(name="churn checks"))
    suite.add_expectation(gx.expectations.ExpectColumnValuesToNotBeNull(column="age"))
    suite.add_expectation(
        gx.expectations.ExpectColumnValuesToBeBetween(column="age", min_value=0, max_value=120)
    )
    suite.add_expectation(
        gx.expectations.ExpectColumnValuesToBeInSet(column="plan", value_set=["basic", "pro"])
    )
    return suite.to_json_dict()


def upload_and_wait(client, data: bytes, number: int) -> dict:
    from django.core.files.uploadedfile import SimpleUploadedFile

    created = client.post(
        "/api/v1/datasets/churn/versions/", {"file": SimpleUploadedFile("d.csv", data)}, format="multipart"
    )
    assert created.status_code == 202, created.json()

    def checked():
        body = client.get(f"/api/v1/datasets/churn/versions/{number}/").json()
        return body if body["quality_status"] in ("passed", "failed", "error") else None

    return wait_for(checked, what=f"version {number} to be ingested and validated")


def test_a_gx_suite_certifies_passing_versions_only(api, maintainer, public_dataset, celery_worker):
    client = api(maintainer)
    imported = client.put("/api/v1/datasets/churn/suite/", gx_suite_json(), format="json")
    assert imported.status_code == 200, imported.json()

    first = upload_and_wait(client, GOOD, 1)
    assert first["quality_status"] == "passed"
    assert client.get("/api/v1/datasets/churn/").json()["certified_version"] == 1

    second = upload_and_wait(client, BAD, 2)
    assert second["quality_status"] == "failed"
    assert client.get("/api/v1/datasets/churn/versions/certified/").json()["number"] == 1

    [run] = client.get("/api/v1/datasets/churn/versions/2/validations/").json()
    failing = {r["description"]: r for r in run["results"] if not r["success"]}
    assert failing["`age` is between 0 and 120"]["unexpected_count"] == 2
    assert sorted(failing["`age` is between 0 and 120"]["unexpected_examples"]) == [-7, -1]
    assert failing["`plan` is one of 'basic', 'pro'"]["unexpected_count"] == 1
