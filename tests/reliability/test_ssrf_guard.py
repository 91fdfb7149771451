"""SPEC 6, webhook URLs: internal targets are refused at registration (422 naming the reason,
through both registration APIs) and again at connect time, against the address actually
connected to; the opt-ins work through the settings; redirects are never followed.

Every delivery here goes to a receiver on 127.0.0.1 or is refused before any connection.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from planwire.app import create_app
from planwire.config import ConfigError, Settings, load_settings
from planwire.delivery.sender import HttpSender
from planwire.delivery.ssrf import TargetPolicy
from planwire.webhooks.models import Webhook
from tests.conftest import Actor
from tests.delivery.test_worker import all_finished, attempts_of, await_until, running
from tests.reliability.helpers import (
    StaticResolver,
    account_hooks,
    project_hooks,
    register_account_hook,
    register_project_hook,
    strict,
)
from tests.support.receiver import Receiver, Reply

SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

#: (URL, what the 422 must say). Every family of SPEC 6 in several spellings: decimal, octal
#: and hexadecimal IPv4, IPv6, IPv4-mapped, -compatible, NAT64 and 6to4 IPv6, and a name.
REFUSED = [
    ("http://127.0.0.1/hook", "127.0.0.1 is a loopback address"),
    ("http://127.255.255.254:8080/x", "loopback"),
    ("http://2130706433/hook", "resolves to 127.0.0.1, a loopback address"),
    ("http://0177.0.0.1/hook", "resolves to 127.0.0.1, a loopback address"),
    ("http://017700000001/hook", "resolves to 127.0.0.1, a loopback address"),
    ("http://0x7f.1/hook", "resolves to 127.0.0.1, a loopback address"),
    ("http://127.1/hook", "resolves to 127.0.0.1, a loopback address"),
    ("http://[::1]/hook", "::1 is a loopback address"),
    ("http://[0:0:0:0:0:0:0:1]/hook", "a loopback address"),
    ("http://[::ffff:127.0.0.1]/hook", "IPv4-mapped IPv6 address of 127.0.0.1, a loopback"),
    ("http://[::ffff:7f00:1]/hook", "IPv4-mapped IPv6 address of 127.0.0.1, a loopback"),
    ("http://[::127.0.0.1]/hook", "IPv4-compatible IPv6 address of 127.0.0.1"),
    ("http://[64:ff9b::7f00:1]/hook", "NAT64 address of 127.0.0.1"),
    ("http://[2002:7f00:1::]/hook", "6to4 address of 127.0.0.1"),
    ("http://localhost:9/hook", "localhost resolves to 127.0.0.1, a loopback address"),
    ("http://10.0.0.1/hook", "10.0.0.1 is a private address"),
    ("http://012.0.0.1/hook", "resolves to 10.0.0.1, a private address"),
    ("http://167772161/hook", "resolves to 10.0.0.1, a private address"),
    ("http://172.16.5.4/hook", "private address"),
    ("http://192.168.1.1/hook", "private address"),
    ("http://[::ffff:192.168.1.1]/hook", "IPv4-mapped IPv6 address of 192.168.1.1, a private"),
    ("http://[fd12:3456::1]/hook", "unique local (private) address"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata address"),
    ("http://2852039166/latest/meta-data/", "resolves to 169.254.169.254, a cloud metadata"),
    ("http://0251.0376.0251.0376/", "resolves to 169.254.169.254, a cloud metadata"),
    ("http://[::ffff:169.254.169.254]/", "169.254.169.254, a cloud metadata address"),
    ("http://[fd00:ec2::254]/", "cloud metadata address"),
    ("http://169.254.1.1/hook", "link-local address"),
    ("http://[fe80::1]/hook", "link-local address"),
    ("http://100.64.0.1/hook", "carrier-grade NAT"),
    ("http://[::ffff:100.127.255.254]/hook", "carrier-grade NAT"),
    ("http://224.0.0.1/hook", "multicast address"),
    ("http://239.255.255.250/hook", "multicast address"),
    ("http://[ff02::1]/hook", "multicast address"),
    ("http://240.0.0.1/hook", "reserved address"),
    ("http://255.255.255.255/hook", "broadcast address"),
    ("http://0.0.0.0/hook", "unspecified"),
    ("http://0/hook", "resolves to 0.0.0.0, an unspecified"),
    ("http://[::]/hook", "the unspecified address"),
    ("http://[::ffff:0.0.0.0]/hook", "unspecified"),
    ("http://192.0.2.1/hook", "documentation"),
    ("http://[2001:db8::1]/hook", "documentation"),
]


@pytest.fixture
def strict_client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    """The app as built by default: ``allow_private_targets=False``."""
    with TestClient(create_app(strict(settings), engine)) as client:
        yield client


def _webhook_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(Webhook)) or 0)


def _refusal(response: Any) -> str:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["errors"][0]["field"] == "url", body
    return str(body["detail"])


@SQLITE_ONLY
def test_internal_targets_are_refused_at_registration_through_both_apis(
    admin: Actor,
    project: dict[str, Any],
    strict_client: TestClient,
    engine: Engine,
) -> None:
    pid = project["id"]
    existing_project_hook = register_project_hook(admin, pid, "https://8.8.8.8/hook").json()
    existing_account_hook = register_account_hook(admin, "https://8.8.8.8/hook").json()
    before = _webhook_count(engine)
    wrong: list[str] = []
    for url, reason in REFUSED:
        attempts = {
            "project POST": register_project_hook(strict_client, pid, url, auth=admin.headers),
            "account POST": register_account_hook(strict_client, url, auth=admin.headers),
            "project PATCH": strict_client.patch(
                project_hooks(pid, existing_project_hook["id"]),
                json={"url": url},
                headers=admin.headers,
            ),
            "account PUT": strict_client.put(
                account_hooks(existing_account_hook["id"]), json={"url": url}, headers=admin.headers
            ),
        }
        for surface, response in attempts.items():
            if response.status_code != 422:
                wrong.append(f"{surface} {url}: {response.status_code} {response.text[:200]}")
                continue
            detail = _refusal(response)
            if reason not in detail or "webhooks cannot be sent there" not in detail:
                wrong.append(f"{surface} {url}: {detail!r} does not say {reason!r}")
    assert wrong == []
    assert _webhook_count(engine) == before  # nothing written
    shown = admin.get(project_hooks(pid, existing_project_hook["id"])).json()
    assert shown["url"] == "https://8.8.8.8/hook"  # the refused PATCHes changed nothing
    shown = admin.get(account_hooks(existing_account_hook["id"])).json()
    assert shown["url"] == "https://8.8.8.8/hook"


@SQLITE_ONLY
def test_a_public_name_resolving_to_an_internal_address_is_refused(
    admin: Actor,
    project: dict[str, Any],
    strict_client: TestClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A name is resolved at registration; any internal address refuses it (the system
    resolver is replaced at the edge: no DNS query leaves)."""
    real_getaddrinfo = socket.getaddrinfo
    answers = {"intranet.example.com": "10.20.30.40", "public.example.com": "93.184.216.34"}

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in answers:
            return real_getaddrinfo(answers[host], port, *args, **kwargs)
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    url = "https://intranet.example.com/hook"
    for response in (
        register_project_hook(strict_client, project["id"], url, auth=admin.headers),
        register_account_hook(strict_client, url, auth=admin.headers),
    ):
        assert _refusal(response) == (
            "url: intranet.example.com resolves to 10.20.30.40, a private address; "
            "webhooks cannot be sent there"
        )
    public = "https://public.example.com/hook"
    created = register_account_hook(strict_client, public, auth=admin.headers)
    assert created.status_code == 201, created.text


