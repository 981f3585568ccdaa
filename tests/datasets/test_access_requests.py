"""Access requests: a user asks for a restricted dataset's data, a team owner decides, and an
approved request opens the data to that user (and only to them) everywhere the team's is."""

from __future__ import annotations

import pytest
from django.test import Client

from datasets.access import dataset_access
from datasets.models import AccessRequest
from tests.conftest import CSV

pytestmark = pytest.mark.django_db

URL = "/api/v1/datasets/patients/access-requests/"


@pytest.fixture
def patients(restricted_dataset, publish):
    publish(restricted_dataset, data=CSV)
    return restricted_dataset


def test_an_approved_request_opens_the_data_to_its_author_only(api, outsider, owner, patients):
    from tests.factories import UserFactory

    oscar, owners = api(outsider), api(owner)
    assert oscar.get("/api/v1/datasets/patients/versions/1/download/").status_code == 403

    asked = oscar.post(URL, {"reason": "training a readmission model"}, format="json")
    assert asked.status_code == 201, asked.json()
    assert (asked.json()["status"], asked.json()["user"]) == ("pending", "oscar")
    assert oscar.get("/api/v1/datasets/patients/versions/").status_code == 403  # pending opens nothing

    listed = owners.get(URL).json()
    assert [(r["user"], r["reason"]) for r in listed] == [("oscar", "training a readmission model")]
    decided = owners.post(
        f"{URL}{asked.json()['id']}/decision/", {"decision": "approve", "note": "until Q2"}, format="json"
    )
    assert decided.status_code == 200, decided.json()
    assert (decided.json()["status"], decided.json()["decided_by"], decided.json()["note"]) == (
        "approved",
        "olivia",
        "until Q2",
    )

    download = oscar.get("/api/v1/datasets/patients/versions/1/download/")
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == CSV
    assert oscar.get("/api/v1/datasets/patients/").json().get("readme") is not None
    assert oscar.get(URL).json()[0]["status"] == "approved"
    # Someone else signed in still finds the title only.
    assert api(UserFactory(username="ursula")).get("/api/v1/datasets/patients/versions/").status_code == 403


def test_asking_needs_a_reason_and_is_done_once_until_decided(
    api, outsider, member, public_dataset, patients
):
    oscar = api(outsider)
    empty = oscar.post(URL, {"reason": "   "}, format="json")
    assert empty.status_code == 400 and "reason" in empty.json()["detail"]
    assert oscar.post(URL, {"reason": "research"}, format="json").status_code == 201
    again = oscar.post(URL, {"reason": "research, really"}, format="json")
    assert again.status_code == 409 and "not decided yet" in again.json()["detail"]
    # Those who can read already have nothing to ask for.
    assert api(member).post(URL, {"reason": "x"}, format="json").status_code == 409
    assert (
        oscar.post("/api/v1/datasets/churn/access-requests/", {"reason": "x"}, format="json").status_code
        == 409
    )
    assert AccessRequest.objects.count() == 1


def test_only_owners_decide_and_a_decision_is_final(api, outsider, maintainer, member, owner, patients):
    oscar = api(outsider)
    request_id = oscar.post(URL, {"reason": "audit"}, format="json").json()["id"]
    decision = f"{URL}{request_id}/decision/"
    for someone in (maintainer, member, outsider):
        refused = api(someone).post(decision, {"decision": "approve"}, format="json")
        assert refused.status_code == 403, someone.username
    # Non-owners see only their own requests.
    assert api(member).get(URL).json() == []

    denied = api(owner).post(decision, {"decision": "deny", "note": "use the anonymised copy"}, format="json")
    assert denied.json()["status"] == "denied"
    again = api(owner).post(decision, {"decision": "approve"}, format="json")
    assert again.status_code == 409 and "already denied by olivia" in again.json()["detail"]
    assert oscar.get("/api/v1/datasets/patients/versions/").status_code == 403
    assert (
        api(owner).post(f"{URL}999999/decision/", {"decision": "approve"}, format="json").status_code == 404
    )
    # A denied user may ask again, with a better reason; every decision stays on record.
    assert (
        oscar.post(URL, {"reason": "audit, approved by the ethics board"}, format="json").status_code == 201
    )
    assert [r.status for r in AccessRequest.objects.order_by("pk")] == ["denied", "pending"]


