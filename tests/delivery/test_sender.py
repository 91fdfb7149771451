"""HttpSender against real receivers on 127.0.0.1: outcomes, limits, TLS and the SSRF guard."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from planwire.delivery.sender import HttpSender, MockSender, Outcome, SentRequest
from planwire.delivery.ssrf import TargetPolicy
from tests.support.receiver import Receiver, Reply

PRIVATE_OK = TargetPolicy(allow_private=True)
HEADERS = {"Content-Type": "application/json", "X-Planwire-Delivery": "d-1"}
BODY = b'{"event":"task.updated"}'


@pytest.fixture
async def sender() -> AsyncIterator[HttpSender]:
    async with HttpSender(PRIVATE_OK, timeout=2.0) as http_sender:
        yield http_sender


async def test_success(receiver: Receiver, sender: HttpSender) -> None:
    receiver.program("/hook", Reply(status=204, body=b""))
    outcome = await sender.send(receiver.url("/hook"), BODY, HEADERS)
    assert outcome.succeeded and outcome.status == 204 and outcome.error is None
    assert outcome.duration_ms > 0
    (arrived,) = receiver.requests
    assert arrived.method == "POST" and arrived.path == "/hook"
    assert arrived.body == BODY
    assert arrived.headers["x-planwire-delivery"] == "d-1"
    assert arrived.headers["Content-Type"] == "application/json"
    assert "Accept-Encoding" not in arrived.headers


async def test_server_error_is_an_http_failure_with_the_body(
    receiver: Receiver, sender: HttpSender
) -> None:
    receiver.program("/hook", Reply(status=500, body=b"database down\x00!"))
    outcome = await sender.send(receiver.url("/hook"), BODY, HEADERS)
    assert (outcome.status, outcome.error_kind) == (500, "http")
    assert outcome.error == "HTTP 500 Internal Server Error"
    assert outcome.body_excerpt == "database down\ufffd!"  # NUL replaced: storable as text


async def test_slow_receiver_times_out(receiver: Receiver) -> None:
    receiver.program("/slow", Reply(delay=30))
    async with HttpSender(PRIVATE_OK, timeout=0.2) as sender:
        outcome = await sender.send(receiver.url("/slow"), BODY, HEADERS)
    assert (outcome.status, outcome.error_kind) == (None, "timeout")
    assert outcome.error == "no response before the timeout"


async def test_receiver_that_never_answers_times_out(receiver: Receiver) -> None:
    receiver.program("/hang", Reply.hang())
    async with HttpSender(PRIVATE_OK, timeout=0.2) as sender:
        outcome = await sender.send(receiver.url("/hang"), BODY, HEADERS)
    assert outcome.error_kind == "timeout"
    assert len(receiver.requests) == 1


async def test_connection_reset(receiver: Receiver, sender: HttpSender) -> None:
    receiver.program("/reset", Reply.reset())
    outcome = await sender.send(receiver.url("/reset"), BODY, HEADERS)
    assert (outcome.status, outcome.error_kind) == (None, "reset")
    assert outcome.error is not None


def _memory_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def _reset_peak_memory() -> str:
    """Reset the kernel's peak-RSS mark; the /proc/self/status field that now tracks the peak."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return "VmRSS"  # cannot reset: compare the current RSS instead
    return "VmHWM"


async def test_huge_response_is_truncated_without_buffering_it(receiver: Receiver) -> None:
    size = 50 * 1024 * 1024
    receiver.program("/huge", Reply.huge(size))
    async with HttpSender(PRIVATE_OK, timeout=10, response_body_limit=64 * 1024) as sender:
        await sender.send(receiver.url("/warm-up"), BODY, HEADERS)  # imports, pools, buffers
        baseline = _memory_kib("VmRSS")
        peak_field = _reset_peak_memory()
        outcome = await sender.send(receiver.url("/huge"), BODY, HEADERS)
        growth_kib = _memory_kib(peak_field) - baseline
    assert outcome.succeeded and outcome.status == 200
    assert outcome.body_excerpt == "x" * 64 * 1024
    assert growth_kib < 10 * 1024, f"RSS grew by {growth_kib} KiB"
    huge = receiver.requests[1]
    assert huge.finished.wait(10)
    assert huge.bytes_sent < size  # the connection was dropped, not drained


async def test_redirects_are_not_followed(receiver: Receiver, sender: HttpSender) -> None:
    receiver.program("/moved", Reply.redirect(receiver.url("/elsewhere"), status=301))
    outcome = await sender.send(receiver.url("/moved"), BODY, HEADERS)
    assert (outcome.status, outcome.error_kind) == (301, "redirect")
    assert outcome.error == "HTTP 301 Moved Permanently (redirects are not followed)"
    assert [r.path for r in receiver.requests] == ["/moved"]


