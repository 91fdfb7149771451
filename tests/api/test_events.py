"""The outbox: lifecycle events written in the transaction of their change, with ``data`` equal
to the object as the API returns it; a refused request leaves no event."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, text

from tests.api.conftest import (
    Dump,
    EventsOf,
    MemberFactory,
    create_link,
    create_project,
    create_task,
)
from tests.conftest import Actor

LIFECYCLE = (
    "project.created",
    "task.created",
    "task.updated",
    "task.deleted",
    "dependency.created",
    "dependency.deleted",
)


def test_project_created_carries_the_project_as_get_returns_it(
    admin: Actor, events_of: EventsOf
) -> None:
    project = create_project(admin, "Outbox")
    (event,) = events_of("project.created")
    assert str(event["project_id"]) == project["id"]
    assert event["data"] == project
    assert event["data"] == admin.get(f"/api/v1/projects/{project['id']}/").json()


def test_task_events_carry_the_task_as_get_returns_it(
    admin: Actor, project: dict[str, Any], events_of: EventsOf
) -> None:
    pid = project["id"]
    first = create_task(admin, pid, "First", duration=2)
    (created,) = events_of("task.created")
    assert created["data"] == first == admin.get(f"/api/v1/tasks/{first['id']}/").json()
    assert str(created["project_id"]) == pid

    patched = admin.patch(f"/api/v1/tasks/{first['id']}/", json={"duration": 5, "name": "F"})
    (updated,) = events_of("task.updated")
    assert updated["data"] == patched.json() == admin.get(f"/api/v1/tasks/{first['id']}/").json()
    assert updated["data"]["ef"] == 5  # the state after recalculation

    # A change that changes nothing is not an update.
    admin.patch(f"/api/v1/tasks/{first['id']}/", json={"name": "F"})
    assert len(events_of("task.updated")) == 1

    last_state = admin.get(f"/api/v1/tasks/{first['id']}/").json()
    assert admin.delete(f"/api/v1/tasks/{first['id']}/").status_code == 204
    (deleted,) = events_of("task.deleted")
    assert deleted["data"] == last_state


def test_dependency_events_carry_the_dependency(
    admin: Actor, project: dict[str, Any], events_of: EventsOf
) -> None:
    pid = project["id"]
    a, b, c = (create_task(admin, pid, n)["id"] for n in "ABC")
    first = create_link(admin, pid, a, b, type="SS", lag=-1)
    second = create_link(admin, pid, b, c)
    created = events_of("dependency.created")
    assert [e["data"] for e in created] == [first, second]
    assert first == admin.get(f"/api/v1/dependencies/{first['id']}/").json()

    assert admin.delete(f"/api/v1/dependencies/{first['id']}/").status_code == 204
    assert [e["data"] for e in events_of("dependency.deleted")] == [first]
    # Deleting a task deletes its links, each with its event.
    admin.delete(f"/api/v1/tasks/{c}/")
    assert [e["data"] for e in events_of("dependency.deleted")] == [first, second]


def test_bulk_import_records_every_task_and_link(
    admin: Actor, project: dict[str, Any], events_of: EventsOf
) -> None:
    response = admin.post(
        f"/api/v1/projects/{project['id']}/tasks/bulk/",
        json={
            "tasks": [
                {"ref": "a", "name": "A", "duration": 2},
                {"ref": "b", "name": "B", "duration": 3},
            ],
            "dependencies": [{"predecessor": "a", "successor": "b", "type": "FF", "lag": 1}],
        },
    )
    assert response.status_code == 201
    body = response.json()
    tasks = {e["data"]["id"]: e["data"] for e in events_of("task.created")}
    for task in body["tasks"]:
        assert tasks[task["id"]] == admin.get(f"/api/v1/tasks/{task['id']}/").json()
    assert [e["data"] for e in events_of("dependency.created")] == body["dependencies"]


def test_refused_requests_leave_no_event(
    admin: Actor,
    project: dict[str, Any],
    make_member: MemberFactory,
    events_of: EventsOf,
    dump: Dump,
) -> None:
    pid = project["id"]
    a = create_task(admin, pid, "A")["id"]
    b = create_task(admin, pid, "B")["id"]
    create_link(admin, pid, a, b)
    viewer = make_member(pid, 1)
    before = events_of()
    state = dump()
    refused = [
        admin.post(
            f"/api/v1/projects/{pid}/dependencies/", json={"predecessor_id": b, "successor_id": a}
        ),  # cycle
        admin.post(
            f"/api/v1/projects/{pid}/tasks/bulk/",
            json={
                "tasks": [{"ref": "x", "name": "X", "duration": 1}],
                "dependencies": [{"predecessor": "x", "successor": "nope"}],
            },
        ),
        admin.patch(f"/api/v1/tasks/{a}/", json={"status": "Completed", "percent_complete": 5}),
        admin.post(f"/api/v1/projects/{pid}/tasks/", json={"name": "", "duration": 1}),
        admin.patch(f"/api/v1/projects/{pid}/", json={"status": "Complete"}),
        viewer.post(f"/api/v1/projects/{pid}/tasks/", json={"name": "V", "duration": 1}),
        viewer.delete(f"/api/v1/tasks/{a}/"),
        viewer.patch(f"/api/v1/projects/{pid}/", json={"name": "mine"}),
    ]
    assert [r.status_code for r in refused] == [409, 422, 422, 422, 409, 403, 403, 403]
    assert events_of() == before
    assert dump() == state


def test_events_are_written_in_the_transaction_of_their_change(
    admin: Actor, project: dict[str, Any], engine: Engine, db_url: str
) -> None:
    task = create_task(admin, project["id"], "Atomic")
    with engine.connect() as connection:
        count = connection.scalar(text("SELECT count(*) FROM events WHERE type = 'task.created'"))
        assert count == 1
        if db_url.startswith("postgresql"):
            # Rows written by one transaction carry its id in xmin.
            task_xmin = connection.scalar(
                text("SELECT xmin::text FROM tasks WHERE name = 'Atomic'")
            )
            event_xmin = connection.scalar(
                text("SELECT xmin::text FROM events WHERE type = 'task.created'")
            )
            assert event_xmin == task_xmin
    assert task["id"]


def test_only_lifecycle_events_of_the_request_are_written(
    admin: Actor, project: dict[str, Any], events_of: EventsOf
) -> None:
    """Reads write no event; each change writes its own."""
    pid = project["id"]
    count = len(events_of())
    admin.get(f"/api/v1/projects/{pid}/")
    admin.get(f"/api/v1/projects/{pid}/tasks/")
    admin.get(f"/api/v1/projects/{pid}/schedule/")
    assert len(events_of()) == count
    create_task(admin, pid)
    types = [e["type"] for e in events_of()[count:] if e["type"] in LIFECYCLE]
    assert types == ["task.created"]
