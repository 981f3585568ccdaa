"""Finding datasets: ranked search with facets and highlights, type-ahead suggestions, and
column search. Every answer passes through the visibility rule (`datasets.access.audience_of`):
internal datasets of other teams never appear, and a restricted dataset whose data the user may
not read is matched, counted and quoted by its card alone (slug, title, team, summary).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from django.db import connection, transaction

from accounts.models import Team
from accounts.selectors import user_may_browse
from core.errors import InvalidInput, NotSignedIn
from core.types import AnyUser
from datasets.access import Audience, audience_of
from datasets.models import Dataset
from search.engines import SQL, engine, like_escaped
from search.facets import catalog_facet_counts
from search.models import SearchColumn, SearchDocument, SearchText
from search.query import CHOICES, Filter, Query, Words, parse_query
from search.text import damerau_one, fold, identifier_terms, snippet, terms

SORTS = ("relevance", "popular", "updated", "name")
MAX_PER_PAGE = 100
MAX_RESULTS = 10_000  # how deep paging goes; past that, a narrower query serves better
TYPO_MIN = 5  # words this long may have one letter wrong
TOP_TAGS = 20
NAMES_INLINE = 500  # column names a `column:` fragment may match and still be given as values
FACETS = ("team", "tag", "license", "format", "certified", "pii", "quality", "visibility")
HIDDEN = ("column", "tag", "license", "format", "certified", "pii", "quality", "updated", "rows")


@dataclass(frozen=True)
class ColumnMatch:
    name: str
    type: str
    pii: bool


@dataclass(frozen=True)
class SearchHit:
    dataset: Dataset
    readable: bool
    score: float
    snippet: str
    matched_columns: list[ColumnMatch]
    latest_version: int | None
    certified_version: int | None
    checkouts_90d: int
    tags: list[str]  # by name, as indexed; none for a card (tags belong to the data's description)


@dataclass(frozen=True)
class FacetValue:
    value: str
    label: str
    count: int
    selected: bool
    query: str  # the search text with this value's filter added (or removed when selected)


@dataclass(frozen=True)
class SearchResults:
    query: str
    sort: str
    page: int
    per_page: int
    total: int
    hits: list[SearchHit]
    facets: dict[str, list[FacetValue]] | None = None  # None: not asked for
    did_you_mean: str | None = None
    corrected: bool = False  # the hits are those of `did_you_mean`: the query as typed found none

    @property
    def pages(self) -> int:
        return max(1, math.ceil(min(self.total, MAX_RESULTS) / self.per_page))


@dataclass(frozen=True)
class Suggestion:
    kind: str  # dataset, tag, column
    value: str
    label: str
    url: str


@dataclass(frozen=True)
class ColumnHit:
    dataset_slug: str
    dataset_title: str
    name: str
    type: str
    description: str
    pii: bool


@dataclass(frozen=True)
class ColumnResults:
    total: int
    columns: list[ColumnHit]


# --- the visibility rule in SQL, on the document's copies of visibility and team ----------------


def _in(column: str, ids: Sequence[int] | Sequence[str] | frozenset[int]) -> SQL:
    if not ids:
        return "1=0", []
    ordered = sorted(ids)
    return f"{column} IN ({', '.join('%s' for _ in ordered)})", list(ordered)


def _visible(audience: Audience) -> SQL:
    if audience.everything:
        return "1=1", []
    if not audience.signed_in:
        return ("d.visibility = 'public'", []) if audience.public_only else ("1=0", [])
    teams, params = _in("d.team_id", audience.team_ids)
    return f"(d.visibility IN ('public', 'restricted') OR {teams})", params


def _readable(audience: Audience, alias: str = "d") -> SQL:
    """Whether the user may read the data of the dataset of `alias`, a document or a column (both
    carry the dataset's visibility and team)."""
    if audience.everything:
        return "1=1", []
    if not audience.signed_in:
        return (f"{alias}.visibility = 'public'", []) if audience.public_only else ("1=0", [])
    teams, team_params = _in(f"{alias}.team_id", audience.team_ids)
    grants, grant_params = _in(f"{alias}.dataset_id", audience.granted_ids)
    return (
        f"({alias}.visibility = 'public' OR {teams} OR ({alias}.visibility = 'restricted' AND {grants}))",
        team_params + grant_params,
    )


# --- a query as SQL -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    query: Query
    audience: Audience
    team: str = ""
    corrections: dict[int, Sequence[str]] = field(default_factory=dict)
    named: bool = False  # only the matches whose slug or title match (relevance's first tiers)
    scored: bool = True  # False: for a count, which needs no text score
    walk: str = ""  # an index of the documents to read them in its order (`Engine.walking`)
    facets: bool = False  # for counting facets: what a match reads of its documents includes them
    branch: int | None = None  # with words, one branch alone: 1 the whole texts, 0 the cards

    def cards(self) -> bool:
        """Whether the query matches restricted datasets by their card too: for an outsider to
        them (a column filter is about data)."""
        return (
            self.audience.signed_in
            and not self.audience.everything
            and not self.query.filters_named("column")
        )

    def source(self) -> SQL:
        """FROM and WHERE: the datasets the query finds that the user may see."""
        readable, readable_params = _readable(self.audience)
        visible, visible_params = _visible(self.audience)
        where = [visible]
        params: list[Any] = []
        if self.query.positive_words:
            index = engine()
            branches: list[str] = []
            # An outsider matches a restricted dataset by its card alone.
            for card in (False, True) if self.cards() else (False,):
                if self.branch is None or self.branch == (0 if card else 1):
                    sql, branch_params = index.match(
                        self.query, self.corrections, card=card, named=self.named, scored=self.scored
                    )
                    branches.append(sql)
                    params += branch_params
            union = " UNION ALL ".join(branches)
            if index.documents:
                sql = f"FROM ({union}) d"
            else:
                join = index.facets_join if self.facets else index.document_join
                sql = f"FROM ({union}) m JOIN {join} ON d.dataset_id = m.id"
            m = self.matched()
            where.append(f"(({m}.whole = 1 AND {readable}) OR ({m}.whole = 0 AND NOT {readable}))")
            where_params = visible_params + readable_params + readable_params
        else:
            sql = f"FROM search_document d{engine().walking(self.walk)}"
            where_params = list(visible_params)
            if self.query.negative_words:  # `tag:nlp -draft`: words to exclude, none to match
                (text, text_params), (shown, shown_params) = engine().containing(self.query.negative_words)
                # A dataset whose data the user may not read is excluded by its card alone.
                where.append(f"NOT (({readable} AND {text}) OR (NOT {readable} AND {shown}))")
                where_params += readable_params + text_params + readable_params + shown_params
        for condition in self.query.filters:
            text, condition_params = _filter_sql(condition, readable, readable_params)
            where.append(text)
            where_params += condition_params
        if self.team:
            where.append("d.team_id IN (SELECT id FROM datasets_team WHERE slug = %s)")
            where_params.append(self.team)
        return f"{sql} WHERE {' AND '.join(where)}", params + where_params

    @staticmethod
    def matched() -> str:
        """The alias of the match's score and `whole`: its own rows, or the documents' that are them."""
        return "d" if engine().documents else "m"

    def score(self) -> SQL:
        readable, params = _readable(self.audience)
        text = f"{self.matched()}.score" if self.query.positive_words else "1.0"
        # Popularity and certification are hidden with a restricted dataset's data: no boost.
        return f"({text} * CASE WHEN {readable} THEN d.boost ELSE 1.0 END)", params


def _filter_sql(condition: Filter, readable: str, readable_params: list[Any]) -> SQL:
    name, value = condition.name, condition.value
    sql: str
    params: list[Any]
    if name == "team":
        sql, params = "d.team_id IN (SELECT id FROM datasets_team WHERE slug = %s)", [value]
    elif name == "visibility":
        sql, params = "d.visibility = %s", [value]
    elif name == "tag":
        sql, params = engine().tagged(value, negated=condition.negated)
    elif name == "license":
        sql, params = "d.license_key = %s", [value]
    elif name == "format":
        sql, params = "d.format = %s", [value]
    elif name in ("certified", "pii"):
        sql, params = f"d.{name} = %s", [value == "yes"]
    elif name == "quality":
        sql, params = "d.quality = %s", [value]
    elif name == "rows":
        # Never NULL, so that negated it keeps the datasets without a ready version to count.
        sql, params = f"d.row_count IS NOT NULL AND d.row_count {_operator(condition)} %s", [int(value)]
    elif name == "updated":
        sql, params = _updated_sql(condition)
    else:  # column
        inner, params = _column_named(value)
        sql = f"d.dataset_id IN (SELECT c.dataset_id FROM search_column c WHERE {inner})"
    if name not in HIDDEN:
        return (f"NOT ({sql})", params) if condition.negated else (f"({sql})", params)
    # What a restricted card hides cannot be filtered on by those who may not read it, either way:
    # it neither finds them nor, negated, excludes them.
    if condition.negated:
        return f"(NOT {readable} OR NOT ({sql}))", readable_params + params
    return f"({readable} AND {sql})", readable_params + params


def _column_named(value: str) -> SQL:
    """A condition on `search_column c`: its name contains `value`, or is `value` when that is
    too short for trigrams (under 3 characters). The names are looked up first and given to the
    statement as values: behind a subquery the planner guessed 2,700 columns for any name, and
    for `customer_id` (30,000) it gathered and sorted them all instead of walking the most used
    datasets until a page was full (80 ms against 10 on PostgreSQL)."""
    names = _column_names(value)
    if names is None:  # a fragment of half the catalog's names: let the database join
        match, params = engine().name_contains(fold(value))
        return f"c.name_key IN (SELECT n.name_key FROM search_column_name n WHERE {match})", params
    return _in("c.name_key", names)


def _column_names(value: str) -> list[str] | None:
    """The distinct column names that contain `value` (or are it, under 3 characters); None when
    there are more than NAMES_INLINE."""
    key = fold(value)
    if len(key) < 3:
        return [key]
    match, params = engine().name_contains(key)
    names = [
        row[0]
        for row in _fetch(
            f"SELECT n.name_key FROM search_column_name n WHERE {match} LIMIT %s", [*params, NAMES_INLINE + 1]
        )
    ]
    return None if len(names) > NAMES_INLINE else names


def _operator(condition: Filter) -> str:
    return {">": ">", ">=": ">=", "<": "<", "<=": "<=", "=": "="}[condition.operator]


def _updated_sql(condition: Filter) -> SQL:
    from datetime import UTC, date, datetime, time, timedelta

    day = date.fromisoformat(condition.value)
    start = datetime.combine(day, time.min, tzinfo=UTC)
    if day == date.max:  # the calendar's last day has no day after it
        end_sql, end_params = "1=1", []
        after_sql, after_params = "1=0", []
    else:
        end = start + timedelta(days=1)
        end_sql, end_params = "d.updated_at < %s", [end]
        after_sql, after_params = "d.updated_at >= %s", [end]
    match condition.operator:
        case ">":
            return after_sql, after_params
        case ">=":
            return "d.updated_at >= %s", [start]
        case "<":
            return "d.updated_at < %s", [start]
        case "<=":
            return end_sql, end_params
        case _:
            return f"(d.updated_at >= %s AND {end_sql})", [start, *end_params]


def _order(plan: _Plan, sort: str) -> SQL:
    readable, params = _readable(plan.audience)
    score, score_params = plan.score()
    if sort == "relevance":
        # The slug or title typed exactly, then the datasets whose slug or title match at all, then
        # the rest: field weights order matches within a dataset's text, these tiers across them.
        key = plan.query.free_text
        named, named_params = (
            engine().name_matches(plan.query, plan.corrections) if plan.query.positive_words else ("1=0", [])
        )
        if plan.named:  # every match is named
            named, named_params = "1=1", []
        return (
            f"CASE WHEN d.slug = %s OR d.title_key = %s THEN 2 WHEN {named} THEN 1 ELSE 0 END DESC, "
            f"{score} DESC, d.slug",
            [key, key, *named_params, *score_params],
        )
    if sort == "popular":
        return (
            f"CASE WHEN {readable} THEN d.checkouts_90d ELSE 0 END DESC, {score} DESC, d.slug",
            params + score_params,
        )
    if sort == "updated":
        return f"CASE WHEN {readable} THEN d.updated_at END DESC NULLS LAST, d.slug", params
    return "d.title_key, d.slug", []


def _fetch(sql: str, params: list[Any], *, plan: _Plan | None = None) -> list[tuple[Any, ...]]:
    """Rows of one statement; with the `plan` it runs, which the engine may steer when it
    matches words (`Postgres.steer`)."""
    index = engine()
    if plan is None or not plan.query.positive_words or not index.steers:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall())
    with transaction.atomic(), connection.cursor() as cursor:
        index.steer(cursor)
        cursor.execute(sql, params)
        return list(cursor.fetchall())


