"""SQLite: the full-text table gains a `vis` column holding each dataset's visibility as a token,
so that matching a restricted dataset by its card (what an outsider may search) stays inside the
FTS5 index. Filtering the card matches by a subquery over the restricted datasets' ids built a
list of 10,000 ids on every search: 12 ms of a rare word's 13 at 100,000 datasets
(bench/search.py). The table is copied, not re-indexed: FTS5 keeps its content."""

from django.db import migrations

TOKENIZE = "tokenize=\"unicode61 remove_diacritics 0 tokenchars '_'\""
TEXT = "name, tags, team, summary, columns, readme, meta"

FORWARD = [
    f"CREATE VIRTUAL TABLE search_fts_next USING fts5({TEXT}, vis, {TOKENIZE})",
    f"INSERT INTO search_fts_next(rowid, {TEXT}, vis) "
    f"SELECT f.rowid, {', '.join('f.' + name.strip() for name in TEXT.split(','))}, coalesce(d.visibility, '') "
    "FROM search_fts f LEFT JOIN search_document d ON d.dataset_id = f.rowid",
    "DROP TABLE search_fts",
    "ALTER TABLE search_fts_next RENAME TO search_fts",
]
BACKWARD = [
    f"CREATE VIRTUAL TABLE search_fts_next USING fts5({TEXT}, {TOKENIZE})",
    f"INSERT INTO search_fts_next(rowid, {TEXT}) SELECT rowid, {TEXT} FROM search_fts",
    "DROP TABLE search_fts",
    "ALTER TABLE search_fts_next RENAME TO search_fts",
]


def run(statements: list[str]):  # type: ignore[no-untyped-def]
    def apply(apps, schema_editor):  # type: ignore[no-untyped-def]
        if schema_editor.connection.vendor == "sqlite":
            for statement in statements:
                schema_editor.execute(statement)

    return apply


class Migration(migrations.Migration):
    dependencies = [("search", "0005_rank_vector")]

    operations = [migrations.RunPython(run(FORWARD), run(BACKWARD))]
