"""PostgreSQL ranks a match on a vector without the README and the licence and format (weight D):
`full_vector`, which the GIN index matches, is TOASTed at about 2 kB, and reading 18,000 of them
to rank a common word took a second at 100,000 datasets; the rank vector stays mostly in the row
(bench/search.py). The trigram index on `search_term`, unused since typo candidates are looked up
by key, goes."""

from django.db import migrations

POSTGRES = [
    "ALTER TABLE search_document ADD COLUMN rank_vector tsvector",
    "UPDATE search_document SET rank_vector = ts_filter(full_vector, '{a,b,c}')",
    "DROP INDEX IF EXISTS search_term_trgm",
]
POSTGRES_BACK = [
    "CREATE INDEX IF NOT EXISTS search_term_trgm ON search_term USING gin (term gin_trgm_ops)",
    "ALTER TABLE search_document DROP COLUMN IF EXISTS rank_vector",
]


def run(statements: list[str]):  # type: ignore[no-untyped-def]
    def apply(apps, schema_editor):  # type: ignore[no-untyped-def]
        if schema_editor.connection.vendor == "postgresql":
            for statement in statements:
                schema_editor.execute(statement)

    return apply


class Migration(migrations.Migration):
    dependencies = [("search", "0004_facet_counts")]

    operations = [migrations.RunPython(run(POSTGRES), run(POSTGRES_BACK))]
