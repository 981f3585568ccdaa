"""Where webhooks may send (SSRF): public addresses only, checked on the address actually connected
to; https unless allowed; no redirects; a status code and a fixed reason stored, never the body."""

from __future__ import annotations

import ipaddress
import json

import pytest
import requests

from core.errors import InvalidInput
from tests.config.test_configuration import start
from tests.services import free_port
from tests.webhooks.servers import always, certificates, resolve_as, serve, silent_listener
from webhooks.egress import address_allowed
from webhooks.models import Webhook, WebhookDelivery
from webhooks.services import WebhookFailed, webhook_create, webhook_deliver

pytestmark = pytest.mark.django_db
SECRET = "a-long-shared-secret-0123"
LEAK = b"INTERNAL-METADATA-SECRET-123"
REFUSED_HERE = "Granary does not send events to"


@pytest.fixture
def loopback_allowed(settings):
    """Receivers in these tests listen on 127.0.0.1 over http: what an operator's allow-list and
    GRANARY_WEBHOOK_ALLOW_HTTP would permit for an on-premise receiver."""
    settings.GRANARY_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.GRANARY_WEBHOOK_ALLOW_HTTP = True


def stored_before_the_check(team, url: str) -> Webhook:
    """A webhook saved without the creation check: one added before this release, or whose name
    pointed elsewhere when it was added."""
    return Webhook.objects.create(team=team, url=url, secret=SECRET)


def queued(webhook: Webhook) -> WebhookDelivery:
    return WebhookDelivery.objects.create(
        webhook=webhook, event="validation.failed", payload={"ref": "churn@1"}
    )


def everything_stored() -> str:
    return json.dumps(list(WebhookDelivery.objects.values()), default=str)


def webhooks_page(client, owner) -> str:
    client.force_login(owner)
    response = client.get("/teams/ml-core/webhooks/")
    assert response.status_code == 200
    return response.content.decode()


def test_a_receiver_that_redirects_to_a_secret_never_reveals_it(client, owner, team, loopback_allowed):
    with (
        serve(status=200, body=LEAK + b" aws-key=AKIA...") as secret,
        serve(status=302, headers={"Location": secret.url("/secret.txt")}, body=b"moved, see there") as hook,
    ):
        delivery = queued(webhook_create(team=team, url=hook.url(), secret=SECRET))
        with pytest.raises(WebhookFailed, match=r"^HTTP 302 \(redirects are not followed\)$"):
            webhook_deliver(delivery_id=delivery.pk, final=False)
        delivery = webhook_deliver(delivery_id=delivery.pk, final=True)

    assert secret.requests == []
    assert [r["method"] for r in hook.requests] == ["POST", "POST"]
    assert (delivery.status, delivery.response_status, delivery.error) == ("failed", 302, "redirect")
    assert "INTERNAL-METADATA" not in everything_stored()
    assert "moved, see there" not in everything_stored()
    page = webhooks_page(client, owner)
    assert "HTTP 302 (redirects are not followed)" in page
    assert "INTERNAL-METADATA" not in page and "moved, see there" not in page


def test_the_reported_attack_is_refused_when_the_webhook_is_added(client, owner, settings):
    settings.GRANARY_WEBHOOK_ALLOW_HTTP = True  # so that the address, not the scheme, is refused
    client.force_login(owner)
    response = client.post(
        "/teams/ml-core/webhooks/", {"url": "http://127.0.0.1:8912/hook", "secret": SECRET}
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert f"{REFUSED_HERE} 127.0.0.1: it is, or resolves to, a loopback, private" in page
    assert not Webhook.objects.exists()


def test_a_host_name_that_resolves_to_loopback_is_refused_when_added(team):
    with pytest.raises(InvalidInput, match=f"{REFUSED_HERE} localhost") as refused:
        webhook_create(team=team, url="https://localhost:8443/hook", secret=SECRET)
    assert refused.value.field == "url"


def test_a_stored_webhook_to_localhost_is_refused_at_delivery_without_retries(team, settings):
    settings.GRANARY_WEBHOOK_ALLOW_HTTP = True
    with serve() as receiver:
        delivery = queued(stored_before_the_check(team, receiver.url(host="localhost")))
        delivery = webhook_deliver(delivery_id=delivery.pk, final=False)  # refused for good: no retry
    assert receiver.requests == []
    assert (delivery.status, delivery.response_status, delivery.error) == ("failed", None, "address")
    assert delivery.outcome == "address not allowed"


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "https://[fd00:ec2::254]/latest/meta-data/",
        "https://[::ffff:169.254.169.254]/",
        "https://[::ffff:127.0.0.1]:8443/",
        "https://[::ffff:7f00:1]:8443/",
        "https://[64:ff9b::a9fe:a9fe]/",  # NAT64 of the metadata address
        "https://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
        "https://2130706433/",  # 127.0.0.1 written as one number
        "https://0x7f.1/",
        "https://[::1]/",
        "https://0.0.0.0/",
        "https://10.0.0.5/",
        "https://172.16.4.4/",
        "https://192.168.1.1/",
        "https://100.64.0.1/",
        "https://[fe80::1]/",
        "https://[fc00::1]/",
        "https://224.0.0.1/",
        "https://[ff02::1]/",
        "https://240.0.0.1/",
    ],
)
def test_a_literal_internal_or_metadata_address_is_refused(team, url):
    with pytest.raises(InvalidInput, match=REFUSED_HERE):
        webhook_create(team=team, url=url, secret=SECRET)
    assert not Webhook.objects.exists()


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("93.184.215.14", True),
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("64:ff9b::808:808", True),  # NAT64 of a public address
        ("::ffff:8.8.8.8", True),
        ("127.0.0.1", False),
        ("127.255.255.254", False),
        ("::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("::127.0.0.1", False),  # IPv4-compatible, deprecated
        ("2002:a00:1::", False),  # 6to4 of 10.0.0.1
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # Teredo
        ("169.254.169.254", False),
        ("169.254.170.2", False),
        ("fd00:ec2::254", False),
        ("100.100.100.200", False),
        ("192.0.0.8", False),
        ("192.0.2.1", False),
        ("198.18.0.1", False),
        ("fec0::1", False),
        ("2001:db8::1", False),
        ("255.255.255.255", False),
        ("::", False),
    ],
)
def test_only_public_addresses_are_allowed(address, allowed):
    assert address_allowed(ipaddress.ip_address(address)) is allowed


