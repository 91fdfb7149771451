"""Tasks and dependencies: create, change, delete, bulk import, with their events."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import insert, or_, select
from sqlalchemy.orm import Session

from planwire.auth.models import User
from planwire.auth.service import get_user_in_org
from planwire.db import new_id, utcnow
from planwire.errors import Conflict, NotFound, Unprocessable
from planwire.events import payloads
from planwire.events import service as events
from planwire.projects.models import Project
from planwire.scheduling import service as scheduling
from planwire.tasks import progress
from planwire.tasks.models import Dependency, Task
from planwire.tasks.schemas import (
    BulkImport,
    DependencyCreate,
    DependencyOut,
    TaskCreate,
    TaskOut,
    TaskUpdate,
)

PROGRESS_FIELDS = ("duration", "remaining_duration", "percent_complete", "status")
PROGRESS_DATES = ("actual_start", "actual_finish")
#: Task fields the schedule does not depend on: changing only these needs no recalculation.
UNSCHEDULED_FIELDS = frozenset({"name", "assignee_id"})


def task_json(task: Task) -> dict[str, Any]:
    return TaskOut.model_validate(task).model_dump(mode="json")


def dependency_json(dependency: Dependency) -> dict[str, Any]:
    return DependencyOut.model_validate(dependency).model_dump(mode="json")


def status_date(project: Project) -> date:
    return project.status_date or utcnow().date()


def _record(session: Session, project: Project, type: str, data: Any) -> None:
    events.record(
        session,
        organization_id=project.organization_id,
        project_id=project.id,
        type=type,
        data=data,
    )


def _check_assignee(
    session: Session, project: Project, assignee_id: uuid.UUID | None, where: str = ""
) -> None:
    if (
        assignee_id is not None
        and get_user_in_org(session, assignee_id, project.organization_id) is None
    ):
        raise Unprocessable(f"{where}assignee_id: no user {assignee_id} in this organization")


def _progress_of(task: Task) -> progress.Progress:
    return progress.Progress(
        task.duration,
        task.remaining_duration,
        task.percent_complete,
        task.status,
        task.actual_start,
        task.actual_finish,
    )


def _apply_progress(task: Task, state: progress.Progress) -> None:
    task.duration = state.duration
    task.remaining_duration = state.remaining_duration
    task.percent_complete = state.percent_complete
    task.status = state.status
    task.actual_start = state.actual_start
    task.actual_finish = state.actual_finish


def _reconcile(
    current: progress.Progress, changes: dict[str, Any], project: Project, where: str = ""
) -> progress.Progress:
    try:
        return progress.reconcile(current, changes, status_date(project))
    except progress.ProgressError as exc:
        raise Unprocessable(f"{where}{exc.field}: {exc.message}") from None


def task_values(
    session: Session, project: Project, data: TaskCreate, *, where: str = ""
) -> dict[str, Any]:
    """The column values of a new task from ``data``; ``where`` prefixes the field names of
    errors (``tasks.3.``)."""
    _check_assignee(session, project, data.assignee_id, where)
    fields = data.model_dump(exclude_unset=True, exclude={"ref"})
    state = _reconcile(
        progress.initial(data.duration),
        {k: fields[k] for k in (*PROGRESS_FIELDS, *PROGRESS_DATES) if k in fields},
        project,
        where,
    )
    now = utcnow()
    return {
        "id": new_id(),
        "project_id": project.id,
        "name": data.name,
        "safe_duration": data.safe_duration,
        "assignee_id": data.assignee_id,
        "resource": data.resource or None,
        "start_no_earlier_than": data.start_no_earlier_than,
        "created_at": now,
        "updated_at": now,
        "duration": state.duration,
        "remaining_duration": state.remaining_duration,
        "percent_complete": state.percent_complete,
        "status": state.status,
        "actual_start": state.actual_start,
        "actual_finish": state.actual_finish,
        # Computed by the recalculation at the end of the transaction.
        "es": None,
        "ef": None,
        "ls": None,
        "lf": None,
        "total_float": None,
        "free_float": None,
        "is_critical": False,
        "on_critical_chain": False,
        "start_date": None,
        "finish_date": None,
        "buffer_key": None,
        "buffer_consumption": 0.0,
        "zone": "green",
        "is_ready": False,
    }


def create_task(session: Session, *, project: Project, data: TaskCreate) -> Task:
    task = Task(**task_values(session, project, data))
    session.add(task)
    session.flush()
    scheduling.mark_for_recalculation(session, project)
    _record(session, project, "task.created", lambda: task_json(task))
    return task


def get_task(session: Session, task_id: uuid.UUID) -> Task:
    task = session.get(Task, task_id)
    if task is None:
        raise NotFound(f"Task {task_id} not found.")
    return task


def update_task(
    session: Session, *, user: User, project: Project, task: Task, data: TaskUpdate
) -> None:
    changes = data.model_dump(exclude_unset=True)
    if "assignee_id" in changes:
        _check_assignee(session, project, changes["assignee_id"])
    before = _progress_of(task)
    progress_changes = {k: changes[k] for k in (*PROGRESS_FIELDS, *PROGRESS_DATES) if k in changes}
    after = _reconcile(before, progress_changes, project) if progress_changes else before
    changed = reschedule = False
    for field, value in changes.items():
        if field in PROGRESS_FIELDS or field in PROGRESS_DATES:
            continue
        if field == "resource":
            value = value or None
        if getattr(task, field) != value:
            setattr(task, field, value)
            changed = True
            reschedule = reschedule or field not in UNSCHEDULED_FIELDS
    if after != before:
        _apply_progress(task, after)
        changed = reschedule = True
    if not changed:
        return
    now = utcnow()
    task.updated_at = now
    if reschedule:
        scheduling.mark_for_recalculation(session, project, edited=task)
    _record(session, project, "task.updated", lambda: task_json(task))
    _record_transitions(session, user, project, task, before, after, now)


def _record_transitions(
    session: Session,
    user: User,
    project: Project,
    task: Task,
    before: progress.Progress,
    after: progress.Progress,
    now: datetime,
) -> None:
    if after.status != before.status:
        _record(
            session,
            project,
            "task.status_changed",
            lambda: payloads.task_status_changed(session, task, before.status, user, now),
        )
        if after.status == "Completed":
            _record(
                session,
                project,
                "task.completed",
                lambda: payloads.task_completed(session, project, task, user, now),
            )
            if task.duration == 0:
                _record(
                    session,
                    project,
                    "milestone.achieved",
                    lambda: payloads.milestone_achieved(session, project, task, user),
                )
    if after.remaining_duration != before.remaining_duration:
        _record(
            session,
            project,
            "task.duration_changed",
            lambda: payloads.task_duration_changed(task, before.remaining_duration, user, now),
        )


def delete_task(session: Session, *, project: Project, task: Task) -> None:
    links = session.scalars(
        select(Dependency).where(
            or_(Dependency.predecessor_id == task.id, Dependency.successor_id == task.id)
        )
    ).all()
    for link in links:
        _record(session, project, "dependency.deleted", dependency_json(link))
        session.delete(link)
    _record(session, project, "task.deleted", task_json(task))
    session.delete(task)
    scheduling.mark_for_recalculation(session, project)


def _task_in_project(session: Session, project: Project, task_id: uuid.UUID, field: str) -> Task:
    task = session.get(Task, task_id)
    if task is None or task.project_id != project.id:
        # Name the rule only for a task of the same organization: another organization's task
        # must be indistinguishable from one that does not exist.
        same_organization = (
            task is not None
            and session.scalar(select(Project.organization_id).where(Project.id == task.project_id))
            == project.organization_id
        )
        hint = " (links across projects are not allowed)" if same_organization else ""
        raise Unprocessable(f"{field}: no task {task_id} in this project{hint}")
    return task


def create_dependency(session: Session, *, project: Project, data: DependencyCreate) -> Dependency:
    predecessor = _task_in_project(session, project, data.predecessor_id, "predecessor_id")
    successor = _task_in_project(session, project, data.successor_id, "successor_id")
    link = Dependency(
        **_link_values(session, project, predecessor.id, successor.id, data.type, data.lag, "")
    )
    session.add(link)
    session.flush()
    scheduling.mark_for_recalculation(session, project)
    _record(session, project, "dependency.created", lambda: dependency_json(link))
    return link


def _link_values(
    session: Session,
    project: Project,
    predecessor_id: uuid.UUID,
    successor_id: uuid.UUID,
    type: str,
    lag: int,
    where: str,
    *,
    may_exist: bool = True,
) -> dict[str, Any]:
    """The column values of a new link, refusing a self-link or a duplicate."""
    if predecessor_id == successor_id:
        raise Conflict(
            f"{where}a task cannot depend on itself",
            cycle=[str(predecessor_id), str(predecessor_id)],
        )
    exists = may_exist and session.scalar(
        select(Dependency.id).where(
            Dependency.predecessor_id == predecessor_id,
            Dependency.successor_id == successor_id,
        )
    )
    if exists:
        raise Conflict(f"{where}a link from {predecessor_id} to {successor_id} already exists")
    return {
        "id": new_id(),
        "project_id": project.id,
        "predecessor_id": predecessor_id,
        "successor_id": successor_id,
        "type": type,
        "lag": lag,
        "created_at": utcnow(),
    }


def get_dependency(session: Session, dependency_id: uuid.UUID) -> Dependency:
    link = session.get(Dependency, dependency_id)
    if link is None:
        raise NotFound(f"Dependency {dependency_id} not found.")
    return link


def delete_dependency(session: Session, *, project: Project, dependency: Dependency) -> None:
    _record(session, project, "dependency.deleted", dependency_json(dependency))
    session.delete(dependency)
    scheduling.mark_for_recalculation(session, project)


def bulk_import(
    session: Session, *, project: Project, data: BulkImport
) -> tuple[list[tuple[str, Task]], list[Dependency]]:
    """Create every task and link of ``data`` or nothing; one recalculation at commit.

    Rows go in with one bulk INSERT per table (the unit-of-work flush of tens of thousands of
    new objects costs seconds); the created objects are then loaded once, for the answer and
    for the events' data.
    """
    ids_by_ref: dict[str, uuid.UUID] = {}
    task_rows: list[dict[str, Any]] = []
    for index, item in enumerate(data.tasks):
        if item.ref in ids_by_ref:
            raise Unprocessable(f"tasks.{index}.ref: duplicate ref {item.ref!r}")
        values = task_values(session, project, item, where=f"tasks.{index}.")
        ids_by_ref[item.ref] = values["id"]
        task_rows.append(values)

    existing_ids = _existing_task_ids(session, project, data, ids_by_ref)
    seen: set[tuple[uuid.UUID, uuid.UUID]] = set()
    link_rows: list[dict[str, Any]] = []
    for index, link_in in enumerate(data.dependencies):
        where = f"dependencies.{index}."
        pred = _resolve(link_in.predecessor, ids_by_ref, existing_ids, where + "predecessor")
        succ = _resolve(link_in.successor, ids_by_ref, existing_ids, where + "successor")
        if (pred, succ) in seen:
            raise Conflict(f"{where[:-1]}: duplicate link from {pred} to {succ}")
        seen.add((pred, succ))
        # Only a link between two existing tasks can already be in the database.
        both_existing = pred in existing_ids and succ in existing_ids
        link_rows.append(
            _link_values(
                session,
                project,
                pred,
                succ,
                link_in.type,
                link_in.lag,
                where[:-1] + ": ",
                may_exist=both_existing,
            )
        )
    if task_rows:
        session.execute(insert(Task), task_rows)
    if link_rows:
        session.execute(insert(Dependency), link_rows)
    scheduling.mark_for_recalculation(session, project)

    new_task_ids = set(ids_by_ref.values())
    new_link_ids = {row["id"] for row in link_rows}
    tasks_by_id = {
        task.id: task
        for task in session.scalars(select(Task).where(Task.project_id == project.id))
        if task.id in new_task_ids
    }
    links = [
        link
        for link in session.scalars(
            select(Dependency)
            .where(Dependency.project_id == project.id)
            .order_by(Dependency.created_at, Dependency.id)
        )
        if link.id in new_link_ids
    ]
    by_link_id = {link.id: link for link in links}
    created = [(ref, tasks_by_id[task_id]) for ref, task_id in ids_by_ref.items()]
    for _, task in created:
        _record(session, project, "task.created", _lazy_task_json(task))
    for row in link_rows:
        _record(session, project, "dependency.created", dependency_json(by_link_id[row["id"]]))
    return created, [by_link_id[row["id"]] for row in link_rows]


def _lazy_task_json(task: Task) -> Any:
    return lambda: task_json(task)


def _existing_task_ids(
    session: Session, project: Project, data: BulkImport, by_ref: dict[str, uuid.UUID]
) -> set[uuid.UUID]:
    """Ids of existing tasks of this project named by the batch's links (one query)."""
    wanted: set[uuid.UUID] = set()
    for item in data.dependencies:
        for name in (item.predecessor, item.successor):
            if name not in by_ref:
                parsed = _parse_uuid(name)
                if parsed is not None:
                    wanted.add(parsed)
    if not wanted:
        return set()
    rows: Sequence[uuid.UUID] = session.scalars(
        select(Task.id).where(Task.project_id == project.id, Task.id.in_(wanted))
    ).all()
    return set(rows)


def _parse_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _resolve(
    name: str, by_ref: dict[str, uuid.UUID], existing: set[uuid.UUID], field: str
) -> uuid.UUID:
    if name in by_ref:
        return by_ref[name]
    parsed = _parse_uuid(name)
    if parsed is not None and parsed in existing:
        return parsed
    raise Unprocessable(
        f"{field}: {name!r} is neither a ref in this batch nor a task of this project"
    )