# --- the settings that opt in -----------------------------------------------------------------


def _deliver_one(
    settings: Settings, engine: Engine, admin: Actor, pid: str, receiver: Receiver
) -> tuple[dict[str, Any], list[Any]]:
    """Register a project webhook to the receiver through an app with ``settings``, send it a
    test event, and deliver it with a worker built from the same settings."""
    with TestClient(create_app(settings, engine, run_worker=True)) as client:
        created = register_project_hook(client, pid, receiver.url("/opt-in"), auth=admin.headers)
        assert created.status_code == 201, created.text
        hook = created.json()
        sent = client.post(project_hooks(pid, hook["id"], "test"), headers=admin.headers)
        assert sent.status_code == 202, sent.text
        requests = receiver.wait_for(1, timeout=15)
    return hook, requests


@SQLITE_ONLY
def test_allow_private_targets_setting_opts_in(
    env_settings: Any, engine: Engine, admin: Actor, project: dict[str, Any], receiver: Receiver
) -> None:
    refused_by_default = env_settings()
    assert refused_by_default.allow_private_targets is False
    with TestClient(create_app(refused_by_default, engine)) as client:
        response = register_project_hook(
            client, project["id"], receiver.url("/x"), auth=admin.headers
        )
        assert "loopback" in _refusal(response)

    opted_in = env_settings(ALLOW_PRIVATE_TARGETS="true")
    assert opted_in.allow_private_targets is True
    _, requests = _deliver_one(opted_in, engine, admin, project["id"], receiver)
    assert requests[0].headers["X-Planwire-Event"]
    # Still refused with the opt-in: cloud metadata, multicast, reserved, unspecified.
    with TestClient(create_app(opted_in, engine)) as client:
        for url, reason in [
            ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
            ("http://[::ffff:169.254.169.254]/", "cloud metadata"),
            ("http://224.0.0.1/", "multicast"),
            ("http://240.0.0.1/", "reserved"),
            ("http://0.0.0.0/", "unspecified"),
        ]:
            refusal = _refusal(
                register_account_hook(client, url, auth=admin.headers),
            )
            assert reason in refusal, refusal


