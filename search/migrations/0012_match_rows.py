"""What a match reads of each document it ranks, kept close to hand.

PostgreSQL: a document row (its full vector compressed, the rank and card vectors, the filters)
is over the 2 kB at which PostgreSQL moves values out of the row, and it moved the rank vector,
which every match reads to rank, into the TOAST table: ranking the 18,000 matches of `sales` read
them one index lookup each (71 ms to read the vectors, 19 ms with them in the row;
bench/search.py's 100,000 datasets). Storage MAIN keeps a vector in the row, compressed if need
be, and leaves the full vector (read only by the GIN index's rechecks) to go out first. The
UPDATE rewrites the rows already there, since a storage setting applies to values written after
it (autovacuum reclaims the old rows; `search_rebuild` would rewrite them too).

SQLite: the documents a match joins are looked up by id; an index holding what the match reads
(visibility, team, boost, slug, title) answers each lookup without the table's wider rows:
26 against 20 ms for the 18,000 of `sales`.
"""

from django.db import migrations

POSTGRES = [
    "ALTER TABLE search_document ALTER COLUMN rank_vector SET STORAGE MAIN, "
    "ALTER COLUMN card_vector SET STORAGE MAIN",
    "UPDATE search_document SET rank_vector = rank_vector || ''::tsvector",
]
POSTGRES_BACK = [
    "ALTER TABLE search_document ALTER COLUMN rank_vector SET STORAGE EXTENDED, "
    "ALTER COLUMN card_vector SET STORAGE EXTENDED",
]
SQLITE = [
    "CREATE INDEX search_doc_match_idx ON search_document "
    "(dataset_id, visibility, team_id, boost, slug, title_key)",
]
SQLITE_BACK = ["DROP INDEX IF EXISTS search_doc_match_idx"]


def run(postgres: list[str], sqlite: list[str]):  # type: ignore[no-untyped-def]
    def apply(apps, schema_editor):  # type: ignore[no-untyped-def]
        vendor = schema_editor.connection.vendor
        for statement in postgres if vendor == "postgresql" else sqlite if vendor == "sqlite" else []:
            schema_editor.execute(statement)

    return apply


class Migration(migrations.Migration):
    dependencies = [("search", "0011_used_index")]

    operations = [migrations.RunPython(run(POSTGRES, SQLITE), run(POSTGRES_BACK, SQLITE_BACK))]
