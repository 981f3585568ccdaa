"""The search tables hold no foreign keys to the catalog: they are derived from it, Django deletes
them with their dataset (on_delete still cascades), and `search_rebuild` on PostgreSQL builds
new tables and swaps them in, which with a foreign key meant locking `datasets_dataset` against
every writer while the key was checked, and could deadlock with one. The index of a column's
dataset alone goes too: (dataset, position) serves the same lookups.

On SQLite the altered tables are made anew, which drops the index migration 0012 made there
by hand: it is made again.
"""

import django.db.models.deletion
from django.db import migrations, models


def match_index(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS search_doc_match_idx ON search_document "
            "(dataset_id, visibility, team_id, boost, slug, title_key)"
        )


class Migration(migrations.Migration):

    dependencies = [
        ('datasets', '0016_query_save'),
        ('search', '0012_match_rows'),
    ]

    operations = [
        migrations.AlterField(
            model_name='searchcolumn',
            name='dataset',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='datasets.dataset'),
        ),
        migrations.AlterField(
            model_name='searchdocument',
            name='dataset',
            field=models.OneToOneField(db_constraint=False, on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='+', serialize=False, to='datasets.dataset'),
        ),
        migrations.AlterField(
            model_name='searchtext',
            name='dataset',
            field=models.OneToOneField(db_constraint=False, on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='+', serialize=False, to='datasets.dataset'),
        ),
        migrations.RunPython(match_index, migrations.RunPython.noop),
    ]
