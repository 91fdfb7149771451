"""``planwire webhooks list|test|redeliver|logs`` on the database, with the worker of the app
delivering to a real receiver on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from typer.testing import CliRunner

from planwire.cli import app as cli
from planwire.config import Settings
from tests.conftest import Actor
from tests.devx.conftest import account_webhook, project_webhook, worker_app
from tests.support.receiver import Receiver, Reply

SECRET = "webhooks-cli-secret"


@pytest.fixture
def app(settings: Settings, engine: Engine) -> FastAPI:
    return worker_app(settings, engine)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as rx:
        yield rx


def run(settings: Settings, *args: str) -> Any:
    env = {
        "PLANWIRE_DATABASE_URL": settings.database_url,
        "PLANWIRE_SECRET_KEY": settings.secret_key or "",
        "COLUMNS": "200",
    }
    return CliRunner().invoke(cli, ["webhooks", *args], env=env)


def run_json(settings: Settings, *args: str) -> Any:
    result = run(settings, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_list_account_and_project_webhooks(
    settings: Settings, client: Any, admin: Actor, project: dict[str, Any], receiver: Receiver
) -> None:
    account = account_webhook(admin, receiver.url("/a"), SECRET, events=["task.red"])
    hooked = project_webhook(admin, project["id"], receiver.url("/p"), SECRET)
    rows = run_json(settings, "list", "--organization", str(admin.organization_id))
    assert [row["id"] for row in rows] == [account["id"]]
    assert rows[0]["format"] == "exepron" and rows[0]["events"] == ["task.red"]
    assert "secret" not in json.dumps(rows).lower()
    rows = run_json(settings, "list", "--project", project["id"])
    assert [row["id"] for row in rows] == [hooked["id"]]
    assert rows[0]["format"] == "trueppm" and rows[0]["project_id"] == project["id"]
    table = run(settings, "list", "--project", project["id"])
    assert table.exit_code == 0 and "Project webhooks" in table.output
    assert hooked["id"] in table.output and "active" in table.output


def test_test_redeliver_and_logs(
    settings: Settings, client: Any, admin: Actor, project: dict[str, Any], receiver: Receiver
) -> None:
    hook = account_webhook(admin, receiver.url("/hook"), SECRET)
    receiver.enqueue("/hook", Reply(status=404))  # exepron does not retry a 4xx: failed
    sent = run_json(settings, "test", hook["id"], "--event", "task.red", "--wait", "20")
    assert sent["status"] == "failed" and sent["response_status"] == 404
    first = receiver.wait_for(1)[0]
    assert first.headers["X-Planwire-Event"] == "task.red"
    assert first.headers["X-Planwire-Delivery"] == sent["delivery_id"]

    again = run_json(settings, "redeliver", hook["id"], sent["delivery_id"], "--wait", "20")
    assert again["status"] == "success" and again["response_status"] == 200
    second = receiver.wait_for(2)[1]
    assert second.headers["X-Planwire-Delivery"] == sent["delivery_id"]  # the same id

    rows = run_json(settings, "logs", hook["id"])
    assert len(rows) == 1 and rows[0]["id"] == sent["delivery_id"] and rows[0]["is_test"]
    assert [a["response_status"] for a in rows[0]["attempts"]] == [404, 200]
    assert run_json(settings, "logs", hook["id"], "--status", "failed") == []
    table = run(settings, "logs", hook["id"], "--attempts")
    assert table.exit_code == 0
    assert "task.red (test)" in table.output and "attempt 2" in table.output

    redone = run(settings, "redeliver", hook["id"], sent["delivery_id"])
    assert redone.exit_code == 2 and "only a failed delivery can be redelivered" in redone.output


def test_project_webhooks_and_errors(
    settings: Settings, client: Any, admin: Actor, project: dict[str, Any], receiver: Receiver
) -> None:
    hook = project_webhook(admin, project["id"], receiver.url("/p"), SECRET)
    queued = run(settings, "test", hook["id"], "--project", project["id"])
    assert queued.exit_code == 0, queued.output
    assert "test delivery of task.updated queued" in queued.output
    request = receiver.wait_for(1)[0]
    assert request.headers["X-TruePPM-Signature"].startswith("sha256=")

    without = run(settings, "logs", hook["id"])
    assert without.exit_code == 2 and "add --project" in without.output
    unknown = run(settings, "logs", "00000000-0000-0000-0000-000000000000")
    assert unknown.exit_code == 2 and "no account webhook" in unknown.output
    bad_event = run(settings, "test", hook["id"], "--project", project["id"], "--event", "x.y")
    assert bad_event.exit_code == 2 and "unknown event type 'x.y'" in bad_event.output
    other = run(settings, "logs", hook["id"], "--project", "00000000-0000-0000-0000-000000000000")
    assert other.exit_code == 2 and "no webhook" in other.output

    admin.patch(
        f"/api/v1/projects/{project['id']}/webhooks/{hook['id']}/", json={"is_active": False}
    )
    paused = run(settings, "test", hook["id"], "--project", project["id"])
    assert paused.exit_code == 2 and "is paused" in paused.output
