"""What a dataset's list row shows (latest and certified version, version and checkout counts, when
its newest version became ready) is kept on the dataset by the services that change it, and the
lists read it: a constant number of queries whatever the number of rows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from datasets.models import Checkout, Dataset, Tag
from datasets.services.checkouts import checkout_create
from datasets.services.columns import column_docs_set
from datasets.services.datasets import dataset_create, dataset_update
from datasets.services.summary import datasets_popularity_refresh
from datasets.services.versions import version_ingest
from datasets.signals import dataset_changed, datasets_popularity_changed
from quality.services import suite_save, validation_queue, validation_run
from tests.factories import DatasetFactory

pytestmark = pytest.mark.django_db

GOOD = b"id,age,country\n1,34,NO\n2,51,PE\n3,29,IN\n"
SUITE = [
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "age"}},
    {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1, "max_value": 100}},
]
STRICTER = [{"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 10, "max_value": 100}}]


def rows(n: int) -> bytes:
    """A small CSV, different for each n (a dataset refuses the same bytes twice)."""
    return f"id,age,country\n{n},34,NO\n".encode()


def fresh(dataset: Dataset) -> Dataset:
    dataset.refresh_from_db()
    return dataset


@pytest.fixture
def announced() -> Iterator[list[int]]:
    """The dataset ids `dataset_changed` and `datasets_popularity_changed` announce, in order."""
    ids: list[int] = []

    def listen(sender: Any, dataset_id: int, **kwargs: Any) -> None:
        ids.append(dataset_id)

    def listen_many(sender: Any, dataset_ids: list[int], **kwargs: Any) -> None:
        ids.extend(dataset_ids)

    dataset_changed.connect(listen, dispatch_uid="test_dataset_summary")
    datasets_popularity_changed.connect(listen_many, dispatch_uid="test_dataset_summary_many")
    yield ids
    dataset_changed.disconnect(dispatch_uid="test_dataset_summary")
    datasets_popularity_changed.disconnect(dispatch_uid="test_dataset_summary_many")


def test_a_new_version_counts_at_once_and_becomes_latest_when_its_ingest_ends_ready(public_dataset, publish):
    first = publish(public_dataset, data=rows(1))
    second = publish(public_dataset, data=rows(2), ingest=False)

    dataset = fresh(public_dataset)
    assert dataset.version_count == 2
    assert dataset.latest_version == first  # the second is still processing
    assert dataset.last_version_at == first.status_changed_at

    version_ingest(version_id=second.pk)
    second.refresh_from_db()
    dataset = fresh(public_dataset)
    assert (dataset.latest_version, dataset.last_version_at) == (second, second.status_changed_at)


def test_a_version_whose_ingest_fails_counts_but_never_becomes_latest(public_dataset, publish):
    good = publish(public_dataset, data=rows(1))
    broken = publish(public_dataset, data=b"a,b\n1,2\n3,4,5\n")

    assert broken.status == "failed"
    dataset = fresh(public_dataset)
    assert (dataset.version_count, dataset.latest_version, dataset.last_version_at) == (
        2,
        good,
        good.status_changed_at,
    )


def test_a_dataset_without_versions_has_nothing_to_show(public_dataset):
    dataset = fresh(public_dataset)
    assert (dataset.version_count, dataset.latest_version, dataset.certified_version) == (0, None, None)
    assert (dataset.checkout_count, dataset.checkouts_90d, dataset.last_version_at) == (0, 0, None)


def test_a_passing_run_against_a_new_suite_makes_the_version_certified(public_dataset, publish, maintainer):
    version = publish(public_dataset, data=GOOD)
    suite_save(dataset=public_dataset, user=maintainer, expectations=SUITE)
    assert fresh(public_dataset).certified_version is None  # not run yet

    run = validation_run(run_id=validation_queue(version=version, trigger="test").pk)

    assert run is not None and run.status == "passed", run and run.results
    assert fresh(public_dataset).certified_version == version


def test_a_suite_the_version_fails_takes_its_certification_away(public_dataset, publish, maintainer):
    version = publish(public_dataset, data=GOOD)
    suite_save(dataset=public_dataset, user=maintainer, expectations=SUITE)
    validation_run(run_id=validation_queue(version=version, trigger="test").pk)
    assert fresh(public_dataset).certified_version == version

    suite_save(dataset=public_dataset, user=maintainer, expectations=STRICTER)
    run = validation_run(run_id=validation_queue(version=version, trigger="test").pk)

    assert run is not None and run.status == "failed"
    assert fresh(public_dataset).certified_version is None
    assert fresh(public_dataset).latest_version == version


def test_each_checkout_counts_once_for_every_dataset_it_pulls(public_dataset, publish, member, team):
    events = DatasetFactory(slug="events", team=team)
    publish(public_dataset, data=rows(1))
    publish(events, data=rows(2))

    checkout_create(user=member, refs=["churn@latest", "churn@1", "events"], purpose="train v1")
    checkout_create(user=member, refs=["churn"], purpose="train v2")

    assert (fresh(public_dataset).checkout_count, fresh(public_dataset).checkouts_90d) == (2, 2)
    assert (fresh(events).checkout_count, fresh(events).checkouts_90d) == (1, 1)


def test_a_checkout_older_than_90_days_leaves_the_90_day_count_at_the_daily_refresh(
    public_dataset, publish, member, announced
):
    publish(public_dataset, data=rows(1))
    old = checkout_create(user=member, refs=["churn"], purpose="last spring")
    checkout_create(user=member, refs=["churn"], purpose="this week")
    Checkout.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=91))
    assert fresh(public_dataset).checkouts_90d == 2  # nothing has counted again yet
    announced.clear()

    assert datasets_popularity_refresh() == 1

    dataset = fresh(public_dataset)
    assert (dataset.checkout_count, dataset.checkouts_90d) == (2, 1)
    assert announced == [public_dataset.pk]  # the search index hears of it
    assert datasets_popularity_refresh() == 0  # and a second run finds nothing to change
    assert announced == [public_dataset.pk]


def test_the_popularity_refresh_runs_daily_from_celery_beat_and_from_manage_py(
    public_dataset, publish, member
):
    from config.celery import app

    publish(public_dataset, data=rows(1))
    checkout = checkout_create(user=member, refs=["churn"], purpose="long ago")
    Checkout.objects.filter(pk=checkout.pk).update(created_at=timezone.now() - timedelta(days=200))

    entry = settings.CELERY_BEAT_SCHEDULE["datasets-popularity-refresh"]
    assert entry["schedule"].remaining_estimate(timezone.now()) <= timedelta(days=1)
    assert app.tasks[entry["task"]].apply().get() == 1
    assert fresh(public_dataset).checkouts_90d == 0

    out = StringIO()
    call_command("popularity_refresh", stdout=out)
    assert out.getvalue().strip() == "Datasets whose checkout counts changed: 0."


def test_a_card_edit_or_column_docs_announce_the_dataset_to_the_search_index(
    team, maintainer, publish, announced
):
    dataset = dataset_create(user=maintainer, team=team, slug="signups", title="Signups")
    dataset_update(dataset=dataset, changes={"summary": "Who signed up, daily"}, user=maintainer)
    column_docs_set(dataset=dataset, user=maintainer, docs=[{"name": "email", "pii": True}])
    assert announced == [dataset.pk, dataset.pk, dataset.pk]

    publish(dataset, data=rows(1))
    assert set(announced) == {dataset.pk} and len(announced) > 3  # a new version is announced too


def make_catalog(n: int, *, team: Any, publish: Any, member: Any) -> None:
    """n datasets of every kind a list shows: versions, tags, checkouts, restricted ones."""
    for i in range(n):
        visibility = ["public", "internal", "restricted"][i % 3]
        dataset = DatasetFactory(slug=f"set-{n}-{i:02d}", team=team, visibility=visibility)
        dataset.tags.set([Tag.objects.get_or_create(name=f"tag-{i % 4}")[0]])
        publish(dataset, data=rows(i))
        if i % 2:
            checkout_create(user=member, refs=[dataset.slug], purpose="train")


def list_queries(client: Any) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/v1/datasets/?ordering=popular")
    assert response.status_code == 200
    return len(queries)


def test_the_dataset_list_costs_as_many_queries_for_30_datasets_as_for_3(
    api, team, publish, member, outsider, django_assert_max_num_queries
):
    client = api(outsider)
    make_catalog(3, team=team, publish=publish, member=member)
    few = list_queries(client)
    make_catalog(27, team=team, publish=publish, member=member)

    with django_assert_max_num_queries(few):
        response = client.get("/api/v1/datasets/?ordering=popular")

    rows_ = response.json()["results"]
    assert len(rows_) == 20  # 30 minus the internal ones an outsider does not see
    full = [row for row in rows_ if "restricted" not in row]
    assert full and all(row["latest_version"] == 1 and row["version_count"] == 1 for row in full)
    assert {row["checkout_count"] for row in full} == {0, 1}


def test_the_list_shows_what_the_dataset_keeps(api, public_dataset, publish, member):
    publish(public_dataset, data=rows(1))
    publish(public_dataset, data=rows(2))
    checkout_create(user=member, refs=["churn@1"], purpose="train")

    row = api(member).get("/api/v1/datasets/?q=churn").json()["results"][0]
    card = api(member).get("/api/v1/datasets/churn/").json()

    for shown in (row, card):
        assert {key: shown[key] for key in ("latest_version", "certified_version", "version_count")} == {
            "latest_version": 2,
            "certified_version": None,
            "version_count": 2,
        }
        assert shown["checkout_count"] == 1
