"""The real openlineage-python client, over its HTTP transport with an API key, against a live
Granary: a job reads two Granary datasets and an external table and writes a third dataset."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from django.test import Client
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import column_lineage_dataset, schema_dataset, source_code_location_job
from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport
from openlineage.client.uuid import generate_new_uuid

from accounts.services import token_create
from lineage.models import RunEvent as StoredEvent
from tests.factories import DatasetFactory

PRODUCER = "https://github.com/acme/pipelines"


@pytest.fixture
def emitter(live_server, maintainer) -> Iterator[OpenLineageClient]:
    token = token_create(user=maintainer, name="airflow", scope="write").secret  # reports outputs
    # No keep-alive: a request thread of the live server that outlived the test would close the
    # test database's connection from the wrong thread.
    config = HttpConfig(
        url=live_server.url,
        auth=ApiKeyTokenProvider({"apiKey": token}),
        timeout=10,
        custom_headers={"Connection": "close"},
    )
    client = OpenLineageClient(transport=HttpTransport(config))
    yield client
    client.transport.close()


def test_the_openlineage_client_reports_a_job_that_the_graph_page_and_impact_show(
    emitter, live_server, maintainer, member, team, publish
):
    granary = live_server.url  # Granary's namespace: its own URL
    for slug in ("raw_events", "users"):
        publish(DatasetFactory(slug=slug, team=team), data=f"id\n{slug}\n".encode())
    features = DatasetFactory(slug="features", team=team)

    run = Run(runId=str(generate_new_uuid()))
    job = Job(
        namespace="airflow",
        name="churn.build_features",
        facets={
            "sourceCodeLocation": source_code_location_job.SourceCodeLocationJobFacet(
                type="git", url="https://github.com/acme/pipelines/blob/4f1c2d9/features.py"
            )
        },
    )
    inputs = [
        InputDataset(namespace=granary, name="raw_events"),
        InputDataset(namespace=granary, name="users"),
        InputDataset(namespace="postgres://warehouse:5432", name="public.accounts"),
    ]
    emitter.emit(
        RunEvent(
            eventType=RunState.START,
            eventTime=datetime.now(UTC).isoformat(),
            run=run,
            job=job,
            producer=PRODUCER,
            inputs=inputs,
        )
    )

    publish(features, data=b"user_id,events\n1,3\n")  # what the job wrote, uploaded to Granary
    schema = schema_dataset.SchemaDatasetFacet(
        fields=[schema_dataset.SchemaDatasetFacetFields(name="user_id", type="BIGINT")]
    )
    columns = column_lineage_dataset.ColumnLineageDatasetFacet(
        fields={
            "user_id": column_lineage_dataset.Fields(
                inputFields=[column_lineage_dataset.InputField(namespace=granary, name="users", field="id")],
                transformationDescription="",
                transformationType="IDENTITY",
            )
        }
    )
    output = OutputDataset(
        namespace=granary, name="features", facets={"schema": schema, "columnLineage": columns}
    )
    complete = RunEvent(
        eventType=RunState.COMPLETE,
        eventTime=datetime.now(UTC).isoformat(),
        run=run,
        job=job,
        producer=PRODUCER,
        inputs=inputs,
        outputs=[output],
    )
    emitter.emit(complete)
    emitter.emit(complete)  # a retry: stored once
    assert StoredEvent.objects.count() == 2

    browser = Client()
    browser.force_login(member)
    body = browser.get("/api/v1/datasets/features/lineage/", {"direction": "up"}).json()
    job_id = f"job:{run.runId}"
    external = next(n for n in body["nodes"] if n["kind"] == "external")
    assert {(e["source"], e["target"]) for e in body["edges"]} == {
        ("version:raw_events@1", job_id),
        ("version:users@1", job_id),
        (external["id"], job_id),
        (job_id, "version:features@1"),
    }
    assert (external["namespace"], external["name"]) == ("postgres://warehouse:5432", "public.accounts")

    page = browser.get("/datasets/features/lineage/").content.decode()
    for node in ("version:raw_events@1", "version:users@1", job_id, external["id"], "version:features@1"):
        assert f'data-node-id="{node}"' in page
    version_page = browser.get("/datasets/features/versions/1/").content.decode()
    assert 'data-column="user_id"' in version_page and "users.id" in version_page

    impact = browser.get("/api/v1/datasets/raw_events/versions/1/impact/").json()
    assert [d["slug"] for d in impact["datasets"]] == ["features"]
    assert [j["name"] for j in impact["jobs"]] == ["churn.build_features"]
    assert "features@1" in browser.get("/datasets/raw_events/versions/1/impact/").content.decode()
