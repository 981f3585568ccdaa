"""Runs and jobs recorded before ownership get an owner when the database is migrated.

The migration derives it as new events do, from what was recorded: a run belongs to the team of its
first Granary output that its reporter may write, else to the reporter's only team, else to nobody
but the reporter; a job belongs to whoever reported its earliest run.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.models import Membership
from lineage.models import Job, Run
from tests.factories import DatasetFactory, MembershipFactory, TeamFactory, UserFactory, run_event
from tests.migrating import migrate, migrate_to_latest

BEFORE = [("lineage", "0001_lineage_moves_here")]
T0 = timezone.now() - timedelta(days=3)


@pytest.mark.django_db(transaction=True)
def test_recorded_runs_and_jobs_get_the_owner_new_events_would_give_them(api: Any) -> None:
    try:
        executor = migrate(BEFORE)
        old = executor.loader.project_state(list(executor.loader.applied_migrations)).apps
        ids = fill(old)

        migrate_to_latest()

        runs = {
            name: Run.objects.select_related("team", "created_by").get(run_id=pk) for name, pk in ids.items()
        }
        owners = {
            name: (run.team.slug if run.team else None, run.created_by.username) for name, run in runs.items()
        }
        assert owners == {
            "by_a_maintainer": ("ml-core", "mario"),
            "outputs_added_by_another_team": ("ml-core", "mina"),  # gus's output does not hand it over
            "reporter_in_two_teams": (None, "tess"),
            "reporter_in_no_team": (None, "oscar"),
        }
        jobs = {
            job.name: (job.team.slug if job.team else None, job.created_by.username)
            for job in Job.objects.all()
        }
        assert jobs == {"etl.features": ("ml-core", "mario"), "adhoc": (None, "tess")}

        # And the owners answer for them: another team is refused, the lone reporter is not.
        users = get_user_model().objects
        gus, tess = users.get(username="gus"), users.get(username="tess")
        refused = post(api(gus), run_event(event_type="FAIL", run_id=str(ids["by_a_maintainer"])))
        assert refused.status_code == 403, refused.json()
        assert Run.objects.get(run_id=str(ids["by_a_maintainer"])).state == "COMPLETE"
        again = post(api(tess), run_event(run_id=str(ids["reporter_in_two_teams"]), job="adhoc"))
        assert again.status_code == 201, again.json()
    finally:
        migrate_to_latest()


def post(client: Any, event: Any) -> Any:
    return client.post("/api/v1/lineage", json.dumps(event), content_type="application/json")


def fill(old: Any) -> dict[str, uuid.UUID]:
    """Runs as the code before ownership recorded them (users, teams and datasets are unchanged)."""
    ml_core, growth = TeamFactory(slug="ml-core"), TeamFactory(slug="growth")
    mario, mina, gus, tess = (UserFactory(username=n) for n in ("mario", "mina", "gus", "tess"))
    oscar = UserFactory(username="oscar")
    MembershipFactory(team=ml_core, user=mario, role=Membership.Role.MAINTAINER)
    MembershipFactory(team=ml_core, user=mina, role=Membership.Role.MEMBER)
    MembershipFactory(team=growth, user=gus, role=Membership.Role.MAINTAINER)
    MembershipFactory(team=ml_core, user=tess, role=Membership.Role.MAINTAINER)
    MembershipFactory(team=growth, user=tess, role=Membership.Role.MAINTAINER)
    features = DatasetFactory(slug="features", team=ml_core)
    signups = DatasetFactory(slug="signups", team=growth)

    Job_, Run_, RunDataset_ = (old.get_model("lineage", n) for n in ("Job", "Run", "RunDataset"))
    etl = Job_.objects.create(namespace="airflow", name="etl.features")
    adhoc = Job_.objects.create(namespace="airflow", name="adhoc")
    ids: dict[str, uuid.UUID] = {}

    def run(name: str, job: Any, user: Any, days: int, outputs: list[Any] = ()) -> None:  # type: ignore[assignment]
        ids[name] = uuid.uuid4()
        row = Run_.objects.create(
            job=job, run_id=ids[name], state="COMPLETE", state_time=T0, created_by_id=user.pk
        )
        Run_.objects.filter(pk=row.pk).update(created_at=T0 + timedelta(days=days))
        for dataset in outputs:
            RunDataset_.objects.create(
                run=row,
                role="output",
                namespace="http://testserver",
                name=dataset.slug,
                dataset_id=dataset.pk,
            )

    run("by_a_maintainer", etl, mario, 0, [features])
    run("outputs_added_by_another_team", etl, mina, 1, [signups])  # gus's later event named signups
    run("reporter_in_two_teams", adhoc, tess, 2)
    run("reporter_in_no_team", adhoc, oscar, 3)
    return ids
