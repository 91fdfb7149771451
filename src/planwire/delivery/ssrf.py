"""Which webhook targets Planwire may connect to (the SSRF guard).

A webhook URL is attacker-controlled input: without a guard, anyone allowed to register a webhook
could make the server POST to its own loopback services, the internal network or the cloud
metadata endpoint. The guard runs twice:

* at registration, :func:`check_url` (or :func:`check_url_async` inside the event loop) parses the
  URL, normalises the host the way browsers and libc do (``2130706433``, ``0177.0.0.1``,
  ``0x7f.1`` are all ``127.0.0.1``), resolves it and refuses it with a sentence for the user;
* at delivery, the sender resolves through :class:`planwire.delivery.sender.HttpSender`'s guarded
  resolver and checks every address it is about to connect to, so a name that resolved to a
  public address at registration and to ``127.0.0.1`` later (DNS rebinding) is still refused.

:func:`is_forbidden_address` says why an address is not a public unicast address.
:class:`TargetPolicy` adds the opt-ins: ``allow_private`` (development and tests) and an
allow-list of networks (production access to a known internal network).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit

__all__ = [
    "CLOUD_METADATA_ADDRESSES",
    "IPAddress",
    "IPNetwork",
    "TargetPolicy",
    "TargetRefused",
    "check_url",
    "check_url_async",
    "host_address",
    "is_forbidden_address",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Instance metadata services: they hand out cloud credentials, so they stay refused even when
#: ``allow_private`` is on (list them in ``allowed_networks`` to reach them anyway).
CLOUD_METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, Oracle, DigitalOcean
        "169.254.170.2",  # AWS ECS task metadata
        "100.100.100.200",  # Alibaba Cloud
        "fd00:ec2::254",  # AWS IMDS over IPv6
    )
)


class TargetRefused(Exception):
    """The URL or the address it leads to is not an allowed webhook target.

    ``reason`` (also ``str(exc)``) is a sentence fit to show to the user.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Kind(Enum):
    PRIVATE = "private"  # internal but reachable: allowed by allow_private
    METADATA = "metadata"  # allowed only through allowed_networks
    UNUSABLE = "unusable"  # never a unicast TCP peer: allowed only through allowed_networks


# Checked in order (IPv4 rows never match IPv6 addresses and vice versa); the first match wins.
_SPECIAL_RANGES: tuple[tuple[IPNetwork, _Kind, str], ...] = tuple(
    (ipaddress.ip_network(net), kind, reason)
    for net, kind, reason in (
        ("0.0.0.0/8", _Kind.UNUSABLE, "an unspecified ('this network') address"),
        ("127.0.0.0/8", _Kind.PRIVATE, "a loopback address"),
        ("10.0.0.0/8", _Kind.PRIVATE, "a private address"),
        ("172.16.0.0/12", _Kind.PRIVATE, "a private address"),
        ("192.168.0.0/16", _Kind.PRIVATE, "a private address"),
        ("169.254.0.0/16", _Kind.PRIVATE, "a link-local address"),
        ("100.64.0.0/10", _Kind.PRIVATE, "a carrier-grade NAT (100.64.0.0/10) address"),
        ("192.0.0.0/24", _Kind.PRIVATE, "an IETF protocol assignment (192.0.0.0/24) address"),
        ("192.0.2.0/24", _Kind.UNUSABLE, "a documentation (TEST-NET-1) address"),
        ("198.51.100.0/24", _Kind.UNUSABLE, "a documentation (TEST-NET-2) address"),
        ("203.0.113.0/24", _Kind.UNUSABLE, "a documentation (TEST-NET-3) address"),
        ("198.18.0.0/15", _Kind.PRIVATE, "a benchmarking (198.18.0.0/15) address"),
        ("192.88.99.0/24", _Kind.UNUSABLE, "a deprecated 6to4 relay anycast address"),
        ("224.0.0.0/4", _Kind.UNUSABLE, "a multicast address"),
        ("255.255.255.255/32", _Kind.UNUSABLE, "the broadcast address"),
        ("240.0.0.0/4", _Kind.UNUSABLE, "a reserved address"),
        ("::/128", _Kind.UNUSABLE, "the unspecified address"),
        ("::1/128", _Kind.PRIVATE, "a loopback address"),
        ("fc00::/7", _Kind.PRIVATE, "a unique local (private) address"),
        ("fe80::/10", _Kind.PRIVATE, "a link-local address"),
        ("fec0::/10", _Kind.PRIVATE, "a site-local (private) address"),
        ("ff00::/8", _Kind.UNUSABLE, "a multicast address"),
        ("64:ff9b:1::/48", _Kind.PRIVATE, "a local-use NAT64 address"),
        ("100::/64", _Kind.UNUSABLE, "a discard-only address"),
        ("2001:db8::/32", _Kind.UNUSABLE, "a documentation address"),
        ("2001::/32", _Kind.UNUSABLE, "a Teredo tunnel address"),
        ("2001:2::/48", _Kind.PRIVATE, "a benchmarking address"),
        ("2001:10::/28", _Kind.UNUSABLE, "a reserved (ORCHID) address"),
        ("2001:20::/28", _Kind.UNUSABLE, "a reserved (ORCHIDv2) address"),
    )
)

