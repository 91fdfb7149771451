"""A recalculation compares its results with the computed values this process remembers
storing, and only while the project's stored revision token says they are still the stored
ones: after another writer or a rolled-back transaction it reads them from the database.

When a transaction only edited tasks' own fields, it also takes the inputs it remembers (every
task and link) with the edited tasks' new values, instead of reading them again: whatever the
sequence of changes, the results must equal a recalculation from the database alone."""

from __future__ import annotations

import random
import re
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, select, update

from planwire.db import make_session_factory
from planwire.projects.models import Project
from planwire.scheduling import service
from planwire.tasks.models import Dependency, Task
from planwire.uow import UnitOfWork
from tests.conftest import Actor
from tests.lifecycle.conftest import add_tasks


def stored(engine: Engine, project_id: str) -> dict[str, tuple[Any, ...]]:
    """Every task's computed columns as the database holds them."""
    with engine.connect() as connection:
        return computed_columns(connection, project_id)


def computed_columns(connection: Connection, project_id: str) -> dict[str, tuple[Any, ...]]:
    columns = [getattr(Task, name) for name in service.COMPUTED]
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
    item = service._remembered.get(uuid.UUID(project_id), revision(engine, project_id))
    if item is None:
        return None
    return dict(zip(item.inputs.ids, item.computed, strict=True))


def remembered_inputs_are_stored_ones(engine: Engine, project_id: str) -> bool:
    item = service._remembered.get(uuid.UUID(project_id), revision(engine, project_id))
    assert item is not None
    with engine.connect() as connection:
        return item.inputs == service._Inputs.read(connection, uuid.UUID(project_id))[0]


def schedule_state(engine: Engine, project_id: str) -> dict[str, Any]:
    """What a recalculation stores: every task's computed columns and the project's schedule
    fields (but the time and the list of tasks the last recalculation changed)."""
    with engine.connect() as connection:
        return state_seen_by(connection, project_id)


def state_seen_by(connection: Connection, project_id: str) -> dict[str, Any]:
    row = connection.execute(
        select(
            Project.schedule,
            Project.buffer_consumption,
            Project.chain_completion,
            Project.buffer_zone,
        ).where(Project.id == uuid.UUID(project_id))
    ).one()
    schedule = dict(row.schedule or {})
    schedule.pop("calculated_at", None)
    schedule.pop("changed_tasks", None)
    return {"tasks": computed_columns(connection, project_id), "project": (schedule, *row[1:])}


