"""An index of the catalog's dataset tags by tag and dataset, so that `tag:nlp` finds its
datasets in the index alone: through the tag's own index, PostgreSQL read 1,969 table pages to
learn which datasets the 4,677 rows of `nlp` belong to (3 of a count's 12 ms at 100,000
datasets, and again in the page and the facets of the same search), and SQLite looked each row
up in the table. It belongs to search, which alone filters by tag; on SQLite, a migration that
remakes `datasets_dataset_tags` (an altered many-to-many) drops it, and is to make it again."""

from django.db import migrations

CREATE = "CREATE INDEX IF NOT EXISTS search_dataset_tag_idx ON datasets_dataset_tags (tag_id, dataset_id)"
DROP = "DROP INDEX IF EXISTS search_dataset_tag_idx"


class Migration(migrations.Migration):
    dependencies = [("search", "0015_match_facets"), ("datasets", "0016_query_save")]

    operations = [migrations.RunSQL(CREATE, DROP)]
