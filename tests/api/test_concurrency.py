"""Concurrent writers of one project: the checks a write makes (no cycle, no duplicate link)
hold when two requests race, because writers of a project are serialised (a row lock on
PostgreSQL, BEGIN IMMEDIATE on SQLite)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from tests.api.conftest import create_project, create_task
from tests.conftest import Actor

ROUNDS = 8


def race(*calls: Callable[[], Any]) -> list[int]:
    """Run ``calls`` at the same moment in threads; their status codes, sorted."""
    barrier = threading.Barrier(len(calls))
    statuses: list[int] = []

    def run(call: Callable[[], Any]) -> None:
        barrier.wait()
        statuses.append(call().status_code)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(statuses)


def test_two_links_closing_a_cycle_at_once_one_is_refused(admin: Actor) -> None:
    pid = create_project(admin)["id"]
    url = f"/api/v1/projects/{pid}/dependencies/"
    for _ in range(ROUNDS):
        a = create_task(admin, pid, "A")["id"]
        b = create_task(admin, pid, "B")["id"]
        statuses = race(
            lambda a=a, b=b: admin.post(url, json={"predecessor_id": a, "successor_id": b}),
            lambda a=a, b=b: admin.post(url, json={"predecessor_id": b, "successor_id": a}),
        )
        assert statuses == [201, 409]
    assert admin.get(f"{url}?page_size=1").json()["count"] == ROUNDS
    assert admin.post(f"/api/v1/projects/{pid}/schedule/recalculate/").status_code == 200


def test_the_same_link_twice_at_once_is_created_once(admin: Actor) -> None:
    pid = create_project(admin)["id"]
    url = f"/api/v1/projects/{pid}/dependencies/"
    for _ in range(ROUNDS):
        a = create_task(admin, pid, "A")["id"]
        b = create_task(admin, pid, "B")["id"]
        body = {"predecessor_id": a, "successor_id": b}
        statuses = race(
            lambda body=body: admin.post(url, json=body),
            lambda body=body: admin.post(url, json=body),
        )
        assert statuses == [201, 409]
    assert admin.get(f"{url}?page_size=1").json()["count"] == ROUNDS