async def test_cookies_are_neither_kept_nor_sent(receiver: Receiver, sender: HttpSender) -> None:
    """A receiver's Set-Cookie must not ride along on later deliveries to the same host."""
    receiver.program("/a", Reply(headers={"Set-Cookie": "session=abc; Path=/"}))
    # A host name: cookie jars ignore cookies of IP hosts anyway.
    await sender.send(receiver.url("/a").replace("127.0.0.1", "localhost"), BODY, HEADERS)
    await sender.send(receiver.url("/b").replace("127.0.0.1", "localhost"), BODY, HEADERS)
    assert [r.headers.get("Cookie") for r in receiver.requests] == [None, None]


async def test_retry_after_seconds_on_429(receiver: Receiver, sender: HttpSender) -> None:
    receiver.program("/busy", Reply.retry_after(120))
    outcome = await sender.send(receiver.url("/busy"), BODY, HEADERS)
    assert (outcome.status, outcome.error_kind, outcome.retry_after) == (429, "http", 120)
    assert outcome.body_excerpt == "slow down"


async def test_retry_after_date_on_503(receiver: Receiver, sender: HttpSender) -> None:
    later = datetime.now(UTC) + timedelta(minutes=10)
    receiver.program("/busy", Reply.retry_after(format_datetime(later, usegmt=True), status=503))
    outcome = await sender.send(receiver.url("/busy"), BODY, HEADERS)
    assert outcome.status == 503
    assert outcome.retry_after is not None and 500 < outcome.retry_after <= 600


@pytest.mark.parametrize(("status", "value"), [(500, "120"), (429, "soon"), (429, "-5"), (503, "")])
async def test_retry_after_ignored_when_not_applicable(
    receiver: Receiver, sender: HttpSender, status: int, value: str
) -> None:
    receiver.program("/x", Reply.retry_after(value, status=status))
    outcome = await sender.send(receiver.url("/x"), BODY, HEADERS)
    assert outcome.status == status and outcome.retry_after is None


async def test_connection_refused(sender: HttpSender) -> None:
    with socket.socket() as bound:  # bound, not listening: connections are refused
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        outcome = await sender.send(f"http://127.0.0.1:{port}/hook", BODY, HEADERS)
    assert (outcome.status, outcome.error_kind) == (None, "connect")
    assert outcome.error is not None and "refused" in outcome.error.lower()