def recalculated_from_the_database(
    engine: Engine, project_id: str, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """:func:`schedule_state` after a recalculation that remembers nothing, rolled back."""
    with monkeypatch.context() as patch:
        patch.setattr(service, "_remembered", service._RememberedSchedules(max_items=10_000))
        session = make_session_factory(engine)()
        try:
            project_row = session.get(Project, uuid.UUID(project_id))
            assert project_row is not None
            service.recalculate(session, project_row)
            session.flush()
            return state_seen_by(session.connection(), project_id)
        finally:
            session.rollback()
            session.close()


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


def entry(revision: str, tasks: int, links: int) -> service._Remembered:
    raw_ids = [f"t{i}" for i in range(tasks)]
    inputs = service._Inputs(
        raw_ids,
        raw_ids,
        {raw: i for i, raw in enumerate(raw_ids)},
        *([[None] * tasks] * len(service._TASK_FIELDS)),
        *([[0] * links] * 4),
    )
    return service._Remembered(revision, inputs, [(i,) for i in range(tasks)])


def test_remembered_schedules_are_bounded_by_tasks_and_links_least_recently_used_first() -> None:
    remembered = service._RememberedSchedules(max_items=10)
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    small = entry("r", tasks=2, links=1)  # 3 items
    remembered.put(a, small)
    remembered.put(b, small)
    assert remembered.get(a, "r") is small  # a is now the most recently used
    assert remembered.get(a, "other revision") is None
    remembered.put(c, entry("r", tasks=2, links=2))  # 10 items: all three still fit
    assert remembered.get(b, "r") is small
    remembered.put(c, entry("r", tasks=2, links=3))  # 11 > 10: a, the least recently used, goes
    assert remembered.get(a, "r") is None
    assert remembered.get(b, "r") is small and remembered.get(c, "r") is not None
    remembered.put(b, entry("r2", tasks=10, links=1))  # larger than the bound: not kept
    assert remembered.get(b, "r") is None and remembered.get(b, "r2") is None
    assert remembered.get(c, "r") is not None


@pytest.fixture
def statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL sent to the database from now on."""
    sent: list[str] = []

    def record(*args: Any) -> None:
        sent.append(args[2])

    event.listen(engine, "before_cursor_execute", record)
    yield sent
    event.remove(engine, "before_cursor_execute", record)


def test_editing_a_task_recalculates_from_the_remembered_inputs(
    admin: Actor,
    project: dict[str, Any],
    plan: dict[str, str],
    engine: Engine,
    statements: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pid = project["id"]
    assert remembered_inputs_are_stored_ones(engine, pid)
    statements.clear()
    response = admin.patch(f"/api/v1/tasks/{plan['a']}/", json={"duration": 6})
    assert response.status_code == 200
    assert response.json()["ef"] == 6
    assert not [sql for sql in statements if "FROM dependencies" in sql]
    assert not [sql for sql in statements if "FROM tasks WHERE tasks.project_id" in sql]
    # The project's stored schedule (200 KB at 1,000 tasks) is written, not read first.
    assert not [sql for sql in statements if re.search(r"projects\.schedule\b", sql)]
    # The moved tasks' computed columns are written, only those that changed: dates and
    # floats moved, no buffer zone did (no baseline: every zone is green).
    (stored,) = [sql for sql in statements if sql.startswith("UPDATE tasks") and " es = " in sql]
    assert " ef = " in stored and "zone" not in stored
    assert remembered_inputs_are_stored_ones(engine, pid)
    assert schedule_state(engine, pid) == recalculated_from_the_database(engine, pid, monkeypatch)
    # A new link is not an edit of a task's own fields: everything is read again.
    statements.clear()
    response = admin.post(
        f"/api/v1/projects/{pid}/dependencies/",
        json={"predecessor_id": plan["b"], "successor_id": plan["c"]},
    )
    assert response.status_code == 201, response.text
    assert [sql for sql in statements if "FROM dependencies" in sql]
    assert remembered_inputs_are_stored_ones(engine, pid)


def test_a_refused_edit_leaves_the_remembered_inputs_as_stored(
    admin: Actor, project: dict[str, Any], engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An edit whose schedule would end after 9999-12-31 is refused after the remembered
    inputs were patched: they must be a copy, or the next edit would build on a phantom."""
    pid = project["id"]
    refs = add_tasks(
        admin,
        pid,
        [{"ref": f"t{i}", "name": f"T{i}", "duration": 1} for i in range(30)],
        [{"predecessor": f"t{i}", "successor": f"t{i + 1}"} for i in range(29)],
    )
    refused = None
    for i in range(30):
        response = admin.patch(f"/api/v1/tasks/{refs[f't{i}']}/", json={"duration": 100_000})
        if response.status_code == 422:
            refused = i
            break
        assert response.status_code == 200, response.text
    assert refused is not None, "the schedule never reached 9999-12-31"
    assert remembered_inputs_are_stored_ones(engine, pid)
    response = admin.patch(f"/api/v1/tasks/{refs['t0']}/", json={"duration": 2})
    assert response.status_code == 200, response.text
    assert remembered_inputs_are_stored_ones(engine, pid)
    assert schedule_state(engine, pid) == recalculated_from_the_database(engine, pid, monkeypatch)


def random_change(rng: random.Random, admin: Actor, pid: str, tasks: list[str]) -> Any:
    """One random change through the API, of any kind that affects a schedule."""
    task = rng.choice(tasks)
    day = (date(2026, 1, 5) + timedelta(days=rng.randrange(40))).isoformat()
    kind = rng.randrange(12)
    if kind == 0:
        return admin.patch(f"/api/v1/tasks/{task}/", json={"duration": rng.randrange(8)})
    if kind == 1:
        body = {"resource": rng.choice(["dev", "ux", ""]), "safe_duration": rng.randrange(12)}
        return admin.patch(f"/api/v1/tasks/{task}/", json=body)
    if kind == 2:
        body = {"start_no_earlier_than": rng.choice([day, None])}
        return admin.patch(f"/api/v1/tasks/{task}/", json=body)
    if kind == 3:
        body = {"status": "InProgress", "actual_start": day, "remaining_duration": rng.randrange(5)}
        return admin.patch(f"/api/v1/tasks/{task}/", json=body)
    if kind == 4:
        body = {"status": "Completed", "actual_start": day, "actual_finish": day}
        return admin.patch(f"/api/v1/tasks/{task}/", json=body)
    if kind == 5:
        return admin.patch(f"/api/v1/tasks/{task}/", json={"name": f"renamed {rng.random()}"})
    if kind == 6:
        body = {"percent_complete": rng.choice([0, 25, 50])}
        return admin.patch(f"/api/v1/tasks/{task}/", json=body)
    if kind == 7:
        first, second = rng.sample(tasks, 2)
        body = {
            "predecessor_id": first,
            "successor_id": second,
            "type": rng.choice(["FS", "SS", "FF", "SF"]),
            "lag": rng.randrange(-2, 3),
        }
        return admin.post(f"/api/v1/projects/{pid}/dependencies/", json=body)
    if kind == 8:
        links = admin.get(f"/api/v1/projects/{pid}/dependencies/").json()["results"]
        if not links:
            return None
        return admin.delete(f"/api/v1/dependencies/{rng.choice(links)['id']}/")
    if kind == 9:
        response = admin.post(
            f"/api/v1/projects/{pid}/tasks/",
            json={"name": "new", "duration": rng.randrange(6), "resource": "dev"},
        )
        tasks.append(response.json()["id"])
        return response
    if kind == 10 and len(tasks) > 4:
        tasks.remove(task)
        return admin.delete(f"/api/v1/tasks/{task}/")
    body = {"status": rng.choice(["Planning", "Active"]), "status_date": day}
    return admin.patch(f"/api/v1/projects/{pid}/", json=body)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_any_sequence_of_changes_stores_what_the_database_alone_gives(
    seed: int,
    admin: Actor,
    project: dict[str, Any],
    plan: dict[str, str],
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pid = project["id"]
    rng = random.Random(seed)
    tasks = list(plan.values())
    patched = 0
    with_edits = service._Inputs.with_edits

    def counted(self: service._Inputs, *args: Any) -> service._Inputs | None:
        nonlocal patched
        patched += 1
        return with_edits(self, *args)

    monkeypatch.setattr(service._Inputs, "with_edits", counted)
    for step in range(40):
        response = random_change(rng, admin, pid, tasks)
        if response is None:
            continue
        assert response.status_code < 500, response.text
        expected = recalculated_from_the_database(engine, pid, monkeypatch)
        assert schedule_state(engine, pid) == expected, f"step {step}: {response.request}"
        assert remembered_inputs_are_stored_ones(engine, pid), f"step {step}"
    assert patched >= 5  # the remembered inputs were patched, not only read again


def test_an_edit_in_a_transaction_that_also_changed_links_reads_everything(
    admin: Actor,
    project: dict[str, Any],
    plan: dict[str, str],
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One change declared as an edit of a task's own fields does not make the others so."""
    pid = project["id"]
    with UnitOfWork(make_session_factory(engine)) as work:
        session = work.session
        project_row = session.get(Project, uuid.UUID(pid))
        task = session.get(Task, uuid.UUID(plan["a"]))
        assert project_row is not None and task is not None
        task.duration = 2
        service.mark_for_recalculation(session, project_row, edited=task)
        session.add(
            Dependency(
                project_id=project_row.id,
                predecessor_id=uuid.UUID(plan["c"]),
                successor_id=uuid.UUID(plan["b"]),
            )
        )
        service.mark_for_recalculation(session, project_row)
    assert remembered_inputs_are_stored_ones(engine, pid)
    assert schedule_state(engine, pid) == recalculated_from_the_database(engine, pid, monkeypatch)
    # B (2 days) follows A (now 2 days) and, through the new link, C (days 1 to 5).
    assert stored(engine, pid)[plan["b"]][:2] == (5, 7)  # es, ef


def test_an_edit_waiting_for_another_writer_builds_on_its_change(
    admin: Actor,
    project: dict[str, Any],
    plan: dict[str, str],
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A PATCH that waits for the project's lock reads the task once it holds it, so the
    change committed meanwhile is in the task it edits and in the schedule it computes."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises whole transactions (BEGIN IMMEDIATE): nothing to wait for")
    pid = project["id"]
    responses: list[Any] = []
    with UnitOfWork(make_session_factory(engine)) as work:  # the other writer
        session = work.session
        project_row = session.scalar(
            select(Project).where(Project.id == uuid.UUID(pid)).with_for_update()
        )
        task = session.get(Task, uuid.UUID(plan["a"]))
        assert project_row is not None and task is not None
        task.duration = task.remaining_duration = 10
        service.mark_for_recalculation(session, project_row, edited=task)
        session.flush()
        editor = threading.Thread(
            target=lambda: responses.append(
                admin.patch(f"/api/v1/tasks/{plan['a']}/", json={"resource": "qa"})
            )
        )
        editor.start()
        wait_for_a_lock_waiter(engine, editor)
    editor.join(timeout=60)
    assert responses and responses[0].status_code == 200, responses
    assert (responses[0].json()["duration"], responses[0].json()["resource"]) == (10, "qa")
    assert stored(engine, pid)[plan["b"]][:2] == (10, 12)  # es, ef of B, after A's 10 days
    assert schedule_state(engine, pid) == recalculated_from_the_database(engine, pid, monkeypatch)


def wait_for_a_lock_waiter(engine: Engine, editor: threading.Thread) -> None:
    """Return once another connection waits for a row lock (polled, up to 30 s)."""
    deadline = time.monotonic() + 30
    with engine.connect() as connection:
        while time.monotonic() < deadline and editor.is_alive():
            waiting = connection.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            ).scalar()
            connection.rollback()  # a transaction sees one snapshot of pg_stat_activity
            if waiting:
                return
            time.sleep(0.01)
    raise AssertionError("the request did not wait for the project's lock")
