"""`manage.py search_rebuild` and the upgrade path: an existing catalog becomes searchable."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.sql import emit_post_migrate_signal

from accounts.models import Team
from search.indexer import search_index_dataset
from search.models import SearchDocument
from search.selectors import search_datasets
from tests.factories import DatasetFactory

pytestmark = pytest.mark.django_db


def test_rebuild_indexes_every_dataset_and_reports_progress(team: Team, outsider: Any) -> None:
    for number in range(3):
        DatasetFactory(
            slug=f"glacier-{number}", title=f"Glacier melt {number}", team=team, visibility="public"
        )
    SearchDocument.objects.all().delete()  # as if the index were lost
    assert search_datasets(user=outsider, q="glacier").total == 0

    out = StringIO()
    call_command("search_rebuild", stdout=out)

    assert "3/3 datasets" in out.getvalue()
    assert "Indexed 3 datasets" in out.getvalue()
    assert search_datasets(user=outsider, q="glacier").total == 3


def test_rebuild_drops_what_is_left_of_deleted_datasets(team: Team, outsider: Any) -> None:
    gone = DatasetFactory(slug="old-glacier", title="Old glacier", team=team, visibility="public")
    SearchDocument.objects.filter(pk=gone.pk).delete()
    gone.delete()  # the document cascades; a stale full-text row must not resurface

    call_command("search_rebuild", stdout=StringIO())
    reused = DatasetFactory(slug="moraine", title="New moraine", team=team, visibility="public")
    search_index_dataset(dataset_id=reused.pk)  # factories skip the services that index

    assert search_datasets(user=outsider, q="glacier").total == 0
    assert [hit.dataset.pk for hit in search_datasets(user=outsider, q="moraine").hits] == [reused.pk]


def test_the_end_of_migrate_indexes_datasets_that_have_no_document(team: Team, outsider: Any) -> None:
    DatasetFactory(slug="fjord-tides", title="Fjord tides", team=team, visibility="public")
    SearchDocument.objects.all().delete()  # a catalog from before search existed

    # What `migrate` sends when it is done (running migrate itself inside a test transaction is
    # refused by SQLite's schema editor).
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")

    assert [hit.dataset.slug for hit in search_datasets(user=outsider, q="fjord").hits] == ["fjord-tides"]
