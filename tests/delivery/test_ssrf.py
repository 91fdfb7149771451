"""The SSRF guard: forbidden addresses, URL checks, numeric host spellings, policy opt-ins."""

from __future__ import annotations

import ipaddress

import pytest

from planwire.delivery.ssrf import (
    TargetPolicy,
    TargetRefused,
    check_url,
    check_url_async,
    host_address,
    is_forbidden_address,
)

STRICT = TargetPolicy()
PRIVATE_OK = TargetPolicy(allow_private=True)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("169.254.1.1", "link-local"),
        ("169.254.169.254", "cloud metadata"),
        ("169.254.170.2", "cloud metadata"),
        ("100.100.100.200", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("100.127.255.255", "carrier-grade NAT"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "broadcast"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("192.0.2.10", "documentation"),
        ("198.18.0.1", "benchmarking"),
        ("192.0.0.8", "IETF protocol"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fc00::1", "unique local"),
        ("fd12:3456::1", "unique local"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("fec0::1", "site-local"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "documentation"),
        ("2001::1", "Teredo"),
        ("::ffff:127.0.0.1", "IPv4-mapped IPv6 address of 127.0.0.1, a loopback"),
        ("::ffff:169.254.169.254", "IPv4-mapped IPv6 address of 169.254.169.254, a cloud"),
        ("::ffff:10.0.0.1", "IPv4-mapped IPv6 address of 10.0.0.1, a private"),
        ("::127.0.0.1", "IPv4-compatible IPv6 address of 127.0.0.1"),
        ("64:ff9b::a9fe:a9fe", "NAT64 address of 169.254.169.254"),
        ("64:ff9b::7f00:1", "NAT64 address of 127.0.0.1"),
        ("64:ff9b:1::1", "local-use NAT64"),
        ("2002:7f00:1::1", "6to4 address of 127.0.0.1"),
        ("2002:c0a8:101::1", "6to4 address of 192.168.1.1"),
    ],
)
def test_forbidden_addresses(address: str, reason: str) -> None:
    found = is_forbidden_address(address)
    assert found is not None and reason in found
    assert is_forbidden_address(ipaddress.ip_address(address)) == found


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.216.34",
        "100.63.255.255",  # just below CGNAT
        "100.128.0.0",  # just above CGNAT
        "172.32.0.1",  # just above 172.16/12
        "2606:4700:4700::1111",
        "2001:4860:4860::8888",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::1",
    ],
)
def test_public_addresses_are_allowed(address: str) -> None:
    assert is_forbidden_address(address) is None
    check_url(f"http://[{address}]/" if ":" in address else f"http://{address}/", STRICT)


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("0x7F000001", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("1.0x", "1.0.0.0"),
        ("3232235777", "192.168.1.1"),
        ("0251.0376.0251.0376", "169.254.169.254"),
        ("169.254.43518", "169.254.169.254"),
        ("1.2.3.4.", "1.2.3.4"),
        ("[::1]", "::1"),
        ("::ffff:7f00:1", "::ffff:127.0.0.1"),
    ],
)
def test_numeric_host_spellings_are_normalised(host: str, address: str) -> None:
    assert host_address(host) == ipaddress.ip_address(address)


@pytest.mark.parametrize("host", ["example.com", "localhost", "1.example", "0x7f.example"])
def test_names_are_not_addresses(host: str) -> None:
    assert host_address(host) is None


