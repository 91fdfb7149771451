"""``planwire listen``: verification per format (no sockets), then the real command receiving
real deliveries from Planwire's worker."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine

from planwire.config import Settings
from planwire.delivery.formats import build_request, generate_secret
from planwire.devx.listen import Listener, detect_format
from tests.conftest import Actor
from tests.devx.conftest import (
    Spawned,
    account_webhook,
    planwire_command,
    wait_until,
    worker_app,
)

SECRET = "listen-secret-123"


@pytest.fixture
def app(settings: Settings, engine: Engine) -> FastAPI:
    return worker_app(settings, engine)


def delivery(fmt: str, secret: str, *, retry_count: int = 0) -> tuple[dict[str, str], bytes]:
    request = build_request(
        fmt,
        delivery_id=uuid.UUID(int=7),
        event_type="task.updated",
        event_id=uuid.UUID(int=8),
        occurred_at=datetime(2026, 1, 5, 9, 30, tzinfo=UTC),
        account_id=42,
        project_id=uuid.UUID(int=9),
        webhook_public_id="wh_1",
        data={"name": "Design", "ünïcode": "✓"},
        retry_count=retry_count,
        secrets=[secret],
        custom_headers={},
        user_agent="Planwire/test",
    )
    return request.headers, request.body


@pytest.mark.parametrize("fmt", ["trueppm", "exepron", "standard"])
def test_each_format_verifies_and_a_wrong_secret_does_not(fmt: str) -> None:
    secret = generate_secret(fmt)
    headers, body = delivery(fmt, secret, retry_count=2)
    assert detect_format(headers) == fmt
    listener = Listener([secret])
    first = listener.receive("POST", "/hook", headers, body)
    assert first.verified and first.status == 200 and first.format == fmt
    assert first.event == "task.updated"
    assert first.delivery_id == str(uuid.UUID(int=7))
    assert first.attempt == (3 if fmt == "exepron" else None)  # retryCount 2 = third attempt
    again = listener.receive("POST", "/hook", headers, body)
    assert again.arrival == 2  # the same X-Planwire-Delivery: a retry

    wrong = Listener([generate_secret(fmt)], status=500).receive("POST", "/", headers, body)
    assert not wrong.verified and wrong.status == 401
    assert wrong.reason is not None and "does not match" in wrong.reason
    # During a rotation the listener is given both secrets.
    rotated = Listener([generate_secret(fmt), secret]).receive("POST", "/", headers, body)
    assert rotated.verified


def test_a_chosen_format_missing_headers_and_other_methods() -> None:
    headers, body = delivery("exepron", SECRET)
    mismatch = Listener([SECRET], format="trueppm").receive("POST", "/", headers, body)
    assert not mismatch.verified
    assert mismatch.reason == "a exepron delivery, but this listener expects trueppm"
    bare = Listener([SECRET]).receive("POST", "/", {"Content-Type": "application/json"}, body)
    assert not bare.verified and bare.reason is not None and "no signature header" in bare.reason
    get = Listener([SECRET]).receive("GET", "/", headers, b"")
    assert not get.verified and get.status == 401
    tampered = Listener([SECRET]).receive("POST", "/", headers, body.replace(b"Design", b"Desigm"))
    assert not tampered.verified
    with pytest.raises(ValueError, match="format must be one of"):
        Listener([SECRET], format="xml")


def listen(*args: str) -> Spawned:
    return Spawned(planwire_command("listen", "--secret", SECRET, "--port", "0", *args))


def url_of(process: Spawned) -> str:
    line = process.wait_for(lambda text: text.startswith("Listening on"), what="the banner")
    match = re.search(r"http://127\.0\.0\.1:\d+/", line)
    assert match, line
    return match.group(0)


def test_listen_prints_verified_deliveries(client: Any, admin: Actor) -> None:
    with listen() as process:
        url = url_of(process)
        account_webhook(admin, url + "hooks/planwire", SECRET, events=["project.created"])
        response = admin.post("/api/v1/projects/", json={"name": "Listened to"})
        assert response.status_code == 201
        line = process.wait_for(lambda text: "project.created" in text, what="the delivery")
        assert line.startswith("✓ ")
        assert "exepron" in line and "attempt 1" in line and line.endswith("→ 200")
        delivery_id = re.search(r"delivery ([0-9a-f-]{36})", line)
        assert delivery_id
        # Then the body, pretty-printed.
        process.wait_for(lambda text: '"projectName"' in text or '"name": "Listened to"' in text)
        assert process.stop() == 0
    assert process.lines[-1] == "stopped after 1 requests"


def test_listen_status_makes_planwire_retry(client: Any, admin: Actor) -> None:
    with listen("--status", "503", "--format", "exepron", "--compact") as process:
        url = url_of(process)
        account_webhook(admin, url, SECRET, events=["project.created"], retrySchedule=[0.2])
        admin.post("/api/v1/projects/", json={"name": "Retried"})
        process.wait_for(lambda text: "attempt 1" in text and "→ 503" in text, what="attempt 1")
        retry = process.wait_for(lambda text: "attempt 2" in text, what="the retry")
        assert "(arrival 2: a retry)" in retry and retry.endswith("→ 503")


def test_listen_refuses_a_bad_signature(client: Any, admin: Actor) -> None:
    with listen("--compact") as process:
        url = url_of(process)
        hook = account_webhook(admin, url, "not-the-listeners-secret", events=["project.created"])
        admin.post("/api/v1/projects/", json={"name": "Forged"})
        line = process.wait_for(lambda text: text.startswith("✗"), what="the refusal")
        assert "project.created" in line and "signature does not match the secret" in line
        assert line.endswith("→ 401")

    def recorded() -> list[dict[str, Any]] | None:  # the listener prints, then answers
        logs: list[dict[str, Any]] = admin.get(f"/api/v1/webhooks/{hook['id']}/logs").json()[
            "value"
        ]
        return logs if logs and logs[0]["status"] != "pending" else None

    logs = wait_until(recorded, what="the refusal to be recorded")
    assert logs[0]["httpStatus"] == 401 and logs[0]["status"] == "failed"


def test_listen_options_are_checked() -> None:
    with Spawned(planwire_command("listen", "--secret", SECRET, "--format", "json")) as process:
        process.wait_for(lambda text: "--format must be one of" in text)
        assert process.process.wait(timeout=30) == 2
