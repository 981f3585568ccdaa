"""What a dataset's list row shows, kept on the dataset (latest and certified version, version and
checkout counts, when the newest version became ready), filled here from the tables.

The rules are copied as they stand (datasets.references and datasets.services.summary hold the
living ones): a migration must not change when the code does. Set-based: one UPDATE per block of
datasets, whatever their number. The certified version reads Version.quality_status, which
quality's 0002 fills, hence the dependency on it.
"""

from datetime import timedelta

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Count, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

BLOCK = 10_000


def fill(apps, schema_editor):
    Dataset = apps.get_model("datasets", "Dataset")
    Version = apps.get_model("datasets", "Version")
    CheckoutItem = apps.get_model("datasets", "CheckoutItem")
    ready = Version.objects.filter(dataset_id=OuterRef("pk"), status="ready").order_by("-number")
    certified = ready.filter(quality_status="passed")

    def count(queryset, what):
        counted = queryset.order_by().values("dataset_id").annotate(n=Count(what, distinct=True)).values("n")
        return Coalesce(Subquery(counted, output_field=models.IntegerField()), Value(0))

    items = CheckoutItem.objects.filter(dataset_id=OuterRef("pk"))
    since = timezone.now() - timedelta(days=90)
    values = {
        "latest_version_id": Subquery(ready.values("pk")[:1]),
        "certified_version_id": Subquery(certified.values("pk")[:1]),
        "last_version_at": Subquery(ready.values("status_changed_at")[:1]),
        "version_count": count(Version.objects.filter(dataset_id=OuterRef("pk")), "pk"),
        "checkout_count": count(items, "checkout_id"),
        "checkouts_90d": count(items.filter(checkout__created_at__gte=since), "checkout_id"),
    }
    top = Dataset.objects.aggregate(top=models.Max("pk"))["top"] or 0
    for start in range(0, top + 1, BLOCK):
        Dataset.objects.filter(pk__gte=start, pk__lt=start + BLOCK).update(**values)


class Migration(migrations.Migration):
    dependencies = [
        ("datasets", "0011_version_quality_status"),
        ("quality", "0002_version_quality_status_filled"),
    ]

    operations = [
        migrations.AddField(
            model_name="dataset",
            name="latest_version",
            field=models.ForeignKey(
                blank=True,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="datasets.version",
            ),
        ),
        migrations.AddField(
            model_name="dataset",
            name="certified_version",
            field=models.ForeignKey(
                blank=True,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="datasets.version",
            ),
        ),
        migrations.AddField(
            model_name="dataset",
            name="version_count",
            field=models.PositiveIntegerField(default=0, editable=False, help_text="all versions"),
        ),
        migrations.AddField(
            model_name="dataset",
            name="checkout_count",
            field=models.PositiveIntegerField(default=0, editable=False, help_text="distinct checkouts"),
        ),
        migrations.AddField(
            model_name="dataset",
            name="checkouts_90d",
            field=models.PositiveIntegerField(
                default=0, editable=False, help_text="distinct checkouts of the last 90 days"
            ),
        ),
        migrations.AddField(
            model_name="dataset",
            name="last_version_at",
            field=models.DateTimeField(
                blank=True, editable=False, help_text="when the newest ready version became ready", null=True
            ),
        ),
        # Going back drops the columns; nothing to undo in them first.
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
