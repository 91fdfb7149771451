"""End to end: webhooks registered and events caused through the HTTP API, delivered by the
worker running inside the app (``create_app(run_worker=True)``, as ``planwire serve`` does), to
real receivers on 127.0.0.1 that verify as each webhook document tells integrators to.

Every wait is bounded (``WAIT``); none asserts how fast something happened.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import standardwebhooks
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from planwire.app import create_app
from planwire.config import Settings
from planwire.db import make_engine
from tests.conftest import Actor
from tests.delivery.test_worker import (
    WAIT,
    add_webhook,
    attempts_of,
    closed_port,
    deliveries_of,
    set_webhook,
    wait_until,
    webhook_of,
)
from tests.support.receiver import JsRoundtrip, NodeReceiver, Receiver, RecordedRequest, Reply

# --- the receivers' checks, as the documents write them ------------------------------------------


def trueppm_verify(secret: str, body: bytes, signature: str) -> bool:
    """The TruePPM document's ``verify``, unchanged."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def exepron_flask_verify(secret: str, payload: bytes, signature: str | None) -> bool:
    """The Exepron document's Flask handler: HMAC over ``request.get_data()``."""
    expected_signature = hmac.new(secret.encode("utf-8"), payload, hashlib.sha256).hexdigest()
    return signature == expected_signature


def standard_verify(secret: str, request: RecordedRequest) -> dict[str, Any]:
    """The Standard Webhooks reference library; raises if the signature does not verify."""
    headers = {name.lower(): value for name, value in request.headers.items()}
    payload: dict[str, Any] = standardwebhooks.Webhook(secret).verify(request.body, headers)
    return payload


def verify(fmt: str, secret: str, request: RecordedRequest) -> None:
    if fmt == "trueppm":
        assert trueppm_verify(secret, request.body, request.headers["X-TruePPM-Signature"])
    elif fmt == "exepron":
        assert exepron_flask_verify(secret, request.body, request.headers["X-Exepron-Signature"])
    else:
        standard_verify(secret, request)


# --- fixtures: the app runs the worker ----------------------------------------------------------


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """Generous timeouts (a loaded test machine must not turn a slow answer into a retry);
    tests that need a short one say so (indirect parametrization)."""
    update = {"delivery_timeout": 10.0, "lease_seconds": 30.0}
    update.update(getattr(request, "param", {}))
    return settings.model_copy(update=update)


@pytest.fixture
def worker_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Keyword arguments of the app's worker (``run_worker``: whether the app runs one)."""
    options = {"run_worker": True, "poll_interval": 0.2, "maintenance_interval": 3600.0}
    options.update(getattr(request, "param", {}))
    return options


def _app(settings: Settings, engine: Engine, options: dict[str, Any]) -> FastAPI:
    options = dict(options)
    run = bool(options.pop("run_worker"))
    return create_app(settings, engine, run_worker=run, worker_options=options)


@pytest.fixture
def app(settings: Settings, engine: Engine, worker_options: dict[str, Any]) -> FastAPI:
    return _app(settings, engine, worker_options)


@pytest.fixture
def project_id(project: dict[str, Any]) -> str:
    return str(project["id"])


@pytest.fixture
def node_secret() -> str:
    from planwire.delivery.formats import generate_secret

    return generate_secret("standard")  # a whsec_ secret is a valid secret for every format


@pytest.fixture
def node(node_secret: str) -> Iterator[NodeReceiver]:
    with NodeReceiver(node_secret) as receiver:
        yield receiver


# --- API helpers --------------------------------------------------------------------------------


def project_hook(actor: Actor, project_id: str, **fields: Any) -> dict[str, Any]:
    response = actor.post(f"/api/v1/projects/{project_id}/webhooks/", json=fields)
    assert response.status_code == 201, response.text
    return dict(response.json())


def account_hook(actor: Actor, **fields: Any) -> dict[str, Any]:
    response = actor.post("/api/v1/webhooks", json=fields)
    assert response.status_code == 201, response.text
    return dict(response.json())


