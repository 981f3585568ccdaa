"""PostgreSQL: a GIN index over every document's card vector (slug, title, team, summary), not
only restricted ones', for type-ahead. Suggestions matched the card through the full vector's
index and then read each TOASTed vector again to check the weights: 300 ms for `wea` at 100,000
datasets (bench/search.py)."""

from django.db import migrations

FORWARD = ["CREATE INDEX IF NOT EXISTS search_document_card_all_gin ON search_document USING gin (card_vector)"]
BACKWARD = ["DROP INDEX IF EXISTS search_document_card_all_gin"]


def run(statements: list[str]):  # type: ignore[no-untyped-def]
    def apply(apps, schema_editor):  # type: ignore[no-untyped-def]
        if schema_editor.connection.vendor == "postgresql":
            for statement in statements:
                schema_editor.execute(statement)

    return apply


class Migration(migrations.Migration):
    dependencies = [("search", "0006_fts_visibility")]

    operations = [migrations.RunPython(run(FORWARD), run(BACKWARD))]
