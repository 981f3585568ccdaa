"""Fill Version.quality_status from the runs already recorded: for each version of a dataset with a
suite, the status of its latest run against the current revision, or "unchecked" without one.

The rule is copied here as it stood (quality.services.versions_quality_refresh is the living
one): a migration must not change when the code does.
"""

from django.db import migrations
from django.db.models import OuterRef, Subquery, Value
from django.db.models.functions import Coalesce


def fill(apps, schema_editor):
    SuiteRevision = apps.get_model("quality", "SuiteRevision")
    ValidationRun = apps.get_model("quality", "ValidationRun")
    Version = apps.get_model("datasets", "Version")
    current = SuiteRevision.objects.filter(dataset_id=OuterRef(OuterRef("dataset_id"))).order_by("-number")
    latest_run = ValidationRun.objects.filter(
        version_id=OuterRef("pk"), revision_id=Subquery(current.values("pk")[:1])
    ).order_by("-queued_at", "-pk")
    # One statement: no list of ids, whatever the number of versions.
    Version.objects.filter(dataset_id__in=SuiteRevision.objects.values("dataset_id")).update(
        quality_status=Coalesce(Subquery(latest_run.values("status")[:1]), Value("unchecked"))
    )


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
