"""API tokens: exchanged for a password, created on a page or by manage.py, hashed, expiring, revocable."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken

pytestmark = pytest.mark.django_db


def bearer(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_a_password_is_exchanged_for_a_token_that_opens_the_api(member, public_dataset):
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": "mina", "password": "pw-for-tests-1"}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert body["token"].startswith("gra_")
    assert body["expires_at"]
    listed = bearer(body["token"]).get("/api/v1/datasets/")
    assert [d["slug"] for d in listed.json()["results"]] == ["churn"]


def test_a_wrong_password_is_a_401_without_a_token(member):
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": "mina", "password": "nope"}, format="json"
    )
    assert response.status_code == 401
    assert response.json() == {"code": "not_authenticated", "detail": "The username or password is wrong."}
    assert not ApiToken.objects.exists()


def test_only_the_hash_of_a_token_is_stored(member):
    secret = (
        APIClient()
        .post("/api/v1/auth/token/", {"username": "mina", "password": "pw-for-tests-1"}, format="json")
        .json()["token"]
    )
    stored = ApiToken.objects.get()
    assert secret not in {stored.key_hash, stored.prefix, stored.name}
    assert stored.prefix == secret[:10]


def test_an_expired_token_is_refused(member):
    secret = (
        APIClient()
        .post("/api/v1/auth/token/", {"username": "mina", "password": "pw-for-tests-1"}, format="json")
        .json()["token"]
    )
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = bearer(secret).get("/api/v1/datasets/")
    assert response.status_code == 401
    assert response.json()["detail"] == "The token is invalid, expired or revoked."


def test_a_revoked_token_is_refused(member, api):
    client = api(member)
    token_id = client.get("/api/v1/tokens/").json()[0]["id"]
    assert client.delete(f"/api/v1/tokens/{token_id}/").status_code == 204
    assert client.get("/api/v1/datasets/").status_code == 401


def test_a_user_cannot_revoke_someone_elses_token(member, outsider, api):
    api(member)
    other = api(outsider)
    token_id = ApiToken.objects.get(user=member).pk
    assert other.delete(f"/api/v1/tokens/{token_id}/").status_code == 404
    assert ApiToken.objects.get(pk=token_id).revoked_at is None


def test_a_token_for_an_inactive_user_is_refused(member, api):
    client = api(member)
    member.is_active = False
    member.save()
    assert client.get("/api/v1/datasets/").status_code == 401


def test_manage_py_create_token_prints_a_working_token(member, public_dataset):
    out = io.StringIO()
    call_command("create_token", "mina", "training cluster", "--days", "7", stdout=out, stderr=io.StringIO())
    secret = out.getvalue().strip()
    assert bearer(secret).get("/api/v1/datasets/churn/").json()["slug"] == "churn"
    assert ApiToken.objects.get().name == "training cluster"


def test_the_tokens_page_shows_a_new_token_once(client, member):
    client.force_login(member)
    page = client.post("/tokens/", {"name": "laptop", "days": 30})
    assert page.status_code == 200
    secret = page.context["issued"].secret
    assert secret.encode() in page.content
    again = client.get("/tokens/")
    assert secret.encode() not in again.content
    assert b"laptop" in again.content


def test_the_tokens_page_refuses_a_token_without_a_name(client, member):
    client.force_login(member)
    page = client.post("/tokens/", {"name": "", "days": 30})
    assert page.status_code == 400
    assert b"This field is required." in page.content
    assert not ApiToken.objects.exists()
