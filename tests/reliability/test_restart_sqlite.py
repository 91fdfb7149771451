"""Restart safety on SQLite: ``planwire serve`` (API and worker in one process, a temporary
SQLite file) is killed with SIGKILL in the middle of a burst of API changes, then started
again. Every committed change has its events and every event is delivered; nothing rolled back
(a bulk import refused mid-transaction, after its tasks, links and events were written) exists
or is sent; duplicates only for deliveries that were leased at the kill.
"""

from __future__ import annotations

import json
import signal
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from planwire.auth import service as auth_service
from planwire.db import make_engine, make_session_factory
from planwire.events.models import Event
from planwire.migrations import upgrade
from planwire.webhooks.models import Delivery
from tests.conftest import TEST_SECRET_KEY
from tests.reliability.helpers import (
    child_env,
    free_port,
    planwire_process,
    wait_for_port,
    wait_until,
)
from tests.support.receiver import Receiver, Reply

THREADS = 3
KILL_AFTER = 90  # successful changes before the kill
ROLLED_BACK = "ROLLED-BACK"


@dataclass
class Burst:
    """What the clients saw: changes answered 2xx (committed), refusals, and requests that got
    no answer (in flight at the kill: committed or not, either is fine)."""

    created: dict[str, str] = field(default_factory=dict)  # task id -> name
    renamed: list[str] = field(default_factory=list)  # names set by a 2xx PATCH
    refused: int = 0
    unanswered: int = 0
    successes_after_a_refusal: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def committed(self) -> int:
        return len(self.created) + len(self.renamed)


def _client_loop(base: str, token: str, project_id: str, number: int, burst: Burst) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30.0) as client:
        step = 0
        while not burst.stop.is_set():
            step += 1
            name = f"T-{number}-{step}"
            try:
                if step % 5 == 0:
                    # Valid tasks and a valid-looking cycle: written, events queued, then
                    # refused by the recalculation; the whole transaction rolls back.
                    response = client.post(
                        f"/api/v1/projects/{project_id}/tasks/bulk/",
                        json={
                            "tasks": [
                                {"ref": "a", "name": f"{ROLLED_BACK}-{name}-a", "duration": 2},
                                {"ref": "b", "name": f"{ROLLED_BACK}-{name}-b", "duration": 3},
                            ],
                            "dependencies": [
                                {"predecessor": "a", "successor": "b"},
                                {"predecessor": "b", "successor": "a"},
                            ],
                        },
                    )
                    assert 400 <= response.status_code < 500, response.text
                    with burst.lock:
                        burst.refused += 1
                    continue
                response = client.post(
                    f"/api/v1/projects/{project_id}/tasks/", json={"name": name, "duration": 2}
                )
                assert response.status_code == 201, response.text
                task_id = response.json()["id"]
                with burst.lock:
                    burst.created[task_id] = name
                    burst.successes_after_a_refusal += 1 if burst.refused else 0
                renamed = f"{name}-renamed"
                response = client.patch(f"/api/v1/tasks/{task_id}/", json={"name": renamed})
                assert response.status_code == 200, response.text
                with burst.lock:
                    burst.renamed.append(renamed)
            except httpx.TransportError:  # the server was killed (or is gone)
                with burst.lock:
                    burst.unanswered += 1
                return


def _prepare(path: Path) -> tuple[str, str]:
    """A migrated database with an organization admin and a token; returns (token, org id)."""
    engine = make_engine(f"sqlite:///{path}")
    try:
        upgrade(engine)
        with make_session_factory(engine)() as session:
            organization = auth_service.create_organization(session, name="Burst")
            user = auth_service.create_user(
                session,
                organization_id=organization.id,
                email="burst@example.com",
                name="Burst",
                is_org_admin=True,
            )
            _, token = auth_service.create_token(session, user=user, name="burst")
            session.commit()
            return token, str(organization.id)
    finally:
        engine.dispose()


def _rows(engine: Engine) -> tuple[list[Any], list[Any]]:
    with engine.connect() as connection:
        events = connection.execute(select(Event.id, Event.type, Event.data)).all()
        deliveries = connection.execute(
            select(Delivery.id, Delivery.event_id, Delivery.status, Delivery.lease_owner)
        ).all()
    return list(events), list(deliveries)


