"""The fixture catalog for the search tests (tests/search/catalog.py): built once per module,
and seen by each test as built."""

from __future__ import annotations

from tests.search.catalog import catalog, catalog_built, catalog_only_where_asked

__all__ = ["catalog", "catalog_built", "catalog_only_where_asked"]