@SQLITE_ONLY
@pytest.mark.parametrize("spelling", ['["127.0.0.0/8", "10.9.0.0/16"]', "127.0.0.0/8,10.9.0.0/16"])
def test_allowed_target_networks_setting_opts_in_exactly_those_networks(
    env_settings: Any,
    engine: Engine,
    admin: Actor,
    project: dict[str, Any],
    receiver: Receiver,
    spelling: str,
) -> None:
    settings = env_settings(ALLOWED_TARGET_NETWORKS=spelling)
    assert settings.allow_private_targets is False
    assert settings.allowed_target_networks == ["127.0.0.0/8", "10.9.0.0/16"]
    _deliver_one(settings, engine, admin, project["id"], receiver)
    with TestClient(create_app(settings, engine)) as client:
        inside = register_account_hook(client, "http://10.9.8.7/", auth=admin.headers)
        assert inside.status_code == 201, inside.text
        for url, reason in [
            ("http://10.10.0.1/", "private"),
            ("http://[::1]/", "loopback"),
            ("http://192.168.0.1/", "private"),
            ("http://169.254.169.254/", "cloud metadata"),
        ]:
            assert reason in _refusal(register_account_hook(client, url, auth=admin.headers))


def test_a_bad_allowed_target_networks_setting_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for value in ("not-a-network", '["10.0.0.0/8", "nope"]', "[not json"):
        monkeypatch.setenv("PLANWIRE_ALLOWED_TARGET_NETWORKS", value)
        with pytest.raises(ConfigError) as caught:
            load_settings()
        message = str(caught.value)
        assert message.startswith("invalid setting PLANWIRE_ALLOWED_TARGET_NETWORKS")
        assert "\n" not in message


@SQLITE_ONLY
def test_https_only_targets_setting(
    env_settings: Any, engine: Engine, admin: Actor, project: dict[str, Any]
) -> None:
    settings = env_settings(HTTPS_ONLY_TARGETS="true", ALLOW_PRIVATE_TARGETS="true")
    assert settings.https_only_targets is True
    with TestClient(create_app(settings, engine)) as client:
        for response in (
            register_project_hook(
                client, project["id"], "http://127.0.0.1:9/x", auth=admin.headers
            ),
            register_account_hook(client, "http://127.0.0.1:9/x", auth=admin.headers),
        ):
            assert _refusal(response) == "url: the webhook URL must use https"
        accepted = register_account_hook(client, "https://127.0.0.1:9/x", auth=admin.headers)
        assert accepted.status_code == 201, accepted.text


# --- at connect time ------------------------------------------------------------------------------


def _deliveries_view(admin: Actor, pid: str, hook_id: str) -> list[dict[str, Any]]:
    response = admin.get(project_hooks(pid, hook_id, "deliveries"))
    assert response.status_code == 200, response.text
    return list(response.json()["results"])


@pytest.mark.parametrize("fmt", ["trueppm", "exepron", "standard"])
async def test_a_target_allowed_at_registration_is_refused_at_delivery_and_not_retried(
    settings: Settings,
    engine: Engine,
    admin: Actor,
    project: dict[str, Any],
    receiver: Receiver,
    fmt: str,
) -> None:
    """Registered while the policy allowed loopback, delivered by a worker whose policy does
    not: the attempt is recorded as ``refused_target`` and never retried, whatever the format."""
    pid = project["id"]
    secret = "whsec_" + "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0" if fmt == "standard" else "s3cret!!"
    created = register_project_hook(
        admin, pid, receiver.url("/internal"), format=fmt, secret=secret, retry_schedule=[0, 0]
    )
    assert created.status_code == 201, created.text
    hook = created.json()
    assert admin.post(project_hooks(pid, hook["id"], "test")).status_code == 202
    async with running(strict(settings, delivery_timeout=2.0), engine):
        (row,) = await await_until(all_finished(engine, 1), what="the refused delivery")
    assert row.status == "failed" and row.attempt_count == 1
    (attempt,) = attempts_of(engine, row.id)
    assert attempt.error_kind == "refused_target"
    assert attempt.error == "127.0.0.1 is a loopback address; webhooks cannot be sent there"
    assert attempt.response_status is None
    assert receiver.requests == []
    (shown,) = _deliveries_view(admin, pid, hook["id"])
    assert shown["status"] == "failed" and shown["attempt_count"] == 1
    assert shown["attempts"][0]["error_kind"] == "refused_target"
    assert "loopback" in shown["last_error"]


