"""Account webhooks, the Exepron document's surface: every documented request as written (paths
without a trailing slash, camelCase bodies), CRUD, pause and resume, test events, logs and the
organization-admin rule."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import update

from planwire.webhooks.models import Webhook
from tests.conftest import Actor, ActorFactory
from tests.webhooks.conftest import EXEPRON_EXAMPLE, Db, create_account_webhook, hooks_url

DOCUMENTED_FIELDS = {
    "id",
    "name",
    "url",
    "events",
    "isActive",
    "createdAt",
    "lastTriggered",
    "statistics",
}
EXTRA_FIELDS = {"format", "headers", "retrySchedule", "disabledAt", "disabledReason", "updatedAt"}
LOG_FIELDS = {
    "id",
    "webhookId",
    "event",
    "timestamp",
    "status",
    "httpStatus",
    "responseTime",
    "retries",
    "isTest",
}


def test_documented_registration_as_written(admin: Actor, db: Db) -> None:
    response = admin.client.post(
        "/api/v1/webhooks",
        content=b"""{
"name": "Production Webhook",
"url": "https://api.yourapp.com/webhooks/exepron",
"events": [
"project.started",
"task.red",
"milestone.achieved"
],
"secret": "your-webhook-secret-key",
"isActive": true,
"headers": {
"X-Custom-Header": "value"
}
}""",
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {admin.token}",
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == DOCUMENTED_FIELDS | EXTRA_FIELDS | {"secret"}
    assert body["name"] == "Production Webhook"
    assert body["url"] == "https://api.yourapp.com/webhooks/exepron"
    assert body["events"] == ["project.started", "task.red", "milestone.achieved"]
    assert body["isActive"] is True and body["lastTriggered"] is None
    assert body["headers"] == {"X-Custom-Header": "value"}
    assert body["statistics"] == {"totalCalls": 0, "successfulCalls": 0, "failedCalls": 0}
    assert body["format"] == "exepron" and body["retrySchedule"] is None
    assert body["secret"] == "your-webhook-secret-key"
    assert body["createdAt"].endswith("Z")
    [row] = db.webhook_rows()
    assert row["project_id"] is None and row["organization_id"] == admin.organization_id


def test_documented_list_response(admin: Actor, db: Db) -> None:
    hook = create_account_webhook(admin)
    with db.engine.begin() as connection:
        connection.execute(
            update(Webhook)
            .where(Webhook.id == uuid.UUID(hook["id"]))
            .values(total_calls=1543, successful_calls=1521, failed_calls=22)
        )
    response = admin.get("/api/v1/webhooks")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"value"}
    [item] = body["value"]
    assert set(item) >= DOCUMENTED_FIELDS and "secret" not in item
    assert item["id"] == hook["id"] and item["name"] == "Production Webhook"
    assert item["statistics"] == {"totalCalls": 1543, "successfulCalls": 1521, "failedCalls": 22}
    # Project webhooks are not on this surface.
    project = admin.post("/api/v1/projects/", json={"name": "P"}).json()
    admin.post(hooks_url(project["id"]), json={"url": "https://hooks.example.com/x"})
    assert [w["id"] for w in admin.get("/api/v1/webhooks").json()["value"]] == [hook["id"]]


def test_documented_update_accepts_a_partial_body(admin: Actor) -> None:
    hook = create_account_webhook(admin)
    response = admin.put(
        f"/api/v1/webhooks/{hook['id']}",
        json={
            "name": "Updated Webhook Name",
            "events": [
                "project.started",
                "task.red",
                "milestone.achieved",
                "project.early_warning",
            ],
            "isActive": True,
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["name"] == "Updated Webhook Name"
    assert body["events"] == [
        "project.started",
        "task.red",
        "milestone.achieved",
        "project.early_warning",
    ]
    assert body["url"] == hook["url"] and body["headers"] == hook["headers"]
    assert "secret" not in body
    got = admin.get(f"/api/v1/webhooks/{hook['id']}").json()
    assert got == body

    changed = admin.put(
        f"/api/v1/webhooks/{hook['id']}",
        json={
            "url": "https://api.yourapp.com/v2",
            "headers": {},
            "retrySchedule": [10, 60],
            "format": "trueppm",
        },
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["url"] == "https://api.yourapp.com/v2"
    assert changed.json()["headers"] == {} and changed.json()["retrySchedule"] == [10.0, 60.0]
    assert changed.json()["format"] == "trueppm" and changed.json()["name"] == body["name"]


def test_documented_delete(admin: Actor, db: Db) -> None:
    hook = create_account_webhook(admin)
    admin.post(f"/api/v1/webhooks/{hook['id']}/test", json={"event": "project.started"})
    response = admin.delete(f"/api/v1/webhooks/{hook['id']}")
    assert response.status_code == 204
    assert admin.get(f"/api/v1/webhooks/{hook['id']}").status_code == 404
    assert admin.get("/api/v1/webhooks").json() == {"value": []}
    assert db.webhook_rows() == [] and db.deliveries() == []


def test_documented_pause_and_resume(admin: Actor, db: Db) -> None:
    hook = create_account_webhook(admin)
    paused = admin.patch(f"/api/v1/webhooks/{hook['id']}/pause")
    assert paused.status_code == 200, paused.text
    assert paused.json()["isActive"] is False
    assert admin.get(f"/api/v1/webhooks/{hook['id']}").json()["isActive"] is False
    refused = admin.post(f"/api/v1/webhooks/{hook['id']}/test", json={"event": "task.red"})
    assert refused.status_code == 409

    resumed = admin.patch(f"/api/v1/webhooks/{hook['id']}/resume")
    assert resumed.status_code == 200 and resumed.json()["isActive"] is True


def test_resume_re_enables_an_automatically_disabled_webhook(admin: Actor, db: Db) -> None:
    hook = create_account_webhook(admin)
    with db.engine.begin() as connection:
        connection.execute(
            update(Webhook)
            .where(Webhook.id == uuid.UUID(hook["id"]))
            .values(
                is_active=False,
                disabled_at=Webhook.created_at,
                failing_since=Webhook.created_at,
                disabled_reason="disabled automatically: every delivery attempt failed",
            )
        )
    shown = admin.get(f"/api/v1/webhooks/{hook['id']}").json()
    assert shown["isActive"] is False and shown["disabledReason"].startswith("disabled")
    assert shown["disabledAt"] is not None
    resumed = admin.patch(f"/api/v1/webhooks/{hook['id']}/resume").json()
    assert resumed["isActive"] is True
    assert resumed["disabledReason"] is None and resumed["disabledAt"] is None
    [row] = db.webhook_rows()
    assert row["failing_since"] is None and row["disabled_at"] is None


def test_documented_test_events(admin: Actor, db: Db) -> None:
    hook = create_account_webhook(admin)
    first = admin.post(f"/api/v1/webhooks/{hook['id']}/test", json={"event": "project.started"})
    assert first.status_code == 202, first.text
    assert set(first.json()) == LOG_FIELDS
    assert first.json()["status"] == "pending" and first.json()["isTest"] is True

    data = {"taskId": 123, "taskName": "Test Task", "bufferConsumption": 95}
    second = admin.post(
        f"/api/v1/webhooks/{hook['id']}/test", json={"event": "task.red", "data": data}
    )
    assert second.status_code == 202, second.text

    rows = db.deliveries(hook["id"])
    assert [r["event_type"] for r in rows] == ["project.started", "task.red"]
    assert all(r["is_test"] for r in rows)
    assert rows[1]["data"] == data
    assert rows[0]["data"]["projectName"] == "Q1 Product Launch"  # the catalog's example
    # Real events, recorded in the outbox.
    assert {e["type"] for e in db.events()} == {"project.started", "task.red"}

    logs = admin.get(f"/api/v1/webhooks/{hook['id']}/logs?$top=50").json()["value"]
    assert [entry["event"] for entry in logs] == ["task.red", "project.started"]
    assert logs[0]["id"] == second.json()["id"]

    for body in (
        {"event": "nope"},
        {},
        {"event": "task.red", "data": [1]},
        {"evnt": "x"},
        {"event": "task.red", "data": {"taskName": "nul\u0000"}},
        {"event": "task.red", "data": {"nested": [{"k\u0000": 1}]}},
    ):
        refused = admin.post(f"/api/v1/webhooks/{hook['id']}/test", json=body)
        assert refused.status_code == 422, (body, refused.text)
    assert len(db.deliveries(hook["id"])) == 2


def test_documented_logs(admin: Actor, db: Db) -> None:
    hook = create_account_webhook(admin)
    for event in ("task.red", "project.started", "milestone.achieved"):
        response = admin.post(f"/api/v1/webhooks/{hook['id']}/test", json={"event": event})
        assert response.status_code == 202
    red, started, _ = db.deliveries(hook["id"])
    db.succeed_delivery(red["id"])
    db.fail_delivery(started["id"], attempts=4, status=500)

    response = admin.get(f"/api/v1/webhooks/{hook['id']}/logs?$top=50")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"value"}
    pending, failed, success = body["value"]  # newest first
    assert pending["event"] == "milestone.achieved" and pending["status"] == "pending"
    assert pending["httpStatus"] is None and pending["responseTime"] is None
    assert "error" not in pending

    assert set(success) == LOG_FIELDS
    assert success["id"] == str(red["id"]) and success["webhookId"] == hook["id"]
    assert success["event"] == "task.red" and success["status"] == "success"
    assert success["httpStatus"] == 200 and success["responseTime"] == 145
    assert success["retries"] == 0 and success["timestamp"].endswith("Z")

    assert set(failed) == LOG_FIELDS | {"error"}
    assert failed["status"] == "failed" and failed["httpStatus"] == 500
    assert failed["error"] == "Internal Server Error" and failed["retries"] == 3
    assert failed["responseTime"] == 50

    top = admin.get(f"/api/v1/webhooks/{hook['id']}/logs?$top=1").json()["value"]
    assert [entry["id"] for entry in top] == [pending["id"]]
    assert admin.get(f"/api/v1/webhooks/{hook['id']}/logs").json() == body
    assert admin.get(f"/api/v1/webhooks/{hook['id']}/logs?$top=0").status_code == 422

    # The failed one can be sent again with the same id; it shows as pending.
    again = admin.post(f"/api/v1/webhooks/{hook['id']}/logs/{failed['id']}/redeliver")
    assert again.status_code == 202, again.text
    assert again.json()["id"] == failed["id"] and again.json()["status"] == "pending"
    assert (
        admin.post(f"/api/v1/webhooks/{hook['id']}/logs/{success['id']}/redeliver").status_code
        == 409
    )


def test_omitted_secret_and_events(admin: Actor) -> None:
    body = create_account_webhook(admin, secret=None, events=None, name=None, headers=None)
    assert body["events"] == [] and body["name"] == "" and body["headers"] == {}
    assert len(body["secret"]) >= 32
    standard = create_account_webhook(admin, secret=None, format="standard")
    assert standard["secret"].startswith("whsec_")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"events": ["project.started", "project.exploded"]}, "events"),
        ({"url": "ftp://api.yourapp.com/x"}, "url"),
        ({"url": "http://169.254.169.254/"}, "url"),
        ({"headers": {"X-Exepron-Signature": "forged"}}, "headers"),
        ({"retrySchedule": [1] * 26}, "retrySchedule"),
        ({"format": "standard"}, "secret"),
        ({"isActive": "true"}, "isActive"),
        ({"is_active": True}, "is_active"),
        ({"name": "n" * 201}, "name"),
        ({"name": "Prod\u0000"}, "name"),
        ({"url": "https://api.yourapp.com/\u0000"}, "url"),
        ({"headers": {"X-Custom-Header": "a\u0000"}}, "headers"),
        ({"secret": "secret-with-\u0000-nul"}, "secret"),
    ],
)
def test_refused_input(admin: Actor, db: Db, body: dict[str, Any], field: str) -> None:
    response = admin.post("/api/v1/webhooks", json={**EXEPRON_EXAMPLE, **body})
    assert response.status_code == 422, response.text
    assert any(e["field"].startswith(field) for e in response.json()["errors"])
    assert db.webhook_rows() == []
    hook = create_account_webhook(admin)
    put = admin.put(f"/api/v1/webhooks/{hook['id']}", json=body)
    assert put.status_code == 422, put.text
    assert admin.get(f"/api/v1/webhooks/{hook['id']}").json()["events"] == hook["events"]


def test_unknown_event_lists_the_valid_ones(admin: Actor) -> None:
    response = admin.post("/api/v1/webhooks", json={**EXEPRON_EXAMPLE, "events": ["task.blue"]})
    detail = response.json()["detail"]
    assert "task.blue" in detail and "project.early_warning" in detail and "task.red" in detail


def test_organization_admins_only(admin: Actor, make_actor: ActorFactory) -> None:
    hook = create_account_webhook(admin)
    member = make_actor(organization_id=admin.organization_id)
    hid = hook["id"]
    calls: list[tuple[str, str, Any]] = [
        ("post", "/api/v1/webhooks", EXEPRON_EXAMPLE),
        ("get", "/api/v1/webhooks", None),
        ("get", f"/api/v1/webhooks/{hid}", None),
        ("put", f"/api/v1/webhooks/{hid}", {"name": "x"}),
        ("patch", f"/api/v1/webhooks/{hid}/pause", None),
        ("patch", f"/api/v1/webhooks/{hid}/resume", None),
        ("post", f"/api/v1/webhooks/{hid}/test", {"event": "task.red"}),
        ("get", f"/api/v1/webhooks/{hid}/logs?$top=5", None),
        ("delete", f"/api/v1/webhooks/{hid}", None),
    ]
    for method, url, body in calls:
        kwargs = {"json": body} if body is not None else {}
        response = getattr(member, method)(url, **kwargs)
        assert response.status_code == 403, (method, url, response.text)
        assert "organization admin" in response.json()["detail"]

    stranger = make_actor(is_org_admin=True)
    assert stranger.get("/api/v1/webhooks").json() == {"value": []}
    for method, url, body in calls[2:]:
        kwargs = {"json": body} if body is not None else {}
        response = getattr(stranger, method)(url, **kwargs)
        assert response.status_code == 404, (method, url, response.text)
    assert admin.get(f"/api/v1/webhooks/{hid}").json()["name"] == "Production Webhook"
    assert admin.client.get("/api/v1/webhooks").status_code == 401


def test_ids_that_are_not_account_webhooks_are_not_found(admin: Actor) -> None:
    project = admin.post("/api/v1/projects/", json={"name": "P"}).json()
    project_hook = admin.post(
        hooks_url(project["id"]), json={"url": "https://hooks.example.com/x"}
    ).json()
    for webhook_id in ("wh_123", str(uuid.uuid4()), project_hook["id"]):
        assert admin.get(f"/api/v1/webhooks/{webhook_id}").status_code == 404
        assert admin.delete(f"/api/v1/webhooks/{webhook_id}").status_code == 404
