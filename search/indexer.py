"""Keeps the search index in step with the catalog: one dataset at a time inside the transaction
that changed it (through the receivers), or every dataset (`manage.py search_rebuild`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime

from django.db import connection, transaction
from django.db.models import OuterRef, Subquery

from core.types import SchemaColumn
from datasets.models import ColumnDoc, Dataset, Version
from datasets.references import versions_ready_of
from search.engines import IndexedText, engine
from search.facets import ROW_FIELDS, contributions, document_rows, facet_counts_apply, facet_counts_rebuild
from search.models import SearchColumn, SearchDocument, SearchTerm, SearchText
from search.text import identifier_terms, markdown_text, terms

README_TERMS = 3_000  # enough for any README's words to be found; a novel is cut
VOCABULARY_MIN = 4  # typo correction looks at words of 5 letters or more; a deletion makes 4
BATCH = 500

# Ranking's inputs that are not text: distinct checkouts in the last 90 days, log-scaled so that
# a dataset pulled 1,000 times does not bury a better text match pulled 10 times; certified; and
# deprecated. Squared, because it multiplies a text score that BM25's length normalization already
# spreads by as much for two datasets with the same match (a longer README, more columns).
POPULARITY_WEIGHT = 0.1
CERTIFIED_BOOST = 1.2
DEPRECATED_BOOST = 0.5  # still found, below what replaced it


def boost(*, checkouts_90d: int, certified: bool, deprecated: bool = False) -> float:
    popularity = 1.0 + POPULARITY_WEIGHT * math.log1p(max(checkouts_90d, 0))
    factor = popularity * (CERTIFIED_BOOST if certified else 1.0) * (DEPRECATED_BOOST if deprecated else 1.0)
    return factor**2


QUALITY = {"passed": "passing", "failed": "failing", "error": "failing", None: "none"}


def search_index_dataset(*, dataset_id: int) -> None:
    """Re-index one dataset (or drop it from the index if it is gone), in the caller's transaction."""
    _index([dataset_id])


def search_index_team(*, team_id: int) -> int:
    """Re-index a team's datasets (its name is indexed with each of them)."""
    ids = list(Dataset.objects.filter(team_id=team_id).order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(ids), BATCH):
        _index(ids[start : start + BATCH])
    return len(ids)


def search_popularity_update(*, dataset_ids: Sequence[int]) -> None:
    """Copy new checkout counts into the index and re-weigh the popularity boost, without
    re-indexing any text (the daily recount touches thousands of datasets)."""
    found = {
        pk: (count, status)
        for pk, count, status in Dataset.objects.filter(pk__in=dataset_ids).values_list(
            "pk", "checkouts_90d", "status"
        )
    }
    documents = list(SearchDocument.objects.filter(pk__in=found).only("pk", "certified"))
    for document in documents:
        document.checkouts_90d, status = found[document.pk]
        document.boost = boost(
            checkouts_90d=document.checkouts_90d,
            certified=document.certified,
            deprecated=status == Dataset.Status.DEPRECATED,
        )
    SearchDocument.objects.bulk_update(documents, ["checkouts_90d", "boost"], batch_size=500)


def search_rebuild(*, progress: Callable[[int, int], None] | None = None) -> int:
    """Re-index every dataset, batch by batch (search keeps answering meanwhile), then drop what
    is left of datasets that no longer exist. Returns how many datasets are indexed."""
    with transaction.atomic():
        SearchTerm.objects.all().delete()
    ids = list(Dataset.objects.order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(ids), BATCH):
        with transaction.atomic():
            _index(ids[start : start + BATCH])
        if progress:
            progress(min(start + BATCH, len(ids)), len(ids))
    with transaction.atomic():
        gone = list(
            SearchDocument.objects.exclude(dataset_id__in=Dataset.objects.values("pk")).values_list(
                "pk", flat=True
            )
        )
        _index(gone)
        engine().prune()
        facet_counts_rebuild()
        engine().analyze()
    return len(ids)


