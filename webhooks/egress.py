"""Where webhooks may connect: the one rule on addresses (`address_allowed`), checked when a
webhook is added and again on the address each delivery actually connects to, and the POST that
follows no redirect and keeps nothing of the answer but its status code.

The check sits in the connection itself (as the `advocate` library does): the host name is
resolved once, every address it gives is checked, and the socket connects to a checked address;
requests and urllib3 still see the host name, so the Host header, TLS SNI and the certificate's
name check are unchanged. A name that resolves to a public address when it is checked and to
127.0.0.1 a moment later (DNS rebinding) gains nothing: the second answer is checked too.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util.connection import allowed_gai_family

from webhooks.models import WebhookDelivery

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Failure = WebhookDelivery.Failure

# Cloud metadata services hand out credentials: refused even inside an allowed network, since an
# operator who allows 169.254.0.0/16 or fd00::/8 for a device means the device, not these.
METADATA = tuple(
    ipaddress.ip_network(network)
    for network in (
        "169.254.169.254/32",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle, ...
        "169.254.170.2/32",  # AWS ECS task credentials
        "fd00:ec2::254/128",  # AWS over IPv6
        "fd20:ce::254/128",  # GCP over IPv6
        "100.100.100.200/32",  # Alibaba Cloud
        "192.0.0.192/32",  # Oracle Cloud (legacy)
    )
)
# Not global, although Python 3.11's `is_global` says so.
NOT_GLOBAL = tuple(
    ipaddress.ip_network(network)
    for network in (
        "192.0.0.0/24",  # IETF protocol assignments
        "192.88.99.0/24",  # 6to4 relay anycast (deprecated)
        "fec0::/10",  # IPv6 site-local (deprecated)
    )
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class Refused(Exception):
    """A delivery that did not reach a receiver, with the one fixed reason it is stored under."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.label)
        self.failure = failure


@dataclass(frozen=True)
class Answer:
    """All a delivery keeps of its attempt: the status code, or why there is none."""

    status: int | None
    failure: Failure | None


def networks_allowed() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The operator's on-premise receivers (GRANARY_WEBHOOK_ALLOWED_NETWORKS, checked at start)."""
    return [
        ipaddress.ip_network(network, strict=False) for network in settings.GRANARY_WEBHOOK_ALLOWED_NETWORKS
    ]


def _reached(address: Address) -> Address:
    """The IPv4 address an IPv6 one reaches: IPv4-mapped, 6to4 and NAT64 carry one inside."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address in NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def address_allowed(address: Address) -> bool:
    """Whether a delivery may connect to `address`: a public unicast address, or one in the
    operator's allowed networks; never a cloud metadata address."""
    reached = _reached(address)
    if any(reached in network for network in METADATA):
        return False
    if any(reached in network for network in networks_allowed()):
        return True
    if isinstance(reached, ipaddress.IPv6Address) and reached.teredo is not None:
        return False  # tunnelled to an address we cannot see
    return (
        reached.is_global
        and not reached.is_multicast
        and not reached.is_reserved
        and not reached.is_loopback
        and not reached.is_link_local
        and not reached.is_unspecified
        and not reached.is_private
        and not any(reached in network for network in NOT_GLOBAL)
    )


def schemes_allowed() -> tuple[str, ...]:
    return ("http", "https") if settings.GRANARY_WEBHOOK_ALLOW_HTTP else ("https",)


def destinations(host: str, port: int) -> list[tuple[Any, ...]]:
    """getaddrinfo's answers for `host`, once every address in them is allowed; Refused
    otherwise (a name with one internal address among public ones is refused whole)."""
    try:
        found = socket.getaddrinfo(host, port, allowed_gai_family(), socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise Refused(Failure.DNS) from None
    if not found:
        raise Refused(Failure.DNS)
    for *_, sockaddr in found:
        # An IPv6 sockaddr's host may carry a zone (fe80::1%eth0); the rule is on the address.
        if not address_allowed(ipaddress.ip_address(str(sockaddr[0]).split("%")[0])):
            raise Refused(Failure.ADDRESS)
    return found


def url_refusal(url: str) -> Failure | None:
    """Why a webhook may not be added with `url` (its scheme, or what its host resolves to), or
    None. A name that does not resolve yet is accepted: each delivery resolves it again."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in schemes_allowed():
        return Failure.HTTP if parts.scheme.lower() == "http" else Failure.SCHEME
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError:
        return Failure.SCHEME
    if not parts.hostname:
        return Failure.SCHEME
    try:
        destinations(parts.hostname, port)
    except Refused as refused:
        return None if refused.failure == Failure.DNS else refused.failure
    return None


def _connect(connection: HTTPConnection) -> socket.socket:
    """What urllib3's `create_connection` does, on checked addresses only."""
    last: OSError | None = None
    host = connection.host.strip("[]")  # an IPv6 literal may keep its brackets
    for family, kind, proto, _, sockaddr in destinations(host, connection.port):
        sock = socket.socket(family, kind, proto)
        try:
            for option in connection.socket_options or ():
                sock.setsockopt(*option)
            timeout = connection.timeout
            sock.settimeout(
                timeout if isinstance(timeout, int | float) else settings.GRANARY_WEBHOOK_TIMEOUT_SECONDS
            )
            if connection.source_address:
                sock.bind(connection.source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
    if isinstance(last, ConnectionRefusedError):
        raise Refused(Failure.REFUSED)
    if isinstance(last, TimeoutError):
        raise Refused(Failure.TIMEOUT)
    raise Refused(Failure.FAILED)


class _CheckedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _connect(self)


class _CheckedHTTPSConnection(HTTPSConnection):
    # TLS is wrapped around this socket by HTTPSConnection.connect, with SNI and the certificate
    # checked against self.host: the name, not the address.
    def _new_conn(self) -> socket.socket:
        return _connect(self)


class _CheckedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _CheckedHTTPConnection


class _CheckedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _CheckedHTTPSConnection


class _CheckedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _CheckedHTTPPool, "https": _CheckedHTTPSPool}

    def proxy_manager_for(self, *args: Any, **kwargs: Any) -> Any:
        # A proxy would make the connection for us, to an address we never saw.
        raise Refused(Failure.ADDRESS)


def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no HTTP(S)_PROXY, no .netrc credentials sent to receivers
    session.mount("http://", _CheckedAdapter())
    session.mount("https://", _CheckedAdapter())
    return session


def post(url: str, *, body: bytes, headers: dict[str, str]) -> Answer:
    """POST `body` to `url` once: no redirect followed, nothing of the answer read but its status
    code, every failure one of `Failure`'s fixed reasons (an exception's text can tell a
    stranger what listens where inside the network)."""
    scheme = urlsplit(url).scheme.lower()
    if scheme not in schemes_allowed():
        return Answer(None, Failure.HTTP if scheme == "http" else Failure.SCHEME)
    timeout = settings.GRANARY_WEBHOOK_TIMEOUT_SECONDS
    try:
        with _session() as session:
            response = session.post(
                url, data=body, headers=headers, timeout=timeout, allow_redirects=False, stream=True
            )
            response.close()  # the body is never read
    except Refused as refused:
        return Answer(None, refused.failure)
    except requests.Timeout:
        return Answer(None, Failure.TIMEOUT)
    except requests.exceptions.SSLError:
        return Answer(None, Failure.TLS)
    except requests.RequestException:
        return Answer(None, Failure.FAILED)
    if 300 <= response.status_code < 400:
        return Answer(response.status_code, Failure.REDIRECT)
    return Answer(response.status_code, None)
