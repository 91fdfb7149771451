"""``POST /api/v1/projects/{project_id}/import/``: a plan file in, tasks and links out."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from planwire.api.deps import MANAGER, MEMBER, CurrentUser, SessionDep, project_for, role_on_project
from planwire.devx.importers import PlanImportError, detect_format, parse_plan
from planwire.devx.plan_import import import_plan
from planwire.errors import ApiError, Unprocessable

router = APIRouter(prefix="/api/v1", tags=["import"])

_ACCEPTED = "application/xml or text/xml (Microsoft Project XML), text/csv (CSV)"


class ImportedTaskOut(BaseModel):
    ref: str = Field(description="The task's UID (MSPDI) or ref (CSV) in the file.")
    id: uuid.UUID
    name: str
    source: str = Field(description="Where in the file the task came from.")


class ImportCounts(BaseModel):
    tasks: int
    dependencies: int
    milestones: int
    skipped_tasks: int = Field(description="Summary, blank, inactive or external tasks.")
    holidays: int = Field(description="Holidays of the imported calendar.")


class PlanImportOut(BaseModel):
    format: Literal["mspdi", "csv"]
    counts: ImportCounts
    calendar_applied: bool
    tasks: list[ImportedTaskOut]
    warnings: list[str] = Field(
        description="What was converted approximately or left out (grouped by kind)."
    )


class UnsupportedMediaType(ApiError):
    status_code = 415


async def _raw_body(request: Request) -> bytes:
    return await request.body()


@router.post(
    "/projects/{project_id}/import/",
    response_model=PlanImportOut,
    status_code=201,
    summary="Import a plan from Microsoft Project XML or CSV (Member)",
    description=(
        "The request body is the file itself, with `Content-Type: application/xml` (or "
        "`text/xml`) for Microsoft Project XML (MSPDI) or `text/csv` for CSV. Every task and "
        "link is created in one transaction with one recalculation, as by `…/tasks/bulk/`. "
        "The file's calendar (MSPDI) replaces the project's when you hold the Manager role "
        "and `apply_calendar` is true. A bad file gets 422 naming the row or element."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/xml": {"schema": {"type": "string"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        }
    },
    responses={
        415: {"description": "Not an XML or CSV media type"},
        422: {"description": "The file cannot be imported; `location` names the row or element"},
    },
)
def import_plan_file(
    project_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    body: Annotated[bytes, Depends(_raw_body)],
    apply_calendar: Annotated[
        bool, Query(description="Replace the project's calendar with the file's (Manager).")
    ] = True,
    minutes_per_day: Annotated[
        float | None,
        Query(gt=0, le=1440, description="Working minutes in a day (default: the file's, or 480)."),
    ] = None,
) -> PlanImportOut:
    project = project_for(session, user, project_id, MEMBER, lock=True)
    content_type = request.headers.get("content-type", "")
    fmt = detect_format(content_type=content_type) if content_type else None
    if fmt is None:
        raise UnsupportedMediaType(
            f"Content-Type {content_type or '(none)'!r} is not a plan format; send {_ACCEPTED}."
        )
    try:
        plan = parse_plan(body, fmt, minutes_per_day=minutes_per_day)
    except PlanImportError as exc:
        raise Unprocessable(str(exc), location=exc.where) from None
    role = role_on_project(session, user, project) or 0
    warnings: list[str] = []
    apply = apply_calendar and plan.calendar is not None
    if apply and role < MANAGER:
        apply = False
        warnings.append(
            "the file's calendar was not applied: changing the project calendar needs the "
            "Manager role"
        )
    result = import_plan(session, user=user, project=project, plan=plan, apply_calendar=apply)
    return PlanImportOut(
        format=result.format,
        counts=ImportCounts(
            tasks=len(result.tasks),
            dependencies=result.dependencies,
            milestones=result.milestones,
            skipped_tasks=result.skipped_tasks,
            holidays=result.holidays,
        ),
        calendar_applied=result.calendar_applied,
        tasks=[
            ImportedTaskOut(ref=t.ref, id=t.id, name=t.name, source=t.source) for t in result.tasks
        ],
        warnings=warnings + result.warnings,
    )
