"""Columns indexed before their keys were folded are found without their accents once `migrate`
has run, with no rebuild."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.migrating import migrate, migrate_to_latest

BEFORE = [("search", "0017_byte_order_keys")]


@pytest.mark.django_db(transaction=True)
def test_existing_column_keys_are_folded_and_their_names_added():
    try:
        executor = migrate(BEFORE)
        old = executor.loader.project_state(list(executor.loader.applied_migrations)).apps
        team = old.get_model("accounts", "Team").objects.create(slug="geo", name="Geo")
        dataset = old.get_model("datasets", "Dataset").objects.create(slug="towns", title="Towns", team=team)
        Column = old.get_model("search", "SearchColumn")
        for position, name in enumerate(["Ville_Été", "plain_name"]):
            Column.objects.create(
                dataset_id=dataset.pk, name=name, name_key=name.lower(), type="string", position=position
            )
        old.get_model("search", "SearchColumnName").objects.create(name_key="ville_été")

        migrate_to_latest()

        with connection.cursor() as cursor:
            cursor.execute("SELECT name, name_key FROM search_column ORDER BY position")
            assert cursor.fetchall() == [("Ville_Été", "ville_ete"), ("plain_name", "plain_name")]
            cursor.execute("SELECT name_key FROM search_column_name WHERE name_key LIKE %s", ["ville%"])
            assert {row[0] for row in cursor.fetchall()} >= {"ville_ete"}
        # Back, the keys are as the code before looks them up.
        migrate(BEFORE)
        with connection.cursor() as cursor:
            cursor.execute("SELECT name_key FROM search_column ORDER BY position")
            assert [row[0] for row in cursor.fetchall()] == ["ville_été", "plain_name"]
    finally:
        migrate_to_latest()
