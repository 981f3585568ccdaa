"""References to versions (`name@3`, `@latest`, `@certified`, `@prod`, `@sha256:…`), and why one
that does not resolve is a 404."""

from __future__ import annotations

import pytest

from core.errors import AccessDenied, NotFound
from datasets.references import ref_split, version_get
from datasets.services.aliases import alias_set
from tests.conftest import CSV, sha256_of

pytestmark = pytest.mark.django_db

V2 = CSV + b"4,alan,0.1\n"


@pytest.fixture
def versions(public_dataset, publish, owner):
    first = publish(public_dataset, data=CSV)
    second = publish(public_dataset, data=V2)
    alias_set(dataset=public_dataset, user=owner, name="prod", version=first)
    return first, second


@pytest.mark.parametrize(
    ("ref", "slug", "version"),
    [
        ("churn@3", "churn", "3"),
        ("churn", "churn", "latest"),
        ("churn@", "churn", "latest"),
        (" churn@prod ", "churn", "prod"),
        ("churn@sha256:0123456789ab", "churn", "sha256:0123456789ab"),
    ],
)
def test_a_reference_splits_into_dataset_and_version(ref, slug, version):
    assert ref_split(ref) == (slug, version)


@pytest.mark.parametrize(
    ("ref", "number"),
    [("churn@1", 1), ("churn@2", 2), ("churn@latest", 2), ("churn", 2), ("churn@prod", 1)],
)
def test_references_resolve_to_exact_versions(versions, member, ref, number):
    assert version_get(user=member, ref=ref).number == number


def test_a_sha256_prefix_of_twelve_digits_resolves(versions, member):
    assert version_get(user=member, ref=f"churn@sha256:{sha256_of(V2)[:12]}").number == 2
    assert version_get(user=member, ref=f"churn@sha256:{sha256_of(CSV).upper()}").number == 1


@pytest.mark.parametrize(
    ("ref", "detail"),
    [
        ("nope@1", "No dataset 'nope'."),
        ("churn@9", "'churn' has no version 9."),
        ("churn@certified", "'churn' has no certified version yet"),
        ("churn@staging", "'churn' has no alias 'staging'"),
        ("churn@sha256:abc", "'sha256:abc' is not a sha256 reference: give at least 12 hex digits."),
        ("churn@sha256:ffffffffffff", "No version of 'churn' has sha256 ffffffffffff…."),
        ("@3", "'@3' names no dataset"),
        ("payroll@1", "No dataset 'payroll'."),  # internal: an outsider does not learn it exists
    ],
)
def test_a_reference_that_does_not_resolve_says_why(versions, outsider, internal_dataset, ref, detail):
    with pytest.raises(NotFound) as raised:
        version_get(user=outsider, ref=ref)
    assert raised.value.detail.startswith(detail)


def test_an_ambiguous_sha256_prefix_is_refused(public_dataset, publish, member):
    from datasets.models import Blob, Version

    publish(public_dataset, data=CSV)
    # Two versions whose digests share a 12-digit prefix: make one by hand (no real collision).
    twin = "0" * 12 + "1" * 52
    Blob.objects.create(sha256=twin, size=1)
    Blob.objects.create(sha256="0" * 12 + "2" * 52, size=1)
    Version.objects.create(dataset=public_dataset, number=2, blob_id=twin, size=1, status="ready")
    Version.objects.create(
        dataset=public_dataset, number=3, blob_id="0" * 12 + "2" * 52, size=1, status="ready"
    )
    with pytest.raises(NotFound, match="is ambiguous in 'churn': give more digits"):
        version_get(user=member, ref="churn@sha256:000000000000")


def test_a_restricted_dataset_is_refused_with_403(restricted_dataset, publish, outsider):
    publish(restricted_dataset)
    with pytest.raises(AccessDenied, match="restricted"):
        version_get(user=outsider, ref="patients@1")


def test_the_api_reads_versions_by_alias_and_says_why_a_reference_fails(api, member, versions):
    client = api(member)
    body = client.get("/api/v1/datasets/churn/versions/prod/").json()
    assert body["number"] == 1 and body["aliases"] == ["prod"]
    assert client.get("/api/v1/datasets/churn/versions/latest/").json()["aliases"] == ["latest"]
    download = client.get("/api/v1/datasets/churn/versions/prod/download/")
    assert b"".join(download.streaming_content) == CSV

    response = client.get("/api/v1/datasets/churn/versions/certified/")
    assert response.status_code == 404
    assert response.json() == {
        "code": "not_found",
        "detail": "'churn' has no certified version yet: no ready version has passed its current suite.",
    }


def test_the_version_list_shows_each_versions_aliases(api, member, versions):
    rows = api(member).get("/api/v1/datasets/churn/versions/").json()["results"]
    assert [(row["number"], row["aliases"]) for row in rows] == [(2, ["latest"]), (1, ["prod"])]
