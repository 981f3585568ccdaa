"""ApiToken now lives in accounts; ExternalDataset, Job, Run, RunEvent and RunDataset in lineage.

State only: the tables stay where they are, under their old names.
"""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("catalog", "0002_lineage"),
        ("accounts", "0001_teams_and_tokens_move_here"),
        ("lineage", "0001_lineage_moves_here"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name='externaldataset',
                    name='dataset',
                ),
                migrations.RemoveField(
                    model_name='rundataset',
                    name='external',
                ),
                migrations.RemoveField(
                    model_name='run',
                    name='job',
                ),
                migrations.RemoveField(
                    model_name='run',
                    name='created_by',
                ),
                migrations.RemoveField(
                    model_name='rundataset',
                    name='run',
                ),
                migrations.RemoveField(
                    model_name='runevent',
                    name='run',
                ),
                migrations.RemoveField(
                    model_name='rundataset',
                    name='dataset',
                ),
                migrations.RemoveField(
                    model_name='rundataset',
                    name='version',
                ),
                migrations.RemoveField(
                    model_name='runevent',
                    name='received_by',
                ),
                migrations.DeleteModel(
                    name='ApiToken',
                ),
                migrations.DeleteModel(
                    name='ExternalDataset',
                ),
                migrations.DeleteModel(
                    name='Job',
                ),
                migrations.DeleteModel(
                    name='Run',
                ),
                migrations.DeleteModel(
                    name='RunDataset',
                ),
                migrations.DeleteModel(
                    name='RunEvent',
                ),
            ],
        ),
    ]