def test_the_portal_flow_from_request_to_reading(outsider, owner, patients):
    oscar, olivia = Client(), Client()
    oscar.force_login(outsider)
    olivia.force_login(owner)

    page = oscar.get("/datasets/patients/").content.decode()
    assert "Request access" in page and "Versions" not in page
    missing = oscar.post("/datasets/patients/access/request/", {"reason": ""})
    assert missing.status_code == 400 and "This field is required" in missing.content.decode()
    asked = oscar.post("/datasets/patients/access/request/", {"reason": "training a readmission model"})
    assert asked.status_code == 302
    assert "is <strong>pending</strong>" in oscar.get("/datasets/patients/").content.decode()

    assert oscar.get("/datasets/patients/access/").status_code == 403  # the tab is the owners'
    tab = olivia.get("/datasets/patients/access/").content.decode()
    assert "oscar" in tab and "training a readmission model" in tab
    request_id = AccessRequest.objects.get().pk
    approved = olivia.post(f"/datasets/patients/access/{request_id}/decide/", {"decision": "approve"})
    assert approved.status_code == 302

    page = oscar.get("/datasets/patients/").content.decode()
    assert "Versions" in page and "Request access" not in page
    assert oscar.get("/datasets/patients/versions/1/").status_code == 200

    assert "Revoke" in olivia.get("/datasets/patients/access/").content.decode()
    revoked = olivia.post(
        f"/datasets/patients/access/{request_id}/decide/", {"decision": "revoke", "note": "the study ended"}
    )
    assert revoked.status_code == 302
    page = oscar.get("/datasets/patients/").content.decode()
    assert "is <strong>revoked</strong> (olivia" in page and "the study ended" in page
    assert "Request access" in page
    assert oscar.get("/datasets/patients/versions/1/").status_code == 403


def test_an_owner_revokes_an_approval_and_the_data_closes_again(api, outsider, owner, member, patients):
    oscar, owners = api(outsider), api(owner)
    request_id = oscar.post(URL, {"reason": "a three-month study"}, format="json").json()["id"]
    decision = f"{URL}{request_id}/decision/"
    early = owners.post(decision, {"decision": "revoke"}, format="json")
    assert early.status_code == 409 and "this one is pending" in early.json()["detail"]
    owners.post(decision, {"decision": "approve"}, format="json")
    assert oscar.get("/api/v1/datasets/patients/versions/").status_code == 200
    assert api(member).post(decision, {"decision": "revoke"}, format="json").status_code == 403

    revoked = owners.post(decision, {"decision": "revoke", "note": "the study ended"}, format="json").json()
    assert (revoked["status"], revoked["decided_by"], revoked["revoked_by"], revoked["revoke_note"]) == (
        "revoked",
        "olivia",
        "olivia",
        "the study ended",
    )
    assert oscar.get("/api/v1/datasets/patients/versions/").status_code == 403
    assert oscar.get("/api/v1/datasets/patients/versions/1/download/").status_code == 403
    # Revoked, one may ask again.
    assert oscar.post(URL, {"reason": "a follow-up study"}, format="json").status_code == 201


def _ask(user, dataset, reason="a study"):
    from datasets.services.access_requests import access_request_create

    return access_request_create(
        user=user, dataset=dataset, access=dataset_access(user=user, dataset=dataset), reason=reason
    )


def test_a_second_request_sent_as_the_first_is_approved_cannot_outlive_its_revocation(
    api, outsider, owner, patients
):
    from core.errors import Conflict
    from datasets.services.access_requests import (
        access_request_create,
        access_request_decide,
        access_request_revoke,
    )

    # The user's second request was checked (access.read False) before the first one's approval landed.
    stale = dataset_access(user=outsider, dataset=patients)
    first = access_request_create(user=outsider, dataset=patients, access=stale, reason="a")
    access_request_decide(user=owner, request=first, approve=True)
    with pytest.raises(Conflict, match="approved already"):
        access_request_create(user=outsider, dataset=patients, access=stale, reason="b")
    access_request_revoke(user=owner, request=first)
    assert api(outsider).get("/api/v1/datasets/patients/versions/").status_code == 403


def test_an_owner_decides_only_the_requests_of_their_teams_datasets(outsider, owner, patients):
    from core.errors import AccessDenied
    from datasets.services.access_requests import access_request_decide
    from tests.factories import DatasetFactory

    elsewhere = DatasetFactory(slug="genomes", visibility="restricted")  # another team's
    asked = _ask(outsider, elsewhere)
    with pytest.raises(AccessDenied):
        access_request_decide(user=owner, request=asked, approve=True)
    assert AccessRequest.objects.get(pk=asked.pk).status == "pending"


