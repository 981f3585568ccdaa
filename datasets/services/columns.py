"""Writes for column documentation."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

from core.errors import InvalidInput
from datasets.models import ColumnDoc, Dataset
from datasets.signals import dataset_changed


@transaction.atomic
def column_docs_set(*, dataset: Dataset, user: User, docs: Iterable[dict[str, Any]]) -> list[ColumnDoc]:
    """Describe columns by name; an empty description and no PII flag removes the entry."""
    saved = []
    for doc in docs:
        name = str(doc.get("name", "")).strip()
        if not name:
            raise InvalidInput("Each column entry needs a name.", field="name")
        description = str(doc.get("description", "")).strip()
        pii = bool(doc.get("pii", False))
        if len(description) > 5000:
            raise InvalidInput(
                f"The description of '{name}' is longer than 5000 characters.", field="description"
            )
        if not description and not pii:
            ColumnDoc.objects.filter(dataset=dataset, name=name).delete()
            continue
        entry, _ = ColumnDoc.objects.update_or_create(
            dataset=dataset, name=name, defaults={"description": description, "pii": pii, "updated_by": user}
        )
        saved.append(entry)
    dataset_changed.send(sender=Dataset, dataset_id=dataset.pk)
    return saved
