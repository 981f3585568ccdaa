"""The full-text structures, which differ by engine and so are not Django fields: FTS5 tables on
SQLite, tsvector columns with GIN indexes and pg_trgm indexes on PostgreSQL. `manage.py
search_rebuild` fills them."""

from django.db import migrations

SQLITE = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS search_fts USING fts5(name, tags, team, summary, columns, readme, meta, "
    "tokenize=\"unicode61 remove_diacritics 0 tokenchars '_'\")",
    "CREATE VIRTUAL TABLE IF NOT EXISTS search_card_fts USING fts5(name, team, summary, "
    "tokenize=\"unicode61 remove_diacritics 0 tokenchars '_'\")",
    "CREATE VIRTUAL TABLE IF NOT EXISTS search_column_trgm USING fts5(name, tokenize='trigram')",
]
SQLITE_DROP = ["DROP TABLE IF EXISTS search_fts", "DROP TABLE IF EXISTS search_card_fts", "DROP TABLE IF EXISTS search_column_trgm"]
POSTGRES = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "ALTER TABLE search_document ADD COLUMN full_vector tsvector",
    "ALTER TABLE search_document ADD COLUMN card_vector tsvector",
    "CREATE INDEX search_document_full_gin ON search_document USING gin (full_vector)",
    "CREATE INDEX search_document_card_gin ON search_document USING gin (card_vector) WHERE visibility = 'restricted'",
    "CREATE INDEX search_column_name_trgm ON search_column USING gin (name_key gin_trgm_ops)",
    "CREATE INDEX search_term_trgm ON search_term USING gin (term gin_trgm_ops)",
]
POSTGRES_DROP = [
    "DROP INDEX IF EXISTS search_term_trgm",
    "DROP INDEX IF EXISTS search_column_name_trgm",
    "ALTER TABLE search_document DROP COLUMN IF EXISTS card_vector",
    "ALTER TABLE search_document DROP COLUMN IF EXISTS full_vector",
]


def run(statements: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    def apply(apps, schema_editor):  # type: ignore[no-untyped-def]
        for statement in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return apply


class Migration(migrations.Migration):
    dependencies = [("search", "0001_index")]

    operations = [
        migrations.RunPython(
            run({"sqlite": SQLITE, "postgresql": POSTGRES}),
            run({"sqlite": SQLITE_DROP, "postgresql": POSTGRES_DROP}),
        ),
    ]
