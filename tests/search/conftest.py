"""The fixture catalog for the search tests (tests/search/catalog.py), built fresh for each test."""

from __future__ import annotations

import pytest

from tests.search.catalog import Catalog, catalog_build


@pytest.fixture
def catalog(db: None) -> Catalog:
    return catalog_build()