@pytest.mark.parametrize("host", ["256.1.1.1", "08.0.0.1", "1.2.3.4.5", "example.0x1", "1.0xg"])
def test_invalid_numeric_hosts_are_refused(host: str) -> None:
    with pytest.raises(TargetRefused, match="not a valid IPv4 address"):
        host_address(host)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://2130706433/", "2130706433 resolves to 127.0.0.1, a loopback address"),
        ("http://0177.0.0.1/", "0177.0.0.1 resolves to 127.0.0.1, a loopback address"),
        ("http://0x7f.1:8080/hook", "resolves to 127.0.0.1"),
        ("http://127.0.0.1/", "127.0.0.1 is a loopback address"),
        ("https://[::1]:8443/", "::1 is a loopback address"),
        ("http://[::ffff:127.0.0.1]/", "IPv4-mapped"),
        ("http://[::ffff:a9fe:a9fe]/", "cloud metadata"),
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("http://[fe80::1%25eth0]/", "link-local"),
        ("http://100.64.0.1/", "carrier-grade NAT"),
        ("http://10.0.0.1/", "private"),
        ("ftp://example.com/", "must use http or https (scheme is 'ftp')"),
        ("file:///etc/passwd", "must use http or https"),
        ("gopher://127.0.0.1:6379/", "must use http or https"),
        ("example.com/hook", "must use http or https (scheme is none)"),
        ("http://", "has no host"),
        ("http:///hook", "has no host"),
        ("http://user:pass@example.com/", "user name or password"),
        ("http://user@example.com/", "user name or password"),
        ("http://example.com:99999/", "not valid"),
        ("http://example.com:0/", "port"),
        ("http://exa mple.com/", "spaces or control characters"),
        ("http://example.com/\r\nX: y", "spaces or control characters"),
        ("", "empty"),
    ],
)
def test_urls_refused_without_resolving(url: str, message: str) -> None:
    with pytest.raises(TargetRefused) as caught:
        check_url(url, STRICT, resolve=False)
    assert message in caught.value.reason
    assert str(caught.value) == caught.value.reason


def test_https_only_policy() -> None:
    policy = TargetPolicy(https_only=True)
    with pytest.raises(TargetRefused, match="must use https"):
        check_url("http://8.8.8.8/", policy)
    check_url("https://8.8.8.8/", policy)


def test_names_are_checked_after_resolution() -> None:
    with pytest.raises(TargetRefused, match=r"localhost resolves to .*loopback"):
        check_url("http://localhost:8080/hook", STRICT)
    check_url("http://localhost:8080/hook", STRICT, resolve=False)  # form only
    check_url("http://localhost:8080/hook", PRIVATE_OK)


def test_unresolvable_names_are_refused() -> None:
    with pytest.raises(TargetRefused, match="does not resolve"):
        check_url("https://no-such-host.invalid/hook", STRICT)


async def test_async_check_resolves_without_blocking() -> None:
    with pytest.raises(TargetRefused, match="localhost resolves to"):
        await check_url_async("http://localhost/", STRICT)
    with pytest.raises(TargetRefused, match="does not resolve"):
        await check_url_async("http://no-such-host.invalid/", STRICT)
    with pytest.raises(TargetRefused, match="loopback"):
        await check_url_async("http://2130706433/", STRICT)
    await check_url_async("http://localhost/", PRIVATE_OK)


def test_allow_private_still_refuses_metadata_multicast_and_reserved() -> None:
    for allowed in ("127.0.0.1", "10.1.2.3", "192.168.0.1", "::1", "fd00::1", "100.64.0.1"):
        assert PRIVATE_OK.refusal_reason(ipaddress.ip_address(allowed)) is None
    for refused in ("169.254.169.254", "::ffff:169.254.169.254", "224.0.0.1", "0.0.0.0", "::"):
        assert PRIVATE_OK.refusal_reason(ipaddress.ip_address(refused)) is not None


def test_allowed_networks_let_exactly_those_addresses_through() -> None:
    policy = TargetPolicy(
        allowed_networks=(
            ipaddress.ip_network("10.20.0.0/16"),
            ipaddress.ip_network("169.254.169.254/32"),
        )
    )
    assert policy.refusal_reason(ipaddress.ip_address("10.20.3.4")) is None
    assert policy.refusal_reason(ipaddress.ip_address("::ffff:10.20.3.4")) is None
    assert policy.refusal_reason(ipaddress.ip_address("169.254.169.254")) is None
    assert policy.refusal_reason(ipaddress.ip_address("10.21.0.1")) == "a private address"
    assert policy.refusal_reason(ipaddress.ip_address("127.0.0.1")) == "a loopback address"
    check_url("http://10.20.3.4:8080/", policy)