def search_index_missing() -> int:
    """Index the datasets that have no search document yet: after the upgrade that brings search
    (run by `migrate`, so an existing catalog is searchable at once), or after a bulk import."""
    missing = list(
        Dataset.objects.exclude(pk__in=SearchDocument.objects.values("dataset_id"))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for start in range(0, len(missing), BATCH):
        with transaction.atomic():
            _index(missing[start : start + BATCH])
    return len(missing)


def _index(dataset_ids: Sequence[int]) -> None:
    if not dataset_ids:
        return
    if connection.in_atomic_block:
        # Two transactions re-indexing one dataset (two of its versions finishing on two workers)
        # take turns here: otherwise the second waits on the first's old document, finds it gone
        # and inserts a duplicate. In key order, so batches never wait on each other in a circle.
        list(
            Dataset.objects.select_for_update(no_key=True)
            .filter(pk__in=dataset_ids)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
    datasets = list(
        Dataset.objects.filter(pk__in=dataset_ids).select_related("team").prefetch_related("tags")
    )
    newest = versions_ready_of(OuterRef("dataset_id")).values("number")[:1]
    latest = {
        version.dataset_id: version
        for version in Version.objects.filter(
            dataset_id__in=dataset_ids, status=Version.Status.READY, number=Subquery(newest)
        ).only(
            "id",
            "dataset_id",
            "number",
            "schema",
            "format",
            "row_count",
            "quality_status",
            "status_changed_at",
        )
    }
    # `@certified` is decided once, by datasets.references, and kept on the dataset; the numbers in
    # one query (not one per dataset, nor whole versions with their schemas and previews).
    numbers = dict(
        Version.objects.filter(
            pk__in=[d.certified_version_id for d in datasets if d.certified_version_id is not None]
        ).values_list("pk", "number")
    )
    certified = {
        dataset.pk: numbers[dataset.certified_version_id]
        for dataset in datasets
        if dataset.certified_version_id in numbers
    }
    docs: dict[int, dict[str, tuple[str, bool]]] = {}
    for dataset_id, name, description, pii in ColumnDoc.objects.filter(
        dataset_id__in=dataset_ids
    ).values_list("dataset_id", "name", "description", "pii"):
        docs.setdefault(dataset_id, {})[name] = (description, pii)
    old_columns = list(SearchColumn.objects.filter(dataset_id__in=dataset_ids).values_list("pk", flat=True))

    index = engine()
    index.delete(dataset_ids, old_columns)
    SearchColumn.objects.filter(dataset_id__in=dataset_ids).delete()
    # What the old documents counted for goes with them; deleted in SQL, past the post_delete
    # receiver that subtracts a document deleted by a cascade.
    delta = contributions(document_rows(dataset_ids), sign=-1)
    _delete_documents(dataset_ids)
    SearchText.objects.filter(dataset_id__in=dataset_ids).delete()

    documents: list[SearchDocument] = []
    texts: list[SearchText] = []
    columns: list[SearchColumn] = []
    fields_of: dict[int, dict[str, list[str]]] = {}
    for dataset in datasets:
        version = latest.get(dataset.pk)
        column_docs = docs.get(dataset.pk, {})
        document, dataset_columns, fields, readme = _document(
            dataset, version, column_docs, certified=certified.get(dataset.pk)
        )
        documents.append(document)
        texts.append(SearchText(dataset_id=dataset.pk, summary=dataset.summary, readme_text=readme))
        columns += dataset_columns
        fields_of[dataset.pk] = fields
    SearchDocument.objects.bulk_create(documents)
    delta.update(contributions(_row(document) for document in documents))
    facet_counts_apply(delta)
    SearchText.objects.bulk_create(texts)
    SearchColumn.objects.bulk_create(columns)
    names: dict[int, list[tuple[int, str]]] = {}
    for column in columns:
        names.setdefault(column.dataset_id, []).append((column.pk, column.name_key))
    index.write(
        [
            IndexedText(
                dataset_id=document.dataset_id,
                fields=fields_of[document.dataset_id],
                visibility=document.visibility,
                column_ids_names=names.get(document.dataset_id, []),
            )
            for document in documents
        ]
    )
    vocabulary = {term for fields in fields_of.values() for words in fields.values() for term in words}
    SearchTerm.objects.bulk_create(
        [SearchTerm(term=term) for term in sorted(vocabulary) if len(term) >= VOCABULARY_MIN],
        ignore_conflicts=True,
        batch_size=2_000,
    )


def _delete_documents(dataset_ids: Sequence[int]) -> None:
    with connection.cursor() as cursor:
        for start in range(0, len(dataset_ids), BATCH):
            chunk = list(dataset_ids[start : start + BATCH])
            cursor.execute(
                f"DELETE FROM search_document WHERE dataset_id IN ({', '.join('%s' for _ in chunk)})",  # noqa: S608
                chunk,
            )


def _row(document: SearchDocument) -> tuple[object, ...]:
    return tuple(getattr(document, name) for name in ROW_FIELDS)


def _document(
    dataset: Dataset,
    version: Version | None,
    column_docs: dict[str, tuple[str, bool]],
    *,
    certified: int | None,
) -> tuple[SearchDocument, list[SearchColumn], dict[str, list[str]], str]:
    schema: list[SchemaColumn] = list(version.schema) if version else []
    readme = markdown_text(dataset.readme)
    tags = [tag.name for tag in dataset.tags.all()]
    fields: dict[str, list[str]] = {
        "name": terms(dataset.slug) + terms(dataset.title),
        "tags": [term for tag in tags for term in terms(tag)],
        "team": terms(dataset.team.slug) + terms(dataset.team.name),
        "summary": terms(dataset.summary),
        "columns": [],
        "readme": terms(readme)[:README_TERMS],
        "meta": terms(dataset.license) + ([version.format] if version and version.format else []),
    }
    columns: list[SearchColumn] = []
    pii = False
    for position, column in enumerate(schema):
        description, column_pii = column_docs.get(column["name"], ("", False))
        pii = pii or column_pii
        fields["columns"] += identifier_terms(column["name"]) + terms(description)
        columns.append(
            SearchColumn(
                dataset_id=dataset.pk,
                name=column["name"],
                name_key=column["name"].lower(),
                type=str(column.get("type", ""))[:64],
                description=description,
                pii=column_pii,
                position=position,
            )
        )
    checkouts = int(getattr(dataset, "checkouts_90d", 0) or 0)
    updated: datetime = dataset.updated_at
    if version is not None and version.status_changed_at > updated:
        updated = version.status_changed_at
    document = SearchDocument(
        dataset_id=dataset.pk,
        slug=dataset.slug,
        title_key=dataset.title.strip().lower()[:200],
        team_id=dataset.team_id,
        visibility=dataset.visibility,
        license_key=dataset.license.strip().lower(),
        format=version.format if version else "",
        certified=certified is not None,
        pii=pii,
        quality=QUALITY.get(version.quality_status, "pending") if version else "none",
        row_count=version.row_count if version else None,
        updated_at=updated,
        checkouts_90d=checkouts,
        latest_number=version.number if version else None,
        certified_number=certified,
        boost=boost(
            checkouts_90d=checkouts,
            certified=certified is not None,
            deprecated=dataset.status == Dataset.Status.DEPRECATED,
        ),
        tag_names="\n".join(sorted(tags)),
    )
    return document, columns, fields, readme
