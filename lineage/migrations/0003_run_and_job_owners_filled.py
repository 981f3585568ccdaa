"""Give the runs and jobs recorded before ownership an owner, derived as new events derive it.

A run belongs to the team of its first Granary output (by the order its rows were recorded) that
its reporter (`Run.created_by`) may write, or to any output's team when the reporter is gone; else
to the reporter's team when they have exactly one; else to no team: then only the reporter (or a
superuser) may report for it. A job takes the team and reporter of its earliest run.

The rule is copied here as it stands (lineage.services is the living one): a migration must not
change when the code does. The write check keeps an output that someone else's later event added
to a run from handing the run to that someone's team.
"""

from collections import defaultdict

from django.conf import settings
from django.db import migrations

WRITER_ROLES = ("owner", "maintainer")
CHUNK = 5000


def _update(model, team_of: dict[int, int | None]) -> None:
    by_team: dict[int | None, list[int]] = defaultdict(list)
    for pk, team_id in team_of.items():
        by_team[team_id].append(pk)
    for team_id, ids in by_team.items():
        if team_id is None:
            continue
        for start in range(0, len(ids), CHUNK):
            model.objects.filter(pk__in=ids[start : start + CHUNK]).update(team_id=team_id)


def fill(apps, schema_editor):
    Run = apps.get_model("lineage", "Run")
    Job = apps.get_model("lineage", "Job")
    RunDataset = apps.get_model("lineage", "RunDataset")
    Membership = apps.get_model("accounts", "Membership")
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))

    superusers = set(User.objects.filter(is_superuser=True).values_list("pk", flat=True))
    teams: dict[int, set[int]] = defaultdict(set)
    writes: dict[int, set[int]] = defaultdict(set)
    for user_id, team_id, role in Membership.objects.values_list("user_id", "team_id", "role").iterator():
        teams[user_id].add(team_id)
        if role in WRITER_ROLES:
            writes[user_id].add(team_id)

    outputs: dict[int, list[int]] = defaultdict(list)
    rows = (
        RunDataset.objects.filter(role="output", dataset__isnull=False)
        .order_by("run_id", "pk")
        .values_list("run_id", "dataset__team_id")
    )
    for run_id, team_id in rows.iterator():
        outputs[run_id].append(team_id)

    run_team: dict[int, int | None] = {}
    runs = Run.objects.filter(team__isnull=True).order_by("pk").values_list("pk", "created_by_id")
    for pk, user_id in runs.iterator():
        if user_id is None or user_id in superusers:
            allowed = outputs[pk]
        else:
            allowed = [team_id for team_id in outputs[pk] if team_id in writes[user_id]]
        team_id = allowed[0] if allowed else None
        if team_id is None and user_id is not None and len(teams[user_id]) == 1:
            team_id = next(iter(teams[user_id]))
        run_team[pk] = team_id
    _update(Run, run_team)

    first_run: dict[int, tuple[int | None, int | None]] = {}
    runs_by_job = Run.objects.order_by("job_id", "created_at", "pk").values_list(
        "job_id", "team_id", "created_by_id"
    )
    for job_id, team_id, user_id in runs_by_job.iterator():
        first_run.setdefault(job_id, (team_id, user_id))
    for job in Job.objects.filter(team__isnull=True, created_by__isnull=True).only("pk").iterator():
        team_id, user_id = first_run.get(job.pk, (None, None))
        if team_id is not None or user_id is not None:
            Job.objects.filter(pk=job.pk).update(team_id=team_id, created_by_id=user_id)


def empty(apps, schema_editor):
    apps.get_model("lineage", "Run").objects.update(team=None)
    apps.get_model("lineage", "Job").objects.update(team=None, created_by=None)


class Migration(migrations.Migration):
    dependencies = [
        ("lineage", "0002_run_and_job_owners"),
        ("accounts", "0001_teams_and_tokens_move_here"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(fill, empty)]
