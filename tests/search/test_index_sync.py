"""The index follows the catalog inside the transaction that changes it: card edits, new versions
and their columns, column docs, visibility, certification, checkouts and team renames are found
by the next search, with no rebuild."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import IntegrityError, connection, transaction

from accounts.services import team_update
from datasets.models import Dataset, Version
from datasets.references import version_latest
from datasets.services.checkouts import checkout_create
from datasets.services.columns import column_docs_set
from datasets.services.datasets import dataset_create, dataset_update
from search import indexer
from search.models import SearchDocument, SearchText
from search.selectors import search_datasets
from tests.conftest import search_writes
from tests.search.catalog import Catalog


def slugs(catalog: Catalog, q: str, user: str = "otto") -> list[str]:
    return [hit.dataset.slug for hit in search_datasets(user=catalog.users[user], q=q, per_page=100).hits]


# --- the card ------------------------------------------------------------------------------------


def test_an_edited_summary_is_found_by_its_new_words_and_not_its_old_ones(catalog: Catalog) -> None:
    assert "gtfs-stops" in slugs(catalog, "tram")
    dataset_update(
        dataset=catalog["gtfs-stops"],
        changes={"summary": "Ferry piers and bus stops of the regional network."},
        user=catalog.users["maya"],
    )
    assert "gtfs-stops" in slugs(catalog, "ferry")
    assert "gtfs-stops" not in slugs(catalog, "tram")


def test_an_edited_title_is_found_and_matches_exactly(catalog: Catalog) -> None:
    assert slugs(catalog, "forest") == []
    dataset_update(dataset=catalog["tree-census"], changes={"title": "Urban forest"})
    assert slugs(catalog, "urban forest")[:1] == ["tree-census"]


def test_edited_tags_are_found_and_the_old_ones_are_not(catalog: Catalog) -> None:
    dataset_update(dataset=catalog["iris"], changes={"tags": ["botany", "tutorial"]})
    assert slugs(catalog, "tag:botany") == ["iris"]
    assert "iris" not in slugs(catalog, "tag:classification")
    results = search_datasets(user=catalog.users["otto"], q="tag:tutorial")
    assert {v.value: v.count for v in results.facets["tag"]}["botany"] == 1


def test_an_edited_readme_is_found_by_its_words(catalog: Catalog) -> None:
    assert slugs(catalog, "vega") == ["seattle-weather"]
    dataset_update(
        dataset=catalog["iris"],
        changes={"readme": "# Iris\n\nPlotted with [Vega](https://vega.github.io/) in the tutorials.\n"},
    )
    assert set(slugs(catalog, "vega")) == {"seattle-weather", "iris"}
    assert "iris" not in slugs(catalog, "fisher")


def test_an_edited_licence_is_what_the_licence_filter_sees(catalog: Catalog) -> None:
    dataset_update(dataset=catalog["fx-rates"], changes={"license": "CC-BY-4.0"})
    assert "fx-rates" in slugs(catalog, "license:cc-by-4.0")
    assert "fx-rates" not in slugs(catalog, "license:cc0-1.0")


def _ferry_departures(catalog: Catalog) -> Dataset:
    """A new public dataset with no versions, registered as the web form and the API do."""
    return dataset_create(
        user=catalog.users["maya"],
        team=catalog.teams["mobility"],
        slug="ferry-departures",
        title="Ferry departures",
        summary="Scheduled and actual departures of the fjord ferries.",
        visibility=Dataset.Visibility.PUBLIC,
        tags=["transit"],
    )


def test_a_new_dataset_is_found_at_once(catalog: Catalog) -> None:
    _ferry_departures(catalog)
    assert slugs(catalog, "ferry") == ["ferry-departures"]
    assert "ferry-departures" in slugs(catalog, "tag:transit")


def test_a_change_rolled_back_leaves_the_index_as_it_was(catalog: Catalog) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        dataset_update(dataset=catalog["iris"], changes={"summary": "Orchids of the rain forest."})
        assert "iris" in slugs(catalog, "orchids")
        raise RuntimeError("abandon the edit")
    assert "iris" not in slugs(catalog, "orchids")
    assert "iris" in slugs(catalog, "sepal")


def test_a_re_index_whose_write_fails_raises_the_database_error_and_keeps_the_index(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On PostgreSQL a re-index sends its writes in one pipeline and hears of an error at its end:
    # it must come as Django's error, as a statement's does, and undo the whole re-index.
    def failing(*args: object) -> None:  # a write the database refuses: a term is never NULL
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO search_term (term) VALUES (NULL)")

    monkeypatch.setattr(indexer, "_insert_new", failing)
    with pytest.raises(IntegrityError), transaction.atomic():
        dataset_update(dataset=catalog["iris"], changes={"summary": "Orchids of the rain forest."})
    monkeypatch.undo()
    assert "iris" not in slugs(catalog, "orchids")
    assert "iris" in slugs(catalog, "sepal")
    assert SearchDocument.objects.filter(dataset_id=catalog["iris"].pk).count() == 1


# --- versions and columns ------------------------------------------------------------------------


def test_a_new_version_brings_its_columns_and_drops_the_old_ones(
    catalog: Catalog, publish: Callable[..., Version]
) -> None:
    seattle = catalog["seattle-weather"]
    assert "seattle-weather" in slugs(catalog, "column:temp_max")
    version = publish(seattle, data=b"date,precip_in,tmax_f\n2016-01-01,0.1,44\n2016-01-02,0.0,47\n")
    assert version.status == Version.Status.READY and version.number == 2
    assert slugs(catalog, "column:tmax_f") == ["seattle-weather"]
    assert "seattle-weather" not in slugs(catalog, "column:temp_max")
    assert "seattle-weather" in slugs(catalog, "precip_in")
    assert "seattle-weather" in slugs(catalog, "rows:2")
    hit = search_datasets(user=catalog.users["otto"], q="seattle-weather").hits[0]
    assert hit.latest_version == 2
    assert [
        column.name
        for column in search_datasets(user=catalog.users["otto"], q="tmax_f").hits[0].matched_columns
    ] == ["tmax_f"]


def test_a_version_still_processing_changes_nothing_searchable(
    catalog: Catalog, publish: Callable[..., Version]
) -> None:
    publish(catalog["seattle-weather"], data=b"date,precip_in\n2016-01-01,0.1\n", ingest=False)
    assert "seattle-weather" in slugs(catalog, "column:temp_max")
    assert slugs(catalog, "column:precip_in") == []


def test_a_failed_ingest_leaves_the_last_ready_columns(
    catalog: Catalog, publish: Callable[..., Version]
) -> None:
    failed = publish(catalog["seattle-weather"], data=b"day,rain_mm\n1,2\n3,4,5\n")
    assert failed.status == Version.Status.FAILED
    assert "seattle-weather" in slugs(catalog, "column:temp_max")
    assert slugs(catalog, "column:rain_mm") == []


def test_the_indexed_latest_version_is_the_catalogs_latest_ready_one(
    catalog: Catalog, publish: Callable[..., Version]
) -> None:
    # The indexer picks the newest ready version in SQL of its own (the ORM's subquery cost a
    # re-index more than its statements); it must pick what datasets.references picks, whatever
    # state the newer versions are in.
    publish(catalog["seattle-weather"], data=b"date,precip_in\n2016-01-01,0.1\n", ingest=False)
    publish(catalog["iris"], data=b"a,b\n1,2\n3,4,5\n")
    indexed = dict(SearchDocument.objects.values_list("dataset_id", "latest_number"))
    for dataset in Dataset.objects.all():
        latest = version_latest(dataset=dataset)
        assert indexed[dataset.pk] == (latest.number if latest else None), dataset.slug
    assert indexed[catalog["seattle-weather"].pk] == 1


def test_a_published_version_rewrites_its_document_once_when_created_and_once_when_ingested(
    catalog: Catalog, publish: Callable[..., Version], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its status, the quality standing recorded for it and the dataset's list fields are each
    # announced: each asked for the document again, six writes of it per version.
    written = search_writes(monkeypatch)
    seattle = catalog["seattle-weather"]
    version = publish(seattle, data=b"date,wind_kph\n2016-01-01,12\n")
    assert version.status == Version.Status.READY
    assert written == [seattle.pk, seattle.pk]
    assert slugs(catalog, "column:wind_kph") == ["seattle-weather"]


def test_a_column_description_is_found_once_written(catalog: Catalog) -> None:
    assert slugs(catalog, "anemometer") == []
    column_docs_set(
        dataset=catalog["seattle-weather"],
        user=catalog.users["wendy"],
        docs=[{"name": "wind", "description": "Mean wind speed from the airport anemometer, m/s"}],
    )
    assert slugs(catalog, "anemometer") == ["seattle-weather"]


def test_a_column_flagged_personal_changes_the_pii_filter(catalog: Catalog) -> None:
    assert "support-tickets" not in slugs(catalog, "pii:yes")
    column_docs_set(
        dataset=catalog["support-tickets"],
        user=catalog.users["nils"],
        docs=[{"name": "email", "description": "The customer's address", "pii": True}],
    )
    assert "support-tickets" in slugs(catalog, "column:email pii:yes")
    hit = search_datasets(user=catalog.users["otto"], q="column:email support").hits[0]
    assert [(column.name, column.pii) for column in hit.matched_columns] == [("email", True)]


# --- visibility ----------------------------------------------------------------------------------


def test_a_dataset_made_internal_disappears_for_outsiders_at_once(catalog: Catalog) -> None:
    assert "fx-rates" in slugs(catalog, "fx rates")
    dataset_update(dataset=catalog["fx-rates"], changes={"visibility": Dataset.Visibility.INTERNAL})
    assert "fx-rates" not in slugs(catalog, "fx rates")
    assert "fx-rates" not in slugs(catalog, "")
    assert "fx-rates" in slugs(catalog, "fx rates", user="fiona")


def test_an_internal_dataset_made_public_is_found_by_everyone(catalog: Catalog) -> None:
    assert slugs(catalog, "salary") == []
    dataset_update(dataset=catalog["payroll-2026"], changes={"visibility": Dataset.Visibility.PUBLIC})
    assert slugs(catalog, "salary") == ["payroll-2026"]


def test_a_dataset_made_restricted_keeps_its_card_and_hides_its_data(catalog: Catalog) -> None:
    assert "heart-disease" in slugs(catalog, "column:chol")
    dataset_update(dataset=catalog["heart-disease"], changes={"visibility": Dataset.Visibility.RESTRICTED})
    assert "heart-disease" in slugs(catalog, "cleveland")
    assert "heart-disease" not in slugs(catalog, "column:chol")
    assert "heart-disease" not in slugs(catalog, "cholesterol")
    assert "heart-disease" not in slugs(catalog, "tag:tutorial")
    assert "heart-disease" in slugs(catalog, "column:chol", user="hugo")


# --- certification and popularity --------------------------------------------------------------


GOOD = b"id,age,country\n1,34,NO\n2,51,PE\n3,29,IN\n4,40,NO\n"
BAD = b"id,age,country\n1,34,NO\n2,-5,PE\n3,,IN\n4,240,XX\n"
SUITE = [
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "age"}},
    {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "age", "min_value": 0, "max_value": 120},
    },
]


def test_certification_and_failure_are_what_the_quality_filters_see(
    catalog: Catalog, publish: Callable[..., Version]
) -> None:
    from quality.services import suite_save, validation_queue, validation_run

    bergen = catalog["city-bike-bergen"]
    maya = catalog.users["maya"]
    assert "city-bike-bergen" not in slugs(catalog, "certified:yes")
    good = publish(bergen, data=GOOD, user=maya)
    suite_save(dataset=bergen, user=maya, expectations=SUITE)
    run = validation_run(run_id=validation_queue(version=good, trigger="test").pk)
    assert run is not None and run.status == "passed"
    assert "city-bike-bergen" in slugs(catalog, "certified:yes")
    assert "city-bike-bergen" in slugs(catalog, "quality:passing")
    hit = search_datasets(user=catalog.users["otto"], q="city-bike-bergen").hits[0]
    assert hit.certified_version == good.number

    bad = publish(bergen, data=BAD, user=maya)
    run = validation_run(run_id=validation_queue(version=bad, trigger="test").pk)
    assert run is not None and run.status == "failed"
    assert "city-bike-bergen" in slugs(catalog, "quality:failing")
    # The older version stays certified: the dataset still has a certified version.
    assert "city-bike-bergen" in slugs(catalog, "certified:yes")


def test_checkouts_move_a_dataset_up_among_equal_matches(catalog: Catalog) -> None:
    assert slugs(catalog, "taxi trips")[:2] == ["taxi-trips-2024", "taxi-trips-2023"]
    maya = catalog.users["maya"]
    for n in range(6):
        checkout_create(user=maya, refs=["taxi-trips-2023"], purpose=f"fare model run {n}")
    assert slugs(catalog, "taxi trips")[:2] == ["taxi-trips-2023", "taxi-trips-2024"]
    hit = search_datasets(user=catalog.users["otto"], q="taxi-trips-2023").hits[0]
    assert hit.checkouts_90d == 7


# --- teams ---------------------------------------------------------------------------------------


def test_a_renamed_team_is_found_by_its_new_name_and_not_its_old_one(catalog: Catalog) -> None:
    assert slugs(catalog, "transport") == []
    team_update(actor=catalog.users["maya"], team=catalog.teams["mobility"], name="Transport Lab")
    assert set(slugs(catalog, "transport")) == {
        "taxi-trips-2023",
        "taxi-trips-2024",
        "city-bike-oslo",
        "city-bike-bergen",
        "gtfs-stops",
    }
    assert slugs(catalog, "urban mobility") == []
    results = search_datasets(user=catalog.users["otto"], q="team:mobility")
    assert {v.value: v.label for v in results.facets["team"]} == {"mobility": "Transport Lab"}


# --- a dataset deleted -----------------------------------------------------------------------------


def test_a_deleted_dataset_takes_its_search_rows_with_it(catalog: Catalog) -> None:
    # The search tables hold no foreign keys to the catalog (migration search 0013): deleting a
    # dataset (one without versions, from the admin or a shell) must still take its rows.
    dataset = _ferry_departures(catalog)
    assert slugs(catalog, "ferry") == ["ferry-departures"]
    dataset_id = dataset.pk
    dataset.delete()
    assert not SearchDocument.objects.filter(dataset_id=dataset_id).exists()
    assert not SearchText.objects.filter(dataset_id=dataset_id).exists()
    assert slugs(catalog, "ferry") == []
