"""POST /api/v1/lineage: OpenLineage RunEvents in, jobs, runs and lineage edges recorded."""

from __future__ import annotations

import gzip
import json
import uuid
from typing import Any

import pytest

from datasets.models import Dataset, Version
from lineage.models import ExternalDataset, Job, Run, RunDataset, RunEvent
from tests.factories import DatasetFactory, run_event

pytestmark = pytest.mark.django_db

GRANARY = "http://testserver"  # the default namespace: the site's URL as the request reaches it
WAREHOUSE = "postgres://db:5432"


def post(client: Any, event: Any, **headers: Any) -> Any:
    return client.post("/api/v1/lineage", json.dumps(event), content_type="application/json", **headers)


@pytest.fixture
def datasets(team, publish) -> dict[str, Dataset]:
    found = {slug: DatasetFactory(slug=slug, team=team) for slug in ("raw_events", "users", "features")}
    publish(found["raw_events"], data=b"id\n1\n")
    publish(found["users"], data=b"user\nada\n")
    return found


def test_a_start_and_a_complete_record_the_job_the_run_and_its_edges(api, maintainer, datasets, publish):
    client = api(maintainer)
    run_id = str(uuid.uuid4())
    inputs = [(GRANARY, "raw_events"), (GRANARY, "users"), (WAREHOUSE, "public.accounts")]
    started = post(
        client, run_event(event_type="START", run_id=run_id, inputs=inputs, event_time="2026-11-27T10:00:00Z")
    )
    assert started.status_code == 201, started.json()
    assert started.json()["state"] == "START"
    assert not RunDataset.objects.filter(run__state="COMPLETE").exists()

    output = publish(datasets["features"], data=b"f\n1\n", ingest=False)  # the job uploads, then completes
    done = post(
        client,
        run_event(
            run_id=run_id,
            inputs=inputs,
            outputs=[(GRANARY, "features")],
            event_time="2026-11-27T10:05:00+00:00",
        ),
    )
    assert done.status_code == 201, done.json()
    run = Run.objects.get(run_id=run_id)
    assert (run.state, run.job.name, run.created_by) == ("COMPLETE", "etl.features", maintainer)
    assert run.started_at.isoformat() == "2026-11-27T10:00:00+00:00"
    assert run.ended_at.isoformat() == "2026-11-27T10:05:00+00:00"
    rows = {
        (r.role, r.name): (r.version, r.external) for r in run.datasets.select_related("version", "external")
    }
    assert rows[("input", "raw_events")][0].ref == "raw_events@1"
    assert rows[("input", "users")][0].ref == "users@1"
    assert str(rows[("input", "public.accounts")][1]) == "postgres://db:5432/public.accounts"
    assert rows[("output", "features")][0] == output  # still processing: what the job just uploaded


def test_the_same_event_twice_is_stored_once(api, maintainer, datasets):
    event = run_event(inputs=[(GRANARY, "users")], outputs=[(WAREHOUSE, "public.report")])
    client = api(maintainer)
    assert post(client, event).status_code == 201
    again = post(client, event)
    assert again.status_code == 200
    assert again.json()["stored"] is False
    assert RunEvent.objects.count() == 1
    assert RunDataset.objects.count() == 2


def test_a_gzipped_event_is_read(api, maintainer, datasets):
    body = gzip.compress(json.dumps(run_event(inputs=[(GRANARY, "users")])).encode())
    response = api(maintainer).post(
        "/api/v1/lineage", body, content_type="application/json", HTTP_CONTENT_ENCODING="gzip"
    )
    assert response.status_code == 201, response.json()


def _without(event: dict[str, Any], *path: str) -> dict[str, Any]:
    target = event
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return event