def test_an_allowed_network_admits_itself_and_nothing_more(team, settings):
    settings.GRANARY_WEBHOOK_ALLOWED_NETWORKS = ["10.20.0.0/16", "fd12:3456::/48"]
    assert webhook_create(team=team, url="https://10.20.3.4/hook", secret=SECRET)
    assert webhook_create(team=team, url="https://[fd12:3456::7]/hook", secret=SECRET)
    assert webhook_create(team=team, url="https://[::ffff:10.20.3.4]/hook", secret=SECRET)
    for url in ("https://10.21.0.1/hook", "https://127.0.0.1/hook", "https://[fd12:3457::7]/hook"):
        with pytest.raises(InvalidInput, match=REFUSED_HERE):
            webhook_create(team=team, url=url, secret=SECRET)


def test_metadata_addresses_stay_refused_inside_an_allowed_network(team, settings):
    settings.GRANARY_WEBHOOK_ALLOWED_NETWORKS = ["169.254.0.0/16", "fd00::/8"]
    assert webhook_create(team=team, url="https://169.254.10.10/hook", secret=SECRET)
    for url in ("https://169.254.169.254/", "https://[fd00:ec2::254]/", "https://[::ffff:169.254.169.254]/"):
        with pytest.raises(InvalidInput, match=REFUSED_HERE):
            webhook_create(team=team, url=url, secret=SECRET)


def test_plain_http_is_refused_unless_the_setting_allows_it(team, settings):
    with pytest.raises(InvalidInput, match=r"Use an https:// URL") as refused:
        webhook_create(team=team, url="http://hooks.example.org/x", secret=SECRET)
    assert refused.value.field == "url"
    settings.GRANARY_WEBHOOK_ALLOW_HTTP = True
    assert webhook_create(team=team, url="http://hooks.example.org/x", secret=SECRET).url.startswith("http:")


def test_a_stored_http_webhook_is_not_sent_while_http_is_off(team, settings):
    settings.GRANARY_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    with serve() as receiver:
        delivery = webhook_deliver(
            delivery_id=queued(stored_before_the_check(team, receiver.url())).pk, final=False
        )
    assert receiver.requests == []
    assert (delivery.status, delivery.error, delivery.outcome) == (
        "failed",
        "http",
        "plain http is not allowed",
    )


def test_a_name_that_rebinds_to_loopback_after_it_was_added_is_refused(team, settings, monkeypatch):
    settings.GRANARY_WEBHOOK_ALLOW_HTTP = True
    with serve() as receiver:
        answers = resolve_as(monkeypatch, "hooks.rebind.test", ["93.184.215.14", *["127.0.0.1"] * 5])
        webhook = webhook_create(team=team, url=receiver.url(host="hooks.rebind.test"), secret=SECRET)
        assert answers == ["93.184.215.14"]  # public when it was added
        delivery = webhook_deliver(delivery_id=queued(webhook).pk, final=False)
    assert answers[1] == "127.0.0.1"
    assert receiver.requests == []
    assert (delivery.status, delivery.error) == ("failed", "address")


