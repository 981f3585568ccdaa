"""The search index: one document per dataset, one row per column of its latest ready version,
and the vocabulary that typo correction draws on.

Everything here is derived from the datasets app's tables by `search.indexer` and can be rebuilt
from them at any time (`manage.py search_rebuild`). The full-text structures themselves are not
Django fields, because they differ by engine (migration 0002): on SQLite the FTS5 tables
`search_fts` (every dataset, with its visibility as a token) and a trigram
FTS5 table over column names; on PostgreSQL the tsvector columns `full_vector` and `card_vector`
of `search_document` with GIN indexes, `rank_vector` (what a match is ranked on, without the
README; it and the card vector are generated from the full one by the server, migration 0014),
and a pg_trgm index on column names. On PostgreSQL the text keys (words, column names and keys,
slugs, lowercased titles and licences, facet values) are `COLLATE "C"` (migration 0017), which
Django's state does not know: an AlterField of one of them writes its type without it, and is to
add it back by hand.
"""

from __future__ import annotations

from django.db import models

from datasets.models import Dataset


class SearchDocument(models.Model):
    """What search filters, sorts and shows for one dataset, copied from its card and versions so
    that a search reads one narrow table instead of joining the catalog per row."""

    dataset = models.OneToOneField(
        Dataset, on_delete=models.CASCADE, primary_key=True, related_name="+", db_constraint=False
    )
    slug = models.CharField(max_length=64)
    title_key = models.CharField(
        max_length=200, help_text="The title, lowercased: an exact match ranks first"
    )
    team_id = models.IntegerField()
    visibility = models.CharField(max_length=16)
    # Fields a restricted card hides: filters on them consider only readers of the data.
    license_key = models.CharField(max_length=100, blank=True, help_text="The licence, lowercased")
    format = models.CharField(max_length=16, blank=True)
    certified = models.BooleanField(default=False)
    pii = models.BooleanField(default=False, help_text="A column of the latest version holds personal data")
    quality = models.CharField(max_length=16, help_text="passing, failing, pending or none")
    row_count = models.BigIntegerField(null=True)
    updated_at = models.DateTimeField(
        help_text="The card's last edit or the newest version, whichever is later"
    )
    checkouts_90d = models.IntegerField(default=0)
    latest_number = models.PositiveIntegerField(null=True, help_text="The newest ready version")
    certified_number = models.PositiveIntegerField(null=True, help_text="The newest certified version")
    # The popularity and certified boosts, multiplied into the text score (search.indexer.boost).
    boost = models.FloatField(default=1.0)
    # The tags as they were indexed, one a line: what the facet counts subtract when the document
    # goes, after the dataset's tags themselves may have changed.
    tag_names = models.TextField(blank=True, default="")

    class Meta:
        db_table = "search_document"
        indexes = [
            # The whole order of "most used" among readable datasets (the boost between: without
            # it each group of equal counts was sorted, and PostgreSQL gathered in parallel).
            models.Index(fields=["-checkouts_90d", "-boost", "slug"], name="search_doc_used_idx"),
            # The whole order of "recently updated" (a bulk import gives thousands one date).
            models.Index(fields=["-updated_at", "slug"], name="search_doc_recent_idx"),
            models.Index(fields=["title_key"], name="search_doc_title_idx"),
            # Facet counts read this index alone, in its order, without the table.
            models.Index(
                fields=["visibility", "team_id", "license_key", "format", "certified", "pii", "quality"],
                name="search_doc_facets_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"search document of {self.slug}"


class SearchText(models.Model):
    """The text a hit is quoted from, kept apart from the document so that scans and joins over
    documents stay narrow (a README is a thousand times wider than a document's filters)."""

    dataset = models.OneToOneField(
        Dataset, on_delete=models.CASCADE, primary_key=True, related_name="+", db_constraint=False
    )
    summary = models.CharField(max_length=500, blank=True)
    readme_text = models.TextField(blank=True, help_text="The README without its Markdown, cut at a length")

    class Meta:
        db_table = "search_text"

    def __str__(self) -> str:
        return f"search text of {self.dataset_id}"


class SearchColumn(models.Model):
    """A column of a dataset's latest ready version: what column search and `column:` look at."""

    # Looked up by (dataset, position): an index of the key alone would be a second one to keep.
    dataset = models.ForeignKey(
        Dataset, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    name = models.CharField(max_length=1024)
    name_key = models.CharField(max_length=1024, help_text="The name, lowercased, without accents")
    type = models.CharField(max_length=64)
    description = models.TextField(blank=True)
    pii = models.BooleanField(default=False)
    position = models.PositiveIntegerField()
    # The dataset's, as on its document: who may read a column is decided from this index alone.
    team_id = models.IntegerField(default=0)
    visibility = models.CharField(max_length=16, default="")

    class Meta:
        db_table = "search_column"
        indexes = [
            # The datasets a user may read that have a name, from the index alone: `column:`
            # counts thousands, and looking each up among the documents cost more than the match.
            models.Index(
                fields=["name_key", "visibility", "team_id", "dataset"], name="search_column_read_idx"
            ),
            models.Index(fields=["dataset", "position"], name="search_column_dataset_idx"),
        ]

    def __str__(self) -> str:
        return self.name


class SearchColumnName(models.Model):
    """Each column name the index has held, once: what `column:` and column search match a part
    of a name against (by trigrams: an FTS5 table on SQLite, pg_trgm on PostgreSQL; migration
    0009), before looking up the columns of the names found by key. A catalog has 2,500,000
    columns and a few thousand names: trigrams over every column row cost a count of `customer_id`
    70 ms on SQLite and 270 on PostgreSQL. Names are added as columns arrive and dropped only by
    a rebuild; a name no column has any more finds nothing."""

    name_key = models.CharField(max_length=1024, unique=True)

    class Meta:
        db_table = "search_column_name"

    def __str__(self) -> str:
        return self.name_key


class SearchFacetCount(models.Model):
    """How many datasets of one visibility have a facet value: over the whole catalog (team_id 0)
    and, for internal and restricted datasets, per team. The facet sidebar of a search with no
    words and no filters (the home page's) adds these up per audience instead of counting 100,000
    documents (search.facets). Kept exact by the indexer, in the transaction that writes the
    documents."""

    visibility = models.CharField(max_length=16)
    team_id = models.IntegerField(help_text="0: every team")
    facet = models.CharField(max_length=16)
    value = models.CharField(max_length=200)
    count = models.IntegerField(default=0)

    class Meta:
        db_table = "search_facet_count"
        constraints = [
            models.UniqueConstraint(
                fields=["team_id", "visibility", "facet", "value"], name="search_facet_count_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.visibility} {self.team_id} {self.facet}:{self.value} {self.count}"


class SearchTerm(models.Model):
    """A word that occurs somewhere in the index: the candidates a misspelt word may be corrected
    to. Never a result by itself: a correction is shown only when the corrected query finds
    datasets the user may see, so a word from a hidden dataset reveals nothing."""

    term = models.CharField(max_length=100, primary_key=True)

    class Meta:
        db_table = "search_term"

    def __str__(self) -> str:
        return self.term
