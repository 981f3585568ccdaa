"""What differs between SQLite and PostgreSQL: where the full-text index lives, how a query is
matched and scored, how column names are searched by substring and how typo candidates are found.

Both engines get the same terms from `search.text`, so the same query matches the same datasets;
only the text score differs (FTS5's BM25, PostgreSQL's ts_rank with weights).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from django.db import connection

from search.query import Query, Words
from search.text import edits_one, tsquery_term, tsvector_literal

# The index's fields, with their weight in the text score: the name (slug and title) first, then
# tags and columns, then the team and summary, then the README and the licence and format.
FIELDS = ("name", "tags", "team", "summary", "columns", "readme", "meta")
CARD_FIELDS = ("name", "team", "summary")  # what a restricted dataset shows to anyone
# FTS5's BM25 adds up a term's weighted hits over the fields and then saturates the sum (k1 =
# 1.2), so large weights flatten into each other: weights well below 1 keep the sum in the curve's
# near-linear part, where a title hit stays worth six column hits.
BM25_WEIGHTS = {
    "name": 0.1,
    "tags": 0.016,
    "columns": 0.016,
    "team": 0.006,
    "summary": 0.006,
    "readme": 0.002,
    "meta": 0.002,
}
PG_WEIGHTS = {
    "name": "A",
    "tags": "B",
    "columns": "B",
    "team": "C",
    "summary": "C",
    "meta": "D",
    "readme": "D",
}
PG_RANK_WEIGHTS = "'{0.02, 0.06, 0.16, 1.0}'"  # D, C, B, A: as the BM25 weights, roughly
# PostgreSQL ranks on these fields only: a vector with the README is TOASTed, and reading one per
# match to rank a common word cost a second at 100,000 datasets. A match in the README alone
# still counts; it ranks after the others by popularity, as its weight made it do anyway.
PG_RANK_FIELDS = ("name", "tags", "team", "summary", "columns")
# The text score of a match in the README (or licence, format) alone, which the rank vector
# lacks: below any other match's, and not 0, so that the boost still orders such matches by use.
PG_README_SCORE = 1e-6
# The order of the fields' positions in a PostgreSQL vector, which go no further than 16,383:
# the README (at most 3,000 words) before the columns (any number), so that its phrases are found.
PG_POSITION_ORDER = ("name", "tags", "team", "summary", "meta", "readme", "columns")

SQL = tuple[str, list[Any]]

# What a search reads of a document: everything but the vectors and the tag list.
DOCUMENT_COLUMNS = (
    "dataset_id",
    "slug",
    "title_key",
    "team_id",
    "visibility",
    "license_key",
    "format",
    "certified",
    "pii",
    "quality",
    "row_count",
    "updated_at",
    "checkouts_90d",
    "latest_number",
    "certified_number",
    "boost",
)


@dataclass(frozen=True)
class IndexedText:
    """One dataset's terms by field, as the engines store them."""

    dataset_id: int
    fields: dict[str, list[str]]
    visibility: str


class Engine(Protocol):
    documents: bool  # match() returns document rows (True) or ids with scores to join (False)
    document_join: str  # what ids with scores are joined to, as `d` (when not `documents`)
    facets_join: str  # the same, for counting facets
    steers: bool  # steer() sets up the transaction of a statement that matches words
    used_walk: str  # documents (`d`) from the most used, each with its columns (`c`), in that order
    named_first: bool  # a relevance page tries the datasets whose slug or title match alone first
    fence: str  # ends a subquery whose rows the statement around reads in order, not merged into it
    reorders: bool  # the statement around repeats the subquery's ORDER BY (or its order is lost)

    def steer(self, cursor: Any) -> None: ...
    def walking(self, index: str) -> str: ...

    def delete(self, dataset_ids: Sequence[int]) -> None: ...
    def prune(self) -> None: ...
    def analyze(self) -> None: ...
    def tidy(self) -> None: ...
    def write(self, texts: Sequence[IndexedText]) -> None: ...
    def match(
        self,
        query: Query,
        corrections: dict[int, Sequence[str]],
        *,
        card: bool,
        named: bool = False,
        scored: bool = True,
    ) -> SQL: ...
    def name_contains(self, value: str) -> SQL: ...
    def tagged(self, name: str, *, negated: bool = False) -> SQL: ...
    def name_matches(self, query: Query, corrections: dict[int, Sequence[str]]) -> SQL: ...
    def card_prefixed(self, words: Sequence[Words]) -> tuple[SQL, SQL]: ...
    def containing(self, words: Sequence[Words]) -> tuple[SQL, SQL]: ...
    def indexed_terms(self, dataset_id: int, *, card: bool) -> set[str]: ...
    def candidates(self, word: str) -> list[str]: ...


