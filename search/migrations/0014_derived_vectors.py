"""PostgreSQL derives the rank and card vectors from the full one.

The rank vector (name, tags, team, summary, columns: weights A-C) and the card vector (name, team,
summary: weights A and C) are the full vector's entries of those weights, so the server computes
them (`ts_filter`, generated columns) instead of the indexer writing three literals per dataset.
Building the literals was most of `search_rebuild`'s Python on PostgreSQL: 19 of 35 s of CPU
for 40,000 datasets (cProfile), against 1.5 s for PostgreSQL to filter all 100,000 full vectors
twice. A card vector's positions are now the full vector's (the tags lie between the name and the
team), which changes nothing a phrase can match. SQLite has no such columns.
"""

from django.db import migrations

CARD_INDEXES = [
    "CREATE INDEX search_document_card_gin ON search_document USING gin (card_vector) "
    "WHERE visibility = 'restricted'",
    "CREATE INDEX search_document_card_all_gin ON search_document USING gin (card_vector)",
]
FORWARD = [
    "DROP INDEX IF EXISTS search_document_card_gin",
    "DROP INDEX IF EXISTS search_document_card_all_gin",
    "ALTER TABLE search_document DROP COLUMN card_vector, DROP COLUMN rank_vector",
    # One statement: the storage applies to the rows the ADD writes (kept in the row: migration 0012).
    "ALTER TABLE search_document "
    "ADD COLUMN card_vector tsvector GENERATED ALWAYS AS (ts_filter(full_vector, '{a,c}')) STORED, "
    "ADD COLUMN rank_vector tsvector GENERATED ALWAYS AS (ts_filter(full_vector, '{a,b,c}')) STORED, "
    "ALTER COLUMN card_vector SET STORAGE MAIN, ALTER COLUMN rank_vector SET STORAGE MAIN",
    *CARD_INDEXES,
]
BACK = [
    "DROP INDEX IF EXISTS search_document_card_gin",
    "DROP INDEX IF EXISTS search_document_card_all_gin",
    "ALTER TABLE search_document DROP COLUMN card_vector, DROP COLUMN rank_vector",
    "ALTER TABLE search_document ADD COLUMN card_vector tsvector, ADD COLUMN rank_vector tsvector, "
    "ALTER COLUMN card_vector SET STORAGE MAIN, ALTER COLUMN rank_vector SET STORAGE MAIN",
    "UPDATE search_document SET card_vector = ts_filter(full_vector, '{a,c}'), "
    "rank_vector = ts_filter(full_vector, '{a,b,c}')",
    *CARD_INDEXES,
]


def run(statements: list[str]):  # type: ignore[no-untyped-def]
    def apply(apps, schema_editor):  # type: ignore[no-untyped-def]
        if schema_editor.connection.vendor == "postgresql":
            for statement in statements:
                schema_editor.execute(statement)

    return apply


class Migration(migrations.Migration):
    dependencies = [("search", "0013_unconstrained")]

    operations = [migrations.RunPython(run(FORWARD), run(BACK))]
