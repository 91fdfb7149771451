"""What the project pages show, gathered from the services and shaped for the templates."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from planwire.api.deps import ADMIN, MANAGER, MEMBER, ROLE_NAMES, role_on_project
from planwire.auth.models import User
from planwire.projects import service as projects
from planwire.projects.models import PROJECT_STATUSES, BufferHistoryPoint, Project
from planwire.scheduling import service as scheduling
from planwire.tasks.models import Dependency, Task
from planwire.ui import charts
from planwire.ui.forms import FormProblem


@dataclass(frozen=True, slots=True)
class Permissions:
    """What the signed-in user may do on a project: the API's minimum roles."""

    role: int

    @property
    def role_name(self) -> str:
        return ROLE_NAMES.get(self.role, "None")

    @property
    def edit_tasks(self) -> bool:
        return self.role >= MEMBER

    @property
    def change_status(self) -> bool:
        return self.role >= MANAGER

    @property
    def manage_webhooks(self) -> bool:
        return self.role >= ADMIN


def permissions(db: Session, user: User, project: Project) -> Permissions:
    return Permissions(role_on_project(db, user, project) or 0)


def status_transitions(project: Project) -> list[str]:
    """The statuses the project can move to, in lifecycle order."""
    allowed = projects.TRANSITIONS[project.status]
    return [status for status in PROJECT_STATUSES if status in allowed]


def _buffer_label(key: str, names: dict[str, str], buffer: dict[str, Any]) -> str:
    if key == "project":
        return "Project buffer"
    tasks = buffer.get("tasks") or []
    joining = names.get(tasks[-1], "?") if tasks else "?"
    return f"Feeding buffer · {joining}"


def project_view(
    db: Session, user: User, project: Project, *, problem: FormProblem | None = None
) -> dict[str, Any]:
    """Everything the project page shows."""
    schedule = scheduling.schedule_view(db, project)
    order = [uuid.UUID(item["id"]) for item in schedule["tasks"]]
    by_id = {
        task.id: task
        for task in db.scalars(select(Task).where(Task.project_id == project.id)).all()
    }
    tasks = [by_id[task_id] for task_id in order if task_id in by_id]
    links = db.scalars(
        select(Dependency)
        .where(Dependency.project_id == project.id)
        .order_by(Dependency.created_at, Dependency.id)
    ).all()
    names = {str(task.id): task.name for task in tasks}
    calendar = scheduling.calendar_of(project)
    status_date = project.status_date or projects.today()

    raw_buffers: dict[str, Any] = schedule.get("buffers") or {}
    chain_end = int(schedule.get("critical_chain_length") or 0)
    gantt_buffers: list[charts.GanttBuffer] = []
    bar_inputs: list[charts.BufferInput] = []
    for key, buffer in sorted(raw_buffers.items(), key=lambda item: item[0] != "project"):
        label = _buffer_label(key, names, buffer)
        size = int(buffer.get("size", 0))
        begins = chain_end if key == "project" else int(buffer.get("projected_finish", 0))
        if size > 0:
            tasks_of = buffer.get("tasks") or []
            gantt_buffers.append(
                charts.GanttBuffer(
                    key=key,
                    label=label,
                    start=calendar.date_of(begins),
                    finish=calendar.date_of(begins + size - 1),
                    size=size,
                    consumption=float(buffer.get("consumption", 0.0)),
                    zone=str(buffer.get("zone", "green")),
                    after_task_id=None if key == "project" or not tasks_of else tasks_of[-1],
                )
            )
        bar_inputs.append(
            charts.BufferInput(
                key=key,
                label=label,
                size=size,
                consumption=float(buffer.get("consumption", 0.0)),
                chain_completion=float(buffer.get("chain_completion", 0.0)),
                zone=str(buffer.get("zone", "green")),
            )
        )

    gantt = charts.gantt(
        [
            charts.GanttTask(
                id=str(task.id),
                name=task.name,
                start=task.start_date,
                finish=task.finish_date,
                is_milestone=task.is_milestone,
                at_project_start=task.es == 0,
                on_chain=task.on_critical_chain,
                is_critical=task.is_critical,
                status=task.status,
                percent_complete=task.percent_complete,
                zone=task.zone,
            )
            for task in tasks
        ],
        [
            charts.GanttLink(str(link.predecessor_id), str(link.successor_id), link.type, link.lag)
            for link in links
        ],
        gantt_buffers,
        project_start=project.start_date,
        status_date=status_date,
        status_label="Status date" if project.status_date else "Today",
        working_days=calendar.working_days,
        holidays=calendar.holidays,
    )
    history = db.scalars(
        select(BufferHistoryPoint)
        .where(BufferHistoryPoint.project_id == project.id)
        .order_by(BufferHistoryPoint.id)
    ).all()
    fever = charts.fever_chart(
        [(point.chain_completion, point.buffer_consumption) for point in history],
        (project.chain_completion, project.buffer_consumption)
        if project.baseline is not None
        else None,
        yellow=project.yellow_threshold,
        red=project.red_threshold,
    )
    return {
        "project": project,
        "summary": projects.to_out(project),
        "schedule": schedule,
        "tasks": tasks,
        "task_names": names,
        "links": links,
        "gantt": gantt,
        "buffer_bars": charts.buffer_bars(
            bar_inputs, yellow=project.yellow_threshold, red=project.red_threshold
        ),
        "fever": fever,
        "history_count": len(history),
        "status_date": status_date,
        "transitions": status_transitions(project),
        "can": permissions(db, user, project),
        "problem": problem,
        "values": problem.values if problem else {},
        "errors": problem.errors if problem else {},
        "link_types": ("FS", "SS", "FF", "SF"),
        "task_statuses": ("NotStarted", "InProgress", "Completed"),
    }