# --- search -------------------------------------------------------------------------------------


def search_datasets(
    *,
    user: AnyUser,
    q: str = "",
    sort: str = "",
    page: int = 1,
    per_page: int = 20,
    team: str = "",
    facets: bool = True,
    audience: Audience | None = None,
) -> SearchResults:
    """One page of the datasets `q` finds, best first, with facet counts over all of them.
    `audience`: the user's, when the caller runs several searches for one page."""
    if not user_may_browse(user):
        raise NotSignedIn("Sign in, or send an API token as 'Authorization: Bearer <token>'.")
    query = parse_query(q)
    sort = sort or ("relevance" if query.positive_words else "popular")
    if sort not in SORTS:
        raise InvalidInput(f"Unknown sort '{sort}'; expected one of {', '.join(SORTS)}.", field="sort")
    per_page = max(1, min(int(per_page), MAX_PER_PAGE))
    page = max(1, int(page))
    if page * per_page > MAX_RESULTS:
        raise InvalidInput(
            f"Pages go as deep as the first {MAX_RESULTS:,} results; narrow the search instead.", field="page"
        )
    plan = _Plan(query=query, audience=audience or audience_of(user), team=team)
    if query.matches_nothing:
        return SearchResults(
            query=q,
            sort=sort,
            page=page,
            per_page=per_page,
            total=0,
            hits=[],
            facets=_facet_values(plan, {}) if facets else None,
        )
    kept = _kept_counts(plan)
    # A query's facets are counted over all it finds, so they give its total too: their
    # visibility counts add up to it (the statement that counted it apart cost a common word 13 ms
    # of its 115 on SQLite at 100,000 datasets, two filters 8 of 36).
    # The page is not taken from the facets' statement: ranking all it finds there cost a broad
    # filter more (certified:yes 82 -> 98 ms, -tag:deprecated 190 -> 232 on SQLite) than reading a
    # narrow one twice saved (tag:nlp certified:yes 45 -> 34 ms on PostgreSQL); a walk of an
    # index serves the broad ones (_page_readable). Except for words on PostgreSQL, whose page
    # reads and ranks every match in any case (_facets_and_page).
    counted, total, rows = _found(plan, sort, page, per_page, facets=facets, kept=kept)
    did_you_mean: str | None = None
    if total == 0 and query.positive_words:
        corrections = _corrections(query)
        if corrections:
            corrected = replace(plan, corrections=corrections)
            corrected_counts, total, rows = _found(corrected, sort, page, per_page, facets=facets, kept=None)
            if total:
                plan, counted = corrected, corrected_counts
    hits = _hits(plan, rows)
    if plan.corrections and hits:
        did_you_mean = _did_you_mean(plan, hits)
    return SearchResults(
        query=q,
        sort=sort,
        page=page,
        per_page=per_page,
        total=total,
        hits=hits,
        facets=_facet_values(plan, counted if counted is not None else _catalog_counts(plan, kept))
        if facets
        else None,
        did_you_mean=did_you_mean,
        corrected=bool(plan.corrections),
    )


