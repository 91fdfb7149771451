"""Webhook secrets: shown once, never again, encrypted at rest, rotated with a grace period
for the standard format; custom header credentials are not shown either."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import Engine, select

from planwire.config import Settings
from planwire.db import make_session_factory, utcnow
from planwire.secrets_store import SecretBox, load_key
from planwire.webhooks.models import Webhook
from planwire.webhooks.service import ROTATION_GRACE, signing_secrets
from tests.conftest import Actor
from tests.webhooks.conftest import Db, create_account_webhook, create_project_webhook, hooks_url

STANDARD_1 = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
STANDARD_2 = "whsec_" + "C2FVsBQIhrscChlQIMV+b5sSYspob7oD"


def _secrets(engine: Engine, settings: Settings, webhook_id: str) -> list[str]:
    with make_session_factory(engine)() as session:
        webhook = session.get(Webhook, uuid.UUID(webhook_id))
        assert webhook is not None
        return signing_secrets(webhook, load_key(settings))


def test_secret_is_shown_once_and_never_again(
    admin: Actor, project: dict[str, Any], db: Db
) -> None:
    pid = project["id"]
    hook = create_project_webhook(admin, pid, events=["task.created"])
    account = create_account_webhook(admin)
    generated = create_account_webhook(admin, secret=None)
    secrets = [hook["secret"], account["secret"], generated["secret"]]
    admin.post(f"/api/v1/projects/{pid}/tasks/", json={"name": "A", "duration": 1})
    admin.post(f"/api/v1/webhooks/{account['id']}/test", json={"event": "task.red"})
    [delivery] = db.deliveries(hook["id"])
    db.fail_delivery(delivery["id"])

    responses = [
        admin.get(hooks_url(pid)),
        admin.get(hooks_url(pid, hook["id"])),
        admin.get(hooks_url(pid, hook["id"], "deliveries")),
        admin.patch(hooks_url(pid, hook["id"]), json={"events": []}),
        admin.post(hooks_url(pid, hook["id"], "test")),
        admin.post(hooks_url(pid, hook["id"], "deliveries", str(delivery["id"]), "redeliver")),
        admin.get("/api/v1/webhooks"),
        admin.get(f"/api/v1/webhooks/{account['id']}"),
        admin.put(f"/api/v1/webhooks/{account['id']}", json={"name": "n"}),
        admin.patch(f"/api/v1/webhooks/{account['id']}/pause"),
        admin.patch(f"/api/v1/webhooks/{account['id']}/resume"),
        admin.get(f"/api/v1/webhooks/{account['id']}/logs?$top=50"),
        admin.get(f"/api/v1/webhooks/{generated['id']}"),
        admin.get("/openapi.json"),
    ]
    for response in responses:
        assert response.status_code < 300, response.text
        assert "secret" not in _keys(response.json()) or response.request.url.path.endswith(
            "openapi.json"
        )
        for secret in secrets:
            assert secret not in response.text


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def test_database_holds_no_clear_secret(
    admin: Actor, project: dict[str, Any], db: Db, engine: Engine, settings: Settings
) -> None:
    hooks = [
        create_project_webhook(admin, project["id"]),
        create_project_webhook(admin, project["id"], secret=None, format="standard"),
        create_account_webhook(admin),
        create_account_webhook(admin, secret=None),
    ]
    rotated = admin.patch(
        hooks_url(project["id"], hooks[0]["id"]), json={"secret": "a-brand-new-secret"}
    )
    assert rotated.status_code == 200
    secrets = [h["secret"] for h in hooks] + ["a-brand-new-secret"]
    rows = db.webhook_rows()
    assert len(rows) == 4
    for row in rows:
        stored = " ".join(str(value) for value in row.values())
        for secret in secrets:
            assert secret not in stored
    box = SecretBox(load_key(settings))
    by_id = {str(row["id"]): box.open(row["secrets_ciphertext"]) for row in rows}
    assert by_id[hooks[0]["id"]] == ["a-brand-new-secret"]  # trueppm: replaced at once
    for hook in hooks[1:]:
        assert by_id[hook["id"]] == [hook["secret"]]


def test_standard_rotation_keeps_the_previous_secret_for_a_day(
    admin: Actor, project: dict[str, Any], engine: Engine, settings: Settings
) -> None:
    pid = project["id"]
    hook = create_project_webhook(admin, pid, format="standard", secret=STANDARD_1)
    assert _secrets(engine, settings, hook["id"]) == [STANDARD_1]

    response = admin.patch(hooks_url(pid, hook["id"]), json={"secret": STANDARD_2})
    assert response.status_code == 200 and "secret" not in response.json()
    assert _secrets(engine, settings, hook["id"]) == [STANDARD_2, STANDARD_1]
    # The same secret again is no rotation.
    admin.patch(hooks_url(pid, hook["id"]), json={"secret": STANDARD_2})
    assert _secrets(engine, settings, hook["id"]) == [STANDARD_2, STANDARD_1]

    key = load_key(settings)
    with make_session_factory(engine)() as session:
        webhook = session.scalars(select(Webhook)).one()
        later = utcnow() + ROTATION_GRACE + timedelta(minutes=1)
        assert signing_secrets(webhook, key, later) == [STANDARD_2]
        sooner = utcnow() + ROTATION_GRACE - timedelta(minutes=5)
        assert signing_secrets(webhook, key, sooner) == [STANDARD_2, STANDARD_1]
        assert Fernet(key).extract_timestamp(webhook.secrets_ciphertext.encode()) > 0

    third = "whsec_" + "dGhpcmQtc2VjcmV0LW9mLTI0LWJ5dGVzISE="
    admin.patch(hooks_url(pid, hook["id"]), json={"secret": third})
    assert _secrets(engine, settings, hook["id"]) == [third, STANDARD_2]
    # Other changes do not touch the secrets or restart the grace period.
    with make_session_factory(engine)() as session:
        before = session.scalars(select(Webhook)).one().secrets_ciphertext
    admin.patch(hooks_url(pid, hook["id"]), json={"events": ["task.created"]})
    with make_session_factory(engine)() as session:
        assert session.scalars(select(Webhook)).one().secrets_ciphertext == before


def test_format_change_checks_the_secret(
    admin: Actor, project: dict[str, Any], engine: Engine, settings: Settings
) -> None:
    pid = project["id"]
    hook = create_project_webhook(admin, pid)
    refused = admin.patch(hooks_url(pid, hook["id"]), json={"format": "standard"})
    assert refused.status_code == 422 and "new secret" in refused.json()["detail"]
    assert hook["secret"] not in refused.text
    moved = admin.patch(
        hooks_url(pid, hook["id"]), json={"format": "standard", "secret": STANDARD_1}
    )
    assert moved.status_code == 200 and moved.json()["format"] == "standard"
    assert _secrets(engine, settings, hook["id"]) == [STANDARD_1]  # no grace across formats
    admin.patch(hooks_url(pid, hook["id"]), json={"secret": STANDARD_2})
    back = admin.patch(hooks_url(pid, hook["id"]), json={"format": "exepron"})
    assert back.status_code == 200  # a whsec_ secret is a valid exepron secret
    assert _secrets(engine, settings, hook["id"]) == [STANDARD_2]


def test_account_put_rotates_the_secret(admin: Actor, engine: Engine, settings: Settings) -> None:
    hook = create_account_webhook(admin)
    response = admin.put(f"/api/v1/webhooks/{hook['id']}", json={"secret": "rotated-secret-1"})
    assert response.status_code == 200 and "secret" not in response.json()
    assert _secrets(engine, settings, hook["id"]) == ["rotated-secret-1"]
    refused = admin.put(f"/api/v1/webhooks/{hook['id']}", json={"secret": "short"})
    assert refused.status_code == 422
    assert _secrets(engine, settings, hook["id"]) == ["rotated-secret-1"]


def test_custom_header_credentials_are_not_shown(
    admin: Actor, project: dict[str, Any], db: Db
) -> None:
    pid = project["id"]
    headers = {"Authorization": "Bearer receiver-token", "X-Team": "platform"}
    hook = create_project_webhook(admin, pid, headers=headers)
    assert hook["headers"] == {"Authorization": "<redacted>", "X-Team": "platform"}
    assert "receiver-token" not in admin.get(hooks_url(pid, hook["id"])).text
    # Sending the headers back as shown keeps the stored credential.
    kept = admin.patch(
        hooks_url(pid, hook["id"]), json={"headers": {**hook["headers"], "X-Team": "core"}}
    )
    assert kept.status_code == 200
    [row] = db.webhook_rows()
    assert row["headers"] == {"Authorization": "Bearer receiver-token", "X-Team": "core"}
