"""Receivers that misbehave, for real, on 127.0.0.1: each fault is classified, retried by its
format's rules, and shown in both delivery logs (``…/deliveries/`` of project webhooks,
``…/logs`` of account webhooks) with a clear error.

Faults: a response slower than the timeout, no response at all, a connection reset, a 50 MB
response (200 and 500), a self-signed certificate, a name that does not resolve (answered by a
resolver at the edge, no DNS traffic), a 3xx, a refused connection, a 503 and a 404.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from planwire.config import Settings
from planwire.delivery.sender import HttpSender
from planwire.delivery.ssrf import TargetPolicy
from tests.conftest import Actor
from tests.delivery.test_sender import Certificate
from tests.delivery.test_worker import all_finished, await_until, running
from tests.reliability.helpers import (
    StaticResolver,
    account_hooks,
    project_hooks,
    register_account_hook,
    register_project_hook,
    self_signed_certificate,
)
from tests.support.receiver import Receiver, Reply

SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
MB = 1024 * 1024
# The worker's delivery timeout here: long enough that a loaded machine does not turn a quick
# fault into a timeout, short enough to keep the slow and hanging cases quick.
TIMEOUT = 1.5
STANDARD_SECRET = "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"


@dataclass(frozen=True)
class Fault:
    error_kind: str | None
    error: str | None  # the log's error, exactly, or None; "…" ends a prefix
    #: Which formats retry it: trueppm any failure; exepron network failures and 5xx; standard
    #: network failures, 3xx, 5xx and the 4xx that may change (408, 409, 425, 429).
    retried_by: frozenset[str]
    status: int | None = None


EVERY = frozenset({"trueppm", "exepron", "standard"})
FAULTS: dict[str, Fault] = {
    "slow": Fault("timeout", "no response before the timeout", EVERY),
    "hang": Fault("timeout", "no response before the timeout", EVERY),
    "reset": Fault("reset", "connection …", EVERY),  # "connection reset: …" or "… dropped: …"
    "huge-ok": Fault(None, None, frozenset(), 200),
    "huge-error": Fault("http", "HTTP 500 Internal Server Error", EVERY, 500),
    "self-signed": Fault("tls", "TLS certificate not accepted: self-signed certificate", EVERY),
    "dns": Fault("dns", "DNS lookup failed: Name or service not known", EVERY),
    "redirect": Fault(
        "redirect",
        "HTTP 302 Found (redirects are not followed)",
        frozenset({"trueppm", "standard"}),
        302,
    ),
    "refused": Fault("connect", "connection to 127.0.0.1:…", EVERY),
    "unavailable": Fault("http", "HTTP 503 Service Unavailable", EVERY, 503),
    "not-found": Fault("http", "HTTP 404 Not Found", frozenset({"trueppm"}), 404),
}


@pytest.fixture(scope="module")
def certificate() -> Certificate:
    return self_signed_certificate()


@pytest.fixture
def tls_receiver(certificate: Certificate, tmp_path: Path) -> Iterator[Receiver]:
    with Receiver(ssl_context=certificate.server_context(tmp_path)) as rx:
        yield rx


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _matches(expected: str | None, actual: str | None) -> bool:
    if expected is None or actual is None:
        return expected == actual
    if expected.endswith("…"):
        return actual.startswith(expected[:-1])
    return actual == expected


@SQLITE_ONLY
async def test_each_fault_is_classified_retried_by_its_format_and_logged(
    settings: Settings,
    engine: Engine,
    admin: Actor,
    project: dict[str, Any],
    receiver: Receiver,
    tls_receiver: Receiver,
    allow_name_lookups: object,  # registering the .invalid URL looks it up (fails locally)
) -> None:
    pid = project["id"]
    receiver.program("/slow", Reply(delay=10 * TIMEOUT))
    receiver.program("/hang", Reply.hang())
    receiver.program("/reset", Reply.reset())
    receiver.program("/huge-ok", Reply.huge(50 * MB))
    receiver.program("/huge-error", Reply.huge(50 * MB, status=500))
    receiver.program("/redirect", Reply.redirect("http://169.254.169.254/latest/meta-data/"))
    receiver.program("/unavailable", Reply(status=503, body=b"maintenance"))
    receiver.program("/not-found", Reply(status=404, body=b"no such hook"))
    urls = {name: receiver.url(f"/{name}") for name in FAULTS}
    urls["self-signed"] = tls_receiver.url("/self-signed")
    urls["dns"] = f"http://no-such-host.invalid:{receiver.port}/dns"
    urls["refused"] = f"http://127.0.0.1:{_closed_port()}/refused"

    # trueppm and standard as project webhooks, exepron as account webhooks (their surfaces);
    # one retry after 0.1 s, so a retried fault makes two attempts and a final failure.
    hooks: dict[tuple[str, str], str] = {}
    for name, url in urls.items():
        for fmt in ("trueppm", "standard"):
            secret = STANDARD_SECRET if fmt == "standard" else "fault-secret"
            response = register_project_hook(
                admin, pid, url, format=fmt, secret=secret, retry_schedule=[0.1]
            )
            assert response.status_code == 201, response.text
            hooks[name, fmt] = response.json()["id"]
        response = register_account_hook(admin, url, retrySchedule=[0.1])
        assert response.status_code == 201, response.text
        hooks[name, "exepron"] = response.json()["id"]
    for (_, fmt), hook_id in hooks.items():
        if fmt == "exepron":
            sent = admin.post(account_hooks(hook_id, "test"), json={"event": "task.updated"})
        else:
            sent = admin.post(project_hooks(pid, hook_id, "test"))
        assert sent.status_code == 202, sent.text

    worker_settings = settings.model_copy(update={"delivery_timeout": TIMEOUT})
    resolver = StaticResolver()  # knows no name: every lookup fails, locally
    sender = HttpSender(
        TargetPolicy(allow_private=True),
        timeout=TIMEOUT,
        response_body_limit=worker_settings.response_body_limit,
        resolver=resolver,
    )
    try:
        async with running(worker_settings, engine, sender=sender):
            await await_until(all_finished(engine, len(hooks)), 60, "every faulty delivery")
    finally:
        await sender.aclose()
    assert set(resolver.asked) == {"no-such-host.invalid"}

    wrong: list[str] = []
    for (name, fmt), hook_id in sorted(hooks.items()):
        fault = FAULTS[name]
        expected_attempts = 2 if fmt in fault.retried_by else 1
        expected_status = "success" if fault.error_kind is None else "failed"
        where = f"{name}/{fmt}"
        if fmt == "exepron":
            (entry,) = admin.get(account_hooks(hook_id, "logs")).json()["value"]
            seen = (entry["status"], entry["retries"] + 1, entry["httpStatus"])
            if seen != (expected_status, expected_attempts, fault.status):
                wrong.append(f"{where}: log {seen}")
            if not _matches(fault.error, entry.get("error")):
                wrong.append(f"{where}: log error {entry.get('error')!r}")
            continue
        (delivery,) = admin.get(project_hooks(pid, hook_id, "deliveries")).json()["results"]
        attempts = delivery["attempts"]
        seen = (delivery["status"], delivery["attempt_count"], len(attempts))
        if seen != (expected_status, expected_attempts, expected_attempts):
            wrong.append(f"{where}: delivery {seen}")
        if not _matches(fault.error, delivery["last_error"]):
            wrong.append(f"{where}: last_error {delivery['last_error']!r}")
        for attempt in attempts:
            if attempt["error_kind"] != fault.error_kind or attempt["response_status"] != (
                fault.status
            ):
                wrong.append(
                    f"{where}: attempt {attempt['error_kind']} {attempt['response_status']}"
                )
            if not _matches(fault.error, attempt["error"]):
                wrong.append(f"{where}: attempt error {attempt['error']!r}")
            truncated = "x" * worker_settings.response_body_limit
            if name.startswith("huge") and attempt["response_body"] != truncated:
                wrong.append(f"{where}: stored {len(attempt['response_body'])} characters")
    assert wrong == [], "\n".join(wrong)
    # A redirect is never followed; a huge response is cut, not drained.
    assert all(r.path != "/latest/meta-data/" for r in receiver.requests)
    huge = [r for r in receiver.requests if r.path.startswith("/huge")]
    assert huge and all(r.finished.wait(10) and r.bytes_sent < 50 * MB for r in huge)
    assert tls_receiver.requests == [] and tls_receiver.tls_failures >= 3


# --- memory ---------------------------------------------------------------------------------------


def _memory_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def _reset_peak() -> str:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return "VmRSS"
    return "VmHWM"


@SQLITE_ONLY
async def test_fifty_megabyte_responses_keep_the_worker_memory_bounded(
    settings: Settings, engine: Engine, admin: Actor, project: dict[str, Any], receiver: Receiver
) -> None:
    """Six 50 MB responses at once (300 MB on the wire) through the worker: what it holds
    stays in the order of the excerpt limit, not the bodies."""
    pid = project["id"]
    receiver.program("/huge", Reply.huge(50 * MB))
    receiver.program("/huge-error", Reply.huge(50 * MB, status=500))
    hooks = []
    for path in ("/huge", "/huge-error"):
        for fmt in ("trueppm", "exepron", "standard"):
            secret = STANDARD_SECRET if fmt == "standard" else "fault-secret"
            response = register_project_hook(
                admin, pid, receiver.url(path), format=fmt, secret=secret, retry_schedule=[]
            )
            assert response.status_code == 201, response.text
            hooks.append(response.json()["id"])
    warm = register_project_hook(admin, pid, receiver.url("/warm-up"), retry_schedule=[])
    assert admin.post(project_hooks(pid, warm.json()["id"], "test")).status_code == 202
    async with running(settings.model_copy(update={"delivery_timeout": 10.0}), engine):
        await await_until(all_finished(engine, 1), what="the warm-up delivery")
        baseline = _memory_kib("VmRSS")
        peak = _reset_peak()
        for hook_id in hooks:
            assert admin.post(project_hooks(pid, hook_id, "test")).status_code == 202
        rows = await await_until(all_finished(engine, 7), 60, "the huge deliveries")
        growth_kib = _memory_kib(peak) - baseline
    assert sorted(row.status for row in rows) == ["failed"] * 3 + ["success"] * 4
    assert growth_kib < 24 * 1024, f"the process grew by {growth_kib} KiB"
    huge = [r for r in receiver.requests if r.path.startswith("/huge")]
    assert len(huge) == 6
    assert all(r.finished.wait(10) and r.bytes_sent < 50 * MB for r in huge)
