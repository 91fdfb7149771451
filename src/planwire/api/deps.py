"""Request dependencies: the unit of work, the current user and project access checks."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from planwire.auth import service as auth_service
from planwire.auth.models import User
from planwire.errors import Forbidden, NotFound, Unauthorized
from planwire.projects.models import Project, ProjectMember
from planwire.tasks.models import Task
from planwire.uow import UnitOfWork

VIEWER, MEMBER, MANAGER, ADMIN = 1, 2, 3, 4
ROLE_NAMES = {VIEWER: "Viewer", MEMBER: "Member", MANAGER: "Manager", ADMIN: "Admin"}


def get_uow(request: Request) -> Iterator[UnitOfWork]:
    """One transaction per request, committed when the endpoint returns without error."""
    with UnitOfWork(request.app.state.session_factory) as uow:
        yield uow


# scope="function": commit (or roll back) before the response is sent, so a client never gets
# a 2xx for a transaction that then fails to commit, nor reads a state older than its own write.
def get_session(uow: Annotated[UnitOfWork, Depends(get_uow, scope="function")]) -> Session:
    return uow.session


SessionDep = Annotated[Session, Depends(get_session)]


def current_user(request: Request, session: SessionDep) -> User:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        user = auth_service.user_for_token(session, token.strip())
        if user is not None:
            return user
        raise Unauthorized("Invalid or revoked API token.")
    session_user = getattr(request.state, "session_user_id", None)
    if session_user is not None:
        user = session.get(User, session_user)
        if user is not None:
            return user
    raise Unauthorized("Authentication required: send 'Authorization: Bearer <token>'.")


CurrentUser = Annotated[User, Depends(current_user)]


def role_on_project(session: Session, user: User, project: Project) -> int | None:
    if project.organization_id != user.organization_id:
        return None
    if user.is_org_admin:
        return ADMIN
    return session.scalar(
        select(ProjectMember.role).where(
            ProjectMember.project_id == project.id, ProjectMember.user_id == user.id
        )
    )


def project_for(
    session: Session, user: User, project_id: uuid.UUID, min_role: int, *, lock: bool = False
) -> Project:
    """The project if ``user`` holds at least ``min_role`` on it: 404 without a role, 403 below.

    ``lock`` takes a row lock on PostgreSQL so concurrent writers of one project serialise
    (SQLite transactions are already serialised by ``BEGIN IMMEDIATE``).
    """
    try:
        return _checked_project(session, user, Project.id == project_id, min_role, lock=lock)
    except NotFound:
        raise NotFound(f"Project {project_id} not found.") from None


def _checked_project(
    session: Session, user: User, where: Any, min_role: int, *, lock: bool
) -> Project:
    query = select(Project).where(where)
    if lock:
        query = query.with_for_update()
    project = session.scalar(query)
    role = role_on_project(session, user, project) if project is not None else None
    if project is None or role is None:
        raise NotFound("")
    if role < min_role:
        raise Forbidden(
            f"This requires the {ROLE_NAMES[min_role]} role (role >= {min_role}) on the project; "
            f"you are {ROLE_NAMES[role]}."
        )
    return project


def task_for(
    session: Session, user: User, task_id: uuid.UUID, min_role: int
) -> tuple[Task, Project]:
    """The task and its project, checked like :func:`project_for`; a task of a project the
    user cannot see is simply not found.

    The task is read after the project (locked for writers, found by the task's id in the
    same statement): read before, it could miss the change of a writer that held the lock
    meanwhile, and what this request writes and the schedule it computes would build on the
    task as it was."""
    of_task = select(Task.project_id).where(Task.id == task_id).scalar_subquery()
    try:
        project = _checked_project(
            session, user, Project.id == of_task, min_role, lock=min_role > VIEWER
        )
        task = session.get(Task, task_id)
        if task is None:  # deleted by the writer that held the lock
            raise NotFound("")
    except NotFound:
        raise NotFound(f"Task {task_id} not found.") from None
    return task, project


def require_org_admin(user: User) -> None:
    if not user.is_org_admin:
        raise Forbidden("This requires an organization admin.")
