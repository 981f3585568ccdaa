"""Column names are searched without their accents (`column:ville_ete` finds `Ville_Été`), as free
words are: each column's key is its name folded as the tokenizer folds text (lowercased, accents
removed) instead of lowercased only. The keys of names with letters outside ASCII are written
again, and their folded forms added to the distinct names (on SQLite, migration 0009's trigger
gives them their trigrams); a later `search_rebuild` drops the old forms."""

import unicodedata

from django.db import migrations, models

KEY_BYTES = 1_000  # as search.indexer.COLUMN_NAME_BYTES


def folded(name: str) -> str:
    """As search.text.fold at this migration, cut as search.indexer._clip."""
    decomposed = unicodedata.normalize("NFKD", name)
    key = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return key.encode()[:KEY_BYTES].decode(errors="ignore")


def fold_keys(apps, schema_editor):  # type: ignore[no-untyped-def]
    connection = schema_editor.connection
    outside_ascii = "name GLOB '*[^ -~]*'" if connection.vendor == "sqlite" else "name ~ '[^ -~]'"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, name, name_key FROM search_column WHERE {outside_ascii}")  # noqa: S608
        changed = [(folded(name), pk) for pk, name, key in cursor.fetchall() if folded(name) != key]
        cursor.executemany("UPDATE search_column SET name_key = %s WHERE id = %s", changed)
        new = sorted({key for key, _ in changed})
        cursor.executemany(
            "INSERT INTO search_column_name (name_key) VALUES (%s) ON CONFLICT DO NOTHING", [(key,) for key in new]
        )


def lowercase_keys(apps, schema_editor):  # type: ignore[no-untyped-def]
    """Back: the keys as the code before this migration writes and looks them up."""
    connection = schema_editor.connection
    outside_ascii = "name GLOB '*[^ -~]*'" if connection.vendor == "sqlite" else "name ~ '[^ -~]'"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, name, name_key FROM search_column WHERE {outside_ascii}")  # noqa: S608
        changed = [(name.lower()[:1024], pk) for pk, name, key in cursor.fetchall() if name.lower()[:1024] != key]
        cursor.executemany("UPDATE search_column SET name_key = %s WHERE id = %s", changed)
        cursor.executemany(
            "INSERT INTO search_column_name (name_key) VALUES (%s) ON CONFLICT DO NOTHING",
            [(key,) for key in sorted({key for key, _ in changed})],
        )


class Migration(migrations.Migration):
    dependencies = [("search", "0017_byte_order_keys")]

    operations = [
        migrations.AlterField(
            model_name="searchcolumn",
            name="name_key",
            field=models.CharField(help_text="The name, lowercased, without accents", max_length=1024),
        ),
        migrations.RunPython(fold_keys, lowercase_keys),
    ]