def _found(
    plan: _Plan, sort: str, page: int, per_page: int, *, facets: bool, kept: dict[str, dict[str, int]] | None
) -> tuple[dict[str, dict[str, int]] | None, int, list[tuple[int, float]]]:
    """The query's facet counts (None: not asked for, or the whole catalog's kept ones serve),
    its total and one page."""
    if not facets or _whole_catalog(plan):
        return None, *_run(plan, sort, page, per_page, total=_kept_total(plan, kept))
    if plan.query.positive_words and engine().documents and not engine().named_first:
        counted, rows = _facets_and_page(plan, sort, page, per_page)
        return counted, _kept_total(plan, None, counted) or 0, rows
    counted = _facet_counts(plan)
    return counted, *_run(plan, sort, page, per_page, total=_kept_total(plan, kept, counted))


def _count(plan: _Plan) -> int:
    query = plan.query
    if (
        not query.words
        and not plan.team
        and len(query.filters) == 1
        and query.filters[0].name == "column"
        and not query.filters[0].negated
    ):
        # The datasets the user may read that have such a column (all `column:` can find), counted
        # in the columns' own index: looking up each one's document cost 60 ms at 30,000.
        match, match_params = _column_named(query.filters[0].value)
        readable, readable_params = _readable(plan.audience, "c")
        return int(
            _fetch(
                f"SELECT count(DISTINCT c.dataset_id) FROM search_column c WHERE {match} AND {readable}",
                match_params + readable_params,
            )[0][0]
        )
    if query.positive_words and plan.cards():
        # Each branch of the match counted apart and added up: joined as one, SQLite passed each of
        # a common word's 15,000 matches up through the union one at a time (13.8 -> 12.2 ms).
        parts = [replace(plan, scored=False, branch=branch).source() for branch in (1, 0)]
        counts = " + ".join(f"(SELECT count(*) {source})" for source, _ in parts)
        return int(
            _fetch(f"SELECT {counts}", [param for _, params in parts for param in params], plan=plan)[0][0]
        )
    source, params = replace(plan, scored=False).source()
    return int(_fetch(f"SELECT count(*) {source}", params, plan=plan)[0][0])


