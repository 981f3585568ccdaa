"""Datasets registered before their list fields existed get them filled by `migrate`, as the
services would have kept them: latest and certified version, counts, and when the newest version
became ready."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from datasets.models import Dataset
from tests.migrating import migrate, migrate_to_latest

BEFORE = [("datasets", "0011_version_quality_status"), ("quality", "0002_version_quality_status_filled")]


@pytest.mark.django_db(transaction=True)
def test_existing_datasets_get_their_list_fields_filled():
    try:
        executor = migrate(BEFORE)
        old = executor.loader.project_state(list(executor.loader.applied_migrations)).apps
        OldDataset, Blob, Version, Checkout, CheckoutItem = (
            old.get_model("datasets", name)
            for name in ("Dataset", "Blob", "Version", "Checkout", "CheckoutItem")
        )
        team = old.get_model("accounts", "Team").objects.create(slug="ml-core", name="ML Core")
        churn = OldDataset.objects.create(slug="churn", title="Churn", team=team)
        empty = OldDataset.objects.create(slug="empty", title="Empty", team=team)
        ready_at = timezone.now() - timedelta(days=3)

        def version(number: int, status: str, quality: str | None = None):
            blob = Blob.objects.create(sha256=f"{number:064x}", size=10)
            reason = "broken" if status == "failed" else ""
            row = Version.objects.create(
                dataset=churn,
                number=number,
                blob=blob,
                size=10,
                status=status,
                failure_reason=reason,
                quality_status=quality,
            )
            Version.objects.filter(pk=row.pk).update(status_changed_at=ready_at + timedelta(hours=number))
            return row

        certified = version(1, "ready", "passed")
        latest = version(2, "ready", "failed")
        version(3, "failed")
        version(4, "processing")
        for days in (1, 30, 120):
            checkout = Checkout.objects.create(id=uuid.uuid4(), purpose="train")
            Checkout.objects.filter(pk=checkout.pk).update(created_at=timezone.now() - timedelta(days=days))
            for position in (0, 1):  # twice in one checkout: it counts once
                CheckoutItem.objects.create(
                    checkout=checkout,
                    position=position,
                    ref="churn",
                    dataset=churn,
                    version=latest,
                    sha256="a" * 64,
                )

        migrate_to_latest()

        filled = Dataset.objects.get(slug="churn")
        assert (filled.latest_version_id, filled.certified_version_id) == (latest.pk, certified.pk)
        assert (filled.version_count, filled.checkout_count, filled.checkouts_90d) == (4, 3, 2)
        assert filled.last_version_at == ready_at + timedelta(hours=2)
        nothing = Dataset.objects.get(pk=empty.pk)
        assert (nothing.latest_version_id, nothing.version_count, nothing.checkout_count) == (None, 0, 0)
    finally:
        migrate_to_latest()