def add_task(actor: Actor, project_id: str, name: str = "Task", **fields: Any) -> dict[str, Any]:
    response = actor.post(
        f"/api/v1/projects/{project_id}/tasks/", json={"name": name, "duration": 2, **fields}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def project_deliveries(actor: Actor, project_id: str, hook_id: str) -> list[dict[str, Any]]:
    response = actor.get(f"/api/v1/projects/{project_id}/webhooks/{hook_id}/deliveries/")
    assert response.status_code == 200, response.text
    return list(response.json()["results"])


def finished(engine: Engine, hook_id: str, count: int = 1) -> list[Any]:
    """Wait until ``count`` deliveries of the webhook are done (success or failed)."""

    def check() -> list[Any] | None:
        rows = deliveries_of(engine, uuid.UUID(hook_id))
        done = [row for row in rows if row.status != "pending"]
        return rows if len(rows) == count and len(done) == count else None

    return wait_until(check, what=f"{count} deliveries of {hook_id} to finish")


def by_event(requests: list[RecordedRequest]) -> dict[str, RecordedRequest]:
    return {str(r.headers["X-Planwire-Event"]): r for r in requests}


# --- formats ------------------------------------------------------------------------------------

NAME = "Zoë\u2019s 設計 review ✓ \u2028 «naïve» 🚀"


@pytest.mark.parametrize("fmt", ["trueppm", "exepron", "standard"])
def test_each_format_is_delivered_signed_and_verifies(
    admin: Actor, project_id: str, receiver: Receiver, engine: Engine, js: JsRoundtrip, fmt: str
) -> None:
    hook = project_hook(
        admin,
        project_id,
        url=receiver.url("/hook"),
        format=fmt,
        events=["task.created", "task.updated"],
    )
    secret = hook["secret"]
    task = add_task(admin, project_id, NAME)
    response = admin.patch(f"/api/v1/tasks/{task['id']}", json={"percent_complete": 33.3})
    assert response.status_code == 200, response.text

    requests = by_event(receiver.wait_for(2, WAIT))
    for request in requests.values():
        verify(fmt, secret, request)
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["User-Agent"].startswith("Planwire")
        uuid.UUID(request.headers["X-Planwire-Delivery"])
        assert js.stringify_parse(request.body) == request.body  # what JavaScript re-serializes
    created = json.loads(requests["task.created"].body)
    updated = json.loads(requests["task.updated"].body)
    if fmt == "trueppm":
        assert set(created) == {"event", "project_id", "timestamp", "data"}
        assert created["event"] == "task.created" and created["project_id"] == project_id
    elif fmt == "exepron":
        assert set(created) == {
            "webhookId", "event", "timestamp", "accountId", "data", "metadata"
        }  # fmt: skip
        assert created["webhookId"] == hook["id"] and created["accountId"] == admin.organization_id
        assert created["metadata"] == {"version": "1.0", "retryCount": 0}
    else:
        assert set(created) == {"type", "timestamp", "data"} and created["type"] == "task.created"
        request = requests["task.created"]
        assert request.headers["webhook-id"] == request.headers["X-Planwire-Delivery"]
    assert created["data"]["name"] == NAME and created["data"]["id"] == task["id"]
    assert updated["data"]["percent_complete"] == 33.3

    # The delivery records (API) show the attempts without secrets or signatures.
    finished(engine, hook["id"], 2)
    records = project_deliveries(admin, project_id, hook["id"])
    assert {r["status"] for r in records} == {"success"} and len(records) == 2
    stored = json.dumps(records)
    assert secret not in stored
    for request in requests.values():
        for name in ("X-TruePPM-Signature", "X-Exepron-Signature", "webhook-signature"):
            if name in request.headers:
                assert request.headers[name] not in stored
                assert {a["request_headers"][name] for r in records for a in r["attempts"]} == {
                    "<redacted>"
                }
    attempt = records[0]["attempts"][0]
    assert attempt["response_status"] == 200 and attempt["response_body"] == "OK"
    assert attempt["request_headers"]["X-Planwire-Delivery"] == records[0]["id"]


NUMBERS = {
    "taskName": "Ünïcödé — 日本語 — \u2028 — \U0001f680",
    "bufferConsumption": 92.5,
    "ratio": 0.1,
    "tiny": 5e-7,
    "whole": 1.0,
    "negativeZero": -0.0,
    "huge": 1e21,
    "safe": 2**53 - 1,
    "big": 2**53 + 1,
    "bigger": 2**64,
    "nested": [{"7": "seven", "b": 2, "1": "one"}, 1e-7, 123456789012345678901234567890],
}


def test_document_receivers_verify_every_format_with_non_ascii_floats_and_big_integers(
    admin: Actor, project_id: str, node: NodeReceiver, node_secret: str, engine: Engine
) -> None:
    hooks = {
        fmt: account_hook(
            admin,
            url=node.url(f"/{fmt}"),
            format=fmt,
            secret=node_secret,
            events=["task.created", "task.red"],
        )
        for fmt in ("trueppm", "exepron", "standard")
    }
    add_task(admin, project_id, NAME)  # a real event, caused through the API
    for hook in hooks.values():  # and a test event with awkward numbers, through the API
        response = admin.post(
            f"/api/v1/webhooks/{hook['id']}/test", json={"event": "task.red", "data": NUMBERS}
        )
        assert response.status_code == 202, response.text

    results = wait_until(
        lambda: node.results if len(node.results) >= 6 else None, what="6 deliveries"
    )
    assert len(results) == 6
    for result in results:
        fmt = result["path"].strip("/")
        checks = {key: value for key, value in result.items() if key not in ("path", "event")}
        expected_present = {
            "trueppm": {"trueppm"},
            "exepron": {"exepronExpress", "exepronTimingSafe", "exepronRaw"},
            "standard": {"standard"},
        }[fmt]
        assert {key for key, value in checks.items() if value is not None} == expected_present
        assert all(checks[key] is True for key in expected_present), result
    for hook in hooks.values():
        rows = finished(engine, hook["id"], 2)
        assert {row.status for row in rows} == {"success"}


# --- retries ------------------------------------------------------------------------------------


def test_retries_keep_the_delivery_id_and_count_retries(
    admin: Actor, project_id: str, receiver: Receiver, engine: Engine
) -> None:
    receiver.enqueue("/hook", Reply(status=500), Reply(status=502, body=b"bad gateway"))
    hook = account_hook(
        admin, url=receiver.url("/hook"), events=["task.created"], retrySchedule=[0.05, 0.1]
    )
    add_task(admin, project_id, "retried")
    requests = receiver.wait_for(3, WAIT)
    (row,) = finished(engine, hook["id"])

    assert {r.headers["X-Planwire-Delivery"] for r in requests} == {str(row.id)}
    bodies = [json.loads(r.body) for r in requests]
    assert [b["metadata"]["retryCount"] for b in bodies] == [0, 1, 2]
    assert len({b["timestamp"] for b in bodies}) == 1  # when the event occurred
    for request in requests:
        verify("exepron", hook["secret"], request)
    assert row.status == "success" and row.attempt_count == 3 and row.response_status == 200
    attempts = attempts_of(engine, row.id)
    assert [a.response_status for a in attempts] == [500, 502, 200]
    assert [a.error_kind for a in attempts] == ["http", "http", None]
    assert attempts[1].response_body == "bad gateway"
    assert all(a.request_headers["X-Exepron-Signature"] == "<redacted>" for a in attempts)

    shown = admin.get(f"/api/v1/webhooks/{hook['id']}").json()
    assert shown["statistics"] == {"totalCalls": 3, "successfulCalls": 1, "failedCalls": 2}
    assert shown["lastTriggered"] is not None
    (log,) = admin.get(f"/api/v1/webhooks/{hook['id']}/logs?$top=5").json()["value"]
    assert log["status"] == "success" and log["retries"] == 2 and log["httpStatus"] == 200


@pytest.mark.parametrize("settings", [{"delivery_timeout": 2.0}], indirect=True, ids=["2s"])
@pytest.mark.parametrize(
    ("fmt", "retries_4xx"), [("trueppm", True), ("exepron", False), ("standard", False)]
)
def test_retry_rules_per_format(
    admin: Actor,
    project_id: str,
    receiver: Receiver,
    engine: Engine,
    fmt: str,
    retries_4xx: bool,
) -> None:
    receiver.program("/500", Reply(status=500))
    receiver.program("/400", Reply(status=400, body=b"no such thing"))
    receiver.program("/hang", Reply.hang())
    urls = {
        "500": receiver.url("/500"),
        "400": receiver.url("/400"),
        "timeout": receiver.url("/hang"),
        "refused": f"http://127.0.0.1:{closed_port()}/hook",
    }
    hooks = {
        case: project_hook(
            admin,
            project_id,
            url=url,
            format=fmt,
            events=["task.created"],
            retry_schedule=[0.05, 0.1],
        )
        for case, url in urls.items()
    }
    add_task(admin, project_id, "fails")

    expected = {
        "500": (3, "http"),
        "400": (3 if retries_4xx else 1, "http"),
        "timeout": (3, "timeout"),
        "refused": (3, "connect"),
    }
    for case, (count, kind) in expected.items():
        (row,) = finished(engine, hooks[case]["id"])
        attempts = attempts_of(engine, row.id)
        assert row.status == "failed", case
        assert [a.error_kind for a in attempts] == [kind] * count, case
        assert row.attempt_count == count and row.completed_at is not None
        assert row.last_error
        shown = admin.get(f"/api/v1/projects/{project_id}/webhooks/{hooks[case]['id']}").json()
        assert shown["statistics"] == {
            "total_calls": count,
            "successful_calls": 0,
            "failed_calls": count,
        }
    assert attempts_of(engine, finished(engine, hooks["400"]["id"])[0].id)[0].response_body == (
        "no such thing"
    )


@pytest.mark.parametrize(("fmt", "status"), [("trueppm", 429), ("exepron", 503)])
def test_retry_after_is_honoured(
    admin: Actor,
    project_id: str,
    receiver: Receiver,
    engine: Engine,
    fmt: str,
    status: int,
) -> None:
    receiver.enqueue("/hook", Reply.retry_after(1, status=status))
    hook = project_hook(
        admin,
        project_id,
        url=receiver.url("/hook"),
        format=fmt,
        events=["task.created"],
        retry_schedule=[0.05],
    )
    add_task(admin, project_id, "throttled")
    first, second = receiver.wait_for(2, WAIT)
    (row,) = finished(engine, hook["id"])
    assert row.status == "success"
    attempts = attempts_of(engine, row.id)
    assert attempts[0].response_status == status
    # The receiver asked for a second; the schedule said 0.05 s: the retry waited for it.
    assert (attempts[1].started_at - attempts[0].started_at).total_seconds() >= 1.0
    assert second.received_at - first.received_at >= 0.9


# --- pause, wake-up, restart --------------------------------------------------------------------


def test_paused_webhooks_retries_wait_and_go_out_after_resume(
    admin: Actor, project_id: str, receiver: Receiver, engine: Engine
) -> None:
    receiver.enqueue("/hook", Reply(status=500))
    hook = account_hook(
        admin, url=receiver.url("/hook"), events=["task.created"], retrySchedule=[0.2]
    )
    add_task(admin, project_id, "first")
    receiver.wait_for(1, WAIT)
    assert admin.patch(f"/api/v1/webhooks/{hook['id']}/pause").status_code == 200
    add_task(admin, project_id, "while paused")  # no delivery at all for a paused webhook
    time.sleep(1.0)  # five retry delays and poll intervals: nothing may go out meanwhile
    assert len(receiver.requests) == 1
    (row,) = deliveries_of(engine, uuid.UUID(hook["id"]))
    assert row.status == "pending" and row.attempt_count == 1

    assert admin.patch(f"/api/v1/webhooks/{hook['id']}/resume").status_code == 200
    first, second = receiver.wait_for(2, WAIT)
    (row,) = finished(engine, hook["id"])
    assert row.status == "success" and row.attempt_count == 2
    assert second.headers["X-Planwire-Delivery"] == first.headers["X-Planwire-Delivery"]
    assert json.loads(second.body)["metadata"]["retryCount"] == 1


@pytest.mark.parametrize(
    "worker_options", [{"poll_interval": 30.0}], indirect=True, ids=["backstop-poll-30s"]
)
def test_deliveries_and_retries_leave_without_waiting_for_the_backstop_poll(
    admin: Actor, project_id: str, receiver: Receiver, engine: Engine
) -> None:
    receiver.enqueue("/hook", Reply(status=500))
    hook = project_hook(
        admin, project_id, url=receiver.url("/hook"), events=["task.created"], retry_schedule=[0.2]
    )
    add_task(admin, project_id, "wake up")
    # Woken by the commit, then by the retry timer: well within the 30 s poll.
    receiver.wait_for(2, 5.0)
    (row,) = finished(engine, hook["id"])
    assert row.status == "success" and row.attempt_count == 2


@pytest.mark.parametrize(
    "worker_options", [{"run_worker": False}], indirect=True, ids=["api-without-worker"]
)
def test_a_restart_in_the_middle_of_a_retry_schedule_completes_the_delivery(
    admin: Actor,
    project_id: str,
    receiver: Receiver,
    settings: Settings,
    worker_options: dict[str, Any],
    engine: Engine,
) -> None:
    receiver.enqueue("/hook", Reply(status=503))
    hook = account_hook(
        admin, url=receiver.url("/hook"), events=["task.created"], retrySchedule=[1.0]
    )
    options = {**worker_options, "run_worker": True}
    first_engine = make_engine(settings.sqlalchemy_url)
    with TestClient(_app(settings, first_engine, options)):  # a `planwire serve` process
        add_task(admin, project_id, "restarted")
        receiver.wait_for(1, WAIT)
        wait_until(
            lambda: deliveries_of(engine, uuid.UUID(hook["id"]))[0].attempt_count == 1,
            what="the first attempt to be recorded",
        )
    first_engine.dispose()
    (row,) = deliveries_of(engine, uuid.UUID(hook["id"]))
    assert row.status == "pending" and row.lease_owner is None

    second_engine = make_engine(settings.sqlalchemy_url)  # a new process on the same database
    try:
        with TestClient(_app(settings, second_engine, options)):
            (row,) = finished(engine, hook["id"])
    finally:
        second_engine.dispose()
    assert row.status == "success" and row.attempt_count == 2
    first, second = receiver.requests
    assert first.headers["X-Planwire-Delivery"] == second.headers["X-Planwire-Delivery"]
    assert json.loads(second.body)["metadata"]["retryCount"] == 1


# --- headers ------------------------------------------------------------------------------------


def test_custom_headers_arrive_and_never_replace_planwires(
    admin: Actor, project_id: str, receiver: Receiver, engine: Engine
) -> None:
    for reserved in ("X-Planwire-Delivery", "content-type", "X-TruePPM-Signature", "Host"):
        refused = admin.post(
            f"/api/v1/projects/{project_id}/webhooks/",
            json={"url": receiver.url("/hook"), "headers": {reserved: "forged"}},
        )
        assert refused.status_code == 422, reserved

    token = "tok-" + uuid.uuid4().hex
    hook = project_hook(
        admin,
        project_id,
        url=receiver.url("/hook"),
        events=["task.created"],
        headers={"X-Custom-Header": "value", "Authorization": f"Bearer {token}"},
    )
    add_task(admin, project_id, "with headers")
    (request,) = receiver.wait_for(1, WAIT)
    assert request.headers["X-Custom-Header"] == "value"
    assert request.headers["Authorization"] == f"Bearer {token}"

    # Reserved names written straight into the database (past the API's checks) are ignored.
    hook_id = uuid.UUID(hook["id"])
    set_webhook(
        engine,
        hook_id,
        headers={
            "X-Planwire-Delivery": "forged",
            "content-type": "text/plain",
            "X-TruePPM-Signature": "sha256=forged",
            "User-Agent": "forged",
            "X-Custom-Header": "value",
        },
    )
    add_task(admin, project_id, "forged headers")
    _, forged = receiver.wait_for(2, WAIT)
    rows = finished(engine, hook["id"], 2)
    second = next(row for row in rows if str(row.id) == forged.headers["X-Planwire-Delivery"])
    assert forged.headers.get_all("X-Planwire-Delivery") == [str(second.id)]
    assert forged.headers.get_all("Content-Type") == ["application/json"]
    assert forged.headers["User-Agent"].startswith("Planwire")
    assert trueppm_verify(hook["secret"], forged.body, forged.headers["X-TruePPM-Signature"])
    assert forged.headers["X-Custom-Header"] == "value"

    stored = json.dumps([attempts_of(engine, row.id)[0].request_headers for row in rows])
    assert token not in stored and hook["secret"] not in stored
    assert stored.count("<redacted>") == 3  # two signatures, one Authorization
    assert webhook_of(engine, hook_id).successful_calls == 2


def test_a_standard_rotation_signs_with_both_secrets_during_the_grace_period(
    admin: Actor, project_id: str, receiver: Receiver, engine: Engine, settings: Settings
) -> None:
    hook = project_hook(
        admin, project_id, url=receiver.url("/hook"), format="standard", events=["task.created"]
    )
    old = hook["secret"]
    response = admin.patch(
        f"/api/v1/projects/{project_id}/webhooks/{hook['id']}/",
        json={"secret": (new := "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY")},
    )
    assert response.status_code == 200, response.text
    add_task(admin, project_id, "rotated")
    (request,) = receiver.wait_for(1, WAIT)
    assert len(request.headers["webhook-signature"].split()) == 2
    standard_verify(old, request)  # receivers still on the old secret keep verifying
    standard_verify(new, request)


def test_project_created_reaches_the_organizations_webhooks(
    admin: Actor, receiver: Receiver, engine: Engine
) -> None:
    hook_id = add_webhook(
        engine,
        organization_id=admin.organization_id,
        url=receiver.url("/direct"),
        events=["project.created"],
    )
    response = admin.post("/api/v1/projects/", json={"name": "Direct", "start_date": "2026-02-02"})
    assert response.status_code == 201
    (request,) = receiver.wait_for(1, WAIT)
    assert json.loads(request.body)["event"] == "project.created"
    (row,) = finished(engine, str(hook_id))
    assert row.status == "success" and webhook_of(engine, hook_id).total_calls == 1