# A condition on `search_document d` (SQLite): the full-text table matches its row.
MATCHED = "d.dataset_id IN (SELECT rowid FROM search_fts WHERE search_fts MATCH %s)"


def like_escaped(value: str) -> str:
    """`value` for a LIKE pattern written with ESCAPE '\\' (on both engines): its wildcards literal."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def catalog_tagged(name: str) -> SQL:
    """A condition on `search_document d`: the dataset has the tag, looked up in the catalog's tags
    by tag and dataset (migration search 0016)."""
    return (
        "d.dataset_id IN (SELECT dt.dataset_id FROM datasets_dataset_tags dt "
        "JOIN datasets_tag t ON t.id = dt.tag_id WHERE t.name = %s)",
        [name],
    )


def _chunks(items: Sequence[Any], size: int = 500) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Sqlite:
    """FTS5: `search_fts` holds every dataset's fields (an outsider matches a restricted one through
    a column filter on its card fields, scored against the same corpus so its BM25 compares with
    the rest, and on its visibility, a token in the `vis` column, so that the card matches of
    restricted datasets are intersected inside the index); `search_column_name_trgm` the distinct
    column names, trigram-tokenized so a substring search uses the index (a trigger of migration
    search 0009 adds each new name of `search_column_name`)."""

    documents = False  # the match's rows are FTS5 rowids, joined to the documents by the caller
    # Through the index that holds what a match reads (migration search 0012): without statistics
    # (nothing runs ANALYZE on a catalog that grew by re-indexing) the planner preferred the key's
    # own index and then the table, a third slower for a common word's 18,000 matches.
    document_join = "search_document d INDEXED BY search_doc_match_idx"
    facets_join = "search_document d INDEXED BY search_doc_match_facets_idx"  # migration search 0015
    steers = False
    # SQLite takes the tables in the order written after a CROSS JOIN; left to itself, it read
    # every column of the name first and sorted them.
    used_walk = "search_document d INDEXED BY search_doc_used_idx CROSS JOIN search_column c"
    named_first = True
    fence = "LIMIT -1 OFFSET 0"  # SQLite does not flatten a subquery with a LIMIT into a LIMITed query
    # It reads such a subquery's rows in their order, and an ORDER BY around would sort them again.
    reorders = False

    def steer(self, cursor: Any) -> None:
        """Nothing to steer: FTS5 is the only way to a match."""

    def walking(self, index: str) -> str:
        """What follows `search_document d` to read the documents in the order of `index`: SQLite
        plans without statistics (nothing runs ANALYZE on a catalog that grew by re-indexing), and
        went from a filter's matches to their documents and sorted them all."""
        return f" INDEXED BY {index}" if index else ""

    def delete(self, dataset_ids: Sequence[int]) -> None:
        with connection.cursor() as cursor:
            for chunk in _chunks(dataset_ids):
                cursor.execute(
                    f"DELETE FROM search_fts WHERE rowid IN ({', '.join('%s' for _ in chunk)})", list(chunk)
                )

    def prune(self) -> None:
        """Forget the rows of datasets deleted without a re-index (their documents cascaded away)."""
        with connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM search_fts WHERE rowid NOT IN (SELECT dataset_id FROM search_document)"
            )

    def analyze(self) -> None:
        """Fresh statistics for the query planner (`PRAGMA optimize` analyzes what needs it)."""
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA optimize")

    def tidy(self) -> None:
        """Nothing after a rebuild: its tables were made anew or truncated."""

    def write(self, texts: Sequence[IndexedText]) -> None:
        self.write_rows([self.row(text) for text in texts])

    @staticmethod
    def row(text: IndexedText) -> tuple[int | str, ...]:
        """A dataset's `search_fts` row (the rebuild's processes make them)."""
        return (text.dataset_id, *(" ".join(text.fields[f]) for f in FIELDS), text.visibility)

    def write_rows(self, rows: Sequence[tuple[int | str, ...]]) -> None:
        if rows:
            with connection.cursor() as cursor:
                cursor.executemany(
                    f"INSERT INTO search_fts(rowid, {', '.join(FIELDS)}, vis) "
                    f"VALUES ({', '.join('%s' for _ in range(len(FIELDS) + 2))})",
                    rows,
                )

    def match(
        self,
        query: Query,
        corrections: dict[int, Sequence[str]],
        *,
        card: bool,
        named: bool = False,
        scored: bool = True,
    ) -> SQL:
        """Rowids with their text score and whether the whole text matched. `named`: only the
        datasets whose slug or title match, looked up before any is scored (SQLite computes the
        columns of a compound's branch for every row it passes on). `scored`: no score (0)."""
        expression = _fts_expression(query, corrections)
        weights = ", ".join(str(BM25_WEIGHTS[f]) for f in FIELDS) + ", 0"  # `vis` scores nothing
        score = f"-bm25(search_fts, {weights})" if scored else "0"
        # Words match the text columns alone: never a visibility token.
        searched = CARD_FIELDS if card else FIELDS  # an outsider searches the card
        where = "search_fts MATCH %s"
        params = [f"{{{' '.join(searched)}}} : ({expression})"]
        if card:  # the restricted datasets' rows, intersected inside the index
            params = [f"({params[0]}) AND {{vis}} : restricted"]
        if named:
            # `+rowid`: as a key constraint, FTS5 matched the expression anew for each of the names.
            where += " AND +rowid IN (SELECT rowid FROM search_fts WHERE search_fts MATCH %s)"
            params.append(f"{{name}} : ({expression})")
        return (
            f"SELECT rowid AS id, {score} AS score, {0 if card else 1} AS whole FROM search_fts WHERE {where}",
            params,
        )

    def name_matches(self, query: Query, corrections: dict[int, Sequence[str]]) -> SQL:
        """A condition on `search_document d`: the query matches its slug or title."""
        expression = f"{{name}} : ({_fts_expression(query, corrections)})"
        return MATCHED, [expression]

    def card_prefixed(self, words: Sequence[Words]) -> tuple[SQL, SQL]:
        """Conditions on `search_document d` for type-ahead, the last word a prefix: its card
        (slug, title, team, summary) has all the words; its slug or title has them."""
        every = " AND ".join(_fts_phrase(found) for found in words)
        return (
            (MATCHED, [f"{{{' '.join(CARD_FIELDS)}}} : ({every})"]),
            (MATCHED, [f"{{name}} : ({every})"]),
        )

    def containing(self, words: Sequence[Words]) -> tuple[SQL, SQL]:
        """Conditions on `search_document d` for excluding words without searching for any
        (`tag:nlp -draft`): its whole text has one of them; its card has one."""
        either = " OR ".join(_fts_phrase(found) for found in words)
        return (
            (MATCHED, [f"{{{' '.join(FIELDS)}}} : ({either})"]),
            (MATCHED, [f"{{{' '.join(CARD_FIELDS)}}} : ({either})"]),
        )

    def indexed_terms(self, dataset_id: int, *, card: bool) -> set[str]:
        """The terms a dataset's whole text, or its card alone, holds in the index: what a match of
        it could have found."""
        fields = " || ' ' || ".join(CARD_FIELDS if card else FIELDS)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {fields} FROM search_fts WHERE rowid = %s", [dataset_id])
            row = cursor.fetchone()
        return set(row[0].split()) if row else set()

    def tagged(self, name: str, *, negated: bool = False) -> SQL:
        """A condition on `search_document d`: the dataset has the tag (the caller negates it)."""
        return catalog_tagged(name)

    def name_contains(self, value: str) -> SQL:
        """A condition on `search_column_name n`: the name contains `value` (3 characters or more)."""
        return (
            "n.id IN (SELECT rowid FROM search_column_name_trgm WHERE search_column_name_trgm MATCH %s)",
            ['"' + value.replace('"', '""') + '"'],
        )

    def candidates(self, word: str) -> list[str]:
        variants = sorted(edits_one(word))
        found: list[str] = []
        with connection.cursor() as cursor:
            for chunk in _chunks(variants, 900):
                cursor.execute(
                    f"SELECT term FROM search_term WHERE term IN ({', '.join('%s' for _ in chunk)})",
                    list(chunk),
                )
                found += [row[0] for row in cursor.fetchall()]
        return sorted(found)