# Prefixes that embed an IPv4 address which is where the packets really go.
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")


def _classify(ip: IPAddress) -> tuple[_Kind, str] | None:
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id is not None:
        ip = ipaddress.IPv6Address(int(ip))  # the zone (%eth0) does not change the address kind
    if ip in CLOUD_METADATA_ADDRESSES:
        return _Kind.METADATA, "a cloud metadata address"
    if isinstance(ip, ipaddress.IPv6Address):
        embedded, form = _embedded_ipv4(ip)
        if embedded is not None:
            inner = _classify(embedded)
            if inner is None:
                return None
            return inner[0], f"{form} of {embedded}, {inner[1]}"
    for net, kind, reason in _SPECIAL_RANGES:
        if ip in net:
            return kind, reason
    if not ip.is_global:
        return _Kind.UNUSABLE, "not a public address"
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address | None, str]:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped, "an IPv4-mapped IPv6 address"
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "a NAT64 address"
    if ip in _SIX_TO_FOUR:
        assert ip.sixtofour is not None
        return ip.sixtofour, "a 6to4 address"
    if ip in _IPV4_COMPATIBLE and int(ip) > 1:  # ::, ::1 are classified by the table
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "an IPv4-compatible IPv6 address"
    return None, ""


def is_forbidden_address(ip: IPAddress | str) -> str | None:
    """Why ``ip`` is not a public unicast address (``"a loopback address"``), or None if it is.

    Covers loopback, private (RFC 1918, unique local), link-local, the cloud metadata
    addresses, carrier-grade NAT, multicast, broadcast, unspecified, documentation, benchmarking
    and reserved ranges, and the same addresses wrapped in IPv6: IPv4-mapped (``::ffff:a.b.c.d``),
    IPv4-compatible, NAT64 (``64:ff9b::/96``) and 6to4 (``2002::/16``). Teredo is refused
    outright. A string that is not an IP address raises ``ValueError``.
    """
    if isinstance(ip, str):
        ip = ipaddress.ip_address(ip)
    found = _classify(ip)
    return None if found is None else found[1]


@dataclass(frozen=True, slots=True)
class TargetPolicy:
    """What targets deliveries may go to.

    ``allow_private`` lets through loopback, private, link-local, CGNAT and similar internal
    addresses (for development and tests) but still not cloud metadata, multicast or reserved
    addresses; ``allowed_networks`` lets through anything inside them (a narrower opt-in for
    production, e.g. ``10.20.0.0/16``); ``https_only`` refuses plain ``http`` URLs.
    """

    allow_private: bool = False
    allowed_networks: Sequence[IPNetwork] = ()
    https_only: bool = False

    def refusal_reason(self, ip: IPAddress) -> str | None:
        """Why this policy refuses ``ip``, or None when it may be connected to."""
        found = _classify(ip)
        if found is None:
            return None
        kind, reason = found
        if self.allow_private and kind is _Kind.PRIVATE:
            return None
        if self._in_allowed_networks(ip):
            return None
        return reason

    def _in_allowed_networks(self, ip: IPAddress) -> bool:
        candidates: list[IPAddress] = [ip]
        if isinstance(ip, ipaddress.IPv6Address):
            candidates = [ipaddress.IPv6Address(int(ip))]
            if ip.ipv4_mapped is not None:
                candidates.append(ip.ipv4_mapped)
        return any(
            candidate.version == net.version and candidate in net
            for net in self.allowed_networks
            for candidate in candidates
        )

    def check_address(self, ip: IPAddress, host: str | None = None) -> None:
        """Raise :class:`TargetRefused` if ``ip`` (what ``host`` resolved to) is refused."""
        reason = self.refusal_reason(ip)
        if reason is None:
            return
        if host is None or host.lower() == str(ip).lower():
            raise TargetRefused(f"{ip} is {reason}; webhooks cannot be sent there")
        raise TargetRefused(f"{host} resolves to {ip}, {reason}; webhooks cannot be sent there")


