"""What search may reveal: an internal dataset of another team nothing reveals at all, and a
restricted dataset is found, counted and quoted by its card alone (slug, title, team, summary),
never by its tags, columns, README, licence or format, unless the user may read its data. A user
an owner grants access finds it by column; a revoked grant stops that at once."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from accounts.models import Team
from datasets.access import dataset_access
from datasets.models import AccessRequest, Dataset, Tag
from datasets.services.access_requests import (
    access_request_create,
    access_request_decide,
    access_request_revoke,
)
from search.indexer import search_index_dataset
from search.selectors import columns_search, search_datasets, search_suggest
from tests.search.catalog import INTERNAL, PUBLIC, RESTRICTED, SPECS, Catalog


def slugs(catalog: Catalog, q: str, user: str) -> set[str]:
    return {hit.dataset.slug for hit in search_datasets(user=catalog.users[user], q=q, per_page=100).hits}


def facet(catalog: Catalog, q: str, user: str, name: str) -> dict[str, int]:
    results = search_datasets(user=catalog.users[user], q=q, per_page=100)
    return {value.value: value.count for value in results.facets[name]}


def column_slugs(catalog: Catalog, q: str, user: str) -> set[str]:
    return {column.dataset_slug for column in columns_search(user=catalog.users[user], q=q).columns}


def suggested(catalog: Catalog, q: str, user: str) -> set[tuple[str, str]]:
    return {(s.kind, s.value) for s in search_suggest(user=catalog.users[user], q=q)}


# --- internal datasets of other teams -------------------------------------------------------------


def test_an_internal_dataset_of_another_team_is_found_by_nothing(catalog: Catalog) -> None:
    for q in ("payroll", "payroll-2026", "salary", "column:iban", "tag:hr", "hr", "finance team only"):
        assert "payroll-2026" not in slugs(catalog, q, "otto"), q
    assert "payroll-2026" in slugs(catalog, "payroll", "fiona")
    assert "payroll-2026" in slugs(catalog, "column:iban", "fiona")


def test_an_empty_search_lists_what_the_user_may_see_and_no_more(catalog: Catalog) -> None:
    results = search_datasets(user=catalog.users["otto"], q="", per_page=100)
    seen = {spec.slug for spec in SPECS if spec.visibility in (PUBLIC, RESTRICTED)}
    assert {hit.dataset.slug for hit in results.hits} == seen
    assert results.total == len(seen)
    mine = search_datasets(user=catalog.users["carla"], q="", per_page=100)
    assert mine.total == len(seen) + 1  # and crm-contacts, commerce's internal dataset


def test_facet_counts_leave_out_internal_datasets_of_other_teams(catalog: Catalog) -> None:
    commerce = sum(1 for spec in SPECS if spec.team == "commerce")
    assert facet(catalog, "", "otto", "team")["commerce"] == commerce - 1
    assert facet(catalog, "", "carla", "team")["commerce"] == commerce
    assert "internal" not in facet(catalog, "", "otto", "visibility")
    assert facet(catalog, "", "carla", "visibility")["internal"] == 1
    assert facet(catalog, "column:email", "otto", "tag") == {"marketing": 1, "pii": 1, "nlp": 1, "support": 1}
    carla = facet(catalog, "column:email", "carla", "tag")
    assert carla["pii"] == 2 and carla["crm"] == 1 and carla["sales"] == 1


def test_facet_counts_leave_out_a_team_that_only_has_hidden_datasets_matching(catalog: Catalog) -> None:
    # "draft" is in the titles of wildfire-perimeters and legal-clauses, both internal.
    assert search_datasets(user=catalog.users["otto"], q="draft").total == 0
    assert facet(catalog, "draft", "otto", "team") == {}
    assert facet(catalog, "draft", "wendy", "team") == {"climate": 1}


def test_suggestions_never_name_an_internal_dataset_or_its_tags_and_columns_to_outsiders(
    catalog: Catalog,
) -> None:
    for q in ("payr", "crm", "iba", "salar", "wildf", "street_add"):
        assert suggested(catalog, q, "otto") == set(), q
    assert ("dataset", "payroll-2026") in suggested(catalog, "payr", "fiona")
    assert ("tag", "crm") in suggested(catalog, "crm", "carla")
    assert ("column", "iban") in suggested(catalog, "iba", "fiona")


def test_column_search_never_shows_an_internal_dataset_of_another_team(catalog: Catalog) -> None:
    assert column_slugs(catalog, "email", "otto") == {"newsletter-subscribers", "support-tickets"}
    assert column_slugs(catalog, "email", "carla") == {
        "newsletter-subscribers",
        "support-tickets",
        "crm-contacts",
    }
    assert column_slugs(catalog, "household_id", "otto") == set()


def test_a_correction_is_never_drawn_from_a_hidden_dataset(catalog: Catalog) -> None:
    # salary (payroll-2026, internal), haplotypecaller (a restricted README) and genotype (a
    # restricted column) are one letter off.
    for q in ("salray", "haplotypecaler", "genotipe "):
        results = search_datasets(user=catalog.users["otto"], q=q)
        assert (results.total, results.did_you_mean) == (0, None), q
    assert search_datasets(user=catalog.users["fiona"], q="salray").did_you_mean == "salary"
    # A restricted dataset found by its card: the correction is a word of the card.
    card = search_datasets(user=catalog.users["otto"], q="outpatent ")
    assert ([hit.dataset.slug for hit in card.hits], card.did_you_mean) == (["patient-visits"], "outpatient")


def test_a_did_you_mean_names_a_word_the_user_can_see_in_the_hit(catalog: Catalog) -> None:
    # `zeppelni` is one letter from the public tag `zeppelin` and from `zeppeli`, a word of another
    # team's internal dataset: the correction found the public dataset by its tag, and then named
    # the hidden word, which the hit does not hold.
    climate, finance = Team.objects.get(slug="climate"), Team.objects.get(slug="finance")
    airships = Dataset.objects.create(
        slug="airships",
        title="Airship registry",
        summary="Registered airships",
        team=climate,
        visibility=PUBLIC,
    )
    airships.tags.add(Tag.objects.create(name="zeppelin"))
    secret = Dataset.objects.create(
        slug="codenames", title="Codenames", summary="The zeppeli project", team=finance, visibility=INTERNAL
    )
    for dataset in (airships, secret):
        search_index_dataset(dataset_id=dataset.pk)
    results = search_datasets(user=catalog.users["otto"], q="zeppelni")
    assert [hit.dataset.slug for hit in results.hits] == ["airships"]
    assert results.did_you_mean == "zeppelin"
    assert (
        search_datasets(user=catalog.users["fiona"], q="codenames zeppelni").did_you_mean
        == "codenames zeppeli"
    )


# --- restricted datasets -------------------------------------------------------------------------


def test_a_restricted_dataset_is_found_by_its_card(catalog: Catalog) -> None:
    for q in ("outpatient", "patient-visits", "visits clinics", "team:health outpatient"):
        assert "patient-visits" in slugs(catalog, q, "otto"), q


@pytest.mark.parametrize(
    "q",
    [
        "diagnosis_code",
        "column:diagnosis_code",
        "column:email outpatient",
        "icd",
        "epic clarity",
        "tag:clinical",
        "clinical",
        "hospital",
        "license:licenseref-dua",
        "format:parquet outpatient",
        "pii:yes outpatient",
        "rows:>1000 outpatient",
    ],
)
def test_a_restricted_dataset_is_not_found_by_its_data_by_outsiders(catalog: Catalog, q: str) -> None:
    assert "patient-visits" not in slugs(catalog, q, "otto")
    assert "patient-visits" in slugs(catalog, q, "hugo")


def test_a_restricted_hit_shows_an_outsider_its_card_and_nothing_of_its_data(catalog: Catalog) -> None:
    # "genome" is in the title and the README, not the summary: the README is not quoted.
    hit = next(h for h in search_datasets(user=catalog.users["otto"], q="genome").hits)
    assert hit.dataset.slug == "genomics-variants"
    assert hit.readable is False
    assert hit.snippet == ""
    assert hit.matched_columns == []
    assert hit.latest_version is None and hit.certified_version is None
    assert hit.checkouts_90d == 0
    insider = search_datasets(user=catalog.users["hugo"], q="genome").hits[0]
    assert insider.readable is True
    assert "<mark>Genome</mark>" in insider.snippet and "GATK" in insider.snippet
    assert insider.latest_version == 1


def test_a_restricted_hit_has_no_matched_columns_for_an_outsider(catalog: Catalog) -> None:
    # card-chargebacks matches "chargeback" (a prefix) by its title; its chargeback_id column stays unseen.
    hit = search_datasets(user=catalog.users["otto"], q="chargeback").hits[0]
    assert hit.dataset.slug == "card-chargebacks"
    assert hit.matched_columns == []
    insider = search_datasets(user=catalog.users["fiona"], q="chargeback").hits[0]
    assert [column.name for column in insider.matched_columns] == ["chargeback_id"]


def test_facets_count_a_restricted_dataset_by_its_card_only(catalog: Catalog) -> None:
    q = "visibility:restricted"
    assert search_datasets(user=catalog.users["otto"], q=q).total == 4
    for name in ("tag", "license", "format", "certified", "pii", "quality"):
        assert facet(catalog, q, "otto", name) == {}, name
    assert facet(catalog, q, "otto", "team") == {"health": 2, "vision": 1, "finance": 1}
    hugo = facet(catalog, q, "hugo", "tag")
    assert hugo == {"clinical": 1, "hospital": 1, "genomics": 1, "bioinformatics": 1}
    assert facet(catalog, q, "hugo", "pii") == {"yes": 1, "no": 1}


def test_suggestions_never_name_a_restricted_datasets_tags_or_columns(catalog: Catalog) -> None:
    assert ("tag", "clinical") not in suggested(catalog, "clinic", "otto")
    assert ("tag", "clinical") in suggested(catalog, "clinic", "hugo")
    # heart-disease's summary mentions a diagnosis; patient-visits' column stays unsaid.
    assert suggested(catalog, "diagnos", "otto") == {("dataset", "heart-disease")}
    assert ("column", "diagnosis_code") in suggested(catalog, "diagnos", "hugo")
    assert ("column", "cardholder_email") not in suggested(catalog, "cardh", "otto")


def test_column_search_never_shows_a_restricted_datasets_columns_to_outsiders(catalog: Catalog) -> None:
    assert column_slugs(catalog, "diagnosis", "otto") == set()
    assert column_slugs(catalog, "diagnosis", "hugo") == {"patient-visits"}
    assert "card-chargebacks" not in column_slugs(catalog, "email", "otto")
    assert "patient-visits" in column_slugs(catalog, "email", "hugo")


# --- grants --------------------------------------------------------------------------------------


def grant(catalog: Catalog, user: User) -> AccessRequest:
    dataset = catalog["patient-visits"]
    request = access_request_create(
        user=user,
        dataset=dataset,
        access=dataset_access(user=user, dataset=dataset),
        reason="Readmission model for the cardiology study",
    )
    return access_request_decide(user=catalog.users["hugo"], request=request, approve=True)


def test_a_user_granted_access_finds_the_restricted_dataset_by_its_data(catalog: Catalog) -> None:
    gina = catalog.users["gina"]
    assert "patient-visits" not in slugs(catalog, "diagnosis_code", "gina")
    grant(catalog, gina)
    assert "patient-visits" in slugs(catalog, "diagnosis_code", "gina")
    assert "patient-visits" in slugs(catalog, "column:email pii:yes", "gina")
    assert "patient-visits" in slugs(catalog, "tag:clinical", "gina")
    assert "patient-visits" in column_slugs(catalog, "diagnosis", "gina")
    assert ("column", "diagnosis_code") in suggested(catalog, "diagnos", "gina")
    hit = search_datasets(user=gina, q="diagnosis_code").hits[0]
    assert hit.readable and [column.name for column in hit.matched_columns] == ["diagnosis_code"]
    # The grant is for that dataset alone.
    assert "genomics-variants" not in slugs(catalog, "column:chrom", "gina")


def test_a_revoked_grant_stops_search_by_data_at_once(catalog: Catalog) -> None:
    gina = catalog.users["gina"]
    approved = grant(catalog, gina)
    assert "patient-visits" in slugs(catalog, "diagnosis_code", "gina")
    access_request_revoke(user=catalog.users["hugo"], request=approved, note="Study ended")
    assert "patient-visits" not in slugs(catalog, "diagnosis_code", "gina")
    assert "patient-visits" not in slugs(catalog, "tag:clinical", "gina")
    assert column_slugs(catalog, "diagnosis", "gina") == set()
    assert ("column", "diagnosis_code") not in suggested(catalog, "diagnos", "gina")
    assert "patient-visits" in slugs(catalog, "outpatient", "gina")  # the card, as before


def test_a_pending_or_denied_request_grants_nothing(catalog: Catalog) -> None:
    gina = catalog.users["gina"]
    dataset = catalog["patient-visits"]
    request = access_request_create(
        user=gina, dataset=dataset, access=dataset_access(user=gina, dataset=dataset), reason="Curious"
    )
    assert "patient-visits" not in slugs(catalog, "diagnosis_code", "gina")
    access_request_decide(user=catalog.users["hugo"], request=request, approve=False)
    assert "patient-visits" not in slugs(catalog, "diagnosis_code", "gina")


def test_the_visibility_of_each_catalog_dataset_is_as_the_tests_assume(catalog: Catalog) -> None:
    # The assertions above name datasets by their visibility; a change to the catalog shows here.
    by_visibility = {v: {s.slug for s in SPECS if s.visibility == v} for v in (PUBLIC, INTERNAL, RESTRICTED)}
    assert by_visibility[RESTRICTED] == {
        "face-attributes",
        "card-chargebacks",
        "patient-visits",
        "genomics-variants",
    }
    assert {"payroll-2026", "crm-contacts", "wildfire-perimeters", "legal-clauses"} <= by_visibility[INTERNAL]
