"""What no dataset's text may do to the index: outgrow what the database can hold for one dataset
(PostgreSQL's tsvector holds 1 MB, positions up to 16,383, B-tree keys of about 2.7 kB), and so
stop its card from being saved or its new version from becoming ready; or push its later fields
(README, licence, format) out of reach. Each holds on both databases."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.db import connection

from datasets.models import Dataset, Version
from datasets.services.columns import column_docs_set
from datasets.services.datasets import dataset_update
from search.selectors import columns_search, search_datasets

pytestmark = pytest.mark.django_db


def parquet(columns: dict[str, list[object]]) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table(columns), sink)
    return sink.getvalue()


def found(owner, q: str) -> list[str]:
    return [hit.dataset.slug for hit in search_datasets(user=owner, q=q, per_page=100).hits]


def long_word(n: int) -> str:
    """A distinct word of 100 four-byte letters (CJK Extension B): 400 bytes as a lexeme."""
    head = "".join(chr(0x20000 + ((n >> (4 * k)) & 0xF) + 16 * k) for k in range(4))
    return head + "".join(chr(0x20100 + (n * 7 + j) % 2000) for j in range(96))


def test_column_docs_of_more_than_a_megabyte_of_words_are_saved_and_the_dataset_stays_found(
    public_dataset: Dataset, publish, owner
) -> None:
    columns = {f"c{i}": [1, 2] for i in range(80)}
    assert publish(public_dataset, data=parquet(columns)).status == Version.Status.READY
    # 80 descriptions of 49 distinct 400-byte words each: 1.5 MB of distinct words.
    words = iter(range(1, 10_000))
    docs = [
        {"name": f"c{i}", "description": " ".join(long_word(next(words)) for _ in range(49))}
        for i in range(80)
    ]
    docs[0]["description"] = "mangrove " + docs[0]["description"]
    column_docs_set(dataset=public_dataset, user=owner, docs=docs)

    assert found(owner, "churn ") == ["churn"]
    assert found(owner, "mangrove ") == ["churn"]
    # A new version of it is ingested, and becomes ready, with the same words to index.
    version = publish(public_dataset, data=parquet({**columns, "extra": [3, 4]}))
    assert version.status == Version.Status.READY, version.failure_reason
    assert found(owner, "column:extra") == ["churn"]


def test_a_column_name_longer_than_the_index_keeps_is_ingested_and_the_others_found(
    public_dataset: Dataset, publish, owner
) -> None:
    long_name = "x" * 3000
    wide_name = "\U00020000" * 1500  # 6 kB in UTF-8: past a B-tree key's 2.7 kB on PostgreSQL
    version = publish(public_dataset, data=parquet({long_name: [1], wide_name: [2], "temp_max": [3.5]}))

    assert version.status == Version.Status.READY, version.failure_reason
    assert [column["name"] for column in version.schema] == [long_name, wide_name, "temp_max"]
    assert found(owner, "column:temp_max") == ["churn"]
    assert found(owner, "column:xxxxxxxxxx") == ["churn"]
    columns = columns_search(user=owner, q="xxxxxxxxxx").columns
    assert [column.dataset_slug for column in columns] == ["churn"]


def test_readme_licence_and_format_are_found_beside_thousands_of_documented_columns(
    public_dataset: Dataset, publish, owner
) -> None:
    columns = {f"col{i}": [1] for i in range(1500)}
    assert publish(public_dataset, data=parquet(columns)).status == Version.Status.READY
    describe = "measured value of the sensor in the field station during the day"
    column_docs_set(
        dataset=public_dataset,
        user=owner,
        docs=[{"name": f"col{i}", "description": describe} for i in range(1500)],
    )
    dataset_update(
        dataset=public_dataset,
        changes={"readme": "Collected by the zanzibar survey team.", "license": "MIT"},
        user=owner,
    )

    assert found(owner, "zanzibar ") == ["churn"]
    assert found(owner, '"zanzibar survey"') == ["churn"]
    assert found(owner, "mit ") == ["churn"]
    assert found(owner, "parquet ") == ["churn"]
    assert found(owner, "col1499 ") == ["churn"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite compares bytes already")
def test_the_index_keys_compare_bytes_on_postgresql_whatever_the_databases_collation(
    public_dataset: Dataset, publish, owner
) -> None:
    """Under a glibc collation (en_US.UTF-8) comparing two words of CJK Extension B letters took
    78 ms, and the test above inserted its vocabulary for half an hour. CI's PostgreSQL is made
    with en_US.UTF-8 for this; the columns' collation says it for any cluster, rebuilt included."""
    from django.core.management import call_command

    keys = [
        ("search_term", "term"),
        ("search_column", "name"),
        ("search_column", "name_key"),
        ("search_column_name", "name_key"),
        ("search_document", "slug"),
        ("search_document", "title_key"),
        ("search_document", "license_key"),
        ("search_facet_count", "value"),
    ]

    def collations() -> dict[tuple[str, str], str]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT table_name, column_name, collation_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name LIKE 'search%%'"
            )
            return {(table, column): collation for table, column, collation in cursor.fetchall()}

    assert {key: collations()[key] for key in keys} == {key: "C" for key in keys}
    publish(public_dataset, data=parquet({"ville_été": [1]}))
    call_command("search_rebuild", "--jobs", "0", stdout=io.StringIO(), stderr=io.StringIO())
    assert {key: collations()[key] for key in keys} == {key: "C" for key in keys}
    assert found(owner, "ville_ete ") == ["churn"]


def test_column_names_are_found_without_their_accents_as_free_words_are(
    public_dataset: Dataset, publish, owner
) -> None:
    publish(public_dataset, data=parquet({"Ville_Été": [1], "température_max": [2.5]}))

    assert found(owner, "ville_ete ") == ["churn"]  # a free word: accents folded
    for q in ("column:ville_ete", "column:Ville_Été", "column:temperature", "column:TEMPÉRATURE"):
        assert found(owner, q) == ["churn"], q
    assert [c.name for c in columns_search(user=owner, q="ete").columns] == ["Ville_Été"]
    assert [c.name for c in columns_search(user=owner, q="temperature_max").columns] == ["température_max"]
    (hit,) = search_datasets(user=owner, q="column:temperature").hits
    assert [c.name for c in hit.matched_columns] == ["température_max"]