def _kept_counts(plan: _Plan) -> dict[str, dict[str, int]] | None:
    """The whole catalog's facet counts as this user may see them (search.facets), when the query
    is the whole catalog or one facet value of it: they give its total, and its facets."""
    query = plan.query
    if query.words or plan.team or len(query.filters) > 1:
        return None
    if query.filters and (query.filters[0].negated or query.filters[0].name not in FACETS):
        return None
    return catalog_facet_counts(plan.audience)


def _whole_catalog(plan: _Plan) -> bool:
    return not plan.query.words and not plan.query.filters and not plan.team


def _kept_total(
    plan: _Plan, kept: dict[str, dict[str, int]] | None, counted: dict[str, dict[str, int]] | None = None
) -> int | None:
    """The total from counts at hand, kept or `counted` for the query (None: to be counted)."""
    if counted is not None:
        return sum(counted["visibility"].values())  # every dataset found has one visibility
    if kept is None:
        return None
    if not plan.query.filters:
        return sum(kept.get("visibility", {}).values())
    condition = plan.query.filters[0]
    value = condition.value
    if condition.name == "team":  # kept by team id
        team_id = Team.objects.filter(slug=value).values_list("pk", flat=True).first()
        value = str(team_id) if team_id is not None else ""
    return kept.get(condition.name, {}).get(value, 0)


def _run(
    plan: _Plan, sort: str, page: int, per_page: int, *, total: int | None = None
) -> tuple[int, list[tuple[int, float]]]:
    """The total and one page. With words, one statement: the match is the costly part and a
    window count reads it once. Without, the total is kept (`total`) or counted, and the page
    walks an index when it can (`_page_readable`)."""
    if not plan.query.positive_words:
        if total is None:
            total = _count(plan)
        if not total:
            return 0, []
        found = _page_readable(plan, sort, page, per_page, total=total)
        if found is None:
            found = [(row[0], row[1]) for row in _page(plan, sort, page, per_page)]
        return total, found
    if total == 0:
        return 0, []
    if sort == "relevance" and engine().named_first:
        # The datasets whose slug or title match rank before all others: when they fill the page,
        # only they are scored, and the total is counted without scores. `sales` at 100,000
        # datasets: 7,000 of its 18,000 matches are named; on SQLite 43 -> 24 + 14 ms.
        named = _page(replace(plan, named=True), sort, page, per_page)
        if len(named) == per_page:
            return (_count(plan) if total is None else total), [(row[0], row[1]) for row in named]
    rows = _page(plan, sort, page, per_page, counted=total is None)
    if total is not None:
        return total, [(row[0], row[1]) for row in rows]
    if rows:
        return int(rows[0][2]), [(row[0], row[1]) for row in rows]
    return (_count(plan) if page > 1 else 0), []


def _page(
    plan: _Plan, sort: str, page: int, per_page: int, *, counted: bool = False
) -> list[tuple[int, float, int]]:
    source, params = plan.source()
    score, score_params = plan.score()
    order, order_params = _order(plan, sort)
    total = ", count(*) OVER ()" if counted else ", 0"
    rows = _fetch(
        f"SELECT d.dataset_id, {score}{total} {source} ORDER BY {order} LIMIT %s OFFSET %s",
        [*score_params, *params, *order_params, per_page, (page - 1) * per_page],
        plan=plan,
    )
    return [(int(row[0]), float(row[1] or 0.0), int(row[2] or 0)) for row in rows]


def _page_readable(
    plan: _Plan, sort: str, page: int, per_page: int, *, total: int
) -> list[tuple[int, float]] | None:
    """A page of a search without words, most used or recently updated first, taken from the
    datasets whose data the user may read alone, in the order of an index, when that is the page:
    the others (restricted cards) rank as unused and never updated, so they come after a readable
    dataset that has checkouts, and after every readable one by date. None when it is not.

    When the search finds many datasets (`total` of them), the page walks that index from its
    start until it is full, which visits about page * per_page * documents / total datasets,
    instead of gathering all it finds and sorting them: `column:customer_id` (22,000 datasets of
    100,000) 28 -> 10 ms on SQLite, side by side (it still gathers the matching ids once), which
    otherwise went from the columns to the documents."""
    if sort not in ("popular", "updated"):
        return None
    if sort == "popular":  # as _order's, for readable datasets (score: 1.0 times the boost)
        key, order, index = (
            "d.checkouts_90d",
            "d.checkouts_90d DESC, d.boost DESC, d.slug",
            "search_doc_used_idx",
        )
    else:
        key, order, index = "0", "d.updated_at DESC, d.slug", "search_doc_recent_idx"
    walk = total * total >= page * per_page * _documents_bound()
    source, params = replace(plan, walk=index if walk else "").source()
    readable, readable_params = _readable(plan.audience)
    rows = _fetch(
        f"SELECT d.dataset_id, d.boost, {key} {source} AND {readable} ORDER BY {order} LIMIT %s OFFSET %s",
        [*params, *readable_params, per_page, (page - 1) * per_page],
    )
    # A filter on what a card hides finds readable datasets alone: the page is complete as it is.
    if any(f.name in HIDDEN and not f.negated for f in plan.query.filters):
        return [(int(row[0]), float(row[1])) for row in rows]
    if len(rows) < per_page or (sort == "popular" and not rows[-1][2]):
        return None  # the page reaches past the readable datasets or into the unused ones
    return [(int(row[0]), float(row[1])) for row in rows]


