"""Projects: creation, changes, status transitions and members."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from planwire.auth.models import User
from planwire.auth.service import get_user_in_org
from planwire.db import utcnow
from planwire.errors import Conflict, NotFound, Unprocessable
from planwire.events import payloads
from planwire.events import service as events
from planwire.pagination import PageParams
from planwire.projects.models import Project, ProjectMember
from planwire.projects.schemas import (
    BufferStatusOut,
    Calendar,
    ProjectCreate,
    ProjectOut,
    ProjectUpdate,
    check_project_fields,
)
from planwire.scheduling import service as scheduling

# Allowed status transitions; anything else is a 409 naming both ends.
TRANSITIONS: dict[str, set[str]] = {
    "Planning": {"Active", "Cancelled"},
    "Active": {"Frozen", "Complete", "Cancelled"},
    "Frozen": {"Active", "Complete", "Cancelled"},
    "Complete": {"Active"},
    "Cancelled": {"Planning"},
}


def today() -> date:
    return utcnow().date()


def to_out(project: Project) -> ProjectOut:
    schedule = project.schedule or {}
    buffer = (schedule.get("buffers") or {}).get("project") or {}
    return ProjectOut(
        id=project.id,
        organization_id=project.organization_id,
        name=project.name,
        description=project.description,
        status=project.status,
        start_date=project.start_date,
        target_end_date=project.target_end_date,
        status_date=project.status_date,
        manager_id=project.manager_id,
        calendar=Calendar.model_validate(project.calendar),
        buffer_method=project.buffer_method,
        yellow_threshold=project.yellow_threshold,
        red_threshold=project.red_threshold,
        duration=schedule.get("duration"),
        finish_date=schedule.get("finish_date"),
        project_buffer=BufferStatusOut(
            size=int(buffer.get("size", 0)),
            consumption=project.buffer_consumption,
            chain_completion=project.chain_completion,
            zone=project.buffer_zone,
        ),
        has_baseline=project.baseline is not None,
        created_at=project.created_at,
        updated_at=project.updated_at,
    )


def to_json(project: Project) -> dict[str, Any]:
    return to_out(project).model_dump(mode="json")


def _check_manager(session: Session, organization_id: int, manager_id: uuid.UUID | None) -> None:
    if manager_id is not None and get_user_in_org(session, manager_id, organization_id) is None:
        raise Unprocessable(f"manager_id: no user {manager_id} in this organization")


def create_project(session: Session, *, user: User, data: ProjectCreate) -> Project:
    _check_manager(session, user.organization_id, data.manager_id)
    project = Project(
        organization_id=user.organization_id,
        name=data.name,
        description=data.description,
        start_date=data.start_date or today(),
        target_end_date=data.target_end_date,
        status_date=data.status_date,
        manager_id=data.manager_id,
        calendar=data.calendar.model_dump(mode="json"),
        buffer_method=data.buffer_method,
        yellow_threshold=data.yellow_threshold,
        red_threshold=data.red_threshold,
        created_by_id=user.id,
    )
    session.add(project)
    session.flush()
    if not user.is_org_admin:
        session.add(ProjectMember(project_id=project.id, user_id=user.id, role=4))
    scheduling.mark_for_recalculation(session, project)
    events.record(
        session,
        organization_id=project.organization_id,
        project_id=project.id,
        type="project.created",
        data=lambda: to_json(project),
    )
    return project


def update_project(session: Session, *, user: User, project: Project, data: ProjectUpdate) -> None:
    changes = data.model_dump(exclude_unset=True)
    new_status = changes.pop("status", None)
    if "calendar" in changes:
        changes["calendar"] = data.calendar.model_dump(mode="json") if data.calendar else None
    if "manager_id" in changes:
        _check_manager(session, project.organization_id, changes["manager_id"])
    merged = {
        "start": changes.get("start_date", project.start_date),
        "target_end": changes.get("target_end_date", project.target_end_date),
        "yellow": changes.get("yellow_threshold", project.yellow_threshold),
        "red": changes.get("red_threshold", project.red_threshold),
    }
    try:
        check_project_fields(**merged)
    except ValueError as exc:
        raise Unprocessable(str(exc)) from None
    for field, value in changes.items():
        setattr(project, field, value)
    if changes:
        project.updated_at = utcnow()
        scheduling.mark_for_recalculation(session, project)
    if new_status is not None and new_status != project.status:
        change_status(session, user=user, project=project, new_status=new_status)


def change_status(session: Session, *, user: User, project: Project, new_status: str) -> None:
    previous = project.status
    if new_status not in TRANSITIONS[previous]:
        allowed = ", ".join(sorted(TRANSITIONS[previous])) or "none"
        raise Conflict(
            f"status: a project cannot go from {previous} to {new_status} (allowed: {allowed})"
        )
    project.status = new_status
    project.updated_at = utcnow()
    changed_at = utcnow()
    scheduling.mark_for_recalculation(session, project)
    if previous == "Planning" and new_status == "Active":
        scheduling.mark_for_baseline(session, project)
        _record(session, project, "project.started", lambda: payloads.started(session, project))
    if new_status == "Frozen":
        _record(
            session,
            project,
            "project.frozen",
            lambda: payloads.frozen(session, project, previous, user, changed_at),
        )
    _record(
        session,
        project,
        "project.status_changed",
        lambda: payloads.status_changed(project, previous, user, changed_at),
    )


def _record(session: Session, project: Project, type: str, data: Any) -> None:
    events.record(
        session,
        organization_id=project.organization_id,
        project_id=project.id,
        type=type,
        data=data,
    )


def delete_project(session: Session, *, project: Project) -> None:
    session.delete(project)


def list_members(
    session: Session, project: Project, paging: PageParams
) -> tuple[int, list[tuple[ProjectMember, User]]]:
    """One page of the members with their users, by email, and how many there are in all."""
    query = select(ProjectMember).where(ProjectMember.project_id == project.id)
    count = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.execute(
        select(ProjectMember, User)
        .join(User, User.id == ProjectMember.user_id)
        .where(ProjectMember.project_id == project.id)
        .order_by(User.email)
        .limit(paging.page_size)
        .offset(paging.offset)
    ).all()
    return int(count or 0), [(member, user) for member, user in rows]


def add_member(
    session: Session, *, project: Project, user_id: uuid.UUID, role: int
) -> tuple[ProjectMember, User]:
    user = get_user_in_org(session, user_id, project.organization_id)
    if user is None:
        raise Unprocessable(f"user_id: no user {user_id} in this organization")
    if session.get(ProjectMember, (project.id, user_id)) is not None:
        raise Conflict(f"user_id: {user_id} is already a member; PATCH the member to change role")
    member = ProjectMember(project_id=project.id, user_id=user_id, role=role)
    session.add(member)
    session.flush()
    return member, user


def get_member(session: Session, project: Project, user_id: uuid.UUID) -> ProjectMember:
    member = session.get(ProjectMember, (project.id, user_id))
    if member is None:
        raise NotFound(f"User {user_id} is not a member of this project.")
    return member
