"""Routes of the web UI under ``/ui``: sign-in, projects, the project page and integrations.

Every route works without JavaScript (forms POST and redirect); htmx, where present, turns the
task progress form into a partial update of the schedule and keeps the delivery log fresh. All
business rules come from the services the API uses; each request runs in one
:class:`~planwire.uow.UnitOfWork`, so a change made here recalculates and fires events exactly
as the same change through the API.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse, RedirectResponse
from sqlalchemy import func, literal, select
from sqlalchemy.orm import Session, undefer
from starlette.datastructures import FormData

from planwire.api.deps import (
    ADMIN,
    MANAGER,
    MEMBER,
    ROLE_NAMES,
    VIEWER,
    project_for,
    task_for,
)
from planwire.auth import service as auth_service
from planwire.auth.models import User
from planwire.errors import ApiError, NotFound, Unprocessable
from planwire.projects import service as projects
from planwire.projects.models import Project, ProjectMember
from planwire.projects.schemas import ProjectCreate, ProjectUpdate
from planwire.scheduling import service as scheduling
from planwire.tasks import service as tasks_service
from planwire.tasks.models import Dependency
from planwire.tasks.schemas import DependencyCreate, TaskCreate, TaskUpdate
from planwire.ui import auth, forms, integrations
from planwire.ui.forms import FormProblem
from planwire.ui.rendering import (
    STATIC_DIR,
    SignInRequired,
    UIRoute,
    Visitor,
    is_htmx,
    redirect,
    render,
    safe_next,
)
from planwire.ui.views import permissions, project_view, status_transitions
from planwire.uow import UnitOfWork
from planwire.webhooks import service as webhook_service
from planwire.webhooks.catalog import EVENT_TYPES, check_event_types
from planwire.webhooks.models import Webhook

router = APIRouter(prefix="/ui", route_class=UIRoute, include_in_schema=False)
Form = Annotated[FormData, Depends(auth.checked_form)]
STATIC_FILES = {
    "htmx.min.js": "text/javascript",
    "planwire.css": "text/css",
    "favicon.svg": "image/svg+xml",
}
PROJECTS_PER_PAGE = 50
T = TypeVar("T")


@contextmanager
def unit_of_work(request: Request) -> Iterator[UnitOfWork]:
    """The request's transaction (as ``api/deps.get_uow``): committed at the end of the block,
    after recalculation and events; rolled back if the block raises."""
    with UnitOfWork(request.app.state.session_factory) as uow:
        yield uow


def signed_in(request: Request, db: Session) -> User:
    user = auth.signed_in_user(request, db)
    if user is None:
        raise SignInRequired
    request.state.ui_user = Visitor.of(user)
    return user


# --- static files, sign-in, sign-out ---------------------------------------------------------


@router.get("/static/{name}")
def static_file(name: str) -> Response:
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        raise NotFound("No such file.")
    return FileResponse(
        STATIC_DIR / name,
        media_type=media_type,
        headers={"Cache-Control": "public, max-age=86400"},
    )


@router.get("/")
@router.get("")
def home(request: Request) -> Response:
    return RedirectResponse("/ui/projects", status_code=303)


@router.get("/login")
def login_page(request: Request, next: str = "") -> Response:
    with unit_of_work(request) as uow:
        if auth.signed_in_user(request, uow.session) is not None:
            return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", {"next": safe_next(next), "email": "", "error": None})


@router.post("/login")
def login(request: Request, form: Form) -> Response:
    email, token = forms.text(form, "email"), forms.text(form, "token")
    password = form.get("password")  # as typed: spaces may be part of it
    password = password if isinstance(password, str) else ""
    target = safe_next(forms.text(form, "next"))
    with unit_of_work(request) as uow:
        if token:
            found = auth.user_for_api_token(uow.session, token)
            if found is not None:
                auth.start_session(request, found[0], token_id=found[1])
                return redirect(request, target)
            error = "That API token is not valid (or was revoked)."
        elif email and password:
            user = auth_service.user_for_password(uow.session, email, password)
            if user is not None:
                auth.start_session(request, user)
                return redirect(request, target)
            error = "Wrong email or password."
        else:
            error = "Enter your email and password, or paste an API token."
    return render(
        request,
        "login.html",
        {"next": target, "email": email, "error": error},
        status_code=401,
    )


@router.post("/logout")
def logout(request: Request, form: Form) -> Response:
    response = RedirectResponse("/ui/login", status_code=303)
    auth.end_session(response)
    auth.flash(request, response, "You are signed out.")
    return response


# --- projects ----------------------------------------------------------------------------------


def _visible_projects(db: Session, user: User, page: int) -> tuple[int, list[tuple[Project, int]]]:
    """The projects ``user`` holds a role on (all of the organization for its admins), with
    the role, as ``GET /api/v1/projects/`` lists them."""
    if user.is_org_admin:
        query = select(Project, literal(ADMIN)).where(
            Project.organization_id == user.organization_id
        )
    else:
        query = (
            select(Project, ProjectMember.role)
            .join(ProjectMember, ProjectMember.project_id == Project.id)
            .where(Project.organization_id == user.organization_id)
            .where(ProjectMember.user_id == user.id)
        )
    count = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.execute(
        query.options(undefer(Project.schedule))
        .order_by(Project.created_at, Project.id)
        .limit(PROJECTS_PER_PAGE)
        .offset((page - 1) * PROJECTS_PER_PAGE)
    ).all()
    return int(count), [(project, int(role)) for project, role in rows]


def _projects_page(
    request: Request, db: Session, user: User, page: int, problem: FormProblem | None = None
) -> Response:
    count, rows = _visible_projects(db, user, page)
    return render(
        request,
        "projects.html",
        {
            "user": user,
            "nav": "projects",
            "projects": [
                {"project": project, "role_name": ROLE_NAMES[role]} for project, role in rows
            ],
            "count": count,
            "page": page,
            "pages": max(1, math.ceil(count / PROJECTS_PER_PAGE)),
            "today": projects.today().isoformat(),
            "values": problem.values if problem else {},
            "errors": problem.errors if problem else {},
        },
        status_code=problem.status_code if problem else 200,
    )


@router.get("/projects")
def projects_page(
    request: Request, page: Annotated[int, Query(ge=1, le=1_000_000)] = 1
) -> Response:
    with unit_of_work(request) as uow:
        user = signed_in(request, uow.session)
        return _projects_page(request, uow.session, user, page)


def _apply(action: Callable[[], T], db: Session, form_name: str, values: dict[str, Any]) -> T:
    """Run a service ``action`` and recalculate now (as the API endpoints do), turning the
    refusals (409, 422: a cycle, a schedule past 9999) into a problem shown on the form."""
    try:
        result = action()
        scheduling.recalculate_marked(db)
    except ApiError as exc:
        if exc.status_code not in (409, 422):
            raise
        raise forms.from_api_error(exc, form_name, values) from None
    return result


PROJECT_FIELDS = (
    "name",
    "description",
    "start_date",
    "target_end_date",
    "buffer_method",
    "yellow_threshold",
    "red_threshold",
)


@router.post("/projects")
def create_project(request: Request, form: Form) -> Response:
    values = forms.values_of(form, PROJECT_FIELDS)
    try:
        with unit_of_work(request) as uow:
            user = signed_in(request, uow.session)
            data = forms.validate(
                ProjectCreate, forms.given(form, PROJECT_FIELDS), "project", values
            )
            project = _apply(
                lambda: projects.create_project(uow.session, user=user, data=data),
                uow.session,
                "project",
                values,
            )
            project_id = project.id
    except FormProblem as problem:
        with unit_of_work(request) as uow:
            user = signed_in(request, uow.session)
            return _projects_page(request, uow.session, user, 1, problem)
    return redirect(request, f"/ui/projects/{project_id}", f"Project “{data.name}” created.")


def _project_page(
    request: Request,
    project_id: uuid.UUID,
    problem: FormProblem | None = None,
    *,
    fragment: bool = False,
    notice: str | None = None,
) -> Response:
    with unit_of_work(request) as uow:
        user = signed_in(request, uow.session)
        project = project_for(uow.session, user, project_id, VIEWER)
        context = project_view(uow.session, user, project, problem=problem)
        context.update(user=user, nav="projects", tab="schedule", notice=notice)
        return render(
            request,
            "_schedule.html" if fragment else "project.html",
            context,
            status_code=problem.status_code if problem else 200,
        )


@router.get("/projects/{project_id}")
def project_page(request: Request, project_id: uuid.UUID) -> Response:
    return _project_page(request, project_id)


@router.post("/projects/{project_id}/status")
def change_status(request: Request, project_id: uuid.UUID, form: Form) -> Response:
    values = forms.values_of(form, ("status",))
    try:
        with unit_of_work(request) as uow:
            user = signed_in(request, uow.session)
            project = project_for(uow.session, user, project_id, MANAGER, lock=True)
            data = forms.validate(ProjectUpdate, values, "status", values)
            _apply(
                lambda: projects.update_project(uow.session, user=user, project=project, data=data),
                uow.session,
                "status",
                values,
            )
            new_status = project.status
    except FormProblem as problem:
        return _project_page(request, project_id, problem)
    return redirect(request, f"/ui/projects/{project_id}", f"The project is now {new_status}.")


TASK_FIELDS = ("name", "duration", "safe_duration", "resource", "start_no_earlier_than")


@router.post("/projects/{project_id}/tasks")
def add_task(request: Request, project_id: uuid.UUID, form: Form) -> Response:
    values = forms.values_of(form, TASK_FIELDS)
    try:
        with unit_of_work(request) as uow:
            user = signed_in(request, uow.session)
            project = project_for(uow.session, user, project_id, MEMBER, lock=True)
            data = forms.validate(TaskCreate, forms.given(form, TASK_FIELDS), "task", values)
            _apply(
                lambda: tasks_service.create_task(uow.session, project=project, data=data),
                uow.session,
                "task",
                values,
            )
    except FormProblem as problem:
        return _project_page(request, project_id, problem)
    return redirect(request, f"/ui/projects/{project_id}", f"Task “{data.name}” added.")


LINK_FIELDS = ("predecessor_id", "successor_id", "type", "lag")


@router.post("/projects/{project_id}/dependencies")
def add_link(request: Request, project_id: uuid.UUID, form: Form) -> Response:
    values = forms.values_of(form, LINK_FIELDS)
    try:
        with unit_of_work(request) as uow:
            user = signed_in(request, uow.session)
            project = project_for(uow.session, user, project_id, MEMBER, lock=True)
            data = forms.validate(DependencyCreate, forms.given(form, LINK_FIELDS), "link", values)
            _apply(
                lambda: tasks_service.create_dependency(uow.session, project=project, data=data),
                uow.session,
                "link",
                values,
            )
    except FormProblem as problem:
        return _project_page(request, project_id, problem)
    return redirect(request, f"/ui/projects/{project_id}", "Link added.")


@router.post("/tasks/{task_id}/progress")
def update_progress(request: Request, task_id: uuid.UUID, form: Form) -> Response:
    """Remaining duration and status of one task; answers htmx with the new schedule."""
    values = forms.values_of(form, ("remaining_duration", "status"))
    form_name = f"progress-{task_id}"
    project_id: uuid.UUID | None = None
    try:
        with unit_of_work(request) as uow:
            user = signed_in(request, uow.session)
            task, project = task_for(uow.session, user, task_id, MEMBER)
            project_id = project.id
            changes: dict[str, Any] = {}
            if values["remaining_duration"] and values["remaining_duration"] != str(
                task.remaining_duration
            ):
                changes["remaining_duration"] = values["remaining_duration"]
            if values["status"] and values["status"] != task.status:
                changes["status"] = values["status"]
            data = forms.validate(TaskUpdate, changes, form_name, values)
            _apply(
                lambda: tasks_service.update_task(
                    uow.session, user=user, project=project, task=task, data=data
                ),
                uow.session,
                form_name,
                values,
            )
            name = task.name
    except FormProblem as problem:
        assert project_id is not None
        return _project_page(request, project_id, problem, fragment=is_htmx(request))
    notice = f"Saved progress of “{name}”." if changes else f"“{name}” is unchanged."
    if is_htmx(request):
        return _project_page(request, project_id, fragment=True, notice=notice)
    return redirect(request, f"/ui/projects/{project_id}#task-{task_id}", notice)


@router.post("/tasks/{task_id}/delete")
def delete_task(request: Request, task_id: uuid.UUID, form: Form) -> Response:
    with unit_of_work(request) as uow:
        user = signed_in(request, uow.session)
        task, project = task_for(uow.session, user, task_id, MEMBER)
        name, project_id = task.name, project.id
        tasks_service.delete_task(uow.session, project=project, task=task)
        scheduling.recalculate_marked(uow.session)
    return redirect(request, f"/ui/projects/{project_id}", f"Task “{name}” deleted.")


@router.post("/dependencies/{dependency_id}/delete")
def delete_link(request: Request, dependency_id: uuid.UUID, form: Form) -> Response:
    with unit_of_work(request) as uow:
        user = signed_in(request, uow.session)
        link = uow.session.get(Dependency, dependency_id)
        try:
            if link is None:
                raise NotFound("")
            project = project_for(uow.session, user, link.project_id, MEMBER, lock=True)
        except NotFound:
            raise NotFound(f"Link {dependency_id} not found.") from None
        project_id = project.id
        tasks_service.delete_dependency(uow.session, project=project, dependency=link)
        scheduling.recalculate_marked(uow.session)
    return redirect(request, f"/ui/projects/{project_id}", "Link deleted.")


# --- integrations: project webhooks and account webhooks -------------------------------------

PROJECT_HOOKS = "/projects/{project_id}/integrations"
ACCOUNT_HOOKS = "/webhooks"
StatusFilter = Annotated[Literal["pending", "success", "failed"] | None, Query()]
PageNumber = Annotated[int, Query(ge=1, le=1_000_000)]


def _scope_context(db: Session, user: User, scope: integrations.Scope) -> dict[str, Any]:
    context: dict[str, Any] = {
        "user": user,
        "scope": scope,
        "nav": "projects" if scope.project is not None else "webhooks",
        "tab": "integrations",
        "status_of": integrations.status_of,
    }
    if scope.project is not None:
        context.update(
            project=scope.project,
            can=permissions(db, user, scope.project),
            transitions=status_transitions(scope.project),
        )
    return context


@router.get(PROJECT_HOOKS)
@router.get(ACCOUNT_HOOKS)
def integrations_page(request: Request) -> Response:
    with unit_of_work(request) as uow:
        db = uow.session
        user = signed_in(request, db)
        scope = integrations.resolve_scope(request, db, user, manage=False)
        context = _scope_context(db, user, scope)
        context.update(
            webhooks=scope.webhooks(db),
            account_webhooks=integrations.account_webhook_count(db, scope.organization_id)
            if scope.project is not None and user.is_org_admin
            else 0,
        )
        return render(request, "integrations.html", context)


def _webhook_form_page(
    request: Request,
    db: Session,
    user: User,
    scope: integrations.Scope,
    typed: integrations.WebhookForm,
    *,
    webhook: Webhook | None = None,
    problem: FormProblem | None = None,
) -> Response:
    context = _scope_context(db, user, scope)
    context.update(
        webhook=webhook,
        form=typed,
        errors=problem.errors if problem else {},
        families=integrations.event_families(),
        formats=integrations.FORMATS,
        default_schedules={
            fmt: integrations.default_schedule(fmt) for fmt, *_ in integrations.FORMATS
        },
    )
    return render(
        request,
        "webhook_form.html",
        context,
        status_code=problem.status_code if problem else 200,
    )


@router.get(PROJECT_HOOKS + "/new")
@router.get(ACCOUNT_HOOKS + "/new")
def new_webhook_page(request: Request) -> Response:
    with unit_of_work(request) as uow:
        user = signed_in(request, uow.session)
        scope = integrations.resolve_scope(request, uow.session, user, manage=True)
        typed = integrations.WebhookForm(format=scope.default_format)
        return _webhook_form_page(request, uow.session, user, scope, typed)


@router.post(PROJECT_HOOKS)
@router.post(ACCOUNT_HOOKS)
def create_webhook(request: Request, form: Form) -> Response:
    try:
        with unit_of_work(request) as uow:
            db = uow.session
            user = signed_in(request, db)
            scope = integrations.resolve_scope(request, db, user, manage=True)
            webhook, secret = integrations.create_from_form(db, request, scope, user, form)
            context = _scope_context(db, user, scope)
            context.update(webhook=webhook, secret=secret)
            # The secret is on this page only: never stored in clear, never shown again.
            response = render(request, "webhook_created.html", context, status_code=201)
    except FormProblem as problem:
        with unit_of_work(request) as uow:
            user = signed_in(request, uow.session)
            scope = integrations.resolve_scope(request, uow.session, user, manage=True)
            return _webhook_form_page(
                request, uow.session, user, scope, problem.values["webhook"], problem=problem
            )
    return response


@router.get(PROJECT_HOOKS + "/{webhook_id}")
@router.get(ACCOUNT_HOOKS + "/{webhook_id}")
def webhook_page(
    request: Request, webhook_id: uuid.UUID, page: PageNumber = 1, status: StatusFilter = None
) -> Response:
    with unit_of_work(request) as uow:
        db = uow.session
        user = signed_in(request, db)
        scope = integrations.resolve_scope(request, db, user, manage=False)
        webhook = scope.webhook(db, webhook_id)
        context = _scope_context(db, user, scope)
        context.update(_log_context(db, scope, webhook, page, status))
        context.update(
            test_events=webhook.events or [e.type for e in EVENT_TYPES],
            default_test_event=webhook.events[0] if webhook.events else "task.updated",
            default_schedule=integrations.default_schedule(webhook.format),
            schedule_text=integrations.schedule_text(webhook.retry_schedule),
            shown_headers=webhook_service.shown_headers(webhook),
        )
        return render(request, "webhook.html", context)


def _log_context(
    db: Session, scope: integrations.Scope, webhook: Webhook, page: int, status: str | None
) -> dict[str, Any]:
    count, rows = integrations.delivery_log(db, webhook, page, status)
    pages = max(1, math.ceil(count / integrations.DELIVERIES_PER_PAGE))
    return {
        "webhook": webhook,
        "deliveries": rows,
        "delivery_count": count,
        "page": page,
        "pages": pages,
        "status_filter": status or "",
        "polling": page == 1 and any(row.delivery.status == "pending" for row in rows),
        "body_excerpt": integrations.BODY_EXCERPT,
        "log_url": scope.url(webhook, "/log"),
    }


@router.get(PROJECT_HOOKS + "/{webhook_id}/log")
@router.get(ACCOUNT_HOOKS + "/{webhook_id}/log")
def delivery_log_fragment(
    request: Request, webhook_id: uuid.UUID, page: PageNumber = 1, status: StatusFilter = None
) -> Response:
    """The delivery log alone: htmx polls it while deliveries are pending."""
    with unit_of_work(request) as uow:
        db = uow.session
        user = signed_in(request, db)
        scope = integrations.resolve_scope(request, db, user, manage=False)
        webhook = scope.webhook(db, webhook_id)
        context = _scope_context(db, user, scope)
        context.update(_log_context(db, scope, webhook, page, status))
        return render(request, "_delivery_log.html", context)


@router.get(PROJECT_HOOKS + "/{webhook_id}/edit")
@router.get(ACCOUNT_HOOKS + "/{webhook_id}/edit")
def edit_webhook_page(request: Request, webhook_id: uuid.UUID) -> Response:
    with unit_of_work(request) as uow:
        db = uow.session
        user = signed_in(request, db)
        scope = integrations.resolve_scope(request, db, user, manage=True)
        webhook = scope.webhook(db, webhook_id)
        typed = integrations.WebhookForm.of(webhook)
        return _webhook_form_page(request, db, user, scope, typed, webhook=webhook)


@router.post(PROJECT_HOOKS + "/{webhook_id}")
@router.post(ACCOUNT_HOOKS + "/{webhook_id}")
def update_webhook(request: Request, webhook_id: uuid.UUID, form: Form) -> Response:
    try:
        with unit_of_work(request) as uow:
            db = uow.session
            user = signed_in(request, db)
            scope = integrations.resolve_scope(request, db, user, manage=True)
            webhook = scope.webhook(db, webhook_id)
            integrations.update_from_form(db, request, scope, webhook, form)
            target = scope.url(webhook)
    except FormProblem as problem:
        with unit_of_work(request) as uow:
            db = uow.session
            user = signed_in(request, db)
            scope = integrations.resolve_scope(request, db, user, manage=True)
            webhook = scope.webhook(db, webhook_id)
            return _webhook_form_page(
                request,
                db,
                user,
                scope,
                problem.values["webhook"],
                webhook=webhook,
                problem=problem,
            )
    return redirect(request, target, "Webhook saved.")


def _webhook_action(request: Request, webhook_id: uuid.UUID, action: Any, done: str) -> Response:
    """Run ``action(db, webhook)`` for a manager of the scope, then back to the webhook page
    with ``done`` (or the service's refusal) as the message."""
    try:
        with unit_of_work(request) as uow:
            db = uow.session
            user = signed_in(request, db)
            scope = integrations.resolve_scope(request, db, user, manage=True)
            webhook = scope.webhook(db, webhook_id)
            target = scope.url(webhook)
            message = action(db, webhook) or done
    except ApiError as exc:
        if exc.status_code != 409:
            raise
        return redirect(request, target, exc.detail, "error")
    return redirect(request, target, message)


@router.post(PROJECT_HOOKS + "/{webhook_id}/pause")
@router.post(ACCOUNT_HOOKS + "/{webhook_id}/pause")
def pause_webhook(request: Request, webhook_id: uuid.UUID, form: Form) -> Response:
    def pause(db: Session, webhook: Webhook) -> None:
        webhook_service.set_active(db, webhook, active=False)

    return _webhook_action(
        request, webhook_id, pause, "Paused: new events are not delivered until you resume."
    )


@router.post(PROJECT_HOOKS + "/{webhook_id}/resume")
@router.post(ACCOUNT_HOOKS + "/{webhook_id}/resume")
def resume_webhook(request: Request, webhook_id: uuid.UUID, form: Form) -> Response:
    def resume(db: Session, webhook: Webhook) -> None:
        webhook_service.set_active(db, webhook, active=True)

    return _webhook_action(request, webhook_id, resume, "Resumed: deliveries flow again.")


@router.post(PROJECT_HOOKS + "/{webhook_id}/test")
@router.post(ACCOUNT_HOOKS + "/{webhook_id}/test")
def send_test(request: Request, webhook_id: uuid.UUID, form: Form) -> Response:
    chosen = forms.text(form, "event")

    def test(db: Session, webhook: Webhook) -> str:
        event = chosen or (webhook.events[0] if webhook.events else "task.updated")
        try:
            check_event_types([event])
        except ValueError as exc:
            raise Unprocessable(f"event: {exc}") from None
        webhook_service.send_test(db, webhook=webhook, event_type=event, data=None)
        return f"Test {event} event queued: watch it arrive in the delivery log."

    return _webhook_action(request, webhook_id, test, "")


@router.post(PROJECT_HOOKS + "/{webhook_id}/delete")
@router.post(ACCOUNT_HOOKS + "/{webhook_id}/delete")
def delete_webhook(request: Request, webhook_id: uuid.UUID, form: Form) -> Response:
    with unit_of_work(request) as uow:
        db = uow.session
        user = signed_in(request, db)
        scope = integrations.resolve_scope(request, db, user, manage=True)
        webhook_service.delete_webhook(db, webhook=scope.webhook(db, webhook_id))
    return redirect(request, scope.base, "Webhook deleted with its delivery log.")


@router.post(PROJECT_HOOKS + "/{webhook_id}/deliveries/{delivery_id}/redeliver")
@router.post(ACCOUNT_HOOKS + "/{webhook_id}/deliveries/{delivery_id}/redeliver")
def redeliver(
    request: Request, webhook_id: uuid.UUID, delivery_id: uuid.UUID, form: Form
) -> Response:
    def again(db: Session, webhook: Webhook) -> None:
        webhook_service.redeliver(db, webhook=webhook, delivery_id=delivery_id)

    return _webhook_action(
        request, webhook_id, again, "Redelivery queued, with the same delivery id."
    )


@router.get("/fragments/header-row")
def header_row(request: Request) -> Response:
    """One more empty custom-header row for the webhook form (htmx)."""
    with unit_of_work(request) as uow:
        signed_in(request, uow.session)
    return render(request, "_header_row.html", {"name": "", "value": ""})
