"""SQLite: an index of each document's facet fields by id, through which the facet counts of a
query with words read its matches' documents without the table: the 15,000 matches of `sales`
at 100,000 datasets were gathered in 24 ms, now 15 (bench/search.py's catalog). The match index
of migration 0012 stays as it was: widened with these fields, it made every search 5 % slower.
PostgreSQL reads its matches' rows anyway (their rank vector is there). A migration that remakes
`search_document` on SQLite (an altered field) drops this index, which is then to be made again,
as 0013 did for 0012's."""

from django.db import migrations

INDEX = (
    "CREATE INDEX search_doc_match_facets_idx ON search_document "
    "(dataset_id, visibility, team_id, license_key, format, certified, pii, quality)"
)


def run(statement: str):  # type: ignore[no-untyped-def]
    def apply(apps, schema_editor):  # type: ignore[no-untyped-def]
        if schema_editor.connection.vendor == "sqlite":
            schema_editor.execute(statement)

    return apply


class Migration(migrations.Migration):
    dependencies = [("search", "0014_derived_vectors")]

    operations = [
        migrations.RunPython(run(INDEX), run("DROP INDEX IF EXISTS search_doc_match_facets_idx")),
    ]