def _fts_phrase(words: Words, alternatives: Sequence[str] = ()) -> str:
    phrase = '"' + " ".join(words.terms) + '"' + ("*" if words.prefix else "")
    if alternatives:
        return "(" + " OR ".join([phrase] + [f'"{term}"' for term in alternatives]) + ")"
    return phrase


def _fts_expression(query: Query, corrections: dict[int, Sequence[str]]) -> str:
    positive = [
        _fts_phrase(words, corrections.get(index, ()))
        for index, words in enumerate(query.words)
        if not words.negated
    ]
    expression = " AND ".join(positive)
    negative = [_fts_phrase(words) for words in query.negative_words]
    if negative:
        expression = f"({expression}) NOT ({' OR '.join(negative)})"
    return expression


class Postgres:
    """tsvector columns on the document table: `full_vector` (every field, weighted A-D) and
    `card_vector` (the card fields), each with a GIN index (the card one only over restricted
    datasets), and `rank_vector` (weights A-C) that a full match is ranked on; a pg_trgm GIN
    index on column names for substring search. Near-miss words are looked up by key, as on
    SQLite."""

    def delete(self, dataset_ids: Sequence[int]) -> None:
        """The vectors live on the document rows, which the indexer deletes itself."""

    def prune(self) -> None:
        """Nothing outlives its document row here."""

    def analyze(self) -> None:
        """Fresh statistics, so the planner knows how many documents and columns there are."""
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE search_document, search_column, search_term")

    def tidy(self) -> None:
        """After a rebuild (its own transaction committed): the old rows it deleted are dead and
        the new ones not yet known visible to index-only scans, until autovacuum comes by. Until
        then a common word's search took 157 ms p95 instead of 107 (bench/search.py)."""
        with connection.cursor() as cursor:
            cursor.execute(
                "VACUUM (ANALYZE) search_document, search_text, search_column, search_column_name, "
                "search_term, search_facet_count"
            )

    def vector(self, text: IndexedText) -> str:
        """The full vector's literal (`search_rebuild` copies it in with the rows). The rank and
        card vectors are its entries of weights A-C and A, C: the server derives them (migration
        search 0014)."""
        return tsvector_literal([(text.fields[f], PG_WEIGHTS[f]) for f in PG_POSITION_ORDER])

    def write(self, texts: Sequence[IndexedText]) -> None:
        """Nothing more: the vector is written with the document rows (`vector`, taken by the
        indexer's INSERT and the rebuild's COPY)."""

    # The match reads the document rows themselves: its rows are documents (the caller's `d`),
    # with the score, whether the whole text matched and whether the slug or title did. Joined to
    # the documents again by id, the planner hashed all 100,000 of them for a common word.
    documents = True
    document_join = "search_document d"
    facets_join = "search_document d"
    steers = True
    used_walk = "search_document d CROSS JOIN search_column c"  # the planner walks when it pays
    # The GIN scan reads every match's row whatever is ranked, and a count reads them again:
    # `sales` 50 -> 43 + 26 ms.
    named_first = False
    fence = "OFFSET 0"  # PostgreSQL pushes no condition into, nor pulls up, a subquery with one
    # Its joins may reorder rows; the same ORDER BY around the subquery keeps them in order, and
    # the planner sees that the subquery's rows come so and does not sort again.
    reorders = True

    def walking(self, index: str) -> str:
        """Nothing: PostgreSQL's planner knows how many documents a filter finds."""
        return ""

    def steer(self, cursor: Any) -> None:
        """Keep the planner on the GIN index for the statement that matches words (the caller's
        transaction). For a common prefix it expects a fifth of the documents to match and
        prefers reading them all, not knowing that each row's full vector is TOASTed: `temperat*`
        read 70,000 pages and took 270 ms as a sequential scan, 45 ms through the index. Nor in
        parallel: for `temperat*` it expected 31,000 matches and split them between two workers,
        whose sorted halves it then merged, 95 ms against 45 in one process."""
        cursor.execute(  # SET LOCAL, both in one statement
            "SELECT set_config('enable_seqscan', 'off', true), "
            "set_config('max_parallel_workers_per_gather', '0', true)"
        )

    def match(
        self,
        query: Query,
        corrections: dict[int, Sequence[str]],
        *,
        card: bool,
        named: bool = False,
        scored: bool = True,
    ) -> SQL:
        expression = _tsquery(query, corrections)
        name = _tsquery(query, corrections, weight="A")
        # The match's rows stand for the documents (`d`) to the filters around it: `tag:` needs the
        # tag list too (`tagged`), which only it reads.
        tagged = any(not condition.negated for condition in query.filters_named("tag"))
        columns = ", ".join((*DOCUMENT_COLUMNS, "tag_list") if tagged else DOCUMENT_COLUMNS)
        # Weights D, C, B, A; normalization 1 divides by 1 + log(length), as BM25 tempers long texts.
        # The name is looked up in the rank vector, which has it: the full one is TOASTed.
        vector = "card_vector" if card else "rank_vector"
        score, score_params = (
            (
                f"greatest(ts_rank({PG_RANK_WEIGHTS}, {vector}, %s::tsquery, 1), {PG_README_SCORE})",
                [expression],
            )
            if scored
            else ("0", [])
        )
        if card:
            where, params = "visibility = 'restricted' AND card_vector @@ %s::tsquery", [expression]
        else:
            where, params = "full_vector @@ %s::tsquery", [expression]
        if named:  # checked on the row before it is ranked
            where += f" AND {vector} @@ %s::tsquery"
            params.append(name)
        return (
            f"SELECT {columns}, {score} AS score, {0 if card else 1} AS whole, "
            f"{vector} @@ %s::tsquery AS named FROM search_document WHERE {where}",
            [*score_params, name, *params],
        )

    def name_matches(self, query: Query, corrections: dict[int, Sequence[str]]) -> SQL:
        """A condition on the match's rows: the query matches the slug or title (weight A)."""
        return "d.named", []

    def card_prefixed(self, words: Sequence[Words]) -> tuple[SQL, SQL]:
        """As SQLite's, on the card vector (every document has one; migration search 0007
        indexes them all): a type-ahead reads a small index, not the full vectors."""
        return (
            ("d.card_vector @@ %s::tsquery", [" & ".join(_tsquery_words(found) for found in words)]),
            (
                "d.card_vector @@ %s::tsquery",
                [" & ".join(_tsquery_words(found, weight="A") for found in words)],
            ),
        )

    def containing(self, words: Sequence[Words]) -> tuple[SQL, SQL]:
        """As SQLite's, through the GIN indexes of the full and card vectors."""
        either = " | ".join(_tsquery_words(found) for found in words)
        return (
            (
                "d.dataset_id IN (SELECT dataset_id FROM search_document WHERE full_vector @@ %s::tsquery)",
                [either],
            ),
            (
                "d.dataset_id IN (SELECT dataset_id FROM search_document WHERE card_vector @@ %s::tsquery)",
                [either],
            ),
        )

    def indexed_terms(self, dataset_id: int, *, card: bool) -> set[str]:
        """As SQLite's: the lexemes of the full or the card vector are the terms written."""
        vector = "card_vector" if card else "full_vector"
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT tsvector_to_array({vector}) FROM search_document WHERE dataset_id = %s",
                [dataset_id],
            )
            row = cursor.fetchone()
        return set(row[0]) if row else set()

    def tagged(self, name: str, *, negated: bool = False) -> SQL:
        """As SQLite's, through the GIN index of the document's own tag list (migration search
        0019): from the catalog's tags, each of `nlp`'s 4,677 datasets was a lookup of its wide
        document row, 20 ms of a count and again of its page; the index gives their rows at once.
        Negated, through the catalog's tags still: the index cannot say which rows lack a tag, and
        testing every row's list took `-tag:deprecated` from 64 to 163 ms."""
        if negated:
            return catalog_tagged(name)
        return "d.tag_list @> ARRAY[%s]::text[]", [name]

    def name_contains(self, value: str) -> SQL:
        """As SQLite's, through pg_trgm's index on the names."""
        return "n.name_key LIKE %s ESCAPE '\\'", [f"%{like_escaped(value)}%"]

    def candidates(self, word: str) -> list[str]:
        # The words one edit away, looked up by key as on SQLite: pg_trgm's similarity at the 0.19
        # a swap in a 5-letter word needs matched thousands of words of a large vocabulary (over
        # a second at 100,000 datasets) for the few the caller keeps.
        with connection.cursor() as cursor:
            cursor.execute("SELECT term FROM search_term WHERE term = ANY(%s)", [sorted(edits_one(word))])
            return sorted(row[0] for row in cursor.fetchall())


def _tsquery_words(words: Words, alternatives: Sequence[str] = (), weight: str = "") -> str:
    parts = [tsquery_term(term, weight=weight) for term in words.terms]
    if words.prefix:
        parts[-1] = tsquery_term(words.terms[-1], prefix=True, weight=weight)
    phrase = " <-> ".join(parts)
    if len(parts) > 1:
        phrase = f"({phrase})"
    if alternatives:
        return "(" + " | ".join([phrase] + [tsquery_term(term, weight=weight) for term in alternatives]) + ")"
    return phrase


def _tsquery(query: Query, corrections: dict[int, Sequence[str]], weight: str = "") -> str:
    parts = [
        _tsquery_words(words, corrections.get(index, ()), weight)
        for index, words in enumerate(query.words)
        if not words.negated
    ]
    parts += [f"!{_tsquery_words(words)}" for words in query.negative_words]
    return " & ".join(parts)


def engine() -> Sqlite | Postgres:
    return Postgres() if connection.vendor == "postgresql" else Sqlite()
