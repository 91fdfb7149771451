"""Routes of projects, members and schedules."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import undefer

from planwire.api.deps import (
    ADMIN,
    MANAGER,
    VIEWER,
    CurrentUser,
    SessionDep,
    project_for,
)
from planwire.auth.models import User
from planwire.pagination import Page, PageParams, make_page, page_params, paginate_query
from planwire.projects import service
from planwire.projects.models import BufferHistoryPoint, Project, ProjectMember
from planwire.projects.schemas import (
    MemberCreate,
    MemberOut,
    MemberUpdate,
    ProjectCreate,
    ProjectOut,
    ProjectUpdate,
)
from planwire.scheduling import service as scheduling

router = APIRouter(prefix="/api/v1/projects", tags=["projects"])
Paging = Annotated[PageParams, Depends(page_params)]


@router.get("/", response_model=Page[ProjectOut], summary="List the projects you have a role on")
def list_projects(
    request: Request, session: SessionDep, user: CurrentUser, paging: Paging
) -> Page[ProjectOut]:
    query = (
        select(Project)
        .where(Project.organization_id == user.organization_id)
        .options(undefer(Project.schedule))
    )
    if not user.is_org_admin:
        query = query.where(
            Project.id.in_(select(ProjectMember.project_id).where(ProjectMember.user_id == user.id))
        )
    count, rows = paginate_query(session, query.order_by(Project.created_at, Project.id), paging)
    return make_page(request, paging, count, [service.to_out(p) for p in rows])


@router.post("/", response_model=ProjectOut, status_code=201, summary="Create a project")
def create_project(data: ProjectCreate, session: SessionDep, user: CurrentUser) -> ProjectOut:
    project = service.create_project(session, user=user, data=data)
    scheduling.recalculate_marked(session)
    return service.to_out(project)


@router.get("/{project_id}/", response_model=ProjectOut)
def get_project(project_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> ProjectOut:
    return service.to_out(project_for(session, user, project_id, VIEWER))


@router.patch("/{project_id}/", response_model=ProjectOut, summary="Change a project (Manager)")
def patch_project(
    project_id: uuid.UUID, data: ProjectUpdate, session: SessionDep, user: CurrentUser
) -> ProjectOut:
    project = project_for(session, user, project_id, MANAGER, lock=True)
    service.update_project(session, user=user, project=project, data=data)
    scheduling.recalculate_marked(session)
    return service.to_out(project)


@router.delete("/{project_id}/", status_code=204, summary="Delete a project (Admin)")
def delete_project(project_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> Response:
    project = project_for(session, user, project_id, ADMIN, lock=True)
    service.delete_project(session, project=project)
    return Response(status_code=204)


@router.get("/{project_id}/schedule/", summary="The last schedule with every task's dates")
def get_schedule(project_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    project = project_for(session, user, project_id, VIEWER)
    return scheduling.schedule_view(session, project)


@router.post("/{project_id}/schedule/recalculate/", summary="Recalculate now (Manager)")
def recalculate(project_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    project = project_for(session, user, project_id, MANAGER, lock=True)
    scheduling.mark_for_recalculation(session, project)
    scheduling.recalculate_marked(session)
    return scheduling.schedule_view(session, project)


@router.post(
    "/{project_id}/baseline/", summary="Record the baseline again (Manager)", status_code=201
)
def record_baseline(
    project_id: uuid.UUID, session: SessionDep, user: CurrentUser
) -> dict[str, Any]:
    project = project_for(session, user, project_id, MANAGER, lock=True)
    scheduling.mark_for_baseline(session, project)
    scheduling.recalculate_marked(session)
    return scheduling.schedule_view(session, project)


@router.get("/{project_id}/buffer-history/", summary="Fever chart points, oldest first")
def buffer_history(
    project_id: uuid.UUID, session: SessionDep, user: CurrentUser
) -> list[dict[str, Any]]:
    project = project_for(session, user, project_id, VIEWER)
    points = session.scalars(
        select(BufferHistoryPoint)
        .where(BufferHistoryPoint.project_id == project.id)
        .order_by(BufferHistoryPoint.id)
    ).all()
    return [
        {
            "recorded_at": p.recorded_at,
            "chain_completion": p.chain_completion,
            "buffer_consumption": p.buffer_consumption,
            "zone": p.zone,
        }
        for p in points
    ]


def _member_out(member: ProjectMember, email: str, name: str) -> MemberOut:
    return MemberOut(user_id=member.user_id, email=email, name=name, role=member.role)


@router.get("/{project_id}/members/", response_model=Page[MemberOut], tags=["members"])
def list_members(
    project_id: uuid.UUID, request: Request, session: SessionDep, user: CurrentUser, paging: Paging
) -> Page[MemberOut]:
    project = project_for(session, user, project_id, VIEWER)
    count, rows = service.list_members(session, project, paging)
    return make_page(request, paging, count, [_member_out(m, u.email, u.name) for m, u in rows])


@router.post("/{project_id}/members/", response_model=MemberOut, status_code=201, tags=["members"])
def add_member(
    project_id: uuid.UUID, data: MemberCreate, session: SessionDep, user: CurrentUser
) -> MemberOut:
    project = project_for(session, user, project_id, ADMIN)
    member, member_user = service.add_member(
        session, project=project, user_id=data.user_id, role=data.role
    )
    return _member_out(member, member_user.email, member_user.name)


@router.patch("/{project_id}/members/{user_id}/", response_model=MemberOut, tags=["members"])
def update_member(
    project_id: uuid.UUID,
    user_id: uuid.UUID,
    data: MemberUpdate,
    session: SessionDep,
    user: CurrentUser,
) -> MemberOut:
    project = project_for(session, user, project_id, ADMIN)
    member = service.get_member(session, project, user_id)
    member.role = data.role
    member_user = session.get(User, user_id)
    assert member_user is not None  # the membership row references it
    return _member_out(member, member_user.email, member_user.name)


@router.delete("/{project_id}/members/{user_id}/", status_code=204, tags=["members"])
def remove_member(
    project_id: uuid.UUID, user_id: uuid.UUID, session: SessionDep, user: CurrentUser
) -> Response:
    project = project_for(session, user, project_id, ADMIN)
    session.delete(service.get_member(session, project, user_id))
    return Response(status_code=204)
