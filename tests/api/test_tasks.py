"""Tasks: create, list, get, patch, delete, and the consistency of their progress fields."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Dump, create_link, create_project, create_task
from tests.conftest import Actor, ActorFactory

STATUS_DATE = "2026-01-07"


@pytest.fixture
def active(admin: Actor) -> dict[str, Any]:
    """An Active project whose status date ("now" of execution) is fixed."""
    project = create_project(admin, "Active", status_date=STATUS_DATE)
    response = admin.patch(f"/api/v1/projects/{project['id']}/", json={"status": "Active"})
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_create_answers_201_and_get_returns_the_same(admin: Actor, project: dict[str, Any]) -> None:
    response = admin.post(
        f"/api/v1/projects/{project['id']}/tasks/",
        json={
            "name": "Design",
            "duration": 5,
            "safe_duration": 8,
            "resource": "ux",
            "assignee_id": str(admin.id),
            "start_no_earlier_than": "2026-01-07",
        },
    )
    assert response.status_code == 201, response.text
    task = response.json()
    assert task["project_id"] == project["id"]
    assert (task["status"], task["percent_complete"], task["remaining_duration"]) == (
        "NotStarted",
        0,
        5,
    )
    assert task["is_milestone"] is False
    assert (task["actual_start"], task["actual_finish"]) == (None, None)
    assert (task["es"], task["ef"], task["start_date"]) == (2, 7, "2026-01-07")
    assert task["resource"] == "ux" and task["assignee_id"] == str(admin.id)
    assert admin.get(f"/api/v1/tasks/{task['id']}/").json() == task


def test_zero_duration_is_a_milestone(admin: Actor, project: dict[str, Any]) -> None:
    task = create_task(admin, project["id"], "Ship", duration=0)
    assert task["is_milestone"] is True and task["remaining_duration"] == 0


def test_list_is_paginated_in_creation_order(admin: Actor, project: dict[str, Any]) -> None:
    ids = [create_task(admin, project["id"], f"T{i}")["id"] for i in range(3)]
    url = f"/api/v1/projects/{project['id']}/tasks/"
    page = admin.get(f"{url}?page_size=2").json()
    assert page["count"] == 3 and [t["id"] for t in page["results"]] == ids[:2]
    assert [t["id"] for t in admin.get(page["next"]).json()["results"]] == ids[2:]
    assert [t["id"] for t in admin.get(url).json()["results"]] == ids


def test_patch_changes_fields_and_reschedules(admin: Actor, project: dict[str, Any]) -> None:
    pid = project["id"]
    a = create_task(admin, pid, "A", duration=2)
    b = create_task(admin, pid, "B", duration=1)
    create_link(admin, pid, a["id"], b["id"])
    patched = admin.patch(
        f"/api/v1/tasks/{a['id']}/", json={"name": "A2", "duration": 4, "resource": ""}
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["name"], body["duration"], body["remaining_duration"]) == ("A2", 4, 4)
    assert body["resource"] is None
    assert admin.get(f"/api/v1/tasks/{a['id']}/").json() == body
    assert admin.get(f"/api/v1/tasks/{b['id']}/").json()["es"] == 4


def test_delete_removes_the_task_and_its_links(admin: Actor, project: dict[str, Any]) -> None:
    pid = project["id"]
    a = create_task(admin, pid, "A", duration=2)
    b = create_task(admin, pid, "B", duration=1)
    link = create_link(admin, pid, a["id"], b["id"])
    assert admin.delete(f"/api/v1/tasks/{a['id']}/").status_code == 204
    assert admin.get(f"/api/v1/tasks/{a['id']}/").status_code == 404
    assert admin.get(f"/api/v1/dependencies/{link['id']}/").status_code == 404
    assert admin.get(f"/api/v1/tasks/{b['id']}/").json()["es"] == 0
    assert admin.delete(f"/api/v1/tasks/{a['id']}/").status_code == 404


def test_assignee_must_belong_to_the_organization(
    admin: Actor, project: dict[str, Any], make_actor: ActorFactory, dump: Dump
) -> None:
    stranger = make_actor()
    task = create_task(admin, project["id"])
    before = dump()
    for response in (
        admin.post(
            f"/api/v1/projects/{project['id']}/tasks/",
            json={"name": "x", "duration": 1, "assignee_id": str(stranger.id)},
        ),
        admin.patch(f"/api/v1/tasks/{task['id']}/", json={"assignee_id": str(stranger.id)}),
    ):
        assert response.status_code == 422
        assert "assignee_id" in response.json()["detail"]
    assert dump() == before


# --- progress: status, percent_complete, remaining_duration and actual dates -----------------


def progress(task: dict[str, Any]) -> tuple[Any, ...]:
    return (
        task["status"],
        task["percent_complete"],
        task["remaining_duration"],
        task["actual_start"],
        task["actual_finish"],
    )


def test_progress_moves_through_its_states_consistently(
    admin: Actor, active: dict[str, Any]
) -> None:
    task = create_task(admin, active["id"], "Build", duration=4)
    url = f"/api/v1/tasks/{task['id']}/"

    def patch(body: dict[str, Any]) -> tuple[Any, ...]:
        response = admin.patch(url, json=body)
        assert response.status_code == 200, response.text
        assert admin.get(url).json() == response.json()
        return progress(response.json())

    # Half done: in progress since the status date, half the duration remains.
    assert patch({"percent_complete": 50}) == ("InProgress", 50, 2, STATUS_DATE, None)
    # Remaining duration drives the percentage.
    assert patch({"remaining_duration": 1}) == ("InProgress", 75, 1, STATUS_DATE, None)
    # Completed: 100 %, nothing remains, finished on the status date.
    assert patch({"status": "Completed"}) == ("Completed", 100, 0, STATUS_DATE, STATUS_DATE)
    # Reopened by a lower percentage.
    assert patch({"percent_complete": 25}) == ("InProgress", 25, 3, STATUS_DATE, None)
    # Back to not started: everything reset.
    assert patch({"status": "NotStarted"}) == ("NotStarted", 0, 4, None, None)
    # An actual finish completes it, with the given dates.
    assert patch({"actual_start": "2026-01-05", "actual_finish": "2026-01-06"}) == (
        "Completed",
        100,
        0,
        "2026-01-05",
        "2026-01-06",
    )


def test_progress_given_at_creation_is_reconciled(admin: Actor, active: dict[str, Any]) -> None:
    pid = active["id"]
    done = create_task(admin, pid, "Done", duration=3, status="Completed")
    assert progress(done) == ("Completed", 100, 0, STATUS_DATE, STATUS_DATE)
    started = create_task(admin, pid, "Started", duration=10, remaining_duration=4)
    assert progress(started) == ("InProgress", 60, 4, STATUS_DATE, None)
    dated = create_task(admin, pid, "Dated", duration=2, actual_start="2026-01-06")
    assert progress(dated) == ("InProgress", 0, 2, "2026-01-06", None)
    milestone = create_task(admin, pid, "Gate", duration=0, percent_complete=100)
    assert progress(milestone) == ("Completed", 100, 0, STATUS_DATE, STATUS_DATE)


def test_changing_the_duration_of_a_task_not_started_moves_its_remaining_duration(
    admin: Actor, project: dict[str, Any]
) -> None:
    task = create_task(admin, project["id"], duration=3)
    patched = admin.patch(f"/api/v1/tasks/{task['id']}/", json={"duration": 6}).json()
    assert (patched["duration"], patched["remaining_duration"]) == (6, 6)


@pytest.mark.parametrize(
    ("create", "patch", "field"),
    [
        ({}, {"status": "Completed", "percent_complete": 50}, "percent_complete"),
        ({}, {"status": "Completed", "remaining_duration": 2}, "remaining_duration"),
        ({}, {"status": "InProgress", "percent_complete": 100}, "percent_complete"),
        ({}, {"status": "InProgress", "remaining_duration": 0}, "remaining_duration"),
        ({}, {"status": "NotStarted", "percent_complete": 10}, "percent_complete"),
        ({}, {"status": "NotStarted", "actual_start": "2026-01-05"}, "actual_start"),
        ({}, {"status": "InProgress", "actual_finish": "2026-01-06"}, "actual_finish"),
        (
            {},
            {"actual_start": "2026-01-07", "actual_finish": "2026-01-06"},
            "actual_finish",
        ),
        ({"duration": 0}, {"status": "InProgress"}, "status"),
        ({"duration": 0}, {"percent_complete": 50}, "status"),
    ],
)
def test_inconsistent_progress_is_refused_naming_the_field(
    admin: Actor,
    active: dict[str, Any],
    dump: Dump,
    create: dict[str, Any],
    patch: dict[str, Any],
    field: str,
) -> None:
    task = create_task(admin, active["id"], **create)
    before = dump()
    patched = admin.patch(f"/api/v1/tasks/{task['id']}/", json=patch)
    assert patched.status_code == 422, patched.text
    assert field in patched.json()["detail"]
    created = admin.post(
        f"/api/v1/projects/{active['id']}/tasks/",
        json={"name": "new", "duration": 3, **create, **patch},
    )
    assert created.status_code == 422, created.text
    assert field in created.json()["detail"]
    assert dump() == before
