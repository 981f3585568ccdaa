"""ExternalDataset, Job, Run, RunEvent and RunDataset move here from catalog.

The tables keep their names (Meta.db_table): this migration changes Django's state only, and
moves the content types. No row is copied.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

MOVED = {
    "externaldataset": ("catalog", "lineage"),
    "job": ("catalog", "lineage"),
    "run": ("catalog", "lineage"),
    "runevent": ("catalog", "lineage"),
    "rundataset": ("catalog", "lineage"),
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
        ("catalog", "0002_lineage"),
        ("datasets", "0009_access_request_one_open"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='ExternalDataset',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('namespace', models.CharField(max_length=1000)),
                        ('name', models.CharField(max_length=1000)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('dataset', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='external_names', to='datasets.dataset')),
                    ],
                    options={
                        'db_table': 'catalog_externaldataset',
                        'ordering': ['namespace', 'name'],
                    },
                ),
                migrations.CreateModel(
                    name='Job',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('namespace', models.CharField(max_length=1000)),
                        ('name', models.CharField(max_length=1000)),
                        ('code_url', models.CharField(blank=True, help_text='From its sourceCodeLocation facet', max_length=1000)),
                        ('description', models.TextField(blank=True, help_text='From its documentation facet')),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                    ],
                    options={
                        'db_table': 'catalog_job',
                        'ordering': ['namespace', 'name'],
                        'constraints': [models.UniqueConstraint(fields=('namespace', 'name'), name='job_unique_name')],
                    },
                ),
                migrations.CreateModel(
                    name='Run',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('run_id', models.UUIDField(unique=True)),
                        ('state', models.CharField(choices=[('START', 'Start'), ('RUNNING', 'Running'), ('COMPLETE', 'Complete'), ('ABORT', 'Abort'), ('FAIL', 'Fail'), ('OTHER', 'Other')], max_length=16)),
                        ('state_time', models.DateTimeField(help_text='eventTime of the event that set the state')),
                        ('started_at', models.DateTimeField(blank=True, null=True)),
                        ('ended_at', models.DateTimeField(blank=True, null=True)),
                        ('error_message', models.TextField(blank=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('created_by', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('job', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='runs', to='lineage.job')),
                    ],
                    options={
                        'db_table': 'catalog_run',
                        'ordering': ['-created_at'],
                    },
                ),
                migrations.CreateModel(
                    name='RunDataset',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('role', models.CharField(choices=[('input', 'Input'), ('output', 'Output')], max_length=8)),
                        ('namespace', models.CharField(max_length=1000)),
                        ('name', models.CharField(max_length=1000)),
                        ('schema', models.JSONField(blank=True, help_text="The schema facet's fields (outputs)", null=True)),
                        ('column_lineage', models.JSONField(blank=True, help_text="The columnLineage facet's fields", null=True)),
                        ('dataset', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='datasets.dataset')),
                        ('external', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='run_datasets', to='lineage.externaldataset')),
                        ('run', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='datasets', to='lineage.run')),
                        ('version', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='datasets.version')),
                    ],
                    options={
                        'db_table': 'catalog_rundataset',
                        'ordering': ['run', 'role', 'namespace', 'name'],
                    },
                ),
                migrations.CreateModel(
                    name='RunEvent',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('event_type', models.CharField(max_length=16)),
                        ('event_time', models.DateTimeField()),
                        ('digest', models.CharField(max_length=64, unique=True)),
                        ('payload', models.JSONField()),
                        ('received_at', models.DateTimeField(auto_now_add=True)),
                        ('received_by', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('run', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='events', to='lineage.run')),
                    ],
                    options={
                        'db_table': 'catalog_runevent',
                        'ordering': ['event_time', 'pk'],
                    },
                ),
                migrations.AddConstraint(
                    model_name='externaldataset',
                    constraint=models.UniqueConstraint(fields=('namespace', 'name'), name='external_dataset_unique_name'),
                ),
                migrations.AddConstraint(
                    model_name='run',
                    constraint=models.CheckConstraint(condition=models.Q(('state__in', ['START', 'RUNNING', 'COMPLETE', 'ABORT', 'FAIL', 'OTHER'])), name='run_state_valid'),
                ),
                migrations.AddConstraint(
                    model_name='rundataset',
                    constraint=models.UniqueConstraint(fields=('run', 'role', 'namespace', 'name'), name='run_dataset_unique'),
                ),
                migrations.AddConstraint(
                    model_name='rundataset',
                    constraint=models.CheckConstraint(condition=models.Q(('role__in', ['input', 'output'])), name='run_dataset_role'),
                ),
                migrations.AddConstraint(
                    model_name='rundataset',
                    constraint=models.CheckConstraint(condition=models.Q(('dataset__isnull', True), ('external__isnull', True), _connector='XOR'), name='run_dataset_granary_or_external'),
                ),
                migrations.AddConstraint(
                    model_name='rundataset',
                    constraint=models.CheckConstraint(condition=models.Q(('version__isnull', True), ('dataset__isnull', False), _connector='OR'), name='run_dataset_version_has_dataset'),
                ),
            ],
            database_operations=[
                migrations.RunPython(content_types_forward, content_types_backward),
            ],
        ),
    ]
