"""Team and Membership move here from datasets, ApiToken from catalog.

The tables keep their names (Meta.db_table): this migration changes Django's state only, and
moves the content types. No row is copied.
"""

import django.core.validators
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

MOVED = {
    "team": ("datasets", "accounts"),
    "membership": ("datasets", "accounts"),
    "apitoken": ("catalog", "accounts"),
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
        ("catalog", "0002_lineage"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='ApiToken',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=100)),
                        ('key_hash', models.CharField(max_length=64, unique=True)),
                        ('prefix', models.CharField(help_text='The first characters, to recognise a token', max_length=12)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('expires_at', models.DateTimeField()),
                        ('last_used_at', models.DateTimeField(blank=True, null=True)),
                        ('revoked_at', models.DateTimeField(blank=True, null=True)),
                        ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='api_tokens', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'catalog_apitoken',
                        'ordering': ['-created_at'],
                    },
                ),
                migrations.CreateModel(
                    name='Membership',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('role', models.CharField(choices=[('owner', 'Owner'), ('maintainer', 'Maintainer'), ('member', 'Member')], default='member', max_length=16)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='memberships', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'datasets_membership',
                        'ordering': ['team', 'user__username'],
                    },
                ),
                migrations.CreateModel(
                    name='Team',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('slug', models.CharField(max_length=64, unique=True, validators=[django.core.validators.RegexValidator('^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$', "Use 1 to 64 lowercase letters, digits, '-' or '_', starting and ending with a letter or digit.", code='invalid_slug')])),
                        ('name', models.CharField(max_length=200)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('members', models.ManyToManyField(related_name='teams', through='accounts.Membership', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'datasets_team',
                        'ordering': ['slug'],
                    },
                ),
                migrations.AddField(
                    model_name='membership',
                    name='team',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='memberships', to='accounts.team'),
                ),
                migrations.AddConstraint(
                    model_name='membership',
                    constraint=models.UniqueConstraint(fields=('team', 'user'), name='membership_unique_user_per_team'),
                ),
                migrations.AddConstraint(
                    model_name='membership',
                    constraint=models.CheckConstraint(condition=models.Q(('role__in', ['owner', 'maintainer', 'member'])), name='membership_role_valid'),
                ),
            ],
            database_operations=[
                migrations.RunPython(content_types_forward, content_types_backward),
            ],
        ),
    ]