def test_the_address_checked_is_the_address_connected_to(team, settings, monkeypatch):
    """A name that answers an allowed address, then loopback, then allowed again...: a check that
    resolved the name separately from the connection would pass and then reach the receiver."""
    settings.GRANARY_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.2/32"]  # nothing listens there
    settings.GRANARY_WEBHOOK_ALLOW_HTTP = True
    with serve() as receiver:
        webhook = stored_before_the_check(team, receiver.url(host="flip.rebind.test"))
        answers = resolve_as(monkeypatch, "flip.rebind.test", always("127.0.0.2", "127.0.0.1"))
        delivery = webhook_deliver(delivery_id=queued(webhook).pk, final=True)
    assert answers[0] == "127.0.0.2"
    assert receiver.requests == []
    assert (delivery.status, delivery.error) == ("failed", "refused")


def test_failures_are_stored_as_a_status_and_a_fixed_reason(client, owner, team, loopback_allowed, settings):
    settings.GRANARY_WEBHOOK_TIMEOUT_SECONDS = 0.5
    outcomes = {}
    with (
        serve(status=500, body=b"Traceback (most recent call last): password=hunter2") as broken,
        silent_listener() as silent_port,
    ):
        urls = {
            "closed port": f"http://127.0.0.1:{free_port()}/hook",
            "silent": f"http://127.0.0.1:{silent_port}/hook",
            "server error": broken.url(),
            "https to plain http": broken.url().replace("http://", "https://"),
            "unknown name": "http://nowhere.invalid/hook",
        }
        for case, url in urls.items():
            delivery = queued(stored_before_the_check(team, url))
            delivery = webhook_deliver(delivery_id=delivery.pk, final=True)
            outcomes[case] = (delivery.status, delivery.response_status, delivery.error, delivery.outcome)

    assert outcomes == {
        "closed port": ("failed", None, "refused", "connection refused"),
        "silent": ("failed", None, "timeout", "timed out"),
        "server error": ("failed", 500, "", "HTTP 500"),
        "https to plain http": ("failed", None, "tls", "TLS handshake or certificate failed"),
        "unknown name": ("failed", None, "dns", "host name not found"),
    }
    reasons = set(WebhookDelivery.objects.values_list("error", flat=True))
    assert reasons <= {"", *WebhookDelivery.Failure.values}
    assert "hunter2" not in everything_stored() and "Traceback" not in everything_stored()
    page = webhooks_page(client, owner)
    assert "hunter2" not in page and "Traceback" not in page and "Errno" not in page
    assert "connection refused" in page and "timed out" in page and "HTTP 500" in page


def test_https_keeps_the_host_name_for_sni_and_the_certificate(team, settings, monkeypatch, tmp_path):
    settings.GRANARY_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]  # https only: the default
    certs = certificates(tmp_path, "hooks.granary.test")
    monkeypatch.setattr(requests.adapters, "DEFAULT_CA_BUNDLE_PATH", str(certs.ca))
    resolve_as(monkeypatch, "hooks.granary.test", always("127.0.0.1"))
    resolve_as(monkeypatch, "impostor.granary.test", always("127.0.0.1"))
    with serve(tls=certs.server_context()) as receiver:
        good = queued(stored_before_the_check(team, receiver.url(host="hooks.granary.test")))
        good = webhook_deliver(delivery_id=good.pk, final=True)
        bad = queued(stored_before_the_check(team, receiver.url(host="impostor.granary.test")))
        bad = webhook_deliver(delivery_id=bad.pk, final=True)

    assert (good.status, good.response_status) == ("delivered", 202)
    [request] = receiver.requests
    assert request["headers"]["Host"] == f"hooks.granary.test:{receiver.port}"
    assert receiver.server_names[0] == "hooks.granary.test"
    assert (bad.status, bad.error) == ("failed", "tls")


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "GRANARY_WEBHOOK_ALLOWED_NETWORKS",
            "10.0.0.0/33",
            "GRANARY_WEBHOOK_ALLOWED_NETWORKS: '10.0.0.0/33' is not",
        ),
        (
            "GRANARY_WEBHOOK_ALLOWED_NETWORKS",
            "intranet",
            "GRANARY_WEBHOOK_ALLOWED_NETWORKS: 'intranet' is not",
        ),
        ("GRANARY_WEBHOOK_ALLOW_HTTP", "maybe", "GRANARY_WEBHOOK_ALLOW_HTTP='maybe' is not a boolean"),
    ],
)
def test_a_bad_webhook_setting_stops_the_start(tmp_path, variable, value, message):
    result = start(tmp_path, **{variable: value})
    assert result.returncode != 0
    assert message in result.stderr


def test_good_webhook_settings_start(tmp_path):
    result = start(
        tmp_path,
        GRANARY_WEBHOOK_ALLOWED_NETWORKS="10.20.0.0/16, fd12:3456::/48",
        GRANARY_WEBHOOK_ALLOW_HTTP="true",
    )
    assert result.returncode == 0, result.stderr
