"""A recalculation compares its results with the computed values this process remembers
storing, and only while the project's stored revision token says they are still the stored
ones: after another writer or a rolled-back transaction it reads them from the database."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import Engine, select, update

from planwire.db import make_session_factory
from planwire.projects.models import Project
from planwire.scheduling import service
from planwire.tasks.models import Task
from tests.conftest import Actor
from tests.lifecycle.conftest import add_tasks


def stored(engine: Engine, project_id: str) -> dict[str, tuple[Any, ...]]:
    """Every task's computed columns as the database holds them."""
    columns = [getattr(Task, name) for name in service.COMPUTED]
    with engine.connect() as connection:
        rows = connection.execute(
            select(Task.id, *columns).where(Task.project_id == uuid.UUID(project_id))
        ).all()
    return {str(row[0]): tuple(row[1:]) for row in rows}


def revision(engine: Engine, project_id: str) -> str | None:
    with engine.connect() as connection:
        return connection.scalar(
            select(Project.schedule_revision).where(Project.id == uuid.UUID(project_id))
        )


def remembered(engine: Engine, project_id: str) -> dict[str, tuple[Any, ...]] | None:
    values = service._remembered.get(uuid.UUID(project_id), revision(engine, project_id))
    if values is None:
        return None
    return {service._id_text(raw): computed for raw, computed in values.items()}


@pytest.fixture
def plan(admin: Actor, project: dict[str, Any]) -> dict[str, str]:
    return add_tasks(
        admin,
        project["id"],
        [
            {"ref": "a", "name": "A", "duration": 3, "resource": "dev"},
            {"ref": "b", "name": "B", "duration": 2, "resource": "dev"},
            {"ref": "c", "name": "C", "duration": 4},
            {"ref": "d", "name": "D", "duration": 0},
        ],
        [
            {"predecessor": "a", "successor": "b"},
            {"predecessor": "a", "successor": "c", "type": "SS", "lag": 1},
            {"predecessor": "b", "successor": "d"},
            {"predecessor": "c", "successor": "d"},
        ],
    )


def test_remembered_values_are_the_stored_ones_after_each_change(
    admin: Actor, project: dict[str, Any], plan: dict[str, str], engine: Engine
) -> None:
    pid = project["id"]
    revisions = {revision(engine, pid)}
    changes: list[tuple[str, dict[str, Any]]] = [
        ("c", {"duration": 9}),
        ("a", {"resource": "ux"}),
        ("b", {"start_no_earlier_than": "2026-02-02"}),
        ("a", {"status": "InProgress", "actual_start": "2026-01-05", "remaining_duration": 5}),
    ]
    for ref, body in changes:
        assert admin.patch(f"/api/v1/tasks/{plan[ref]}/", json=body).status_code == 200
        assert remembered(engine, pid) == stored(engine, pid), body
        revisions.add(revision(engine, pid))
    assert admin.patch(f"/api/v1/projects/{pid}/", json={"status": "Active"}).status_code == 200
    assert remembered(engine, pid) == stored(engine, pid)
    revisions.add(revision(engine, pid))
    assert len(revisions) == len(changes) + 2 and None not in revisions


def test_another_writer_invalidates_what_was_remembered(
    admin: Actor, project: dict[str, Any], plan: dict[str, str], engine: Engine
) -> None:
    """Results stored by another process (another revision token) are read back, so a task
    this process would think unchanged is still written when the stored values differ."""
    pid = project["id"]
    expected = stored(engine, pid)
    with engine.begin() as connection:  # another process stores other results
        connection.execute(update(Task).where(Task.id == uuid.UUID(plan["c"])).values(es=999))
        connection.execute(
            update(Project).where(Project.id == uuid.UUID(pid)).values(schedule_revision="x" * 32)
        )
    assert remembered(engine, pid) is None
    # Renaming D does not recalculate; moving D's duration does, and leaves C where it was.
    response = admin.patch(f"/api/v1/tasks/{plan['d']}/", json={"duration": 1})
    assert response.status_code == 200
    after = stored(engine, pid)
    assert after[plan["c"]] == expected[plan["c"]]  # es=999 was overwritten
    assert remembered(engine, pid) == after


def test_a_rolled_back_recalculation_is_not_trusted(
    admin: Actor, project: dict[str, Any], plan: dict[str, str], engine: Engine
) -> None:
    pid = project["id"]
    before = stored(engine, pid)
    session = make_session_factory(engine)()
    try:
        task = session.get(Task, uuid.UUID(plan["a"]))
        assert task is not None
        task.duration = 20
        project_row = session.get(Project, uuid.UUID(pid))
        assert project_row is not None
        service.recalculate(session, project_row)  # remembers results, then ...
    finally:
        session.rollback()  # ... they are never stored
        session.close()
    assert stored(engine, pid) == before
    assert remembered(engine, pid) is None
    # The same change, committed: results equal to the rolled-back ones must still be written.
    response = admin.patch(f"/api/v1/tasks/{plan['a']}/", json={"duration": 20})
    assert response.status_code == 200
    after = stored(engine, pid)
    assert after[plan["b"]][:2] == (20, 22)  # es, ef of B, after A's 20 days
    assert remembered(engine, pid) == after


def test_remembered_schedules_are_bounded_by_tasks_least_recently_used_first() -> None:
    remembered = service._RememberedSchedules(max_tasks=5)
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    values = {f"t{i}": (i,) for i in range(2)}
    remembered.put(a, "ra", values)
    remembered.put(b, "rb", values)
    assert remembered.get(a, "ra") == values  # a is now the most recently used
    assert remembered.get(a, "other revision") is None
    remembered.put(c, "rc", values)  # 6 tasks > 5: b, the least recently used, goes
    assert remembered.get(b, "rb") is None
    assert remembered.get(a, "ra") == values and remembered.get(c, "rc") == values
    remembered.put(a, "ra2", {f"t{i}": (i,) for i in range(6)})  # larger than the bound
    assert remembered.get(a, "ra") is None and remembered.get(a, "ra2") is None
    assert remembered.get(c, "rc") == values
