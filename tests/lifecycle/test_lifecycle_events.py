"""Lifecycle events fire once, on their transition, with the Exepron document's data shapes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Actor
from tests.lifecycle.conftest import EventsOf, add_tasks, count_types


@pytest.fixture
def chain_project(admin: Actor) -> tuple[str, dict[str, str]]:
    """A(10) -> B(10) -> M(milestone): cut-and-paste project buffer of 10 days."""
    project = admin.post(
        "/api/v1/projects/",
        json={
            "name": "Chain",
            "start_date": "2026-01-05",
            "status_date": "2026-01-05",
            "target_end_date": "2026-02-20",
        },
    ).json()
    ids = add_tasks(
        admin,
        project["id"],
        [
            {"ref": "a", "name": "A", "duration": 10, "resource": "dev"},
            {"ref": "b", "name": "B", "duration": 10, "resource": "dev"},
            {"ref": "m", "name": "Launch", "duration": 0},
        ],
        [{"predecessor": "a", "successor": "b"}, {"predecessor": "b", "successor": "m"}],
    )
    return project["id"], ids


def test_project_status_events(
    admin: Actor, chain_project: tuple[str, dict[str, str]], events_of: EventsOf
) -> None:
    pid, _ = chain_project
    assert admin.patch(f"/api/v1/projects/{pid}/", json={"status": "Active"}).status_code == 200
    started = events_of("project.started")
    assert len(started) == 1
    data = started[0].data
    assert data["projectId"] == pid and data["projectName"] == "Chain"
    assert data["startDate"] == "2026-01-05" and data["targetEndDate"] == "2026-02-20"
    assert data["bufferSize"] == 10 and data["criticalChainLength"] == 20
    assert set(data) >= {"managerId", "managerName", "managerEmail", "teamSize"}

    assert admin.patch(f"/api/v1/projects/{pid}/", json={"status": "Frozen"}).status_code == 200
    frozen = events_of("project.frozen")
    assert len(frozen) == 1 and frozen[0].data["newStatus"] == "Frozen"
    changes = [e.data for e in events_of("project.status_changed")]
    assert [(c["previousStatus"], c["newStatus"]) for c in changes] == [
        ("Planning", "Active"),
        ("Active", "Frozen"),
    ]
    assert changes[0]["changedBy"]["email"] == admin.email
    # A transition that is not allowed is refused and records nothing.
    before = len(events_of())
    refused = admin.patch(f"/api/v1/projects/{pid}/", json={"status": "Planning"})
    assert refused.status_code == 409 and "Frozen" in refused.json()["detail"]
    assert len(events_of()) == before
    # Recalculating while the state holds fires no transition event again.
    admin.post(f"/api/v1/projects/{pid}/schedule/recalculate/")
    counts = count_types(events_of())
    assert counts["project.started"] == 1 and counts["project.frozen"] == 1


def test_task_events_ready_completed_milestone(
    admin: Actor, chain_project: tuple[str, dict[str, str]], events_of: EventsOf
) -> None:
    pid, ids = chain_project
    admin.patch(f"/api/v1/projects/{pid}/", json={"status": "Active"})
    ready = events_of("task.ready")
    assert [e.data["taskId"] for e in ready] == [ids["a"]]

    admin.patch(f"/api/v1/tasks/{ids['a']}/", json={"status": "InProgress"})
    admin.patch(f"/api/v1/tasks/{ids['a']}/", json={"percent_complete": 100})
    completed = events_of("task.completed")
    assert len(completed) == 1 and completed[0].data["taskId"] == ids["a"]
    statuses = [
        (e.data["previousStatus"], e.data["newStatus"]) for e in events_of("task.status_changed")
    ]
    assert statuses == [("NotStarted", "InProgress"), ("InProgress", "Completed")]
    assert [e.data["taskId"] for e in events_of("task.ready")] == [ids["a"], ids["b"]]

    admin.patch(
        f"/api/v1/tasks/{ids['b']}/",
        json={"status": "Completed", "actual_start": "2026-01-06", "actual_finish": "2026-01-20"},
    )
    admin.patch(
        f"/api/v1/tasks/{ids['m']}/", json={"status": "Completed", "actual_finish": "2026-01-20"}
    )
    achieved = events_of("milestone.achieved")
    assert len(achieved) == 1
    data = achieved[0].data
    assert data["milestoneId"] == ids["m"] and data["milestoneName"] == "Launch"
    assert data["achievedDate"] == "2026-01-20"
    # Planned at the baseline: the end of B, offset 20 -> Friday 30 January.
    assert data["plannedDate"] == "2026-01-30"
    assert data["daysEarly"] == 10
    assert data["linkedDeliverables"] == [{"id": ids["b"], "name": "B", "status": "Delivered"}]

    admin.post(f"/api/v1/projects/{pid}/schedule/recalculate/")
    counts = count_types(events_of())
    assert counts["task.ready"] == 3 and counts["task.completed"] == 3
    assert counts["milestone.achieved"] == 1


def test_buffer_events_early_warning_then_red(
    admin: Actor, chain_project: tuple[str, dict[str, str]], events_of: EventsOf
) -> None:
    pid, ids = chain_project
    admin.patch(f"/api/v1/projects/{pid}/", json={"status": "Active"})
    # A runs 6 days late: the chain ends at 26 instead of 20 -> 60 % of the 10-day buffer.
    response = admin.patch(
        f"/api/v1/tasks/{ids['a']}/", json={"status": "InProgress", "remaining_duration": 16}
    )
    assert response.status_code == 200
    assert response.json()["zone"] == "yellow"
    assert response.json()["buffer_consumption"] == 60.0
    warnings = events_of("project.early_warning")
    assert len(warnings) == 1
    warning = warnings[0].data
    assert warning["warningLevel"] == "yellow" and warning["bufferConsumption"] == 60.0
    assert warning["projectId"] == pid and warning["originalTarget"] == "2026-02-20"
    assert {t["id"] for t in warning["criticalTasks"]} == {ids["a"], ids["b"], ids["m"]}
    assert warning["recommendations"]
    changed = events_of("task.duration_changed")
    assert [
        (e.data["previousRemainingDuration"], e.data["newRemainingDuration"]) for e in changed
    ] == [(10, 16)]
    assert not events_of("task.red")

    # Four more days late: 100 % consumed, red.
    admin.patch(f"/api/v1/tasks/{ids['a']}/", json={"remaining_duration": 20})
    red = events_of("task.red")
    assert {e.data["taskId"] for e in red} == {ids["a"], ids["b"], ids["m"]}
    first = next(e.data for e in red if e.data["taskId"] == ids["a"])
    assert first["previousStatus"] == "yellow" and first["bufferConsumption"] == 100.0
    assert first["criticalChainImpact"] is True and first["remainingDuration"] == 20
    project = admin.get(f"/api/v1/projects/{pid}/").json()
    assert project["project_buffer"]["zone"] == "red"
    assert project["project_buffer"]["consumption"] == 100.0

    # Transitions only: recalculating again fires neither event.
    admin.post(f"/api/v1/projects/{pid}/schedule/recalculate/")
    counts = count_types(events_of())
    assert counts["project.early_warning"] == 1 and counts["task.red"] == 3
    history = admin.get(f"/api/v1/projects/{pid}/buffer-history/").json()
    assert [p["zone"] for p in history][-2:] == ["yellow", "red"]


def test_task_updated_carries_the_fresh_schedule(
    admin: Actor, chain_project: tuple[str, dict[str, str]], events_of: EventsOf
) -> None:
    _, ids = chain_project
    admin.patch(f"/api/v1/tasks/{ids['a']}/", json={"duration": 12})
    updated = events_of("task.updated")
    assert len(updated) == 1
    assert updated[0].data == admin.get(f"/api/v1/tasks/{ids['a']}/").json()
    assert updated[0].data["ef"] == 12
    b = admin.get(f"/api/v1/tasks/{ids['b']}/").json()
    assert b["es"] == 12
    # A PATCH that changes nothing records nothing.
    before = len(events_of())
    admin.patch(f"/api/v1/tasks/{ids['a']}/", json={"duration": 12})
    assert len(events_of()) == before


def _data(events: list[Any]) -> list[dict[str, Any]]:
    return [e.data for e in events]
