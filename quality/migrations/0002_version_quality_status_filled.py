"""Fill Version.quality_status from the runs already recorded: for each version of a dataset with a
suite, the status of its latest run against the current revision, or "unchecked" without one.

The rule is copied here as it stood (quality.services.versions_quality_refresh is the living
one): a migration must not change when the code does.
"""

from collections import defaultdict

from django.db import migrations


def fill(apps, schema_editor):
    SuiteRevision = apps.get_model("quality", "SuiteRevision")
    ValidationRun = apps.get_model("quality", "ValidationRun")
    Version = apps.get_model("datasets", "Version")
    current: dict[int, int] = {}
    for dataset_id, revision_id in SuiteRevision.objects.order_by("dataset_id", "number").values_list(
        "dataset_id", "pk"
    ):
        current[dataset_id] = revision_id  # the highest number wins
    for dataset_id, revision_id in current.items():
        latest: dict[int, str] = {}
        runs = ValidationRun.objects.filter(revision_id=revision_id).order_by("queued_at", "pk")
        for version_id, status in runs.values_list("version_id", "status"):
            latest[version_id] = status
        by_status: dict[str, list[int]] = defaultdict(list)
        for version_id in Version.objects.filter(dataset_id=dataset_id).values_list("pk", flat=True):
            by_status[latest.get(version_id, "unchecked")].append(version_id)
        for status, ids in by_status.items():
            Version.objects.filter(pk__in=ids).update(quality_status=status)


def empty(apps, schema_editor):
    apps.get_model("datasets", "Version").objects.update(quality_status=None)


class Migration(migrations.Migration):

    dependencies = [
        ("quality", "0001_suites_and_runs_move_here"),
        ("datasets", "0011_version_quality_status"),
    ]

    operations = [
        migrations.RunPython(fill, empty),
    ]
