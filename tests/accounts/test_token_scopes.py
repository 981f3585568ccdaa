"""Scoped API tokens: read (pull and browse), write (change datasets), admin (manage teams), each
optionally limited to one team; a maximum lifetime; tokens from before scopes keep their rights."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from accounts.models import ApiToken, Membership, Team
from accounts.services import token_create
from datasets.models import Alias, Dataset, Version
from lineage.models import Run
from quality.models import SuiteRevision
from tests.conftest import CSV, sha256_of, upload
from tests.factories import DatasetFactory, MembershipFactory, TeamFactory, UserFactory, run_event

pytestmark = pytest.mark.django_db

GRANARY = "http://testserver"  # the OpenLineage namespace whose names are slugs


def bearer(user: Any, *, scope: str, team: str = "") -> APIClient:
    client = APIClient()
    secret = token_create(user=user, name=f"{scope} token", scope=scope, team=team).secret
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def denied(response: Any, detail: str) -> None:
    assert response.status_code == 403, response.content
    assert response.json() == {"code": "token_scope", "detail": detail}


READ_ONLY = "This token is read-only: {what} needs a token with the write scope."


# --- read tokens ---------------------------------------------------------------------------------


def test_a_read_token_cannot_upload_a_version_and_the_answer_names_the_write_scope(
    maintainer, public_dataset
):
    response = bearer(maintainer, scope="read").post(
        "/api/v1/datasets/churn/versions/", {"file": upload(), "message": "x"}, format="multipart"
    )
    denied(response, READ_ONLY.format(what="uploading versions"))
    assert not Version.objects.exists()


def test_a_read_token_cannot_edit_a_dataset_card(maintainer, public_dataset):
    response = bearer(maintainer, scope="read").patch(
        "/api/v1/datasets/churn/", {"title": "Renamed"}, format="json"
    )
    denied(response, READ_ONLY.format(what="changing datasets"))
    assert Dataset.objects.get(slug="churn").title != "Renamed"


def test_a_read_token_cannot_replace_the_suite(maintainer, public_dataset):
    suite = {
        "name": "churn",
        "expectations": [{"type": "expect_column_to_exist", "kwargs": {"column": "id"}}],
    }
    response = bearer(maintainer, scope="read").put("/api/v1/datasets/churn/suite/", suite, format="json")
    denied(response, READ_ONLY.format(what="changing suites"))
    assert not SuiteRevision.objects.exists()


def test_a_read_token_cannot_move_an_alias(maintainer, public_dataset, publish):
    publish(public_dataset)
    response = bearer(maintainer, scope="read").put(
        "/api/v1/datasets/churn/aliases/prod/", {"version": 1}, format="json"
    )
    denied(response, READ_ONLY.format(what="moving aliases"))
    assert not Alias.objects.exists()


def test_a_read_token_cannot_report_lineage(maintainer, public_dataset, publish):
    publish(public_dataset)
    event = run_event(outputs=[(GRANARY, "churn")])
    response = bearer(maintainer, scope="read").post(
        "/api/v1/lineage", json.dumps(event), content_type="application/json"
    )
    denied(response, READ_ONLY.format(what="reporting lineage"))
    assert not Run.objects.exists()


def test_a_read_token_cannot_create_a_team(outsider):
    response = bearer(outsider, scope="read").post("/api/v1/teams/", {"slug": "vision"}, format="json")
    denied(response, "This token is read-only: creating teams needs a token with the admin scope.")
    assert not Team.objects.filter(slug="vision").exists()


def test_a_read_token_browses_downloads_and_checks_out(member, public_dataset, internal_dataset, publish):
    publish(public_dataset)
    client = bearer(member, scope="read")
    listed = client.get("/api/v1/datasets/")
    assert [d["slug"] for d in listed.json()["results"]] == ["churn", "payroll"]
    assert client.get("/api/v1/datasets/payroll/").status_code == 200
    assert client.get("/api/v1/datasets/churn/versions/1/").json()["sha256"] == sha256_of(CSV)
    download = client.get("/api/v1/datasets/churn/versions/1/download/")
    assert download.status_code == 200
    assert sha256_of(b"".join(download.streaming_content)) == sha256_of(CSV)
    checkout = client.post(
        "/api/v1/checkouts/", {"refs": ["churn@latest"], "purpose": "train churn v1"}, format="json"
    )
    assert checkout.status_code == 201, checkout.json()
    assert checkout.json()["items"][0]["sha256"] == sha256_of(CSV)


def test_a_write_token_changes_datasets(maintainer, public_dataset):
    client = bearer(maintainer, scope="write")
    response = client.patch("/api/v1/datasets/churn/", {"title": "Renamed"}, format="json")
    assert response.status_code == 200, response.json()
    uploaded = client.post("/api/v1/datasets/churn/versions/", {"file": upload()}, format="multipart")
    assert uploaded.status_code == 202, uploaded.json()


def test_signed_in_portal_users_are_not_limited_by_scopes(client, owner, public_dataset):
    client.force_login(owner)
    assert (
        client.patch(
            "/api/v1/datasets/churn/", {"title": "Renamed"}, content_type="application/json"
        ).status_code
        == 200
    )
    assert (
        client.post(
            "/api/v1/teams/ml-core/members/",
            {"username": "olivia", "role": "owner"},
            content_type="application/json",
        ).status_code
        == 201
    )


# --- write and admin tokens ----------------------------------------------------------------------

WRITE_ONLY = "This token has the write scope: {what} needs a token with the admin scope."


def test_a_write_token_cannot_create_teams_or_manage_members(owner, maintainer):
    client = bearer(owner, scope="write")
    members = "/api/v1/teams/ml-core/members/"
    denied(
        client.post("/api/v1/teams/", {"slug": "vision"}, format="json"),
        WRITE_ONLY.format(what="creating teams"),
    )
    denied(
        client.post(members, {"username": "oscar", "role": "member"}, format="json"),
        WRITE_ONLY.format(what="managing team members"),
    )
    denied(
        client.patch(f"{members}mario/", {"role": "owner"}, format="json"),
        WRITE_ONLY.format(what="managing team members"),
    )
    denied(client.delete(f"{members}mario/"), WRITE_ONLY.format(what="managing team members"))
    assert not Team.objects.filter(slug="vision").exists()
    assert Membership.objects.get(user=maintainer).role == "maintainer"
    assert client.get(members).status_code == 200  # reading is still fine


def test_an_admin_token_manages_members_and_creates_teams(owner, maintainer):
    client = bearer(owner, scope="admin")
    response = client.patch("/api/v1/teams/ml-core/members/mario/", {"role": "owner"}, format="json")
    assert response.status_code == 200, response.json()
    assert client.post("/api/v1/teams/", {"slug": "vision"}, format="json").status_code == 201


def test_portal_webhooks_do_not_accept_api_tokens(owner):
    """Webhooks are managed on the portal only, which never reads a Bearer token."""
    secret = token_create(user=owner, name="admin", scope="admin").secret
    page = APIClient().get("/teams/ml-core/webhooks/", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert page.status_code == 302 and "/login" in page["Location"]


# --- tokens limited to one team ------------------------------------------------------------------


@pytest.fixture
def vision(maintainer: Any) -> Dataset:
    """A second team in which the same maintainer may also write."""
    other = TeamFactory(slug="vision", name="Vision")
    MembershipFactory(team=other, user=maintainer, role=Membership.Role.OWNER)
    return DatasetFactory(slug="faces", team=other, visibility=Dataset.Visibility.INTERNAL)


LIMITED = (
    "This token is limited to the ml-core team: {what} of another team needs a token for that team "
    "or one without a team limit."
)


def test_a_team_limited_write_token_writes_only_its_teams_datasets(maintainer, public_dataset, vision):
    client = bearer(maintainer, scope="write", team="ml-core")
    assert client.patch("/api/v1/datasets/churn/", {"title": "Ours"}, format="json").status_code == 200
    denied(
        client.patch("/api/v1/datasets/faces/", {"title": "Theirs"}, format="json"),
        LIMITED.format(what="changing datasets"),
    )
    denied(
        client.post("/api/v1/datasets/faces/versions/", {"file": upload()}, format="multipart"),
        LIMITED.format(what="uploading versions"),
    )
    denied(
        client.post("/api/v1/datasets/", {"slug": "eyes", "title": "Eyes", "team": "vision"}, format="json"),
        LIMITED.format(what="registering datasets"),
    )
    assert Dataset.objects.get(slug="faces").title != "Theirs"
    assert not Dataset.objects.filter(slug="eyes").exists()
    assert not Version.objects.exists()
    # It still reads what its user may read, the other team's internal dataset included.
    assert client.get("/api/v1/datasets/faces/").json()["slug"] == "faces"


def test_a_team_limited_token_cannot_report_lineage_into_another_teams_dataset(
    maintainer, public_dataset, vision, publish
):
    publish(vision)
    client = bearer(maintainer, scope="write", team="ml-core")
    event = run_event(inputs=[(GRANARY, "churn")], outputs=[(GRANARY, "faces")])
    response = client.post("/api/v1/lineage", json.dumps(event), content_type="application/json")
    assert response.status_code == 403, response.json()
    assert response.json()["field"] == "outputs[0]"
    assert not Run.objects.exists()


def test_a_team_limited_token_cannot_rewrite_another_teams_run_even_without_naming_its_datasets(
    maintainer, public_dataset, vision, publish
):
    publish(vision)
    run_id = "3f1c6a2e-1b8e-4c4e-9d7a-5a0f2b7c9e11"
    whole = bearer(maintainer, scope="write")  # vision reports its run first: vision owns it
    complete = run_event(run_id=run_id, job="vision.faces", outputs=[(GRANARY, "faces")])
    assert (
        whole.post("/api/v1/lineage", json.dumps(complete), content_type="application/json").status_code
        == 201
    )
    limited = bearer(maintainer, scope="write", team="ml-core")
    fail = run_event(run_id=run_id, job="vision.faces", event_type="FAIL", event_time="2026-11-27T11:00:00Z")
    response = limited.post("/api/v1/lineage", json.dumps(fail), content_type="application/json")
    assert response.status_code == 403, response.json()
    assert "vision" in response.json()["detail"]
    assert Run.objects.get().state == "COMPLETE"


def test_a_token_cannot_issue_one_that_outlives_it(maintainer):
    issuer = token_create(user=maintainer, name="short", scope="read", days=2)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issuer.secret}")
    made = client.post("/api/v1/tokens/", {"name": "long", "days": 300}, format="json")
    assert made.status_code == 201, made.json()
    assert ApiToken.objects.get(name="long").expires_at == ApiToken.objects.get(name="short").expires_at


def test_a_team_limited_admin_token_manages_only_its_team(owner, maintainer, vision):
    vision_owner = maintainer  # owns vision; limit a token of theirs to vision
    client = bearer(vision_owner, scope="admin", team="vision")
    added = client.post("/api/v1/teams/vision/members/", {"username": "olivia"}, format="json")
    assert added.status_code == 201, added.json()
    MembershipFactory(team=Team.objects.get(slug="ml-core"), user=UserFactory(username="zed"))
    Membership.objects.filter(user=vision_owner, team__slug="ml-core").update(role="owner")
    limited = LIMITED.replace("ml-core", "vision")
    denied(
        client.patch("/api/v1/teams/ml-core/members/zed/", {"role": "owner"}, format="json"),
        limited.format(what="managing team members"),
    )
    denied(
        client.post("/api/v1/teams/", {"slug": "audio"}, format="json"),
        "This token is limited to the vision team: creating teams needs a token without a team limit.",
    )
    assert Membership.objects.get(user__username="zed").role == "member"


# --- issuing tokens --------------------------------------------------------------------------------


def test_tokens_made_through_the_api_are_read_only_unless_asked_and_the_list_shows_scope_and_team(
    maintainer,
):
    client = bearer(maintainer, scope="admin")
    plain = client.post("/api/v1/tokens/", {"name": "laptop"}, format="json")
    assert plain.status_code == 201, plain.json()
    assert (plain.json()["scope"], plain.json()["team"]) == ("read", None)
    limited = client.post(
        "/api/v1/tokens/", {"name": "ci", "scope": "write", "team": "ml-core"}, format="json"
    )
    assert (limited.json()["scope"], limited.json()["team"]) == ("write", "ml-core")
    listed = {t["name"]: (t["scope"], t["team"]) for t in client.get("/api/v1/tokens/").json()}
    assert listed == {"admin token": ("admin", None), "laptop": ("read", None), "ci": ("write", "ml-core")}


def test_a_password_exchange_gives_a_read_token_unless_a_scope_is_asked_for(maintainer):
    answer = APIClient().post(
        "/api/v1/auth/token/", {"username": "mario", "password": "pw-for-tests-1"}, format="json"
    )
    assert answer.status_code == 201 and answer.json()["scope"] == "read"
    wider = APIClient().post(
        "/api/v1/auth/token/",
        {"username": "mario", "password": "pw-for-tests-1", "scope": "write", "team": "ml-core"},
        format="json",
    )
    assert wider.status_code == 201, wider.json()
    assert (wider.json()["scope"], wider.json()["team"]) == ("write", "ml-core")


def test_a_token_cannot_issue_a_wider_token_than_itself(maintainer):
    client = bearer(maintainer, scope="read")
    denied(
        client.post("/api/v1/tokens/", {"name": "more", "scope": "write"}, format="json"),
        "This token is read-only: issuing a write token needs a token with the write scope.",
    )
    limited = bearer(maintainer, scope="write", team="ml-core")
    denied(
        limited.post("/api/v1/tokens/", {"name": "wider", "scope": "write"}, format="json"),
        "This token is limited to the ml-core team: issuing a token without that limit needs a token "
        "without a team limit.",
    )
    assert set(ApiToken.objects.values_list("name", flat=True)) == {"read token", "write token"}


def test_a_read_token_cannot_revoke_a_wider_token(maintainer):
    wide = token_create(user=maintainer, name="ci", scope="write").token
    denied(
        bearer(maintainer, scope="read").delete(f"/api/v1/tokens/{wide.pk}/"),
        "This token is read-only: revoking a write token needs a token with the write scope.",
    )
    wide.refresh_from_db()
    assert wide.revoked_at is None


def test_a_token_limited_to_a_team_of_which_you_are_not_a_member_is_refused(maintainer):
    TeamFactory(slug="vision")
    client = bearer(maintainer, scope="admin")
    response = client.post("/api/v1/tokens/", {"name": "x", "team": "vision"}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid",
        "detail": "You are not a member of vision: a token limited to it could change nothing.",
        "field": "team",
    }
    unknown = client.post("/api/v1/tokens/", {"name": "x", "team": "nope"}, format="json")
    assert unknown.status_code == 404 and unknown.json()["detail"] == "No team 'nope'."
    assert not ApiToken.objects.filter(name="x").exists()


def test_the_tokens_page_creates_a_scoped_team_limited_token_and_lists_both(client, maintainer):
    client.force_login(maintainer)
    page = client.get("/tokens/")
    assert b'<option value="read" selected>' in page.content
    page = client.post("/tokens/", {"name": "ci", "days": 30, "scope": "write", "team": "ml-core"})
    assert page.status_code == 200, page.context["form"].errors
    token = ApiToken.objects.get(name="ci")
    assert (token.scope, token.team.slug) == ("write", "ml-core")
    assert b"<td>write</td><td>ml-core</td>" in client.get("/tokens/").content


def test_manage_py_create_token_takes_a_scope_and_a_team(maintainer):
    err = io.StringIO()
    call_command(
        "create_token",
        "mario",
        "ci",
        "--scope",
        "write",
        "--team",
        "ml-core",
        stdout=io.StringIO(),
        stderr=err,
    )
    token = ApiToken.objects.get()
    assert (token.scope, token.team.slug) == ("write", "ml-core")
    assert "write scope, limited to ml-core" in err.getvalue()
    call_command("create_token", "mario", "default", stdout=io.StringIO(), stderr=io.StringIO())
    assert ApiToken.objects.get(name="default").scope == "read"


# --- lifetime ------------------------------------------------------------------------------------

LIFETIME_30 = "A token lives at most 30 days here (GRANARY_TOKEN_MAX_DAYS): ask for 30 or fewer."


def test_a_token_longer_than_the_maximum_lifetime_is_refused_naming_the_limit(maintainer):
    client = bearer(maintainer, scope="admin")
    response = client.post("/api/v1/tokens/", {"name": "forever", "days": 3650}, format="json")
    assert response.status_code == 400
    limit = "A token lives at most 365 days here (GRANARY_TOKEN_MAX_DAYS): ask for 365 or fewer."
    assert response.json()["detail"] == f"days: {limit}"
    assert response.json()["errors"] == {"days": [limit]}
    assert client.post("/api/v1/tokens/", {"name": "a year", "days": 365}, format="json").status_code == 201
    assert not ApiToken.objects.filter(name="forever").exists()


def test_the_api_schema_documents_the_lifetime_limit_and_a_token_without_a_team(client, settings):
    settings.GRANARY_TOKEN_MAX_DAYS = 30
    answer = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    schema = json.loads(answer.content)["components"]["schemas"]
    assert schema["TokenCreateRequest"]["properties"]["days"]["maximum"] == 30
    assert schema["Token"]["properties"]["team"]["nullable"] is True


def test_the_maximum_lifetime_follows_the_setting_on_every_path(settings, client, maintainer):
    settings.GRANARY_TOKEN_MAX_DAYS, settings.GRANARY_TOKEN_DAYS = 30, 7
    answer = bearer(maintainer, scope="admin").post(
        "/api/v1/tokens/", {"name": "ci", "days": 31}, format="json"
    )
    assert answer.json()["errors"] == {"days": [LIFETIME_30]}
    with pytest.raises(CommandError, match=r"at most 30 days here \(GRANARY_TOKEN_MAX_DAYS\)"):
        call_command(
            "create_token", "mario", "ci", "--days", "31", stdout=io.StringIO(), stderr=io.StringIO()
        )
    client.force_login(maintainer)
    page = client.post("/tokens/", {"name": "laptop", "days": 31, "scope": "read"})
    assert page.status_code == 400
    assert LIFETIME_30.encode() in page.content
    assert set(ApiToken.objects.values_list("name", flat=True)) == {"admin token"}


# --- tokens from before scopes -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_tokens_issued_before_scopes_keep_every_right_they_had(owner, public_dataset):
    """Migrating gives existing tokens the admin scope and no team limit: nothing they did stops."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate([("accounts", "0001_teams_and_tokens_move_here")])
    old = executor.loader.project_state([("accounts", "0001_teams_and_tokens_move_here")]).apps
    secret = "gra_" + "o" * 43
    old.get_model("accounts", "ApiToken").objects.create(
        user_id=owner.pk,
        name="from before",
        key_hash=sha256_of(secret.encode()),
        prefix=secret[:10],
        expires_at="2099-01-01T00:00:00Z",
    )
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    token = ApiToken.objects.get(name="from before")
    assert (token.scope, token.team) == ("admin", None)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert client.patch("/api/v1/datasets/churn/", {"title": "Still"}, format="json").status_code == 200
    assert client.post("/api/v1/teams/", {"slug": "vision"}, format="json").status_code == 201


def test_every_api_endpoint_that_takes_a_token_checks_its_scope():
    """Views that set their own permission classes must keep TokenScope, or tokens escape it."""
    from api import urls
    from api.permissions import TokenScope

    unchecked = []
    for pattern in urls.urlpatterns:
        view = getattr(pattern.callback, "cls", object)
        changes = [m for m in ("post", "put", "patch", "delete") if hasattr(view, m)]
        if not changes or view.authentication_classes == []:
            continue  # the password exchange takes no token; the schema pages only read
        if TokenScope not in view.permission_classes:
            unchecked.append(pattern.name)
    assert unchecked == []
