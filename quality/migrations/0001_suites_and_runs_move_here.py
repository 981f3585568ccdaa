"""SuiteRevision and ValidationRun move here from datasets.

The tables keep their names (Meta.db_table): this migration changes Django's state only, and
moves the content types. No row is copied.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

MOVED = {
    "suiterevision": ("datasets", "quality"),
    "validationrun": ("datasets", "quality"),
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
        ("datasets", "0009_access_request_one_open"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='SuiteRevision',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('number', models.PositiveIntegerField()),
                        ('expectations', models.JSONField(default=list, help_text='[{type, kwargs, meta}] as in GX suite JSON')),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('created_by', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('dataset', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='suite_revisions', to='datasets.dataset')),
                    ],
                    options={
                        'db_table': 'datasets_suiterevision',
                        'ordering': ['dataset', '-number'],
                    },
                ),
                migrations.CreateModel(
                    name='ValidationRun',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('status', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('passed', 'Passed'), ('failed', 'Failed'), ('error', 'Error')], default='queued', max_length=16)),
                        ('trigger', models.CharField(blank=True, help_text='ingest, suite change, on demand', max_length=32)),
                        ('error', models.TextField(blank=True)),
                        ('results', models.JSONField(blank=True, default=list)),
                        ('evaluated', models.PositiveIntegerField(default=0)),
                        ('successful', models.PositiveIntegerField(default=0)),
                        ('queued_at', models.DateTimeField(auto_now_add=True)),
                        ('started_at', models.DateTimeField(blank=True, null=True)),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                        ('attempts', models.PositiveIntegerField(default=0)),
                        ('created_by', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('revision', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='runs', to='quality.suiterevision')),
                        ('version', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='validation_runs', to='datasets.version')),
                    ],
                    options={
                        'db_table': 'datasets_validationrun',
                        'ordering': ['-queued_at', '-pk'],
                    },
                ),
                migrations.AddConstraint(
                    model_name='suiterevision',
                    constraint=models.UniqueConstraint(fields=('dataset', 'number'), name='suite_revision_unique_number'),
                ),
                migrations.AddIndex(
                    model_name='validationrun',
                    index=models.Index(fields=['version', 'revision', '-queued_at'], name='run_latest_idx'),
                ),
                migrations.AddConstraint(
                    model_name='validationrun',
                    constraint=models.CheckConstraint(condition=models.Q(('status__in', ['queued', 'running', 'passed', 'failed', 'error'])), name='run_status_valid'),
                ),
            ],
            database_operations=[
                migrations.RunPython(content_types_forward, content_types_backward),
            ],
        ),
    ]