def test_no_one_approves_their_own_request(api, outsider, owner, team, patients):
    from accounts.models import Membership
    from accounts.services import membership_remove

    asked = _ask(outsider, patients)
    Membership.objects.create(team=team, user=outsider, role=Membership.Role.OWNER)
    refused = api(outsider).post(f"{URL}{asked.pk}/decision/", {"decision": "approve"}, format="json")
    assert refused.status_code == 403
    membership_remove(actor=owner, team=team, username="oscar")
    assert api(outsider).get("/api/v1/datasets/patients/versions/").status_code == 403


def test_only_a_restricted_dataset_grants_so_no_approval_lies_dormant(api, outsider, owner, patients):
    asked = _ask(outsider, patients)
    patients.visibility = "public"
    patients.save()
    decision = f"{URL}{asked.pk}/decision/"
    refused = api(owner).post(decision, {"decision": "approve"}, format="json")
    assert refused.status_code == 409 and "not restricted" in refused.json()["detail"]
    patients.visibility = "restricted"
    patients.save()
    assert api(outsider).get("/api/v1/datasets/patients/versions/").status_code == 403
    assert api(owner).post(decision, {"decision": "approve"}, format="json").status_code == 200


def test_a_grant_reaches_lists_checkouts_and_lineage_and_never_an_internal_dataset(
    api, outsider, owner, patients, public_dataset, publish
):
    from datasets.models import Version
    from datasets.services.access_requests import access_request_decide

    publish(public_dataset, derived_from=[Version.objects.get(dataset=patients)])
    oscar = api(outsider)
    page = Client()
    page.force_login(outsider)

    def seen() -> tuple[object, ...]:
        listed = {d["slug"]: d for d in oscar.get("/api/v1/datasets/").json()["results"]}
        upstreams = oscar.get("/api/v1/datasets/churn/versions/1/").json()["derived_from"]
        checkout = oscar.post("/api/v1/checkouts/", {"refs": ["patients"], "purpose": "p"}, format="json")
        lineage = page.get("/datasets/churn/lineage/").content.decode()
        return (
            "patients" in listed and not listed["patients"].get("restricted"),
            upstreams,
            checkout.status_code,
            'href="/datasets/patients/' in lineage,
        )

    assert seen() == (False, ["restricted"], 403, False)
    access_request_decide(user=owner, request=_ask(outsider, patients), approve=True)
    assert seen() == (True, ["patients@1"], 201, True)
    assert "badge-locked" not in page.get("/").content.decode()
    # Made internal, the dataset is gone for the grantee, in every list too.
    patients.visibility = "internal"
    patients.save()
    assert seen() == (False, ["restricted"], 404, False)
    assert oscar.get(URL).status_code == 404


def test_grants_end_when_the_dataset_stops_being_restricted(api, outsider, owner, patients):
    oscar, owners = api(outsider), api(owner)
    request_id = oscar.post(URL, {"reason": "study"}, format="json").json()["id"]
    owners.post(f"{URL}{request_id}/decision/", {"decision": "approve"}, format="json")
    assert (
        owners.patch("/api/v1/datasets/patients/", {"visibility": "internal"}, format="json").status_code
        == 200
    )
    assert oscar.get("/api/v1/datasets/patients/").status_code == 404  # internal: not even its title

    owners.patch("/api/v1/datasets/patients/", {"visibility": "restricted"}, format="json")
    assert oscar.get("/api/v1/datasets/patients/versions/").status_code == 403  # the old grant stays ended
    (mine,) = oscar.get(URL).json()
    assert (mine["status"], mine["revoke_note"]) == ("revoked", "The dataset became internal.")


def test_an_unknown_decision_is_refused_and_changes_nothing(outsider, owner, patients):
    from core.errors import InvalidInput
    from datasets.services.access_requests import access_request_settle

    asked = AccessRequest.objects.create(dataset=patients, user=outsider, reason="study")
    with pytest.raises(InvalidInput, match="not a decision"):
        access_request_settle(user=owner, request=asked, decision="maybe")
    asked.refresh_from_db()
    assert asked.status == "pending"
