"""`manage.py seed_demo`: the demo `make run` starts with, safe to run again."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from datasets import storage
from datasets.models import Dataset, Version

pytestmark = pytest.mark.django_db


def test_seed_demo_creates_three_ready_datasets_and_can_run_again():
    out = io.StringIO()
    call_command("seed_demo", stdout=out, stderr=io.StringIO())
    assert "Demo data is ready." in out.getvalue()
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.check_password("granary-demo")

    datasets = {d.slug: d for d in Dataset.objects.all()}
    assert {d.visibility for d in datasets.values()} == {"public", "internal", "restricted"}
    versions = Version.objects.all()
    assert [(v.status, v.format) for v in versions.order_by("dataset__slug")] == [
        ("ready", "csv"),
        ("ready", "jsonl"),
        ("ready", "tsv"),
    ]
    assert Version.objects.get(dataset__slug="iris").row_count == 150
    for version in versions:
        assert storage.blob_sha256(version.sha256) == version.sha256
        assert datasets[version.dataset.slug].license

    call_command("seed_demo", stdout=io.StringIO(), stderr=io.StringIO())
    assert Version.objects.count() == 3
    assert Dataset.objects.count() == 3