@pytest.mark.parametrize(
    ("change", "field", "detail"),
    [
        (lambda e: _without(e, "run", "runId"), "run.runId", "run.runId: this field is required."),
        (lambda e: e["run"].update(runId="run-1"), "run.runId", "run.runId: 'run-1' is not a UUID."),
        (lambda e: _without(e, "job", "name"), "job.name", "job.name: this field is required."),
        (lambda e: e.update(job="etl"), "job", "job: must be an object, not a string."),
        (lambda e: e.update(eventType="DONE"), "eventType", "eventType: 'DONE' is not one of START, RUNNING"),
        (lambda e: e.update(eventTime="yesterday"), "eventTime", "eventTime: 'yesterday' is not an ISO 8601"),
        (lambda e: _without(e, "producer"), "producer", "producer: this field is required."),
        (lambda e: _without(e, "schemaURL"), "schemaURL", "schemaURL: this field is required."),
        (lambda e: e["inputs"].append({"namespace": "x"}), "inputs[1].name", "inputs[1].name: this field is"),
        (lambda e: e.update(outputs={"name": "x"}), "outputs", "outputs: must be an array, not an object."),
        (
            lambda e: e["inputs"][0].update(facets={"schema": {"fields": [{"type": "int"}]}}),
            "inputs[0].facets.schema.fields[0].name",
            "inputs[0].facets.schema.fields[0].name: this field is required.",
        ),
        (
            lambda e: e.update(
                schemaURL="https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent"
            ),
            "schemaURL",
            "schemaURL: this is a DatasetEvent; Granary accepts RunEvents.",
        ),
    ],
)
def test_a_malformed_event_is_a_400_naming_the_wrong_field(api, maintainer, datasets, change, field, detail):
    event = run_event(inputs=[(GRANARY, "users")])
    change(event)
    response = post(api(maintainer), event)
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert response.json()["detail"].startswith(detail)
    assert not Run.objects.exists()