class NoSuchHost(AbstractResolver):
    """A resolver at the edge that knows no name: DNS failures without a packet leaving the
    machine (the system resolver would ask the network's nameserver)."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    async def close(self) -> None:
        pass


async def test_dns_failure() -> None:
    resolver = NoSuchHost()
    async with HttpSender(PRIVATE_OK, timeout=2.0, resolver=resolver) as sender:
        outcome = await sender.send("http://no-such-host.invalid/hook", BODY, HEADERS)
    assert (outcome.status, outcome.error_kind) == (None, "dns")
    assert outcome.error == "DNS lookup failed: Name or service not known"
    assert resolver.asked == ["no-such-host.invalid"]


async def test_keep_alive_connection_is_reused(receiver: Receiver, sender: HttpSender) -> None:
    for _ in range(3):
        assert (await sender.send(receiver.url("/hook"), BODY, HEADERS)).succeeded
    assert len({r.client_port for r in receiver.requests}) == 1


async def test_per_host_limit_caps_concurrent_requests(receiver: Receiver) -> None:
    receiver.program("/hook", Reply(delay=0.1))
    async with HttpSender(PRIVATE_OK, limit=10, limit_per_host=2) as sender:
        outcomes = await asyncio.gather(
            *(sender.send(receiver.url("/hook"), BODY, HEADERS) for _ in range(6))
        )
    assert all(o.succeeded for o in outcomes)
    assert receiver.max_in_flight <= 2


async def test_sender_can_be_reused_after_close(receiver: Receiver) -> None:
    sender = HttpSender(PRIVATE_OK)
    assert (await sender.send(receiver.url("/"), BODY, HEADERS)).succeeded
    await sender.aclose()
    assert (await sender.send(receiver.url("/"), BODY, HEADERS)).succeeded
    await sender.aclose()


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError):
        HttpSender(PRIVATE_OK, timeout=0)


# --- TLS ------------------------------------------------------------------------------------------


@dataclass
class Certificate:
    cert_pem: bytes
    key_pem: bytes

    def server_context(self, directory: Path) -> ssl.SSLContext:
        (directory / "cert.pem").write_bytes(self.cert_pem)
        (directory / "key.pem").write_bytes(self.key_pem)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(directory / "cert.pem", directory / "key.pem")
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cadata=self.cert_pem.decode())


@pytest.fixture(scope="module")
def self_signed() -> Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return Certificate(
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


@pytest.fixture
def tls_receiver(self_signed: Certificate, tmp_path: Path) -> Iterator[Receiver]:
    with Receiver(ssl_context=self_signed.server_context(tmp_path)) as rx:
        yield rx


async def test_self_signed_certificate_is_a_tls_failure(
    tls_receiver: Receiver, sender: HttpSender
) -> None:
    outcome = await sender.send(tls_receiver.url("/hook"), BODY, HEADERS)
    assert (outcome.status, outcome.error_kind) == (None, "tls")
    assert outcome.error is not None and "certificate" in outcome.error.lower()
    assert tls_receiver.requests == []


async def test_trusted_certificate_succeeds(
    tls_receiver: Receiver, self_signed: Certificate
) -> None:
    context = self_signed.client_context()
    async with HttpSender(PRIVATE_OK, ssl_context=context) as sender:
        outcome = await sender.send(tls_receiver.url("/hook"), BODY, HEADERS)
    assert outcome.succeeded
    assert tls_receiver.requests[0].body == BODY


# --- the SSRF guard at connect time ---------------------------------------------------------------


async def test_name_resolving_to_loopback_is_refused_at_connect_time(receiver: Receiver) -> None:
    async with HttpSender(TargetPolicy(), timeout=2) as sender:
        outcome = await sender.send(f"http://localhost:{receiver.port}/hook", BODY, HEADERS)
    assert (outcome.status, outcome.error_kind) == (None, "refused_target")
    assert outcome.error is not None
    assert outcome.error.startswith("localhost resolves to ")
    assert "loopback" in outcome.error
    assert receiver.requests == []


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "2130706433", "0177.0.0.1", "0x7f.1", "127.1", "[::ffff:127.0.0.1]"]
)
async def test_literal_loopback_spellings_are_refused(receiver: Receiver, host: str) -> None:
    async with HttpSender(TargetPolicy(), timeout=2) as sender:
        outcome = await sender.send(f"http://{host}:{receiver.port}/hook", BODY, HEADERS)
    assert outcome.error_kind == "refused_target"
    assert outcome.error is not None and "loopback" in outcome.error
    assert receiver.requests == []


async def test_private_targets_allowed_by_policy(receiver: Receiver) -> None:
    async with HttpSender(TargetPolicy(allow_private=True), timeout=2) as sender:
        outcome = await sender.send(f"http://localhost:{receiver.port}/hook", BODY, HEADERS)
    assert outcome.succeeded


async def test_allowed_network_lets_loopback_through(receiver: Receiver) -> None:
    policy = TargetPolicy(allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),))
    async with HttpSender(policy, timeout=2) as sender:
        outcome = await sender.send(receiver.url("/hook"), BODY, HEADERS)
    assert outcome.succeeded


async def test_bad_urls_are_refused_before_any_connection(sender: HttpSender) -> None:
    outcome = await sender.send("ftp://127.0.0.1/hook", BODY, HEADERS)
    assert outcome.error_kind == "refused_target"
    assert outcome.error is not None and "http or https" in outcome.error


# --- the seam -------------------------------------------------------------------------------------


async def test_mock_sender_records_and_answers() -> None:
    async def answer(request: SentRequest) -> Outcome:
        return Outcome.for_status(503 if request.url.endswith("/down") else 200)

    mock = MockSender(answer)
    async with mock:
        assert (await mock.send("https://a.example/ok", BODY, HEADERS)).succeeded
        down = await mock.send("https://a.example/down", BODY, HEADERS)
    assert (down.status, down.error_kind) == (503, "http")
    assert [r.url for r in mock.requests] == ["https://a.example/ok", "https://a.example/down"]
    assert mock.requests[0].headers == HEADERS


def test_outcome_constructors_classify_like_the_sender() -> None:
    assert Outcome.for_status(200).succeeded
    assert Outcome.for_status(302).error_kind == "redirect"
    assert Outcome.for_status(404, reason="Not Found").error == "HTTP 404 Not Found"
    long_reason = Outcome.for_status(500, reason="Very\tlong " * 300).error
    assert long_reason is not None and len(long_reason) == 500 and "\t" not in long_reason
    failure = Outcome.for_error("dns", "DNS lookup failed")
    assert (failure.status, failure.error_kind, failure.succeeded) == (None, "dns", False)
