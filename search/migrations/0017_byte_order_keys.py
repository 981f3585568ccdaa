"""On PostgreSQL, the search tables' text keys compare byte by byte (COLLATE "C"), whatever
collation the database was made with. Under a glibc collation (en_US.UTF-8, most installs),
comparing two words of letters outside the Basic Multilingual Plane (CJK Extension B) took 78 ms:
a README or column descriptions of such words kept a re-index inserting its vocabulary for half
an hour, its locks held. Byte order is also SQLite's, so a sort by name agrees on both engines.
Nothing changes on SQLite, whose columns compare bytes already."""

from django.db import migrations

COLUMNS = [
    ("search_term", "term", 100),
    ("search_column", "name", 1024),
    ("search_column", "name_key", 1024),
    ("search_column_name", "name_key", 1024),
    ("search_document", "slug", 64),
    ("search_document", "title_key", 200),
    ("search_document", "license_key", 100),
    ("search_facet_count", "value", 200),
]


def collate(name: str):  # type: ignore[no-untyped-def]
    def apply(apps, schema_editor):  # type: ignore[no-untyped-def]
        if schema_editor.connection.vendor != "postgresql":
            return
        for table, column, length in COLUMNS:
            schema_editor.execute(
                f'ALTER TABLE {table} ALTER COLUMN {column} TYPE varchar({length}) COLLATE "{name}"'
            )

    return apply


class Migration(migrations.Migration):
    dependencies = [("search", "0016_tag_filter_index")]

    operations = [migrations.RunPython(collate("C"), collate("default"))]