def test_a_body_that_is_not_json_is_a_400(api, maintainer):
    response = api(maintainer).post("/api/v1/lineage", b"{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["field"] == "body"


def test_events_need_an_api_token(api, datasets):
    response = post(api(None), run_event())
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"


def test_a_naive_event_time_is_read_as_utc(api, maintainer):
    post(api(maintainer), run_event(event_type="START", event_time="2026-11-27T10:00:00.123456"))
    assert Run.objects.get().started_at.isoformat() == "2026-11-27T10:00:00.123456+00:00"


def test_events_arriving_out_of_order_leave_the_run_complete(api, maintainer, datasets):
    run_id = str(uuid.uuid4())
    client = api(maintainer)
    post(client, run_event(run_id=run_id, inputs=[(GRANARY, "users")], event_time="2026-11-27T10:05:00Z"))
    post(client, run_event(event_type="START", run_id=run_id, event_time="2026-11-27T10:00:00Z"))
    post(client, run_event(event_type="RUNNING", run_id=run_id, event_time="2026-11-27T10:06:00Z"))
    run = Run.objects.get()
    assert run.state == "COMPLETE"
    assert run.started_at.isoformat() == "2026-11-27T10:00:00+00:00"


def test_a_failed_run_links_nothing(api, maintainer, member, datasets):
    client = api(maintainer)
    event = run_event(
        event_type="FAIL",
        inputs=[(GRANARY, "users")],
        outputs=[(GRANARY, "features")],
        run={
            "runId": str(uuid.uuid4()),
            "facets": {"errorMessage": {"message": "OOM", "programmingLanguage": "py"}},
        },
    )
    assert post(client, event).status_code == 201
    assert Run.objects.get().error_message == "OOM"
    graph = api(member).get("/api/v1/datasets/users/lineage/").json()
    assert graph["edges"] == []


def test_the_namespace_setting_names_granary(api, maintainer, datasets, settings):
    settings.GRANARY_OPENLINEAGE_NAMESPACE = "granary://acme"
    post(api(maintainer), run_event(inputs=[("granary://acme", "users"), (GRANARY, "raw_events")]))
    rows = {row.name: row for row in RunDataset.objects.all()}
    assert rows["users"].version.ref == "users@1"
    assert rows["raw_events"].external is not None  # the site URL is no longer Granary's namespace


def test_a_version_can_be_named_in_the_name_or_the_version_facet(api, maintainer, datasets, publish):
    publish(datasets["users"], data=b"user\nada\ngrace\n")
    event = run_event(
        inputs=[
            {"namespace": GRANARY, "name": "users@1"},
            {"namespace": GRANARY, "name": "raw_events", "facets": {"version": {"datasetVersion": "1"}}},
        ]
    )
    assert post(api(maintainer), event).status_code == 201
    assert {row.version.ref for row in RunDataset.objects.all()} == {"users@1", "raw_events@1"}


def test_a_version_that_does_not_resolve_is_a_400_naming_the_field(api, maintainer, datasets):
    event = run_event(
        inputs=[{"namespace": GRANARY, "name": "users", "facets": {"version": {"datasetVersion": "9"}}}]
    )
    response = post(api(maintainer), event)
    assert response.status_code == 400
    assert response.json()["field"] == "inputs[0].facets.version.datasetVersion"
    assert response.json()["detail"] == "inputs[0].facets.version.datasetVersion: 'users' has no version 9."


def test_writing_lineage_into_a_dataset_needs_write_access(api, member, datasets):
    response = post(api(member), run_event(outputs=[(GRANARY, "features")]))
    assert response.status_code == 403
    assert response.json()["field"] == "outputs[0]"
    assert "'features' is a dataset you may not write" in response.json()["detail"]


def test_a_dataset_the_poster_may_not_see_stays_an_external_name(api, outsider, team, publish):
    publish(DatasetFactory(slug="payroll", team=team, visibility="internal"))
    response = post(api(outsider), run_event(inputs=[(GRANARY, "payroll")]))
    assert response.status_code == 201
    row = RunDataset.objects.get()
    assert (row.dataset, row.external.name) == (None, "payroll")


def test_an_explicit_external_name_counts_as_the_dataset(api, maintainer, datasets):
    client = api(maintainer)
    linked = client.post(
        "/api/v1/datasets/users/external-names/",
        {"namespace": WAREHOUSE, "name": "public.users"},
        format="json",
    )
    assert linked.status_code == 201, linked.json()
    post(client, run_event(inputs=[(WAREHOUSE, "public.users")], outputs=[(GRANARY, "features")]))
    row = RunDataset.objects.get(role="input")
    assert row.version.ref == "users@1"
    assert client.get("/api/v1/datasets/users/external-names/").json()[0]["name"] == "public.users"


def test_an_external_dataset_linked_later_joins_the_dataset_graph(api, maintainer, member, datasets):
    client = api(maintainer)
    post(client, run_event(inputs=[(WAREHOUSE, "public.users")], outputs=[(GRANARY, "features")]))
    assert api(member).get("/api/v1/datasets/users/lineage/").json()["nodes"] == []

    external = ExternalDataset.objects.get(name="public.users")
    assert external.dataset is None
    client.post("/api/v1/datasets/users/external-names/", {"namespace": WAREHOUSE, "name": "public.users"})

    graph = api(member).get("/api/v1/datasets/users/lineage/").json()
    ids = {node["id"] for node in graph["nodes"]}
    assert f"external:{external.pk}" in ids and "version:features@1" not in ids  # features has no version
    assert {"dataset:features"} <= ids
    node = next(n for n in graph["nodes"] if n["id"] == f"external:{external.pk}")
    assert (node["side"], node["linked_dataset"]) == ("center", "dataset:users")

    assert client.delete(f"/api/v1/datasets/users/external-names/{external.pk}/").status_code == 204
    assert api(member).get("/api/v1/datasets/users/lineage/").json()["nodes"] == []


def test_an_external_name_linked_to_another_dataset_is_a_conflict(api, maintainer, datasets):
    client = api(maintainer)
    body = {"namespace": WAREHOUSE, "name": "public.users"}
    client.post("/api/v1/datasets/users/external-names/", body)
    response = client.post("/api/v1/datasets/features/external-names/", body)
    assert response.status_code == 409
    assert (
        response.json()["detail"] == "postgres://db:5432/public.users is already linked to another dataset."
    )


def test_a_run_id_cannot_move_to_another_job(api, maintainer):
    run_id = str(uuid.uuid4())
    client = api(maintainer)
    post(client, run_event(event_type="START", run_id=run_id, job="a"))
    response = post(client, run_event(run_id=run_id, job="b"))
    assert response.status_code == 409
    assert response.json()["field"] == "run.runId"


def test_the_job_keeps_its_code_location(api, maintainer):
    event = run_event()
    event["job"]["facets"] = {
        "sourceCodeLocation": {"type": "git", "url": "https://github.com/acme/etl/blob/abc123/features.py"},
        "documentation": {"description": "Joins events and users."},
    }
    post(api(maintainer), event)
    job = Job.objects.get()
    assert job.code_url == "https://github.com/acme/etl/blob/abc123/features.py"
    assert job.description == "Joins events and users."


def test_an_output_keeps_its_schema_and_column_lineage_shown_on_the_version_page(
    api, client, maintainer, datasets, publish
):
    publish(datasets["features"], data=b"user_id,events\n1,2\n")
    lineage = {
        "fields": {
            "user_id": {"inputFields": [{"namespace": GRANARY, "name": "users", "field": "id"}]},
            "events": {
                "inputFields": [
                    {
                        "namespace": GRANARY,
                        "name": "raw_events",
                        "field": "id",
                        "transformations": [{"type": "INDIRECT", "subtype": "AGGREGATION"}],
                    },
                    {"namespace": WAREHOUSE, "name": "public.accounts", "field": "plan"},
                ],
                "transformationDescription": "count per user",
            },
        }
    }
    schema = {"fields": [{"name": "user_id", "type": "BIGINT"}, {"name": "events", "type": "INTEGER"}]}
    output = {
        "namespace": GRANARY,
        "name": "features",
        "facets": {"schema": schema, "columnLineage": lineage},
    }
    post(api(maintainer), run_event(inputs=[(GRANARY, "users"), (GRANARY, "raw_events")], outputs=[output]))

    row = RunDataset.objects.get(role="output")
    assert row.schema == [
        {"name": "user_id", "type": "BIGINT", "description": ""},
        {"name": "events", "type": "INTEGER", "description": ""},
    ]
    client.force_login(maintainer)
    page = client.get("/datasets/features/versions/1/")
    columns = {c.name: c for c in page.context["reported"].columns}
    assert [s.label for s in columns["user_id"].sources] == ["users.id"]
    assert [s.label for s in columns["events"].sources] == [
        "raw_events.id",
        "postgres://db:5432/public.accounts.plan",
    ]
    assert columns["events"].how == "count per user"
    html = page.content.decode()
    assert 'data-column="events"' in html and "indirect: aggregation" in html


def test_column_sources_the_reader_may_not_read_are_restricted(
    api, client, maintainer, outsider, team, publish
):
    secret = DatasetFactory(slug="salaries", team=team, visibility="internal")
    publish(secret)
    report = DatasetFactory(slug="report", team=team, visibility="public")
    publish(report)
    lineage = {
        "fields": {"total": {"inputFields": [{"namespace": GRANARY, "name": "salaries", "field": "pay"}]}}
    }
    output = {"namespace": GRANARY, "name": "report", "facets": {"columnLineage": lineage}}
    post(api(maintainer), run_event(inputs=[(GRANARY, "salaries")], outputs=[output]))
    client.force_login(outsider)
    page = client.get("/datasets/report/versions/1/")
    [column] = page.context["reported"].columns
    assert [s.label for s in column.sources] == ["restricted"]
    assert "salaries" not in page.content.decode()
    assert Version.objects.filter(dataset=secret).exists()