async def test_dns_rebinding_is_refused_at_connect_time(
    settings: Settings,
    engine: Engine,
    admin: Actor,
    project: dict[str, Any],
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The name resolves to a public address when registered and to loopback when delivered
    (both resolvers replaced at the edge). The address connected to is what is checked."""
    pid = project["id"]
    url = f"http://rebind.example.net:{receiver.port}/hook"
    real_getaddrinfo = socket.getaddrinfo

    def registration_dns(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.example.net":
            return real_getaddrinfo("93.184.216.34", port, *args, **kwargs)
        return real_getaddrinfo(host, port, *args, **kwargs)

    strict_settings = strict(settings, delivery_timeout=2.0)
    with monkeypatch.context() as patch:
        patch.setattr(socket, "getaddrinfo", registration_dns)
        with TestClient(create_app(strict_settings, engine)) as client:
            created = register_project_hook(client, pid, url, auth=admin.headers)
            assert created.status_code == 201, created.text  # public at registration
    hook = created.json()
    assert admin.post(project_hooks(pid, hook["id"], "test")).status_code == 202

    rebound = StaticResolver({"rebind.example.net": "127.0.0.1"})
    sender = HttpSender(TargetPolicy(), timeout=2.0, resolver=rebound)
    try:
        async with running(strict_settings, engine, sender=sender):
            (row,) = await await_until(all_finished(engine, 1), what="the rebound delivery")
    finally:
        await sender.aclose()
    assert rebound.asked == ["rebind.example.net"]
    assert row.status == "failed" and row.attempt_count == 1  # refused: never retried
    (attempt,) = attempts_of(engine, row.id)
    assert attempt.error_kind == "refused_target"
    assert attempt.error == (
        "rebind.example.net resolves to 127.0.0.1, a loopback address; "
        "webhooks cannot be sent there"
    )
    assert receiver.requests == []

    # The same resolver under a policy that allows loopback reaches the receiver: the refusal
    # above was the guard's, and the name really led to the receiver.
    permissive = HttpSender(TargetPolicy(allow_private=True), timeout=2.0, resolver=rebound)
    async with permissive:
        outcome = await permissive.send(url, b"{}", {"Content-Type": "application/json"})
    assert outcome.succeeded and len(receiver.requests) == 1


async def test_redirects_are_never_followed(
    settings: Settings,
    engine: Engine,
    admin: Actor,
    project: dict[str, Any],
    receiver: Receiver,
) -> None:
    """A 3xx, even to the metadata service or back to the receiver, is a failed attempt; the
    Location is never requested (the network guard would fail the test on 169.254.169.254)."""
    pid = project["id"]
    receiver.program("/to-metadata", Reply.redirect("http://169.254.169.254/latest/meta-data/"))
    receiver.program("/to-self", Reply.redirect(receiver.url("/landing"), status=307))
    hooks = []
    for path in ("/to-metadata", "/to-self"):
        created = register_project_hook(
            admin, pid, receiver.url(path), format="exepron", retry_schedule=[0.1]
        )
        assert created.status_code == 201, created.text
        hooks.append(created.json())
        assert admin.post(project_hooks(pid, created.json()["id"], "test")).status_code == 202
    async with running(settings.model_copy(update={"delivery_timeout": 2.0}), engine):
        rows = await await_until(all_finished(engine, 2), what="the redirected deliveries")
    assert sorted(r.path for r in receiver.requests) == ["/to-metadata", "/to-self"]
    for row in rows:
        assert row.status == "failed" and row.attempt_count == 1  # exepron: no retry on 3xx
        (attempt,) = attempts_of(engine, row.id)
        assert attempt.error_kind == "redirect"
        assert attempt.error.endswith("(redirects are not followed)")


async def test_https_only_is_enforced_at_delivery_too(
    settings: Settings,
    engine: Engine,
    admin: Actor,
    project: dict[str, Any],
    receiver: Receiver,
) -> None:
    """A plain-http webhook registered before ``https_only_targets`` was turned on is refused
    when delivered, not retried."""
    pid = project["id"]
    created = register_project_hook(admin, pid, receiver.url("/plain"), retry_schedule=[0])
    assert created.status_code == 201, created.text
    assert admin.post(project_hooks(pid, created.json()["id"], "test")).status_code == 202
    https_only = settings.model_copy(update={"https_only_targets": True, "delivery_timeout": 2.0})
    async with running(https_only, engine):
        (row,) = await await_until(all_finished(engine, 1), what="the refused delivery")
    assert row.status == "failed" and row.attempt_count == 1
    (attempt,) = attempts_of(engine, row.id)
    assert (attempt.error_kind, attempt.error) == (
        "refused_target",
        "the webhook URL must use https",
    )
    assert receiver.requests == []
