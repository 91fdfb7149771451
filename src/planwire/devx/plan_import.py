"""Create a parsed plan in a project: the one place the API route and ``planwire import`` share.

Everything goes through :func:`planwire.tasks.service.bulk_import` (and, for the calendar,
:func:`planwire.projects.service.update_project`), so an imported plan obeys exactly the rules of
``POST …/tasks/bulk/``; then the project is recalculated once. Errors those services raise name
the batch position (``tasks.41``, ``dependencies.7``); they are rewritten here to name the row
or element of the file instead. Like every service, this never commits.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.orm import Session

from planwire.auth.models import User
from planwire.devx.importers import ImportedPlan, PlanFormat
from planwire.errors import ApiError
from planwire.projects import service as projects
from planwire.projects.models import Project
from planwire.projects.schemas import Calendar, ProjectUpdate
from planwire.scheduling import service as scheduling
from planwire.tasks import service as tasks
from planwire.tasks.models import Task

__all__ = ["ImportResult", "ImportedTask", "import_plan"]

MAX_HOLIDAYS = 5000
_POSITION = re.compile(r"^(?P<kind>tasks|dependencies)\.(?P<index>\d+)(?:\.[a-z_]+)?: ?")


@dataclass(frozen=True)
class ImportedTask:
    ref: str
    id: uuid.UUID
    name: str
    source: str


@dataclass
class ImportResult:
    format: PlanFormat
    tasks: list[ImportedTask]
    dependencies: int
    milestones: int
    skipped_tasks: int
    calendar_applied: bool
    holidays: int
    warnings: list[str] = field(default_factory=list)


def import_plan(
    session: Session,
    *,
    user: User,
    project: Project,
    plan: ImportedPlan,
    apply_calendar: bool = True,
) -> ImportResult:
    """Create ``plan``'s tasks and links in ``project`` (and its calendar when
    ``apply_calendar``), then recalculate once. Raises :class:`ApiError` naming the source row."""
    warnings = list(plan.warnings)
    calendar_applied = False
    holidays = 0
    if plan.calendar is not None and apply_calendar:
        calendar = _clip_holidays(plan.calendar, project.start_date, warnings)
        projects.update_project(
            session, user=user, project=project, data=ProjectUpdate(calendar=calendar)
        )
        calendar_applied = True
        holidays = len(calendar.holidays)
    try:
        created, links = tasks.bulk_import(session, project=project, data=plan.bulk())
    except ApiError as exc:
        raise _located(exc, plan) from None
    sources = dict(zip((t.ref for t in plan.tasks), plan.task_sources, strict=True))
    try:
        scheduling.recalculate_marked(session)
    except ApiError as exc:
        raise _cycle_located(exc, created, sources) from None
    return ImportResult(
        format=plan.format,
        tasks=[ImportedTask(ref, task.id, task.name, sources[ref]) for ref, task in created],
        dependencies=len(links),
        milestones=plan.milestones,
        skipped_tasks=plan.skipped_tasks,
        calendar_applied=calendar_applied,
        holidays=holidays,
        warnings=warnings,
    )


def _clip_holidays(calendar: Calendar, start: date, warnings: list[str]) -> Calendar:
    """Holidays before the project starts change nothing; keep at most :data:`MAX_HOLIDAYS`."""
    days = sorted({day for day in calendar.holidays if day >= start})
    if len(days) > MAX_HOLIDAYS:
        warnings.append(
            f"the calendar has {len(days)} days off from the project start; the first "
            f"{MAX_HOLIDAYS} (to {days[MAX_HOLIDAYS - 1]}) are imported"
        )
        days = days[:MAX_HOLIDAYS]
    return Calendar.model_validate(
        {"working_days": calendar.working_days, "holidays": [d.isoformat() for d in days]}
    )


def _located(exc: ApiError, plan: ImportedPlan) -> ApiError:
    """``exc`` with the batch position in its message replaced by the file's row or element."""
    match = _POSITION.match(exc.detail)
    if match is None:
        return exc
    index = int(match["index"])
    sources = plan.task_sources if match["kind"] == "tasks" else plan.dependency_sources
    if index >= len(sources):
        return exc
    where = sources[index]
    detail = f"{where}: {exc.detail[match.end() :]}"
    return ApiError(detail, status_code=exc.status_code, **{**exc.extra, "location": where})


def _cycle_located(
    exc: ApiError, created: list[tuple[str, Task]], sources: dict[str, str]
) -> ApiError:
    cycle = exc.extra.get("cycle")
    if not isinstance(cycle, list):
        return exc
    ref_of = {str(task.id): ref for ref, task in created}
    named = [sources.get(ref_of.get(str(task_id), ""), str(task_id)) for task_id in cycle]
    detail = "The plan's links close a cycle: " + " -> ".join(named)
    return ApiError(detail, status_code=exc.status_code, **exc.extra)