@pytest.mark.slow
def test_serve_killed_mid_burst_delivers_every_committed_event_and_nothing_rolled_back(
    tmp_path: Path, record_property: Any
) -> None:
    path = tmp_path / "planwire.db"
    token, _ = _prepare(path)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = child_env(
        {
            "database_url": f"sqlite:///{path}",
            "secret_key": TEST_SECRET_KEY,
            "allow_private_targets": "true",
            "lease_seconds": "2",
            "delivery_timeout": "5",
        }
    )
    serve = ["serve", "--host", "127.0.0.1", "--port", str(port)]
    headers = {"Authorization": f"Bearer {token}"}
    burst = Burst()
    engine = make_engine(f"sqlite:///{path}")
    try:
        with Receiver(default=Reply(delay=0.2)) as receiver:
            with planwire_process(serve, env, tmp_path / "serve-1.log") as first:
                wait_for_port(port, first)
                with httpx.Client(base_url=base, headers=headers, timeout=30.0) as client:
                    hook = client.post(
                        "/api/v1/webhooks/",
                        json={"name": "all", "url": receiver.url("/all"), "secret": "burst-secret"},
                    )
                    assert hook.status_code == 201, hook.text
                    project = client.post(
                        "/api/v1/projects/", json={"name": "Burst", "start_date": "2026-03-02"}
                    )
                    assert project.status_code == 201, project.text
                project_id = project.json()["id"]
                threads = [
                    threading.Thread(
                        target=_client_loop, args=(base, token, project_id, n, burst), daemon=True
                    )
                    for n in range(THREADS)
                ]
                for thread in threads:
                    thread.start()

                def mid_burst() -> bool:
                    with burst.lock:
                        if burst.successes_after_a_refusal == 0 or burst.committed < KILL_AFTER:
                            return False
                    _, deliveries = _rows(engine)  # and deliveries are in flight
                    return any(d.lease_owner for d in deliveries)

                wait_until(mid_burst, 60, "the burst to be under way")
                first.send_signal(signal.SIGKILL)
                first.wait(timeout=10)
                burst.stop.set()
                for thread in threads:
                    thread.join(timeout=40)
                assert not any(thread.is_alive() for thread in threads)
            _, at_kill = _rows(engine)
            leased_at_kill = {str(row.id) for row in at_kill if row.lease_owner}

            with planwire_process(serve, env, tmp_path / "serve-2.log") as second:
                wait_for_port(port, second)

                def all_sent() -> bool:
                    _, deliveries = _rows(engine)
                    return bool(deliveries) and all(d.status == "success" for d in deliveries)

                wait_until(all_sent, 60, "every delivery after the restart")
            received = Counter(r.headers["X-Planwire-Delivery"] for r in receiver.requests)
            bodies = [r.body for r in receiver.requests]
        events, deliveries = _rows(engine)
    finally:
        engine.dispose()

    # Nothing committed is lost: every 2xx change has its event.
    created = {e.data["id"] for e in events if e.type == "task.created"}
    names = {e.data["name"] for e in events if e.type in ("task.created", "task.updated")}
    assert set(burst.created) <= created
    assert set(burst.renamed) <= names
    # Every event has its delivery, and every delivery arrived (at least once).
    assert sorted(d.event_id for d in deliveries) == sorted(e.id for e in events)
    delivery_ids = {str(d.id) for d in deliveries}
    assert set(received) == delivery_ids, "lost or unknown deliveries"
    duplicated = {delivery_id for delivery_id, count in received.items() if count > 1}
    assert duplicated <= leased_at_kill
    # Nothing rolled back exists or was sent, though the refusals came in the middle.
    assert burst.refused > 0 and burst.successes_after_a_refusal > 0
    assert not any(ROLLED_BACK in json.dumps(e.data) for e in events)
    assert not any(ROLLED_BACK.encode() in body for body in bodies)
    assert all(uuid.UUID(delivery_id) for delivery_id in received)

    summary = (
        f"{burst.committed} committed changes, {burst.refused} refused, "
        f"{burst.unanswered} unanswered at the kill; {len(events)} events, "
        f"delivered {len(delivery_ids)}, lost 0, duplicated {len(duplicated)} "
        f"(leased at the kill: {len(leased_at_kill)})"
    )
    print("\n" + summary)
    record_property("restart_sqlite", summary)
