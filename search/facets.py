"""The facet counts of the whole catalog, kept per visibility (`search_facet_count`), so that a
search with no words and no filters (the home page, "everything") adds up a few hundred rows
instead of grouping 100,000 documents on every request.

The indexer keeps them exact in the transaction that writes the documents: it subtracts what a
document counted for when the document goes and adds the new one's (`facet_counts_apply`); a
document deleted by a cascade is subtracted by `search.receivers`. `search_rebuild` recounts
them from the documents (`facet_counts_rebuild`).

A user's counts are made of the parts the visibility rule (`datasets.access`) lets them see: all
public datasets; restricted ones by their card (team, visibility) alone; the internal and
restricted datasets of their own teams, whole (kept per team); and, counted from their documents,
the restricted datasets of other teams they were granted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection

from datasets.access import Audience
from search.models import SearchDocument, SearchFacetCount

CARD_FACETS = ("team", "visibility")  # what a restricted card shows to anyone who may see it
EVERY_TEAM = 0
# What a document counts for, read straight from its row (tags come from `tag_names`).
ROW_FIELDS = ("visibility", "team_id", "license_key", "format", "certified", "pii", "quality", "tag_names")

Row = tuple[Any, ...]  # the values of ROW_FIELDS
Key = tuple[int, str, str, str]  # (team_id or EVERY_TEAM, visibility, facet, value)


def values_of(row: Row) -> list[tuple[str, str]]:
    """(facet, value) pairs one document counts for, as the facet sidebar names them."""
    visibility, team_id, license_key, format_, certified, pii, quality, tag_names = row
    pairs = [
        ("team", str(team_id)),
        ("visibility", visibility),
        ("license", license_key),
        ("format", format_),
        ("certified", "yes" if certified else "no"),
        ("pii", "yes" if pii else "no"),
        ("quality", quality),
    ]
    pairs += [("tag", name) for name in (tag_names or "").split("\n")]
    return [(facet, value) for facet, value in pairs if value not in ("", None)]


def contributions(rows: Iterable[Row], sign: int = 1) -> Counter[Key]:
    """What documents count for: in the whole catalog's part and, unless public, their team's."""
    counts: Counter[Key] = Counter()
    for row in rows:
        visibility, team_id = row[0], row[1]
        for facet, value in values_of(row):
            counts[(EVERY_TEAM, visibility, facet, value)] += sign
            if visibility != "public":
                counts[(team_id, visibility, facet, value)] += sign
    return counts


def document_rows(dataset_ids: Sequence[int]) -> list[Row]:
    return list(SearchDocument.objects.filter(dataset_id__in=dataset_ids).values_list(*ROW_FIELDS))


def facet_counts_apply(delta: Counter[Key]) -> None:
    """Add `delta` to the stored counts (on PostgreSQL a concurrent writer's increment waits for
    the row's lock and adds to the committed count; SQLite has one writer)."""
    rows = [(*key, change) for key, change in sorted(delta.items()) if change]
    if not rows:
        return
    with connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO search_facet_count (team_id, visibility, facet, value, count) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (team_id, visibility, facet, value) "
            "DO UPDATE SET count = search_facet_count.count + excluded.count",
            rows,
        )


def facet_counts_rebuild() -> None:
    """Recount every value from the documents (after a rebuild, or to mend a count by hand)."""
    facet_counts_replace(
        contributions(SearchDocument.objects.values_list(*ROW_FIELDS).iterator(chunk_size=5_000))
    )


def facet_counts_replace(counts: Counter[Key]) -> None:
    """Store `counts` in place of every count (the rebuild adds them up as it writes documents)."""
    SearchFacetCount.objects.all().delete()
    SearchFacetCount.objects.bulk_create(
        [
            SearchFacetCount(team_id=team_id, visibility=visibility, facet=facet, value=value, count=count)
            for (team_id, visibility, facet, value), count in sorted(counts.items())
            if count
        ],
        batch_size=2_000,
    )


def catalog_facet_counts(audience: Audience) -> dict[str, dict[str, int]]:
    """facet -> value -> count over every dataset `audience` may see, a dataset's hidden fields
    counted only where its data may be read: the sidebar of a search without words or filters.
    Team values are team ids; every tag is there (the caller keeps the top ones)."""
    counts: dict[str, dict[str, int]] = {}

    def add(facet: str, value: str, count: int) -> None:
        values = counts.setdefault(facet, {})
        values[value] = values.get(value, 0) + count

    # Each part is a range of the (team_id, visibility, facet, value) key.
    parts: list[tuple[str, list[Any]]] = []
    if audience.everything:
        parts.append(("team_id = %s", [EVERY_TEAM]))
    elif audience.signed_in or audience.public_only:
        parts.append(("team_id = %s AND visibility = 'public'", [EVERY_TEAM]))
    if audience.signed_in and not audience.everything:
        parts.append(
            ("team_id = %s AND visibility = 'restricted' AND facet IN ('team', 'visibility')", [EVERY_TEAM])
        )
        # Their own teams' internal datasets, and the hidden fields of their restricted ones.
        for team_id in sorted(audience.team_ids):
            parts.append(("team_id = %s AND visibility = 'internal'", [team_id]))
            parts.append(
                (
                    "team_id = %s AND visibility = 'restricted' AND facet NOT IN ('team', 'visibility')",
                    [team_id],
                )
            )
    if not parts:
        return counts
    with connection.cursor() as cursor:
        cursor.execute(
            " UNION ALL ".join(
                f"SELECT facet, value, count FROM search_facet_count WHERE {where} AND count > 0"  # noqa: S608
                for where, _ in parts
            ),
            [param for _, params in parts for param in params],
        )
        stored = cursor.fetchall()
    for facet, value, count in stored:
        add(facet, value, count)
    granted = sorted(audience.granted_ids)
    if audience.everything or not audience.signed_in or not granted:
        return counts
    # Restricted datasets of other teams the user was granted: their hidden fields, from their
    # documents (a user's grants are few).
    # By id alone: with the visibility in the condition too, SQLite walks the facet index through
    # every restricted document.
    rows = [
        row
        for row in SearchDocument.objects.filter(dataset_id__in=granted).values_list(*ROW_FIELDS)
        if row[0] == "restricted" and row[1] not in audience.team_ids
    ]
    for row in rows:
        for facet, value in values_of(row):
            if facet not in CARD_FACETS:
                add(facet, value, 1)
    return counts
