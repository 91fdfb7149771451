"""Routes of tasks, dependencies and the bulk import."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from planwire.api.deps import MEMBER, VIEWER, CurrentUser, SessionDep, project_for, task_for
from planwire.auth.models import User
from planwire.errors import NotFound
from planwire.pagination import Page, PageParams, make_page, page_params, paginate_query
from planwire.projects.models import Project
from planwire.scheduling import service as scheduling
from planwire.tasks import service
from planwire.tasks.models import Dependency, Task
from planwire.tasks.schemas import (
    BulkImport,
    BulkImportOut,
    BulkTaskOut,
    DependencyCreate,
    DependencyOut,
    TaskCreate,
    TaskOut,
    TaskUpdate,
)

router = APIRouter(prefix="/api/v1", tags=["tasks"])
Paging = Annotated[PageParams, Depends(page_params)]


@router.get("/projects/{project_id}/tasks/", response_model=Page[TaskOut])
def list_tasks(
    project_id: uuid.UUID, request: Request, session: SessionDep, user: CurrentUser, paging: Paging
) -> Page[TaskOut]:
    project = project_for(session, user, project_id, VIEWER)
    query = select(Task).where(Task.project_id == project.id).order_by(Task.created_at, Task.id)
    count, rows = paginate_query(session, query, paging)
    return make_page(request, paging, count, [TaskOut.model_validate(t) for t in rows])


@router.post("/projects/{project_id}/tasks/", response_model=TaskOut, status_code=201)
def create_task(
    project_id: uuid.UUID, data: TaskCreate, session: SessionDep, user: CurrentUser
) -> TaskOut:
    project = project_for(session, user, project_id, MEMBER, lock=True)
    task = service.create_task(session, project=project, data=data)
    scheduling.recalculate_marked(session)
    return TaskOut.model_validate(task)


@router.post(
    "/projects/{project_id}/tasks/bulk/",
    response_model=BulkImportOut,
    status_code=201,
    summary="Create many tasks and links in one transaction and one recalculation",
)
def bulk_import(
    project_id: uuid.UUID, data: BulkImport, session: SessionDep, user: CurrentUser
) -> BulkImportOut:
    project = project_for(session, user, project_id, MEMBER, lock=True)
    created, links = service.bulk_import(session, project=project, data=data)
    scheduling.recalculate_marked(session)
    return BulkImportOut(
        tasks=[
            BulkTaskOut.model_validate({**TaskOut.model_validate(t).model_dump(), "ref": ref})
            for ref, t in created
        ],
        dependencies=[DependencyOut.model_validate(link) for link in links],
    )


@router.get("/tasks/{task_id}/", response_model=TaskOut)
def get_task(task_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> TaskOut:
    task, _ = task_for(session, user, task_id, VIEWER)
    return TaskOut.model_validate(task)


@router.patch(
    "/tasks/{task_id}/",
    response_model=TaskOut,
    description=(
        "Change a task (Member). A change the schedule depends on (durations, progress, "
        "dates, resource) recalculates the project once, in the same transaction, and records "
        "`schedule.recalculated`; a change of `name` or `assignee_id` alone records only "
        "`task.updated`."
    ),
)
def patch_task(
    task_id: uuid.UUID, data: TaskUpdate, session: SessionDep, user: CurrentUser
) -> TaskOut:
    task, project = task_for(session, user, task_id, MEMBER)
    service.update_task(session, user=user, project=project, task=task, data=data)
    scheduling.recalculate_marked(session)
    return TaskOut.model_validate(task)


@router.delete("/tasks/{task_id}/", status_code=204)
def delete_task(task_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> Response:
    task, project = task_for(session, user, task_id, MEMBER)
    service.delete_task(session, project=project, task=task)
    return Response(status_code=204)


@router.get(
    "/projects/{project_id}/dependencies/",
    response_model=Page[DependencyOut],
    tags=["dependencies"],
)
def list_dependencies(
    project_id: uuid.UUID, request: Request, session: SessionDep, user: CurrentUser, paging: Paging
) -> Page[DependencyOut]:
    project = project_for(session, user, project_id, VIEWER)
    query = (
        select(Dependency)
        .where(Dependency.project_id == project.id)
        .order_by(Dependency.created_at, Dependency.id)
    )
    count, rows = paginate_query(session, query, paging)
    return make_page(request, paging, count, [DependencyOut.model_validate(d) for d in rows])


@router.post(
    "/projects/{project_id}/dependencies/",
    response_model=DependencyOut,
    status_code=201,
    tags=["dependencies"],
    responses={409: {"description": "The link would close a cycle (its task ids in `cycle`)"}},
)
def create_dependency(
    project_id: uuid.UUID, data: DependencyCreate, session: SessionDep, user: CurrentUser
) -> DependencyOut:
    project = project_for(session, user, project_id, MEMBER, lock=True)
    link = service.create_dependency(session, project=project, data=data)
    scheduling.recalculate_marked(session)
    return DependencyOut.model_validate(link)


def _dependency_project(
    session: Session, user: User, dependency_id: uuid.UUID, min_role: int
) -> tuple[Dependency, Project]:
    link = session.get(Dependency, dependency_id)
    try:
        if link is None:
            raise NotFound("")
        project = project_for(session, user, link.project_id, min_role, lock=min_role > VIEWER)
    except NotFound:
        raise NotFound(f"Dependency {dependency_id} not found.") from None
    return link, project


@router.get("/dependencies/{dependency_id}/", response_model=DependencyOut, tags=["dependencies"])
def get_dependency(
    dependency_id: uuid.UUID, session: SessionDep, user: CurrentUser
) -> DependencyOut:
    link, _ = _dependency_project(session, user, dependency_id, VIEWER)
    return DependencyOut.model_validate(link)


@router.delete("/dependencies/{dependency_id}/", status_code=204, tags=["dependencies"])
def delete_dependency(dependency_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> Response:
    link, project = _dependency_project(session, user, dependency_id, MEMBER)
    service.delete_dependency(session, project=project, dependency=link)
    return Response(status_code=204)
