"""Version.quality_status: the quality app writes each version's standing against its current suite
here, so `@certified` and dataset lists read one column (quality/migrations/0002 fills it)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("datasets", "0010_models_move_to_their_apps"),
    ]

    operations = [
        migrations.AddField(
            model_name="version",
            name="quality_status",
            field=models.CharField(blank=True, default=None, editable=False, max_length=16, null=True),
        ),
    ]