def _corrections(query: Query) -> dict[int, Sequence[str]]:
    """For each free word of 5 letters or more, the indexed words one edit away from it."""
    index = engine()
    corrections: dict[int, Sequence[str]] = {}
    for position, words in enumerate(query.words):
        if words.negated or len(words.terms) != 1 or len(words.terms[0]) < TYPO_MIN:
            continue
        word = words.terms[0]
        near = [term for term in index.candidates(word) if damerau_one(word, term)]
        if near:
            corrections[position] = near[:8]
    return corrections


def _did_you_mean(plan: _Plan, hits: list[SearchHit]) -> str:
    """The query with each corrected word replaced by the candidate the best hit holds where this
    user searched it: in its whole text when they may read its data, on its card otherwise. The
    candidates come from the whole vocabulary, hidden datasets' words included, so the first of
    them may name one. The hit's terms are read back from the index, which the match searched."""
    best = hits[0]
    present = engine().indexed_terms(best.dataset.pk, card=not best.readable)
    words = list(plan.query.words)
    for position, candidates in plan.corrections.items():
        chosen = next((c for c in candidates if c in present), None)
        if chosen is not None:
            words[position] = replace(words[position], terms=(chosen,), source=chosen, prefix=False)
    # Shown without the trailing space that would keep a corrected last word whole: followed as a
    # search, that word is a prefix again, as the misspelt one was while typed.
    return plan.query.with_words(tuple(words)).rstrip()


def _hits(plan: _Plan, rows: list[tuple[int, float]]) -> list[SearchHit]:
    if not rows:
        return []
    ids = [dataset_id for dataset_id, _ in rows]
    # Not the README: cards and snippets never show it (search_text has its words). Nor the tags:
    # the document has their names (a query and 70 tag instances fewer per page).
    datasets = Dataset.objects.select_related("team").defer("readme").in_bulk(ids)
    documents = SearchDocument.objects.in_bulk(ids)
    texts = SearchText.objects.in_bulk(ids)
    readable_ids = {
        pk
        for pk, document in documents.items()
        if plan.audience.readable(visibility=document.visibility, team_id=document.team_id, dataset_id=pk)
    }
    words = _highlight_words(plan)
    columns = _matched_columns(plan, readable_ids, words)
    hits = []
    for dataset_id, score in rows:
        dataset, document = datasets.get(dataset_id), documents.get(dataset_id)
        if dataset is None or document is None:
            continue
        readable = dataset_id in readable_ids
        text = texts.get(dataset_id)
        quote = snippet(text.summary, words) if text else ""
        if not quote and readable and text:
            quote = snippet(text.readme_text, words)
        hits.append(
            SearchHit(
                dataset=dataset,
                readable=readable,
                score=score,
                snippet=quote,
                matched_columns=columns.get(dataset_id, []) if readable else [],
                latest_version=document.latest_number if readable else None,
                certified_version=document.certified_number if readable else None,
                checkouts_90d=document.checkouts_90d if readable else 0,
                tags=document.tag_names.split("\n") if readable and document.tag_names else [],
            )
        )
    return hits


def _highlight_words(plan: _Plan) -> list[str]:
    words: list[str] = []
    for position, found in enumerate(plan.query.words):
        if found.negated:
            continue
        for index, term in enumerate(found.terms):
            last = index == len(found.terms) - 1
            words.append(term + ("*" if found.prefix and last else ""))
        words += list(plan.corrections.get(position, ()))
    return words


def _matched_columns(plan: _Plan, dataset_ids: set[int], words: list[str]) -> dict[int, list[ColumnMatch]]:
    contains = [fold(f.value) for f in plan.query.filters_named("column") if not f.negated]
    if not dataset_ids or not (words or contains):
        return {}
    exact = {w for w in words if not w.endswith("*")}
    prefixes = [w[:-1] for w in words if w.endswith("*")]
    found: dict[int, list[ColumnMatch]] = {}
    # Tuples rather than model instances: a page of 20 datasets has hundreds of columns.
    rows = (
        SearchColumn.objects.filter(dataset_id__in=dataset_ids)
        .order_by("dataset_id", "position")
        .values_list("dataset_id", "name", "name_key", "type", "pii")
    )
    needles = [*exact, *prefixes, *contains]
    for dataset_id, name, name_key, type_, pii in rows:
        if len(found.get(dataset_id, ())) >= 5:
            continue
        # Each term of a name is a part of it, lowercased: a name that holds none of the words
        # matches none, and is not tokenized (a page's hundreds of names cost 4 ms that way). A
        # name with accents is: the tokenizer folds them.
        if name_key.isascii() and not any(needle in name_key for needle in needles):
            continue
        parts = identifier_terms(name)
        hit = any(part in exact or any(part.startswith(p) for p in prefixes) for part in parts) or any(
            (c in name_key if len(c) >= 3 else c == name_key) for c in contains
        )
        if hit:
            found.setdefault(dataset_id, []).append(ColumnMatch(name=name, type=type_, pii=pii))
    return found


# --- facets -------------------------------------------------------------------------------------

QUALITY_LABELS = {
    "passing": "Passing",
    "failing": "Failing",
    "pending": "Not checked yet",
    "none": "No checks",
}
VISIBILITY_LABELS = {"public": "Public", "internal": "Internal", "restricted": "Restricted"}


def _catalog_counts(plan: _Plan, kept: dict[str, dict[str, int]] | None) -> dict[str, dict[str, int]]:
    """The whole catalog's counts, as this user may see it: kept counts, added up (search.facets)."""
    kept = kept if kept is not None else catalog_facet_counts(plan.audience)
    counts = {name: dict(values) for name, values in kept.items()}
    counts.setdefault("tag", {})
    top = sorted(counts["tag"].items(), key=lambda item: (-item[1], item[0]))[:TOP_TAGS]
    counts["tag"] = dict(top)
    return counts


