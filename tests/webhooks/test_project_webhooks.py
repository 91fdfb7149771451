"""Project webhooks, the TruePPM document's surface: every documented request as written,
CRUD, the role matrix, refused input, test deliveries and redelivery."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from planwire.app import create_app
from planwire.config import Settings
from planwire.webhooks.catalog import CATALOG
from tests.conftest import Actor, ActorFactory
from tests.webhooks.conftest import TRUEPPM_EXAMPLE, Db, create_project_webhook, hooks_url

PROJECT_WEBHOOK_FIELDS = {
    "id",
    "project_id",
    "url",
    "events",
    "format",
    "retry_schedule",
    "headers",
    "is_active",
    "disabled_at",
    "disabled_reason",
    "created_at",
    "updated_at",
    "last_triggered_at",
    "statistics",
}


def test_documented_registration_as_written(admin: Actor, project: dict[str, Any], db: Db) -> None:
    response = admin.client.post(
        f"/api/v1/projects/{project['id']}/webhooks/",
        content=(
            b'{\n"url": "https://hooks.example.com/trueppm",\n"secret": "your-shared-secret",\n'
            b'"events": ["task.created", "task.updated", "schedule.recalculated"]\n}'
        ),
        headers={**admin.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == PROJECT_WEBHOOK_FIELDS | {"secret"}
    assert body["project_id"] == project["id"]
    assert body["url"] == "https://hooks.example.com/trueppm"
    assert body["events"] == ["task.created", "task.updated", "schedule.recalculated"]
    assert body["format"] == "trueppm" and body["retry_schedule"] is None
    assert body["is_active"] is True and body["disabled_reason"] is None
    assert body["headers"] == {} and body["last_triggered_at"] is None
    assert body["statistics"] == {"total_calls": 0, "successful_calls": 0, "failed_calls": 0}
    assert body["secret"] == "your-shared-secret"
    assert [row["id"] for row in db.webhook_rows()] == [uuid.UUID(body["id"])]


def test_omitted_events_subscribe_to_all_and_a_secret_is_generated(
    admin: Actor, project: dict[str, Any]
) -> None:
    body = create_project_webhook(admin, project["id"], events=None, secret=None)
    assert body["events"] == []
    assert len(body["secret"]) >= 32
    empty = create_project_webhook(admin, project["id"], events=[], secret=None)
    assert empty["events"] == [] and empty["secret"] != body["secret"]


def test_documented_pause_and_resume_by_patch(admin: Actor, project: dict[str, Any]) -> None:
    hook = create_project_webhook(admin, project["id"])
    url = f"/api/v1/projects/{project['id']}/webhooks/{hook['id']}/"
    paused = admin.patch(url, json={"is_active": False})
    assert paused.status_code == 200, paused.text
    assert paused.json()["is_active"] is False
    assert admin.get(url).json()["is_active"] is False
    resumed = admin.patch(url.rstrip("/"), json={"is_active": True})
    assert resumed.status_code == 200 and resumed.json()["is_active"] is True


def test_crud(admin: Actor, project: dict[str, Any]) -> None:
    pid = project["id"]
    first = create_project_webhook(admin, pid)
    second = create_project_webhook(
        admin,
        pid,
        url="http://127.0.0.1:9000/hook",
        secret=None,
        format="standard",
        retry_schedule=[1, 2.5, 30],
        headers={"X-Team": "platform"},
    )
    assert second["secret"].startswith("whsec_")
    assert second["retry_schedule"] == [1.0, 2.5, 30.0]

    listed = admin.get(hooks_url(pid))
    assert listed.status_code == 200
    page = listed.json()
    assert page["count"] == 2 and page["next"] is None and page["previous"] is None
    assert [w["id"] for w in page["results"]] == [first["id"], second["id"]]
    assert all(set(w) == PROJECT_WEBHOOK_FIELDS for w in page["results"])
    paged = admin.get(hooks_url(pid), params={"page_size": 1}).json()
    assert paged["count"] == 2 and len(paged["results"]) == 1 and paged["next"]

    got = admin.get(hooks_url(pid, first["id"]))
    assert got.status_code == 200
    assert got.json() == {k: v for k, v in first.items() if k != "secret"}

    patched = admin.patch(
        hooks_url(pid, first["id"]),
        json={
            "url": "https://hooks.example.com/v2",
            "events": ["task.deleted", "task.deleted"],
            "headers": {"X-Env": "prod"},
            "retry_schedule": [5],
        },
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["url"] == "https://hooks.example.com/v2"
    assert body["events"] == ["task.deleted"]
    assert body["headers"] == {"X-Env": "prod"} and body["retry_schedule"] == [5.0]
    assert body["updated_at"] >= first["updated_at"]
    reset = admin.patch(hooks_url(pid, first["id"]), json={"retry_schedule": None})
    assert reset.json()["retry_schedule"] is None

    deleted = admin.delete(hooks_url(pid, first["id"]))
    assert deleted.status_code == 204 and deleted.content == b""
    assert admin.get(hooks_url(pid, first["id"])).status_code == 404
    assert admin.get(hooks_url(pid)).json()["count"] == 1
    assert admin.delete(hooks_url(pid, first["id"])).status_code == 404


def test_webhook_of_another_project_is_not_found(admin: Actor, project: dict[str, Any]) -> None:
    other = admin.post("/api/v1/projects/", json={"name": "Other"}).json()
    hook = create_project_webhook(admin, other["id"])
    for method in ("get", "patch", "delete"):
        kwargs: dict[str, Any] = {"json": {"is_active": False}} if method == "patch" else {}
        response = getattr(admin, method)(hooks_url(project["id"], hook["id"]), **kwargs)
        assert response.status_code == 404, (method, response.text)
    assert admin.get(hooks_url(project["id"], "not-a-uuid")).status_code == 422


# --- roles ---------------------------------------------------------------------------------------


def _calls(pid: str, hook_id: str, delivery_id: str) -> dict[str, tuple[str, str, Any]]:
    return {
        "list": ("get", hooks_url(pid), None),
        "view": ("get", hooks_url(pid, hook_id), None),
        "deliveries": ("get", hooks_url(pid, hook_id, "deliveries"), None),
        "create": ("post", hooks_url(pid), TRUEPPM_EXAMPLE),
        "patch": ("patch", hooks_url(pid, hook_id), {"events": ["task.updated"]}),
        "test": ("post", hooks_url(pid, hook_id, "test"), {"event": "task.created"}),
        "redeliver": (
            "post",
            hooks_url(pid, hook_id, "deliveries", delivery_id, "redeliver"),
            None,
        ),
        "delete": ("delete", hooks_url(pid, hook_id), None),
    }


READS = {"list", "view", "deliveries"}
SUCCESS = {"post": {201, 202}, "get": {200}, "patch": {200}, "delete": {204}}


@pytest.mark.parametrize("role", [1, 2, 3, 4, "org_admin", "non_member", "other_org"])
def test_role_matrix(
    role: int | str, admin: Actor, make_actor: ActorFactory, project: dict[str, Any], db: Db
) -> None:
    pid = project["id"]
    hook = create_project_webhook(admin, pid)
    admin.post(f"/api/v1/projects/{pid}/tasks/", json={"name": "A", "duration": 1})
    delivery = db.deliveries(hook["id"])[0]
    db.fail_delivery(delivery["id"])

    if role == "other_org":
        actor = make_actor(is_org_admin=True)
    elif role == "org_admin":
        actor = make_actor(organization_id=admin.organization_id, is_org_admin=True)
    else:
        actor = make_actor(organization_id=admin.organization_id)
        if isinstance(role, int):
            added = admin.post(
                f"/api/v1/projects/{pid}/members/", json={"user_id": str(actor.id), "role": role}
            )
            assert added.status_code == 201, added.text

    for name, (method, url, body) in _calls(pid, hook["id"], str(delivery["id"])).items():
        kwargs = {"json": body} if body is not None else {}
        response = getattr(actor, method)(url, **kwargs)
        if role in ("non_member", "other_org"):
            expected = {404}
        elif role == "org_admin" or role == 4 or name in READS:
            expected = SUCCESS[method]
        else:
            expected = {403}
        assert response.status_code in expected, (role, name, response.text)
        if response.status_code == 403:
            assert "Admin" in response.json()["detail"]


def test_unauthenticated_is_401(client: TestClient, project: dict[str, Any]) -> None:
    assert client.get(hooks_url(project["id"])).status_code == 401
    assert client.post(hooks_url(project["id"]), json=TRUEPPM_EXAMPLE).status_code == 401


# --- refused input -------------------------------------------------------------------------------


def _refused(actor: Actor, pid: str, body: dict[str, Any], field: str) -> str:
    response = actor.post(hooks_url(pid), json=body)
    assert response.status_code == 422, response.text
    payload = response.json()
    assert any(e["field"].startswith(field) for e in payload["errors"]), payload
    return str(payload["detail"])


def test_unknown_event_is_refused_naming_the_valid_ones(
    admin: Actor, project: dict[str, Any], db: Db
) -> None:
    detail = _refused(
        admin,
        project["id"],
        {**TRUEPPM_EXAMPLE, "events": ["task.created", "task.exploded"]},
        "events",
    )
    assert "task.exploded" in detail
    assert all(name in detail for name in CATALOG)
    assert db.webhook_rows() == []


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://hooks.example.com/x", "http or https"),
        ("hooks.example.com/no-scheme", "http or https"),
        ("javascript:alert(1)", "http or https"),
        ("https://user:pass@hooks.example.com/", "user name or password"),
        ("https:///nohost", "host"),
        ("http://169.254.169.254/latest/meta-data", "169.254.169.254"),
        ("http://224.0.0.1/", "multicast"),
    ],
)
def test_bad_urls_are_refused_with_the_reason(
    admin: Actor, project: dict[str, Any], db: Db, url: str, reason: str
) -> None:
    detail = _refused(admin, project["id"], {**TRUEPPM_EXAMPLE, "url": url}, "url")
    assert reason in detail
    assert db.webhook_rows() == []


@pytest.fixture
def strict_client(engine: Engine, settings: Settings) -> Iterator[TestClient]:
    """The app with the default SSRF policy: no private targets."""
    strict = settings.model_copy(update={"allow_private_targets": False})
    with TestClient(create_app(strict, engine)) as client:
        yield client


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:8080/hook", "loopback"),
        ("http://localhost/hook", "loopback"),
        ("http://10.1.2.3/hook", "private"),
        ("http://[::1]/hook", "loopback"),
        ("http://2130706433/hook", "loopback"),
        ("http://100.64.0.1/hook", "carrier-grade NAT"),
    ],
)
def test_private_targets_are_refused_unless_allowed(
    admin: Actor,
    project: dict[str, Any],
    strict_client: TestClient,
    db: Db,
    url: str,
    reason: str,
) -> None:
    response = strict_client.post(
        hooks_url(project["id"]), json={**TRUEPPM_EXAMPLE, "url": url}, headers=admin.headers
    )
    assert response.status_code == 422, response.text
    assert reason in response.json()["detail"]
    assert response.json()["errors"][0]["field"] == "url"
    # The same URL is accepted where private targets are allowed (the test settings).
    allowed = admin.post(hooks_url(project["id"]), json={**TRUEPPM_EXAMPLE, "url": url})
    assert allowed.status_code == 201, allowed.text
    # ... and a PATCH to it is refused the same way, leaving the webhook as it was.
    hook = create_project_webhook(admin, project["id"])
    patched = strict_client.patch(
        hooks_url(project["id"], hook["id"]), json={"url": url}, headers=admin.headers
    )
    assert patched.status_code == 422
    assert admin.get(hooks_url(project["id"], hook["id"])).json()["url"] == hook["url"]
    # Public names that do not resolve yet are accepted: delivery checks every address.
    assert (
        strict_client.post(
            hooks_url(project["id"]), json=TRUEPPM_EXAMPLE, headers=admin.headers
        ).status_code
        == 201
    )
    assert len(db.webhook_rows()) == 3


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "text/plain"},
        {"X-TruePPM-Signature": "sha256=forged"},
        {"webhook-signature": "v1,forged"},
        {"X-Planwire-Delivery": "x"},
        {"User-Agent": "mine"},
        {"Host": "evil.example"},
        {"Bad Header": "x"},
        {"X-Ok": "line\nbreak"},
        {"X-Dup": "a", "x-dup": "b"},
        {"": "empty"},
    ],
)
def test_bad_custom_headers_are_refused(
    admin: Actor, project: dict[str, Any], db: Db, headers: dict[str, str]
) -> None:
    _refused(admin, project["id"], {**TRUEPPM_EXAMPLE, "headers": headers}, "headers")
    assert db.webhook_rows() == []


@pytest.mark.parametrize(
    "schedule",
    [[-1], [1] * 26, [86401], ["10"], [True], [None], "10, 60", [float("inf")]],
)
def test_bad_retry_schedules_are_refused(
    admin: Actor, project: dict[str, Any], db: Db, schedule: Any
) -> None:
    body = {**TRUEPPM_EXAMPLE, "retry_schedule": schedule}
    if schedule == [float("inf")]:
        response = admin.client.post(
            hooks_url(project["id"]),
            content=b'{"url": "https://hooks.example.com/x", "retry_schedule": [1e999]}',
            headers={**admin.headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 422, response.text
    else:
        _refused(admin, project["id"], body, "retry_schedule")
    assert db.webhook_rows() == []


def test_retry_schedule_limits_are_accepted(admin: Actor, project: dict[str, Any]) -> None:
    longest = create_project_webhook(admin, project["id"], retry_schedule=[86400] * 25)
    assert longest["retry_schedule"] == [86400.0] * 25
    none = create_project_webhook(admin, project["id"], retry_schedule=[])
    assert none["retry_schedule"] == []


@pytest.mark.parametrize(
    ("fmt", "secret"),
    [
        ("standard", "your-shared-secret"),
        ("standard", "whsec_not base64!"),
        ("standard", "whsec_c2hvcnQ="),
        ("trueppm", "short"),
        ("trueppm", " padded-secret "),
        ("exepron", "x" * 257),
    ],
)
def test_bad_secrets_are_refused(
    admin: Actor, project: dict[str, Any], db: Db, fmt: str, secret: str
) -> None:
    detail = _refused(
        admin, project["id"], {**TRUEPPM_EXAMPLE, "format": fmt, "secret": secret}, "secret"
    )
    assert secret not in detail
    assert db.webhook_rows() == []


@pytest.mark.parametrize(
    "body",
    [
        {"secret": "your-shared-secret"},
        {**TRUEPPM_EXAMPLE, "format": "xml"},
        {**TRUEPPM_EXAMPLE, "is_active": "yes"},
        {**TRUEPPM_EXAMPLE, "events": "task.created"},
        {**TRUEPPM_EXAMPLE, "unexpected": 1},
        {**TRUEPPM_EXAMPLE, "url": ""},
    ],
)
def test_malformed_bodies_are_refused(
    admin: Actor, project: dict[str, Any], db: Db, body: dict[str, Any]
) -> None:
    response = admin.post(hooks_url(project["id"]), json=body)
    assert response.status_code == 422, response.text
    assert response.json()["errors"]
    assert db.webhook_rows() == []


def test_refused_patch_changes_nothing(admin: Actor, project: dict[str, Any]) -> None:
    hook = create_project_webhook(admin, project["id"])
    url = hooks_url(project["id"], hook["id"])
    before = admin.get(url).json()
    for body in (
        {"events": ["nope"]},
        {"url": "ftp://x"},
        {"url": None},
        {"headers": {"Content-Type": "x"}},
        {"retry_schedule": [-5]},
        {"secret": "short"},
        {"format": "standard"},  # the current secret is not a whsec_ secret
        {"is_active": None},
    ):
        response = admin.patch(url, json=body)
        assert response.status_code == 422, (body, response.text)
    assert admin.get(url).json() == before


def test_malformed_json_is_400(admin: Actor, project: dict[str, Any]) -> None:
    response = admin.client.post(
        hooks_url(project["id"]),
        content=b'{"url": ',
        headers={**admin.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 400


# --- deliveries, test and redelivery -------------------------------------------------------------

DELIVERY_FIELDS = {
    "id",
    "event",
    "event_id",
    "is_test",
    "status",
    "response_status",
    "attempt_count",
    "last_error",
    "created_at",
    "updated_at",
    "completed_at",
    "next_attempt_at",
    "attempts",
}


def test_documented_deliveries_listing(admin: Actor, project: dict[str, Any], db: Db) -> None:
    pid = project["id"]
    hook = create_project_webhook(admin, pid)
    admin.post(f"/api/v1/projects/{pid}/tasks/", json={"name": "A", "duration": 2})
    response = admin.get(f"/api/v1/projects/{pid}/webhooks/{hook['id']}/deliveries/")
    assert response.status_code == 200, response.text
    page = response.json()
    assert set(page) == {"count", "next", "previous", "results"}
    # task.created and schedule.recalculated, newest first.
    assert page["count"] == 2
    events = {d["event"] for d in page["results"]}
    assert events == {"task.created", "schedule.recalculated"}
    first = page["results"][0]
    assert set(first) == DELIVERY_FIELDS
    assert first["status"] == "pending" and first["attempt_count"] == 0
    assert first["response_status"] is None and first["attempts"] == []
    assert first["next_attempt_at"] is not None and first["completed_at"] is None

    created = next(d for d in db.deliveries(hook["id"]) if d["event_type"] == "task.created")
    db.fail_delivery(created["id"])
    failed = admin.get(hooks_url(pid, hook["id"], "deliveries"), params={"status": "failed"})
    [record] = failed.json()["results"]
    assert record["id"] == str(created["id"]) and record["status"] == "failed"
    assert record["response_status"] == 500 and record["attempt_count"] == 4
    assert [a["attempt_number"] for a in record["attempts"]] == [1, 2, 3, 4]
    attempt = record["attempts"][0]
    assert set(attempt) == {
        "attempt_number",
        "started_at",
        "duration_ms",
        "request_headers",
        "response_status",
        "response_body",
        "error_kind",
        "error",
    }
    assert attempt["response_status"] == 500 and attempt["duration_ms"] == 12.5
    assert attempt["response_body"] == "Internal Server Error"
    assert attempt["request_headers"]["X-TruePPM-Signature"] == "<redacted>"
    assert admin.get(hooks_url(pid, hook["id"], "deliveries"), params={"page_size": 1}).json()[
        "next"
    ]
    assert (
        admin.get(hooks_url(pid, hook["id"], "deliveries"), params={"status": "lost"}).status_code
        == 422
    )


def test_redeliver_resets_a_failed_delivery(admin: Actor, project: dict[str, Any], db: Db) -> None:
    pid = project["id"]
    hook = create_project_webhook(admin, pid, events=["task.created"])
    admin.post(f"/api/v1/projects/{pid}/tasks/", json={"name": "A", "duration": 2})
    [delivery] = db.deliveries(hook["id"])
    url = hooks_url(pid, hook["id"], "deliveries", str(delivery["id"]), "redeliver")

    pending = admin.post(url)
    assert pending.status_code == 409 and "pending" in pending.json()["detail"]

    db.fail_delivery(delivery["id"])
    response = admin.post(url)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["id"] == str(delivery["id"])
    assert body["status"] == "pending" and body["completed_at"] is None
    assert body["response_status"] is None and body["last_error"] is None
    assert body["next_attempt_at"] is not None
    assert len(body["attempts"]) == 4  # the history stays
    [row] = db.deliveries(hook["id"])
    assert row["id"] == delivery["id"] and row["status"] == "pending"
    assert row["event_id"] == delivery["event_id"]
    assert row["next_attempt_at"] >= delivery["created_at"]

    assert admin.post(url).status_code == 409
    db.succeed_delivery(delivery["id"])
    assert "success" in admin.post(url).json()["detail"]
    missing = hooks_url(pid, hook["id"], "deliveries", str(uuid.uuid4()), "redeliver")
    assert admin.post(missing).status_code == 404
    other = create_project_webhook(admin, pid)
    wrong_hook = hooks_url(pid, other["id"], "deliveries", str(delivery["id"]), "redeliver")
    assert admin.post(wrong_hook).status_code == 404


def test_test_delivery_goes_to_that_webhook_only(
    admin: Actor, project: dict[str, Any], db: Db
) -> None:
    pid = project["id"]
    hook = create_project_webhook(admin, pid, events=["task.updated"])
    bystander = create_project_webhook(admin, pid, events=[])
    account = admin.post(
        "/api/v1/webhooks", json={"url": "https://api.example.com/x", "events": []}
    ).json()

    response = admin.post(hooks_url(pid, hook["id"], "test"))
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["is_test"] is True and body["event"] == "task.updated"
    assert body["status"] == "pending" and body["attempts"] == []
    [row] = db.deliveries(hook["id"])
    assert row["is_test"] is True and str(row["id"]) == body["id"]
    assert row["data"]["project_id"] == pid  # the catalog example, in this project
    assert db.deliveries(bystander["id"]) == [] and db.deliveries(account["id"]) == []

    given = {"taskId": 123, "taskName": "Test Task", "bufferConsumption": 95}
    custom = admin.post(
        hooks_url(pid, hook["id"], "test"), json={"event": "task.red", "data": given}
    )
    assert custom.status_code == 202 and custom.json()["event"] == "task.red"
    rows = db.deliveries(hook["id"])
    assert len(rows) == 2 and rows[-1]["data"] == given and rows[-1]["event_type"] == "task.red"
    listed = admin.get(hooks_url(pid, hook["id"], "deliveries")).json()
    assert [d["event"] for d in listed["results"]] == ["task.red", "task.updated"]
    assert all(d["is_test"] for d in listed["results"])

    unknown = admin.post(hooks_url(pid, hook["id"], "test"), json={"event": "nope"})
    assert unknown.status_code == 422 and "task.red" in unknown.json()["detail"]
    admin.patch(hooks_url(pid, hook["id"]), json={"is_active": False})
    paused = admin.post(hooks_url(pid, hook["id"], "test"))
    assert paused.status_code == 409 and "paused" in paused.json()["detail"]
    assert len(db.deliveries(hook["id"])) == 2
