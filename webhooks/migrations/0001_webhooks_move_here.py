"""Webhook and WebhookDelivery move here from datasets.

The tables keep their names (Meta.db_table): this migration changes Django's state only, and
moves the content types. No row is copied.
"""

import django.db.models.deletion
from django.db import migrations, models

MOVED = {
    "webhook": ("datasets", "webhooks"),
    "webhookdelivery": ("datasets", "webhooks"),
}


def content_types_forward(apps, schema_editor):
    """Content types follow their models, so permissions and admin history stay attached."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model, (old, new) in MOVED.items():
        if ContentType.objects.filter(app_label=old, model=model).exists():
            ContentType.objects.filter(app_label=new, model=model).delete()
            ContentType.objects.filter(app_label=old, model=model).update(app_label=new)


def content_types_backward(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model, (old, new) in MOVED.items():
        if ContentType.objects.filter(app_label=new, model=model).exists():
            ContentType.objects.filter(app_label=old, model=model).delete()
            ContentType.objects.filter(app_label=new, model=model).update(app_label=old)


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("accounts", "0001_teams_and_tokens_move_here"),
        ("datasets", "0009_access_request_one_open"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Webhook',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('url', models.URLField(max_length=500)),
                        ('secret', models.CharField(max_length=200)),
                        ('active', models.BooleanField(default=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('team', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='webhooks', to='accounts.team')),
                    ],
                    options={
                        'db_table': 'datasets_webhook',
                        'ordering': ['team', 'pk'],
                    },
                ),
                migrations.CreateModel(
                    name='WebhookDelivery',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('event', models.CharField(max_length=64)),
                        ('payload', models.JSONField()),
                        ('status', models.CharField(choices=[('pending', 'Pending'), ('delivered', 'Delivered'), ('failed', 'Failed')], default='pending', max_length=16)),
                        ('attempts', models.PositiveIntegerField(default=0)),
                        ('response_status', models.PositiveIntegerField(blank=True, null=True)),
                        ('response_body', models.TextField(blank=True)),
                        ('error', models.TextField(blank=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('delivered_at', models.DateTimeField(blank=True, null=True)),
                        ('webhook', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='webhooks.webhook')),
                    ],
                    options={
                        'db_table': 'datasets_webhookdelivery',
                        'ordering': ['-created_at', '-pk'],
                    },
                ),
            ],
            database_operations=[
                migrations.RunPython(content_types_forward, content_types_backward),
            ],
        ),
    ]