def _facet_counts(plan: _Plan) -> dict[str, dict[str, int]]:
    """facet -> value -> count over what the query finds, in one statement: the matches are found
    once (materialized, whatever the planner guesses of tables it has no statistics for yet) and
    grouped three ways: by team and visibility (what every card shows), by the fields a card
    hides (among the datasets whose data the user may read) and by tag id, named once grouped.
    Apart, each grouping is small: grouped by all fields at once, the 15,000 matches of a common
    word made 6,000 groups, and tags named before grouping were 46,000 lookups of a name. SQLite
    takes the tables in the order of a CROSS JOIN: from the matches to their tags (left to itself
    it read every tag row in tag order, to group without sorting, and indexed the matches for it:
    20 times slower)."""
    source, params = replace(plan, facets=True, scored=False).source()
    readable, readable_params = _readable(plan.audience)
    rows = _fetch(
        f"WITH m AS MATERIALIZED (SELECT d.dataset_id AS id, d.team_id, d.visibility, "
        f"CASE WHEN {readable} THEN 1 ELSE 0 END AS r, d.license_key, d.format, d.certified, d.pii, d.quality "
        f"{source}) {_FACET_GROUPS.format(score='')}",
        readable_params + params,
        plan=plan,
    )
    return _counted(rows)


def _facets_and_page(
    plan: _Plan, sort: str, page: int, per_page: int
) -> tuple[dict[str, dict[str, int]], list[tuple[int, float]]]:
    """The facet counts and one page, from one reading of the matches: PostgreSQL reads the row of
    every match to rank them (for a common word, 13,000 rows on 14,000 pages), and the facets'
    own statement read them all again. The page is a fourth branch of the groupings, ordered and
    cut from the materialized matches."""
    source, params = replace(plan, facets=True).source()
    readable, readable_params = _readable(plan.audience)
    score, score_params = plan.score()
    order, order_params = _order(plan, sort)
    rows = _fetch(
        f"WITH m AS MATERIALIZED (SELECT d.*, d.dataset_id AS id, CASE WHEN {readable} THEN 1 ELSE 0 END AS r "
        f"{source}) {_FACET_GROUPS.format(score=', CAST(NULL AS double precision)')} "
        f"UNION ALL (SELECT 3, NULL, NULL, NULL, NULL, NULL, NULL, d.dataset_id, {score} FROM m d "
        f"ORDER BY {order} LIMIT %s OFFSET %s)",
        [*readable_params, *params, *score_params, *order_params, per_page, (page - 1) * per_page],
        plan=plan,
    )
    found = [(int(row[7]), float(row[8] or 0.0)) for row in rows if row[0] == 3]
    return _counted([row[:8] for row in rows if row[0] != 3]), found


# The three groupings of the materialized matches `m` (_facet_counts); `score`: a column more.
_FACET_GROUPS = (
    "SELECT 0, m.team_id, m.visibility, NULL, NULL, NULL, NULL, count(*){score} FROM m "
    "GROUP BY m.team_id, m.visibility "
    "UNION ALL SELECT 1, NULL, m.license_key, m.format, m.certified, m.pii, m.quality, count(*){score} FROM m "
    "WHERE m.r = 1 GROUP BY m.license_key, m.format, m.certified, m.pii, m.quality "
    "UNION ALL SELECT 2, NULL, t.name, NULL, NULL, NULL, NULL, g.n{score} FROM (SELECT dt.tag_id, count(*) AS n "
    "FROM m CROSS JOIN datasets_dataset_tags dt WHERE dt.dataset_id = m.id AND m.r = 1 GROUP BY dt.tag_id) g "
    "JOIN datasets_tag t ON t.id = g.tag_id"
)


def _counted(rows: list[tuple[Any, ...]]) -> dict[str, dict[str, int]]:
    """The counts of the groupings' rows."""
    counts: dict[str, dict[str, int]] = {name: {} for name in FACETS}

    def add(name: str, value: Any, count: int) -> None:
        if value in ("", None):
            return
        counts[name][str(value)] = counts[name].get(str(value), 0) + count

    tags: dict[str, int] = {}
    for kind, team_id, value, format_, certified, pii, quality, count in rows:
        if kind == 0:
            add("team", team_id, count)
            add("visibility", value, count)
        elif kind == 1:  # a restricted card's hidden fields count for its readers alone
            add("license", value, count)
            add("format", format_, count)
            add("certified", "yes" if certified else "no", count)
            add("pii", "yes" if pii else "no", count)
            add("quality", quality, count)
        else:
            tags[value] = int(count)
    counts["tag"] = dict(sorted(tags.items(), key=lambda item: (-item[1], item[0]))[:TOP_TAGS])
    return counts


def _facet_values(plan: _Plan, counts: dict[str, dict[str, int]]) -> dict[str, list[FacetValue]]:
    """The counts as the sidebar shows them: teams by slug with their names, labels, and each
    value's query (its filter added, or removed when selected)."""
    counts = {name: counts.get(name, {}) for name in FACETS}
    found = list(
        Team.objects.filter(pk__in=[int(pk) for pk in counts["team"]]).values_list("pk", "slug", "name")
    )
    teams = {pk: slug for pk, slug, _ in found}
    names = {slug: name for _, slug, name in found}
    counts["team"] = {teams[int(pk)]: count for pk, count in counts["team"].items() if int(pk) in teams}

    def label(name: str, value: str) -> str:
        if name == "team":
            return names.get(value, value)
        if name == "quality":
            return QUALITY_LABELS.get(value, value)
        if name == "visibility":
            return VISIBILITY_LABELS.get(value, value)
        if name in ("certified", "pii"):
            return {"yes": "Yes", "no": "No"}[value]
        return value

    facets: dict[str, list[FacetValue]] = {}
    for name in FACETS:
        ordered = sorted(counts[name].items(), key=lambda item: (-item[1], item[0]))
        if name in CHOICES or name in ("certified", "pii"):
            ordered = sorted(counts[name].items(), key=lambda item: item[0])
        link = plan.query.filter_links(name)
        facets[name] = [
            FacetValue(
                value=value,
                label=label(name, value),
                count=count,
                selected=Filter(name, value) in plan.query.filters,
                query=link(value),
            )
            for value, count in ordered
        ]
    return facets


