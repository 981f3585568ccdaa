"""Failed sign-ins are limited per account and per client address, in the database, so every web
process and both doors (the portal's form and the API's token exchange) share one count."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import ApiToken
from core.http import client_address

pytestmark = pytest.mark.django_db

RIGHT = "pw-for-tests-1"
LOCKED = "Too many failed sign-ins for this account or from this address"


def portal_sign_in(username: str, password: str, **headers: str) -> tuple[Client, int, str]:
    client = Client()
    response = client.post("/accounts/login/", {"username": username, "password": password}, **headers)
    return client, response.status_code, response.content.decode()


def api_sign_in(username: str, password: str, **headers: str) -> tuple[int, dict[str, str]]:
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": username, "password": password}, format="json", **headers
    )
    return response.status_code, response.json()


def test_wrong_passwords_from_different_addresses_lock_the_account(member, settings):
    limit = settings.AXES_FAILURE_LIMIT
    for n in range(limit - 1):
        _, status, _ = portal_sign_in("mina", "guess", REMOTE_ADDR=f"198.51.100.{n + 1}")
        assert status == 200  # the form again, with "enter a correct username and password"

    _, status, page = portal_sign_in("mina", "guess", REMOTE_ADDR="198.51.100.200")
    assert status == 429
    assert LOCKED in page

    # Now even the right password, from an address that never failed, does not sign in.
    client, status, page = portal_sign_in("mina", RIGHT, REMOTE_ADDR="203.0.113.9")
    assert status == 429
    assert LOCKED in page
    assert "_auth_user_id" not in client.session
    assert client.get("/").status_code == 302  # still sent to the login page


def test_wrong_passwords_from_one_address_lock_it_for_every_username(member, settings):
    for n in range(settings.AXES_FAILURE_LIMIT):
        portal_sign_in(f"someone{n}", "guess", REMOTE_ADDR="198.51.100.7")

    _, status, page = portal_sign_in("mina", RIGHT, REMOTE_ADDR="198.51.100.7")
    assert status == 429
    assert LOCKED in page
    # The account itself is not locked: its owner signs in from elsewhere.
    _, status, _ = portal_sign_in("mina", RIGHT, REMOTE_ADDR="203.0.113.9")
    assert status == 302


def test_a_spoofed_forwarded_for_does_not_reset_the_count_when_no_proxy_is_trusted(member, settings):
    assert settings.GRANARY_TRUSTED_PROXIES == 0
    for n in range(settings.AXES_FAILURE_LIMIT):
        portal_sign_in(
            f"someone{n}", "guess", REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR=f"203.0.113.{n + 1}"
        )

    status, body = api_sign_in("mina", RIGHT, REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="203.0.113.99")
    assert status == 429
    assert body["code"] == "locked_out"
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"198.51.100.7"}


def test_the_api_answers_a_locked_account_with_a_429_json_error(member, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        status, body = api_sign_in("mina", "guess")
        assert (status, body["code"]) == (401, "not_authenticated")

    status, body = api_sign_in("mina", "guess")
    assert status == 429
    assert body["code"] == "locked_out"
    assert body["detail"].startswith(LOCKED)
    assert "15 minutes" in body["detail"]

    status, body = api_sign_in("mina", RIGHT)
    assert (status, body["code"]) == (429, "locked_out")
    assert not ApiToken.objects.exists()


def test_failures_recorded_by_the_api_count_for_the_portal_login(member, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        api_sign_in("mina", "guess", REMOTE_ADDR="198.51.100.7")
    # The count is rows in the database, which every web process reads.
    assert AccessAttempt.objects.get(username="mina").failures_since_start == settings.AXES_FAILURE_LIMIT

    _, status, page = portal_sign_in("mina", RIGHT, REMOTE_ADDR="203.0.113.9")
    assert status == 429
    assert LOCKED in page


def test_failures_on_the_portal_count_for_the_api(member, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        portal_sign_in("mina", "guess")
    status, body = api_sign_in("mina", RIGHT, REMOTE_ADDR="203.0.113.9")
    assert (status, body["code"]) == (429, "locked_out")


def test_the_lock_lifts_after_the_cool_off(member, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        portal_sign_in("mina", "guess")
    assert portal_sign_in("mina", RIGHT)[1] == 429

    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time
        - settings.AXES_COOLOFF_TIME
        - timedelta(seconds=1)
    )
    client, status, _ = portal_sign_in("mina", RIGHT)
    assert status == 302
    assert client.get("/").status_code == 200


def test_a_few_mistakes_do_not_lock_anyone_out(member, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        portal_sign_in("mina", "guess")
    assert portal_sign_in("mina", RIGHT)[1] == 302
    assert api_sign_in("mina", RIGHT)[0] == 201


def test_the_defaults_are_ten_failures_and_fifteen_minutes(settings):
    assert settings.AXES_FAILURE_LIMIT == 10
    assert settings.AXES_COOLOFF_TIME.total_seconds() == 15 * 60
    assert settings.AXES_LOCKOUT_PARAMETERS == ["username", "ip_address"]


# --- the client's address --------------------------------------------------------------------


def request_with(**meta: str):
    from django.test import RequestFactory

    return RequestFactory().get("/", **meta)


def test_with_no_trusted_proxy_the_address_is_the_connections(settings):
    settings.GRANARY_TRUSTED_PROXIES = 0
    request = request_with(REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="203.0.113.1")
    assert client_address(request) == "198.51.100.7"


def test_one_trusted_proxy_means_the_last_forwarded_hop(settings):
    settings.GRANARY_TRUSTED_PROXIES = 1
    # The client wrote the first entry itself; the proxy appended the address it saw.
    request = request_with(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.1, 198.51.100.7")
    assert client_address(request) == "198.51.100.7"


def test_two_trusted_proxies_mean_the_second_hop_from_the_right(settings):
    settings.GRANARY_TRUSTED_PROXIES = 2
    request = request_with(
        REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.1, 198.51.100.7, 192.0.2.10"
    )
    assert client_address(request) == "198.51.100.7"


def test_a_missing_or_malformed_forwarded_for_falls_back_to_the_connection(settings):
    settings.GRANARY_TRUSTED_PROXIES = 1
    assert client_address(request_with(REMOTE_ADDR="127.0.0.1")) == "127.0.0.1"
    assert client_address(request_with(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="not-an-ip")) == (
        "127.0.0.1"
    )


def test_behind_a_trusted_proxy_each_client_has_its_own_count(member, settings):
    settings.GRANARY_TRUSTED_PROXIES = 1
    for n in range(settings.AXES_FAILURE_LIMIT):
        portal_sign_in(f"someone{n}", "guess", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7")
    locked = portal_sign_in("mina", RIGHT, REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert locked[1] == 429
    other = portal_sign_in("mina", RIGHT, REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert other[1] == 302