def _parse_ipv4_number(part: str) -> int | None:
    """One dot-separated part of a WHATWG/inet_aton IPv4 host: decimal, 0-octal or 0x-hex."""
    if not part.isascii():
        return None
    if part[:2].lower() == "0x":
        digits, base = part[2:], 16
        if digits == "":
            return 0
    elif len(part) > 1 and part[0] == "0":
        digits, base = part[1:], 8
    else:
        digits, base = part, 10
    try:
        return int(digits, base) if digits.isalnum() else None
    except ValueError:
        return None


def _parse_numeric_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The address a numeric host spelling means (``2130706433``, ``0177.1``), as browsers and
    libc's ``inet_aton`` read it; None when the host is not such a spelling."""
    parts = host.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()
    if not 1 <= len(parts) <= 4 or "" in parts:
        return None
    numbers = [_parse_ipv4_number(part) for part in parts]
    if any(n is None for n in numbers):
        return None
    values = [n for n in numbers if n is not None]
    *head, last = values
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(values)):
        return None
    value = last
    for index, n in enumerate(head):
        value += n << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _ends_in_a_number(host: str) -> bool:
    last = host.rstrip(".").rpartition(".")[2]
    return last.isascii() and (last.isdigit() or last[:2].lower() == "0x")


def host_address(host: str) -> IPAddress | None:
    """The IP address a URL host denotes literally (IPv6 with or without brackets and zone, or
    any IPv4 spelling), or None when the host is a name that needs resolving.

    A host whose last label is a number but which is no valid IPv4 spelling (``256.1.1.1``,
    ``08.1.1.1``, ``foo.0x1``) raises :class:`TargetRefused`, as it does in browsers.
    """
    literal = unquote(host.strip("[]"))
    try:
        return ipaddress.ip_address(literal)
    except ValueError:
        pass
    address = _parse_numeric_ipv4(literal)
    if address is None and _ends_in_a_number(literal):
        raise TargetRefused(f"{host} is not a valid IPv4 address")
    return address


def _parse(url: str, policy: TargetPolicy) -> tuple[str, int]:
    """Check the URL's own form; return its host and port."""
    if not isinstance(url, str) or not url:
        raise TargetRefused("the webhook URL is empty")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise TargetRefused("the webhook URL must not contain spaces or control characters")
    try:
        parts: SplitResult = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"the webhook URL is not valid ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        shown = f"'{parts.scheme}'" if parts.scheme else "none"
        raise TargetRefused(f"the webhook URL must use http or https (scheme is {shown})")
    if policy.https_only and scheme != "https":
        raise TargetRefused("the webhook URL must use https")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("the webhook URL must not contain a user name or password")
    host = parts.hostname
    if not host:
        raise TargetRefused("the webhook URL has no host")
    if port == 0:
        raise TargetRefused("the webhook URL's port must be between 1 and 65535")
    return host, port if port is not None else (443 if scheme == "https" else 80)


def _name_to_resolve(url: str, policy: TargetPolicy) -> tuple[str, int] | None:
    """Check the URL's form and a literal IP host; the (host, port) left to resolve, if any."""
    host, port = _parse(url, policy)
    literal = host_address(host)
    if literal is None:
        return host, port
    policy.check_address(literal, host)
    return None


def _check_resolved(policy: TargetPolicy, host: str, infos: Sequence[tuple[Any, ...]]) -> None:
    if not infos:
        raise TargetRefused(f"the host name {host} does not resolve to any address")
    for info in infos:
        sockaddr = info[4]
        policy.check_address(ipaddress.ip_address(sockaddr[0]), host)


def _unresolvable(host: str, exc: Exception) -> TargetRefused:
    return TargetRefused(f"the host name {host} does not resolve ({exc})")


def check_url(url: str, policy: TargetPolicy, resolve: bool = True) -> None:
    """Raise :class:`TargetRefused` unless ``url`` is an acceptable webhook target.

    Refused: schemes other than http/https (and http when ``policy.https_only``), URLs without a
    host, with credentials (``user:pass@``), with spaces or control characters, and hosts that
    are, or (with ``resolve``) resolve to, an address the policy refuses. Numeric hosts are
    read as browsers and libc read them, so ``http://2130706433/`` and ``http://0177.0.0.1/``
    are ``127.0.0.1``. Resolution blocks: inside the event loop use :func:`check_url_async`.
    """
    target = _name_to_resolve(url, policy)
    if target is None or not resolve:
        return
    host, port = target
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise _unresolvable(host, exc) from None
    _check_resolved(policy, host, infos)


async def check_url_async(url: str, policy: TargetPolicy, resolve: bool = True) -> None:
    """:func:`check_url` with the DNS lookup done without blocking the event loop."""
    target = _name_to_resolve(url, policy)
    if target is None or not resolve:
        return
    host, port = target
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise _unresolvable(host, exc) from None
    _check_resolved(policy, host, infos)
