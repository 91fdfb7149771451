"""``data`` of the lifecycle events, in the Exepron document's style (camelCase, field for field
where the document gives an example, the same family of fields where it does not).

Ids are Planwire's UUID strings; people are ``{"id", "name", "email"}`` or ``null``.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from planwire.auth.models import User
from planwire.projects.models import Project, ProjectMember
from planwire.tasks.models import Dependency, Task

RECOMMENDATIONS = [
    "Consider adding resources to critical tasks",
    "Review and reduce scope if possible",
]


def _iso(value: date | datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value.isoformat()


def person(user: User | None) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"id": str(user.id), "name": user.name, "email": user.email}


def _user(session: Session, user_id: uuid.UUID | None) -> User | None:
    return session.get(User, user_id) if user_id is not None else None


def _project_buffer(project: Project) -> dict[str, Any]:
    return dict(((project.schedule or {}).get("buffers") or {}).get("project") or {})


def started(session: Session, project: Project) -> dict[str, Any]:
    manager = _user(session, project.manager_id)
    schedule = project.schedule or {}
    team = session.scalar(
        select(func.count())
        .select_from(ProjectMember)
        .where(ProjectMember.project_id == project.id)
    )
    return {
        "projectId": str(project.id),
        "projectName": project.name,
        "startDate": _iso(project.start_date),
        "targetEndDate": _iso(project.target_end_date),
        "managerId": str(manager.id) if manager else None,
        "managerName": manager.name if manager else None,
        "managerEmail": manager.email if manager else None,
        "bufferSize": int(_project_buffer(project).get("size", 0)),
        "criticalChainLength": int(schedule.get("critical_chain_length", 0)),
        "teamSize": int(team or 0),
    }


def status_changed(
    project: Project, previous: str, user: User | None, changed_at: datetime
) -> dict[str, Any]:
    return {
        "projectId": str(project.id),
        "projectName": project.name,
        "previousStatus": previous,
        "newStatus": project.status,
        "changedBy": person(user),
        "changedAt": _iso(changed_at),
    }


def frozen(
    session: Session, project: Project, previous: str, user: User | None, changed_at: datetime
) -> dict[str, Any]:
    manager = _user(session, project.manager_id)
    return {
        "projectId": str(project.id),
        "projectName": project.name,
        "previousStatus": previous,
        "newStatus": project.status,
        "frozenBy": person(user),
        "frozenAt": _iso(changed_at),
        "managerId": str(manager.id) if manager else None,
        "managerName": manager.name if manager else None,
        "bufferConsumption": round(project.buffer_consumption, 1),
        "targetEndDate": _iso(project.target_end_date),
    }


def early_warning(session: Session, project: Project) -> dict[str, Any]:
    schedule = project.schedule or {}
    projected = schedule.get("projected_completion") or schedule.get("finish_date")
    target = project.target_end_date or _parse_date((project.baseline or {}).get("finish_date"))
    days_late = 0
    if projected and target:
        days_late = max(0, (date.fromisoformat(projected) - target).days)
    critical = session.scalars(
        select(Task)
        .where(Task.project_id == project.id, Task.on_critical_chain.is_(True))
        .where(Task.status != "Completed")
        .order_by(Task.es)
        .limit(10)
    ).all()
    return {
        "projectId": str(project.id),
        "projectName": project.name,
        "warningLevel": project.buffer_zone,
        "bufferConsumption": round(project.buffer_consumption, 1),
        "projectedCompletion": projected,
        "originalTarget": _iso(target),
        "daysLate": days_late,
        "criticalTasks": [
            {"id": str(t.id), "name": t.name, "bufferConsumption": round(t.buffer_consumption, 1)}
            for t in critical
        ],
        "recommendations": list(RECOMMENDATIONS),
    }


def _parse_date(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else None


def _task_base(task: Task) -> dict[str, Any]:
    return {"taskId": str(task.id), "taskName": task.name, "projectId": str(task.project_id)}


def task_status_changed(
    session: Session, task: Task, previous: str, user: User | None, changed_at: datetime
) -> dict[str, Any]:
    return {
        **_task_base(task),
        "previousStatus": previous,
        "newStatus": task.status,
        "changedBy": person(user),
        "changedAt": _iso(changed_at),
        "percentComplete": _number(task.percent_complete),
        "estimatedCompletion": _iso(task.finish_date),
    }


def task_completed(
    session: Session, project: Project, task: Task, user: User | None, changed_at: datetime
) -> dict[str, Any]:
    return {
        **_task_base(task),
        "projectName": project.name,
        "completedBy": person(user),
        "completedAt": _iso(changed_at),
        "actualStart": _iso(task.actual_start),
        "actualFinish": _iso(task.actual_finish),
        "duration": task.duration,
        "assignedTo": person(_user(session, task.assignee_id)),
        "percentComplete": _number(task.percent_complete),
    }


def task_duration_changed(
    task: Task, previous: int, user: User | None, changed_at: datetime
) -> dict[str, Any]:
    return {
        **_task_base(task),
        "previousRemainingDuration": previous,
        "newRemainingDuration": task.remaining_duration,
        "duration": task.duration,
        "changedBy": person(user),
        "changedAt": _iso(changed_at),
        "estimatedCompletion": _iso(task.finish_date),
    }


def milestone_achieved(
    session: Session, project: Project, task: Task, user: User | None
) -> dict[str, Any]:
    planned = _planned_finish(project, task)
    achieved = task.actual_finish
    days_early = (planned - achieved).days if planned and achieved else 0
    predecessors = session.scalars(
        select(Task)
        .join(Dependency, Dependency.predecessor_id == Task.id)
        .where(Dependency.successor_id == task.id)
        .order_by(Task.name)
    ).all()
    return {
        "milestoneId": str(task.id),
        "milestoneName": task.name,
        "projectId": str(project.id),
        "projectName": project.name,
        "achievedDate": _iso(achieved),
        "plannedDate": _iso(planned),
        "daysEarly": days_early,
        "completedBy": person(user),
        "linkedDeliverables": [
            {
                "id": str(p.id),
                "name": p.name,
                "status": "Delivered" if p.status == "Completed" else p.status,
            }
            for p in predecessors
        ],
    }


def task_ready(session: Session, project: Project, task: Task) -> dict[str, Any]:
    return {
        **_task_base(task),
        "projectName": project.name,
        "assignedTo": person(_user(session, task.assignee_id)),
        "resource": task.resource,
        "duration": task.duration,
        "plannedStart": _iso(task.start_date),
        "plannedFinish": _iso(task.finish_date),
        "onCriticalChain": task.on_critical_chain,
    }


def task_red(session: Session, project: Project, task: Task, previous_zone: str) -> dict[str, Any]:
    return {
        **_task_base(task),
        "projectName": project.name,
        "assignedTo": person(_user(session, task.assignee_id)),
        "bufferConsumption": round(task.buffer_consumption, 1),
        "remainingDuration": task.remaining_duration,
        "dueDate": _iso(task.finish_date),
        "previousStatus": previous_zone,
        "criticalChainImpact": task.on_critical_chain,
    }


def _planned_finish(project: Project, task: Task) -> date | None:
    planned = ((project.baseline or {}).get("task_finish") or {}).get(str(task.id))
    return _parse_date(planned) or task.finish_date


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value