# --- type-ahead and columns ---------------------------------------------------------------------


def search_suggest(*, user: AnyUser, q: str, limit: int = 10) -> list[Suggestion]:
    """Up to `limit` completions of what is being typed: datasets whose slug or title match, then
    tags and columns that start with the last word, each from datasets the user may read."""
    if not user_may_browse(user):
        raise NotSignedIn("Sign in, or send an API token as 'Authorization: Bearer <token>'.")
    found = terms(q)
    if not found or len(q) > 200:
        return []
    stem = found[-1]
    audience = audience_of(user)
    readable, readable_params = _readable(audience)
    # Each word anywhere on the card, as search's free words are; the last one being typed.
    words = [
        Words(terms=(term,), source=term, prefix=index == len(found) - 1) for index, term in enumerate(found)
    ]
    rows = _suggested_datasets(audience, words, " ".join(found), max(1, limit // 2))
    datasets = Dataset.objects.only("slug", "title").in_bulk(rows)  # not the README
    suggestions = [
        Suggestion(kind="dataset", value=dataset.slug, label=dataset.title, url=dataset.get_absolute_url())
        for dataset_id in rows
        if (dataset := datasets.get(dataset_id)) is not None
    ]
    # Names that start with the stem, by LIKE rather than a range up to stem + U+FFFF: under a
    # glibc collation (a PostgreSQL cluster made with en_US.UTF-8) U+FFFF sorts first, and the
    # range held nothing. Both tables hold distinct names: a few thousand at most.
    starts = like_escaped(stem) + "%"
    # Keep the first few names that some readable dataset has: an EXISTS per candidate stops at
    # its first readable dataset, where a GROUP BY would count all.
    tags = _fetch(
        "SELECT t.name FROM datasets_tag t WHERE t.name LIKE %s ESCAPE '\\' AND EXISTS ("
        "SELECT 1 FROM datasets_dataset_tags dt JOIN search_document d ON d.dataset_id = dt.dataset_id "
        f"WHERE dt.tag_id = t.id AND {readable}) ORDER BY t.name LIMIT 3",
        [starts, *readable_params],
    )
    suggestions += [Suggestion(kind="tag", value=name, label=f"tag:{name}", url="") for (name,) in tags]
    # On the columns' own copies of visibility and team (their read index), among every name with
    # the stem: the first 40 names alone may all belong to datasets the user may not read. The
    # names are sorted first and checked in that order until three pass (the fence keeps the
    # check out of the sort): checking every name and then sorting took 45 ms for `c` among
    # 100,000 distinct names on PostgreSQL (8,444 checks), against 15 (3 checks and the sort).
    column_readable, column_params = _readable(audience, "c")
    index = engine()
    columns = _fetch(
        "SELECT n.name_key FROM (SELECT name_key, length(name_key) AS size FROM search_column_name "
        f"WHERE name_key LIKE %s ESCAPE '\\' ORDER BY size, name_key {index.fence}) n "
        f"WHERE EXISTS (SELECT 1 FROM search_column c WHERE c.name_key = n.name_key AND {column_readable}) "
        f"{'ORDER BY n.size, n.name_key' if index.reorders else ''} LIMIT 3",
        [starts, *column_params],
    )
    suggestions += [
        Suggestion(kind="column", value=name, label=f"column:{name}", url="") for (name,) in columns
    ]
    return suggestions[:limit]


SUGGEST_WALK = 1_000  # the most used datasets a type-ahead looks among first


def _suggested_datasets(audience: Audience, words: Sequence[Words], key: str, limit: int) -> list[int]:
    """Ids of the datasets whose card has `words` (the last a prefix), best first: the name typed
    whole (`key`), then the names that have the words, then the rest, each most used first (a
    card's use is hidden: as unused; certified first among equals). Not the search's text
    ranking, which would score every dataset a common prefix finds.

    The names come first from the SUGGEST_WALK most used datasets the user may read, in the
    order of their index: when that finds the page, and its last has been used, no dataset
    further down the index, nor any card (unused), can come before. Otherwise the whole
    statement orders every card the words find: `wea`, 15,000 cards at 100,000 datasets, read
    13,700 pages on PostgreSQL for it (28 ms), the walk about a hundred datasets."""
    readable, readable_params = _readable(audience)
    visible, visible_params = _visible(audience)
    (card, card_params), (named, named_params) = engine().card_prefixed(words)
    used = (
        f"CASE WHEN {readable} THEN d.checkouts_90d ELSE 0 END DESC, "
        f"CASE WHEN {readable} THEN d.boost ELSE 1.0 END DESC, d.slug"
    )
    typed = "(d.slug = %s OR d.title_key = %s)"
    exact = [
        row[0]
        for row in _fetch(
            # By key: the document's slug has no index of its own (the dataset's has).
            "SELECT d.dataset_id FROM search_document d WHERE d.dataset_id IN (SELECT id FROM datasets_dataset "
            "WHERE slug = %s UNION SELECT dataset_id FROM search_document WHERE title_key = %s) "
            f"AND {visible} AND {card} ORDER BY {used} LIMIT %s",
            [key, key, *visible_params, *card_params, *readable_params, *readable_params, limit],
        )
    ]
    if len(exact) == limit:
        return exact
    need = limit - len(exact)
    walked = _fetch(
        f"SELECT d.dataset_id, d.checkouts_90d FROM (SELECT d.dataset_id, d.slug, d.title_key, d.checkouts_90d, "
        f"d.boost FROM search_document d{engine().walking('search_doc_used_idx')} WHERE {readable} "
        f"ORDER BY d.checkouts_90d DESC, d.boost DESC, d.slug LIMIT %s) w JOIN search_document d "
        f"ON d.dataset_id = w.dataset_id WHERE {named} AND NOT {typed} "
        "ORDER BY w.checkouts_90d DESC, w.boost DESC, w.slug LIMIT %s",
        [*readable_params, SUGGEST_WALK, *named_params, key, key, need],
    )
    if len(walked) == need and walked[-1][1] > 0:
        return exact + [row[0] for row in walked]
    rows = _fetch(
        f"SELECT d.dataset_id FROM search_document d WHERE {visible} AND {card} "
        f"ORDER BY CASE WHEN {typed} THEN 2 WHEN {named} THEN 1 ELSE 0 END DESC, {used} LIMIT %s",
        [*visible_params, *card_params, key, key, *named_params, *readable_params, *readable_params, limit],
    )
    return [row[0] for row in rows]


def columns_search(*, user: AnyUser, q: str, limit: int = 50, offset: int = 0) -> ColumnResults:
    """The columns, among datasets whose data the user may read, whose name contains `q`
    (exactly `q` when it is shorter than 3 characters): the exact name first, then the shortest."""
    if not user_may_browse(user):
        raise NotSignedIn("Sign in, or send an API token as 'Authorization: Bearer <token>'.")
    if len(q.strip()) > 200:  # as typed: a ligature folds into several letters
        raise InvalidInput("A column name is at most 200 characters here.", field="q")
    key = fold(q.strip())
    if not key:
        raise InvalidInput("Give part of a column name, e.g. ?q=customer_id.", field="q")
    # On the columns' copies of the dataset's visibility and team: the counts read one index.
    readable, readable_params = _readable(audience_of(user), "c")
    limit, offset = max(1, min(limit, 200)), max(0, offset)
    names = _column_names(key)
    if names is None:  # a fragment of half the catalog's names: one statement, the database joins
        match, match_params = _column_named(key)
        condition, params = f"{match} AND {readable}", match_params + readable_params
        total = int(_fetch(f"SELECT count(*) FROM search_column c WHERE {condition}", params)[0][0])
        return _column_results(total, _columns_page(condition, params, limit, offset, first=key))
    match, match_params = _in("c.name_key", names)
    counts: dict[str, int] = {
        name: count
        for name, count in _fetch(
            f"SELECT c.name_key, count(*) FROM search_column c WHERE {match} AND {readable} GROUP BY c.name_key",
            match_params + readable_params,
        )
    }
    # The page, run by run of names that sort together (the name typed, then each length), each
    # read the way that suits its size: a run of thousands of columns by walking the datasets
    # from the most used until the page is full (`customer_id`, 22,000 columns at 100,000
    # datasets: 150 -> 1 ms on PostgreSQL, 70 -> 1 ms on SQLite), a short one column by column
    # (walking would visit most datasets to find its few: 640 ms on SQLite for a name none has).
    documents = _documents_bound()
    ids: list[int] = []
    skip, wanted = offset, limit
    for _, run in itertools.groupby(
        sorted(counts, key=lambda n: (n != key, len(n), n)), key=lambda n: (n != key, len(n))
    ):
        run_names = list(run)
        size = sum(counts[name] for name in run_names)
        if skip >= size:
            skip -= size
            continue
        take = min(wanted, size - skip)
        match, match_params = _in("c.name_key", run_names)
        # A walk visits about (skip + take) * documents / size datasets; the other way reads `size` columns.
        walk = (skip + take) * documents <= size * size
        ids += _columns_page(f"{match} AND {readable}", match_params + readable_params, take, skip, walk=walk)
        skip, wanted = 0, wanted - take
        if not wanted:
            break
    return _column_results(sum(counts.values()), ids)


def _documents_bound() -> int:
    """About how many documents there are, from above (the highest key: one index seek, where a
    count reads them all)."""
    return int(_fetch("SELECT coalesce(max(dataset_id), 0) FROM search_document", [])[0][0])


def _columns_page(
    condition: str, params: list[Any], limit: int, offset: int, *, walk: bool = False, first: str = ""
) -> list[int]:
    """Ids of a page of the columns `condition` finds, by the use of their datasets (certified
    first among equals: the order of the index a walk reads), then position; the name `first`
    (if given) and then shorter names before all. `walk`: read the datasets in that order."""
    order = "d.checkouts_90d DESC, d.boost DESC, d.slug, c.position"
    head: list[Any] = []
    if first:
        order = "CASE WHEN c.name_key = %s THEN 0 ELSE 1 END, length(c.name_key), " + order
        head = [first]
    if walk:
        source = f"{engine().used_walk} WHERE c.dataset_id = d.dataset_id AND {condition}"
    else:
        source = f"search_column c JOIN search_document d ON d.dataset_id = c.dataset_id WHERE {condition}"
    rows = _fetch(
        f"SELECT c.id FROM {source} ORDER BY {order} LIMIT %s OFFSET %s", [*params, *head, limit, offset]
    )
    return [row[0] for row in rows]


def _column_results(total: int, ids: list[int]) -> ColumnResults:
    found = SearchColumn.objects.select_related("dataset").in_bulk(ids)
    columns = [
        ColumnHit(
            dataset_slug=column.dataset.slug,
            dataset_title=column.dataset.title,
            name=column.name,
            type=column.type,
            description=column.description,
            pii=column.pii,
        )
        for pk in ids
        if (column := found.get(pk)) is not None
    ]
    return ColumnResults(total=total, columns=columns)
