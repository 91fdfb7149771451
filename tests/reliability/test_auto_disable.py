"""SPEC 5: an endpoint failing for ``PLANWIRE_AUTO_DISABLE_AFTER_HOURS`` is disabled, shows so
in both APIs and can be enabled again (its waiting deliveries then go out); a failed delivery
can be redelivered by hand, with the same delivery id; attempts older than
``PLANWIRE_ATTEMPT_RETENTION_DAYS`` are purged. All through the running worker of the app.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, update

from planwire.app import create_app
from planwire.config import Settings
from planwire.db import utcnow
from planwire.webhooks.models import Delivery, DeliveryAttempt
from tests.conftest import Actor
from tests.reliability.helpers import (
    account_hooks,
    project_hooks,
    register_account_hook,
    register_project_hook,
    wait_until,
)
from tests.support.receiver import Receiver, Reply

FAST_WORKER = {"poll_interval": 0.1, "maintenance_interval": 0.1}


@contextlib.contextmanager
def _client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine, run_worker=True, worker_options=FAST_WORKER)) as c:
        yield c


def _as(client: TestClient, admin: Actor) -> Actor:
    """The same user, through ``client``."""
    return Actor(admin.id, admin.email, admin.token, admin.organization_id, client)


def _delivery_statuses(engine: Engine) -> dict[str, str]:
    with engine.connect() as connection:
        return {str(i): s for i, s in connection.execute(select(Delivery.id, Delivery.status))}


def test_a_failing_endpoint_is_disabled_shown_so_and_enabled_again(
    env_settings: Callable[..., Settings],
    engine: Engine,
    admin: Actor,
    project: dict[str, Any],
    receiver: Receiver,
) -> None:
    settings = env_settings(ALLOW_PRIVATE_TARGETS="true", AUTO_DISABLE_AFTER_HOURS=str(1 / 3600))
    assert settings.auto_disable_after_hours == pytest.approx(1 / 3600)  # one second
    receiver.program("/down", Reply(status=503, body=b"down for maintenance"))
    pid = project["id"]
    with _client(settings, engine) as client:
        user = _as(client, admin)
        project_hook = register_project_hook(
            user, pid, receiver.url("/down"), retry_schedule=[0.2] * 25
        ).json()
        account_hook = register_account_hook(
            user, receiver.url("/down"), retrySchedule=[0.2] * 25
        ).json()
        user.post(project_hooks(pid, project_hook["id"], "test"))
        user.post(account_hooks(account_hook["id"], "test"), json={"event": "task.updated"})

        def both_disabled() -> tuple[dict[str, Any], dict[str, Any]] | None:
            shown_project = user.get(project_hooks(pid, project_hook["id"])).json()
            shown_account = user.get(account_hooks(account_hook["id"])).json()
            if shown_project["disabled_at"] and shown_account["disabledAt"]:
                return shown_project, shown_account
            return None

        shown_project, shown_account = wait_until(both_disabled, what="both to be disabled")
        assert shown_project["is_active"] is False
        assert shown_project["disabled_reason"].startswith("disabled automatically: ")
        assert "failed for 0.000277778 hours" in shown_project["disabled_reason"]
        assert shown_account["isActive"] is False
        assert shown_account["disabledReason"].startswith("disabled automatically: ")
        listed = user.get(account_hooks()).json()["value"]
        assert [(h["isActive"], bool(h["disabledReason"])) for h in listed] == [(False, True)]
        listed = user.get(project_hooks(pid)).json()["results"]
        assert [(h["is_active"], bool(h["disabled_reason"])) for h in listed] == [(False, True)]
        # A disabled webhook takes no new events and its retries wait.
        assert user.post(project_hooks(pid, project_hook["id"], "test")).status_code == 409
        assert set(_delivery_statuses(engine).values()) == {"pending"}

        # The receiver is fixed; enabling again (PATCH is_active / resume) sends what waited.
        receiver.program("/down", Reply(status=200))
        patched = user.patch(project_hooks(pid, project_hook["id"]), json={"is_active": True})
        assert patched.status_code == 200, patched.text
        assert (patched.json()["is_active"], patched.json()["disabled_reason"]) == (True, None)
        resumed = user.patch(account_hooks(account_hook["id"], "resume"))
        assert resumed.status_code == 200, resumed.text
        assert (resumed.json()["isActive"], resumed.json()["disabledReason"]) == (True, None)
        wait_until(
            lambda: set(_delivery_statuses(engine).values()) == {"success"},
            what="the waiting deliveries to go out",
        )
        (entry,) = user.get(account_hooks(account_hook["id"], "logs")).json()["value"]
        assert entry["status"] == "success" and entry["retries"] >= 1


def test_a_failed_delivery_is_redelivered_by_hand_with_the_same_id(
    settings: Settings,
    engine: Engine,
    admin: Actor,
    project: dict[str, Any],
    receiver: Receiver,
) -> None:
    receiver.program("/flaky", Reply(status=500, body=b"broken"))
    pid = project["id"]
    with _client(settings, engine) as client:
        user = _as(client, admin)
        project_hook = register_project_hook(
            user, pid, receiver.url("/flaky"), retry_schedule=[]
        ).json()
        account_hook = register_account_hook(user, receiver.url("/flaky"), retrySchedule=[]).json()
        user.post(project_hooks(pid, project_hook["id"], "test"))
        user.post(account_hooks(account_hook["id"], "test"), json={"event": "task.updated"})
        wait_until(
            lambda: list(_delivery_statuses(engine).values()) == ["failed", "failed"],
            what="both deliveries to fail",
        )
        (failed,) = user.get(project_hooks(pid, project_hook["id"], "deliveries")).json()["results"]
        (logged,) = user.get(account_hooks(account_hook["id"], "logs")).json()["value"]
        assert (failed["status"], logged["status"]) == ("failed", "failed")

        receiver.program("/flaky", Reply(status=200))
        again = user.post(
            project_hooks(pid, project_hook["id"], "deliveries", failed["id"], "redeliver")
        )
        assert again.status_code == 202, again.text
        again = user.post(account_hooks(account_hook["id"], "logs", logged["id"], "redeliver"))
        assert again.status_code == 202, again.text
        wait_until(
            lambda: list(_delivery_statuses(engine).values()) == ["success", "success"],
            what="both redeliveries",
        )
        (done,) = user.get(project_hooks(pid, project_hook["id"], "deliveries")).json()["results"]
        assert [a["response_status"] for a in done["attempts"]] == [500, 200]
        assert [a["attempt_number"] for a in done["attempts"]] == [1, 2]
        # A delivery that did not fail cannot be redelivered.
        refused = user.post(
            project_hooks(pid, project_hook["id"], "deliveries", failed["id"], "redeliver")
        )
        assert refused.status_code == 409
    ids = [r.headers["X-Planwire-Delivery"] for r in receiver.requests]
    assert sorted(ids) == sorted([failed["id"], failed["id"], logged["id"], logged["id"]])


def test_attempts_past_the_retention_period_are_purged(
    env_settings: Callable[..., Settings],
    engine: Engine,
    admin: Actor,
    project: dict[str, Any],
    receiver: Receiver,
) -> None:
    settings = env_settings(ALLOW_PRIVATE_TARGETS="true", ATTEMPT_RETENTION_DAYS="2")
    assert settings.attempt_retention_days == 2
    pid = project["id"]
    hook = register_project_hook(admin, pid, receiver.url("/ok"), retry_schedule=[]).json()
    for _ in range(3):
        assert admin.post(project_hooks(pid, hook["id"], "test")).status_code == 202
    with _client(settings, engine) as client:

        def attempts() -> int:
            with engine.connect() as connection:
                return int(connection.scalar(select(func.count(DeliveryAttempt.id))) or 0)

        wait_until(lambda: attempts() == 3, what="three attempts")
        with engine.begin() as connection:  # two of them age past the retention period
            aged = [
                row.id
                for row in connection.execute(
                    select(DeliveryAttempt.id).order_by(DeliveryAttempt.id).limit(2)
                )
            ]
            connection.execute(
                update(DeliveryAttempt)
                .where(DeliveryAttempt.id.in_(aged))
                .values(started_at=utcnow() - timedelta(days=2, minutes=1))
            )
        wait_until(lambda: attempts() == 1, what="the purge of the old attempts")
        shown = _as(client, admin).get(project_hooks(pid, hook["id"], "deliveries")).json()
    # The deliveries stay; only their old attempts are gone.
    assert sorted(len(d["attempts"]) for d in shown["results"]) == [0, 0, 1]
    assert {d["status"] for d in shown["results"]} == {"success"}
    assert uuid.UUID(shown["results"][0]["id"])
