"""Who may report events for a run or a job: the team that reported it first.

A run and a job belong to the team of the first event's first Granary output dataset, else to the
reporter's team when they have exactly one, else to the reporter alone. Its maintainers and owners
(and the reporter while they stay in that team) report for it; anyone else gets a 403 saying why.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from accounts.models import Membership
from datasets.models import Dataset
from lineage.models import Job, Run, RunDataset, RunEvent
from tests.factories import DatasetFactory, MembershipFactory, TeamFactory, UserFactory, run_event

pytestmark = pytest.mark.django_db

GRANARY = "http://testserver"
PHISHING = "https://evil.example/login"


def post(client: Any, event: Any) -> Any:
    return client.post("/api/v1/lineage", json.dumps(event), content_type="application/json")


@pytest.fixture
def datasets(team, publish) -> dict[str, Dataset]:
    found = {slug: DatasetFactory(slug=slug, team=team) for slug in ("users", "features")}
    publish(found["users"], data=b"user\nada\n")
    publish(found["features"], data=b"f\n1\n")
    return found


@pytest.fixture
def growth_maintainer(db: None) -> Any:
    user = UserFactory(username="gus")
    MembershipFactory(team=TeamFactory(slug="growth"), user=user, role=Membership.Role.MAINTAINER)
    return user


def complete_run(client: Any, **extra: Any) -> str:
    run_id = str(uuid.uuid4())
    event = run_event(run_id=run_id, inputs=[(GRANARY, "users")], outputs=[(GRANARY, "features")], **extra)
    response = post(client, event)
    assert response.status_code == 201, response.json()
    return run_id


def test_someone_outside_the_team_cannot_fail_its_complete_run(api, maintainer, member, outsider, datasets):
    run_id = complete_run(api(maintainer))
    edges_before = api(member).get("/api/v1/datasets/users/lineage/").json()["edges"]
    assert len(edges_before) == 2

    response = post(
        api(outsider),
        run_event(event_type="FAIL", run_id=run_id, event_time="2026-11-27T11:00:00Z"),
    )

    assert response.status_code == 403
    assert response.json()["field"] == "run.runId"
    assert response.json()["detail"] == (
        f"run.runId: run {run_id} belongs to the ml-core team, which reported it first: "
        "events for it come from that team's maintainers and owners."
    )
    run = Run.objects.get(run_id=run_id)
    assert (run.state, run.ended_at.isoformat()) == ("COMPLETE", "2026-11-27T10:00:00+00:00")
    assert RunEvent.objects.count() == 1
    assert api(member).get("/api/v1/datasets/users/lineage/").json()["edges"] == edges_before


def test_another_teams_maintainer_cannot_report_for_a_run_under_their_own_job(
    api, maintainer, growth_maintainer, datasets
):
    run_id = complete_run(api(maintainer))
    response = post(api(growth_maintainer), run_event(event_type="FAIL", run_id=run_id, job="growth.job"))
    assert response.status_code == 403
    assert response.json()["field"] == "run.runId"
    assert Run.objects.get(run_id=run_id).state == "COMPLETE"
    assert not Job.objects.filter(name="growth.job").exists()


def test_a_job_the_poster_cannot_see_keeps_its_code_location(api, maintainer, outsider, team, publish):
    payroll = DatasetFactory(slug="payroll", team=team, visibility=Dataset.Visibility.INTERNAL)
    publish(payroll)
    event = run_event(outputs=[(GRANARY, "payroll")])
    event["job"]["facets"] = {"sourceCodeLocation": {"type": "git", "url": "https://git.acme/etl.py"}}
    assert post(api(maintainer), event).status_code == 201

    attack = run_event(inputs=[("s3://x", "y")])  # a new run of the same job
    attack["job"]["facets"] = {"sourceCodeLocation": {"type": "git", "url": PHISHING}}
    response = post(api(outsider), attack)

    assert response.status_code == 403
    assert response.json()["field"] == "job"
    assert response.json()["detail"] == (
        "job: airflow/etl.features belongs to the ml-core team, which reported it first: "
        "events for it come from that team's maintainers and owners."
    )
    assert Job.objects.get().code_url == "https://git.acme/etl.py"
    assert Run.objects.count() == 1


def test_the_same_event_replayed_by_someone_else_is_refused(api, maintainer, outsider, datasets):
    event = run_event(inputs=[(GRANARY, "users")], outputs=[(GRANARY, "features")])
    assert post(api(maintainer), event).status_code == 201
    response = post(api(outsider), event)
    assert response.status_code == 403
    assert response.json()["field"] == "run.runId"


def test_the_owning_teams_maintainers_and_owners_report_for_its_run(api, maintainer, owner, datasets):
    run_id = str(uuid.uuid4())
    started = post(
        api(maintainer), run_event(event_type="START", run_id=run_id, outputs=[(GRANARY, "features")])
    )
    assert started.status_code == 201
    run = Run.objects.get(run_id=run_id)
    assert (run.team.slug, run.created_by, run.job.team.slug, run.job.created_by) == (
        "ml-core",
        maintainer,
        "ml-core",
        maintainer,
    )
    done = post(api(owner), run_event(run_id=run_id, event_time="2026-11-27T10:05:00Z"))
    assert done.status_code == 201, done.json()
    assert Run.objects.get(run_id=run_id).state == "COMPLETE"


def test_a_plain_member_of_the_owning_team_cannot_report_for_its_run(api, maintainer, member, datasets):
    run_id = complete_run(api(maintainer))
    response = post(api(member), run_event(event_type="FAIL", run_id=run_id))
    assert response.status_code == 403


def test_a_run_without_granary_outputs_belongs_to_the_reporters_only_team(api, member, maintainer, datasets):
    run_id = str(uuid.uuid4())
    # A plain member may read `users`: the run is theirs and their team's.
    started = post(api(member), run_event(event_type="START", run_id=run_id, inputs=[(GRANARY, "users")]))
    assert started.status_code == 201, started.json()
    run = Run.objects.get(run_id=run_id)
    assert (run.team.slug, run.created_by) == ("ml-core", member)
    again = post(api(member), run_event(run_id=run_id, event_time="2026-11-27T10:05:00Z"))
    assert again.status_code == 201, again.json()
    other = post(api(maintainer), run_event(event_type="OTHER", run_id=run_id))
    assert other.status_code == 201, other.json()


def test_a_reporter_in_several_teams_owns_a_run_without_granary_outputs_alone(
    api, maintainer, owner, datasets
):
    MembershipFactory(team=TeamFactory(slug="growth"), user=maintainer, role=Membership.Role.MAINTAINER)
    run_id = str(uuid.uuid4())
    first = post(api(maintainer), run_event(event_type="START", run_id=run_id, inputs=[(GRANARY, "users")]))
    assert first.status_code == 201
    run = Run.objects.get(run_id=run_id)
    assert (run.team, run.created_by) == (None, maintainer)

    refused = post(api(owner), run_event(event_type="FAIL", run_id=run_id))
    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        f"run.runId: run {run_id} belongs to the user who reported it first: "
        "events for it come from them alone."
    )
    done = post(api(maintainer), run_event(run_id=run_id, event_time="2026-11-27T10:05:00Z"))
    assert done.status_code == 201


def test_a_reporter_who_left_the_owning_team_no_longer_reports_for_its_run(api, member, datasets):
    run_id = str(uuid.uuid4())
    post(api(member), run_event(event_type="START", run_id=run_id, inputs=[(GRANARY, "users")]))
    Membership.objects.filter(user=member).delete()
    response = post(api(member), run_event(run_id=run_id))
    assert response.status_code == 403


def test_a_superuser_may_report_for_any_run(api, maintainer, datasets):
    run_id = complete_run(api(maintainer))
    admin = UserFactory(username="root", is_superuser=True, is_staff=True)
    response = post(api(admin), run_event(event_type="OTHER", run_id=run_id))
    assert response.status_code == 201


def test_outputs_still_need_write_access_to_the_dataset(api, member, datasets):
    response = post(api(member), run_event(outputs=[(GRANARY, "features")]))
    assert response.status_code == 403
    assert response.json()["field"] == "outputs[0]"
    assert not Run.objects.exists() and not RunDataset.objects.exists()
