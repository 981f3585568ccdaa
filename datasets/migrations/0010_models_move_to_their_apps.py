"""Team and Membership now live in accounts, Webhook and WebhookDelivery in webhooks, SuiteRevision
and ValidationRun in quality.

State only: the tables stay where they are, under their old names.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("datasets", "0009_access_request_one_open"),
        ("accounts", "0001_teams_and_tokens_move_here"),
        ("webhooks", "0001_webhooks_move_here"),
        ("quality", "0001_suites_and_runs_move_here"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name='team',
                    name='members',
                ),
                migrations.RemoveField(
                    model_name='suiterevision',
                    name='created_by',
                ),
                migrations.RemoveField(
                    model_name='suiterevision',
                    name='dataset',
                ),
                migrations.RemoveField(
                    model_name='validationrun',
                    name='revision',
                ),
                migrations.RemoveField(
                    model_name='webhook',
                    name='team',
                ),
                migrations.AlterField(
                    model_name='dataset',
                    name='team',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='datasets', to='accounts.team'),
                ),
                migrations.RemoveField(
                    model_name='validationrun',
                    name='created_by',
                ),
                migrations.RemoveField(
                    model_name='validationrun',
                    name='version',
                ),
                migrations.RemoveField(
                    model_name='webhookdelivery',
                    name='webhook',
                ),
                migrations.DeleteModel(
                    name='Membership',
                ),
                migrations.DeleteModel(
                    name='SuiteRevision',
                ),
                migrations.DeleteModel(
                    name='Team',
                ),
                migrations.DeleteModel(
                    name='ValidationRun',
                ),
                migrations.DeleteModel(
                    name='Webhook',
                ),
                migrations.DeleteModel(
                    name='WebhookDelivery',
                ),
            ],
        ),
    ]
