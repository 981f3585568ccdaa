"""The whole catalog's facet counts are kept as the index is written (search.facets), and a search
with no words and no filters reads them instead of counting every document. What each persona
sees from them must be what counting gives: the same values and counts as a search that finds
the same datasets the long way (a negated filter on a tag nobody has), and the same totals for
one facet value, before and after the catalog changes."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.test import override_settings

from accounts.services import team_update
from datasets.access import dataset_access
from datasets.models import Dataset
from datasets.services.access_requests import access_request_create, access_request_decide
from datasets.services.datasets import dataset_create, dataset_update
from search.indexer import search_rebuild
from search.models import SearchFacetCount
from search.selectors import search_datasets
from tests.search.catalog import Catalog

# Finds every dataset an empty search finds, but through the counting path (it is a filter).
THE_LONG_WAY = "-tag:no-such-tag"
SINGLE_VALUES = [
    "tag:nlp",
    "tag:clinical",
    "team:health",
    "team:commerce",
    "certified:yes",
    "certified:no",
    "visibility:restricted",
    "visibility:internal",
    "license:cc-by-4.0",
    "pii:yes",
    "quality:none",
]


def counted(user: User | AnonymousUser, q: str) -> tuple[int, dict[str, dict[str, int]]]:
    results = search_datasets(user=user, q=q, per_page=1)
    assert results.facets is not None
    return results.total, {
        name: {v.value: v.count for v in values} for name, values in results.facets.items()
    }


def assert_kept_counts_agree(catalog: Catalog) -> None:
    users: list[User | AnonymousUser] = [*catalog.users.values(), AnonymousUser()]
    admin = User.objects.filter(is_superuser=True).first()
    if admin is not None:
        users.append(admin)
    for user in users:
        assert counted(user, "") == counted(user, THE_LONG_WAY), user
        for q in SINGLE_VALUES:
            # The total of one facet value is kept too; the long way counts it.
            assert search_datasets(user=user, q=q).total == counted(user, f"{q} {THE_LONG_WAY}")[0], (user, q)


@pytest.fixture
def admin(catalog: Catalog) -> User:
    return User.objects.create_superuser(username="root", password="pw-for-tests-1")


@override_settings(GRANARY_ANONYMOUS_READ=True)
def test_every_persona_sees_the_kept_counts_that_counting_gives(catalog: Catalog, admin: User) -> None:
    assert_kept_counts_agree(catalog)
    otto = counted(catalog.users["otto"], "")[1]
    hugo = counted(catalog.users["hugo"], "")[1]
    assert "internal" not in otto["visibility"]
    # Both see health's restricted datasets; only hugo counts their hidden fields (licence, PII).
    assert otto["team"]["health"] == hugo["team"]["health"]
    assert sum(otto["pii"].values()) < sum(hugo["pii"].values())


@override_settings(GRANARY_ANONYMOUS_READ=True)
def test_the_kept_counts_follow_edits_visibility_grants_renames_and_deletions(
    catalog: Catalog, admin: User
) -> None:
    dataset_update(dataset=catalog["iris"], changes={"tags": ["botany", "tutorial"]})
    dataset_update(dataset=catalog["tree-census"], changes={"visibility": Dataset.Visibility.INTERNAL})
    dataset_update(dataset=catalog["gtfs-stops"], changes={"visibility": Dataset.Visibility.RESTRICTED})
    assert_kept_counts_agree(catalog)
    assert counted(catalog.users["otto"], "")[1]["tag"].get("botany") == 1

    gina = catalog.users["gina"]
    dataset = catalog["patient-visits"]
    request = access_request_create(
        user=gina, dataset=dataset, access=dataset_access(user=gina, dataset=dataset), reason="Study"
    )
    pii_before = sum(counted(gina, "")[1]["pii"].values())
    access_request_decide(user=catalog.users["hugo"], request=request, approve=True)
    assert sum(counted(gina, "")[1]["pii"].values()) == pii_before + 1
    assert_kept_counts_agree(catalog)

    team_update(actor=catalog.users["maya"], team=catalog.teams["mobility"], name="Transport Lab")
    total = counted(catalog.users["otto"], "")[0]
    draft = dataset_create(
        user=catalog.users["maya"],
        team=catalog.teams["mobility"],
        slug="bike-docks",
        title="Bike docks",
        license="cc-by-4.0",
        visibility=Dataset.Visibility.PUBLIC,
        tags=["transport", "draft"],
    )
    assert counted(catalog.users["otto"], "")[0] == total + 1
    assert_kept_counts_agree(catalog)
    draft.delete()  # outright, as an admin may: the document goes by cascade
    assert_kept_counts_agree(catalog)


def test_a_rebuild_keeps_the_counts_the_index_kept_as_it_went(catalog: Catalog) -> None:
    dataset_update(dataset=catalog["iris"], changes={"tags": ["botany"]})
    dataset_update(dataset=catalog["tree-census"], changes={"visibility": Dataset.Visibility.INTERNAL})
    kept = SearchFacetCount.objects.filter(count__gt=0)
    before = set(kept.values_list("team_id", "visibility", "facet", "value", "count"))
    search_rebuild()
    after = set(SearchFacetCount.objects.values_list("team_id", "visibility", "facet", "value", "count"))
    assert before == after
    assert (0, "public", "tag", "botany", 1) in after


@pytest.mark.parametrize("sort", ["popular", "updated"])
def test_pages_without_words_follow_one_order_whatever_their_size(catalog: Catalog, sort: str) -> None:
    # Small pages walk an index over readable datasets when that is the page; one large page
    # orders every match at once. Both must give the same datasets in the same order.
    for username in ("otto", "hugo", "carla"):
        user = catalog.users[username]
        for q in (
            "",
            "team:health",
            "certified:yes",
            "visibility:restricted",
            "tag:nlp",
            "license:cc-by-4.0",
        ):
            whole = search_datasets(user=user, q=q, sort=sort, per_page=100)
            paged: list[str] = []
            for page in range(1, whole.pages * 20 + 1):
                found = search_datasets(user=user, q=q, sort=sort, per_page=5, page=page)
                assert found.total == whole.total, (username, q)
                if not found.hits:
                    break
                paged += [hit.dataset.slug for hit in found.hits]
            assert paged == [hit.dataset.slug for hit in whole.hits], (username, q, sort)
