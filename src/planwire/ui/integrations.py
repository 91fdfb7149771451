"""Integrations pages: project webhooks (the TruePPM surface) and account webhooks (the Exepron
surface) behind one set of pages.

A :class:`Scope` is "the webhooks of this project" or "the account webhooks of this
organization", with the roles the API applies to it (project: Viewer to look, Admin to change;
account: organization admins only). Forms are validated by the API's own input schemas and
applied by :mod:`planwire.webhooks.service`, so the UI accepts and refuses exactly what the API
does.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from planwire.api.deps import ADMIN, VIEWER, project_for, require_org_admin
from planwire.auth.models import User
from planwire.delivery.formats import retry_policy
from planwire.errors import ApiError, NotFound
from planwire.pagination import PageParams, paginate_query
from planwire.projects.models import Project
from planwire.ui import forms
from planwire.ui.forms import FormProblem
from planwire.ui.views import permissions
from planwire.webhooks import service
from planwire.webhooks.catalog import EVENT_TYPES
from planwire.webhooks.endpoints import webhook_config
from planwire.webhooks.models import Delivery, DeliveryAttempt, Webhook
from planwire.webhooks.schemas import (
    AccountWebhookCreate,
    AccountWebhookUpdate,
    ProjectWebhookCreate,
    ProjectWebhookUpdate,
)

DELIVERIES_PER_PAGE = 20
BODY_EXCERPT = 2000
BLANK_HEADER_ROWS = 2
FORMATS = (  # value, label, signature header, what is retried
    ("trueppm", "TruePPM", "X-TruePPM-Signature: sha256=<hex>", "any non-2xx, network errors"),
    ("exepron", "Exepron", "X-Exepron-Signature: <hex>", "5xx, timeouts, network errors"),
    ("standard", "Standard Webhooks", "webhook-signature: v1,<base64>", "5xx, 408/409/425/429"),
)
# The account schemas read camelCase; their errors name fields by alias.
_ALIASES = {"retrySchedule": "retry_schedule", "isActive": "is_active"}


@dataclass(frozen=True)
class Scope:
    kind: str  # "project" or "account"
    organization_id: int
    base: str  # URL of the list page
    can_manage: bool
    project: Project | None = None

    @property
    def default_format(self) -> str:
        return "trueppm" if self.kind == "project" else "exepron"

    @property
    def title(self) -> str:
        return "Integrations" if self.kind == "project" else "Account webhooks"

    def url(self, webhook: Webhook | uuid.UUID, suffix: str = "") -> str:
        webhook_id = webhook.id if isinstance(webhook, Webhook) else webhook
        return f"{self.base}/{webhook_id}{suffix}"

    def webhooks(self, db: Session) -> Sequence[Webhook]:
        query = select(Webhook).where(Webhook.organization_id == self.organization_id)
        if self.project is not None:
            query = query.where(Webhook.project_id == self.project.id)
        else:
            query = query.where(Webhook.project_id.is_(None))
        return db.scalars(query.order_by(Webhook.created_at, Webhook.id)).all()

    def webhook(self, db: Session, webhook_id: uuid.UUID) -> Webhook:
        if self.project is not None:
            return service.project_webhook(db, self.project.id, webhook_id)
        return service.account_webhook(db, self.organization_id, str(webhook_id))


def resolve_scope(
    request: Request, db: Session, user: User, *, manage: bool, lock: bool = False
) -> Scope:
    """The scope of this URL, checking the role the API requires (``manage``: to change)."""
    raw = request.path_params.get("project_id")
    if raw is None:
        require_org_admin(user)
        return Scope("account", user.organization_id, "/ui/webhooks", True)
    try:
        project_id = uuid.UUID(str(raw))
    except ValueError:
        raise NotFound(f"Project {raw} not found.") from None
    project = project_for(db, user, project_id, ADMIN if manage else VIEWER, lock=lock)
    return Scope(
        "project",
        project.organization_id,
        f"/ui/projects/{project.id}/integrations",
        permissions(db, user, project).manage_webhooks,
        project,
    )


def status_of(webhook: Webhook) -> str:
    if webhook.disabled_at is not None:
        return "disabled"
    return "active" if webhook.is_active else "paused"


def event_families() -> list[tuple[str, list[Any]]]:
    """The event catalog grouped by family, in catalog order."""
    families: dict[str, list[Any]] = {}
    for event in EVENT_TYPES:
        families.setdefault(event.family, []).append(event)
    return list(families.items())


def default_schedule(fmt: str) -> str:
    return ", ".join(_seconds(s) for s in retry_policy(fmt).default_schedule)


def _seconds(value: float) -> str:
    return f"{value:g}"


def schedule_text(schedule: Sequence[float] | None) -> str:
    return "" if schedule is None else ", ".join(_seconds(s) for s in schedule)


# --- forms ---------------------------------------------------------------------------------------


@dataclass
class WebhookForm:
    """What the create/edit form shows (never a secret)."""

    name: str = ""
    url: str = ""
    format: str = "trueppm"
    all_events: bool = True
    events: list[str] = field(default_factory=list)
    retry_schedule: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def of(cls, webhook: Webhook) -> WebhookForm:
        return cls(
            name=webhook.name,
            url=webhook.url,
            format=webhook.format,
            all_events=not webhook.events,
            events=list(webhook.events or []),
            retry_schedule=schedule_text(webhook.retry_schedule),
            headers=list(service.shown_headers(webhook).items()),
        )

    @property
    def header_rows(self) -> list[tuple[str, str]]:
        return [*self.headers, *[("", "")] * BLANK_HEADER_ROWS]


def read_form(form: FormData, scope: Scope) -> WebhookForm:
    names = [str(v).strip() for v in form.getlist("header_name")]
    values = [str(v).strip() for v in form.getlist("header_value")]
    return WebhookForm(
        name=forms.text(form, "name"),
        url=forms.text(form, "url"),
        format=forms.text(form, "format") or scope.default_format,
        all_events=forms.text(form, "events_mode") != "some",
        events=[str(v) for v in form.getlist("events")],
        retry_schedule=forms.text(form, "retry_schedule"),
        headers=[(n, v) for n, v in zip(names, values, strict=False) if n or v],
    )


def _problem(errors: dict[str, str], typed: WebhookForm) -> FormProblem:
    return FormProblem("webhook", errors, {"webhook": typed})


def _fields(scope: Scope, typed: WebhookForm, secret: str) -> dict[str, Any]:
    """The form as the API's JSON body (snake_case keys; the account schemas alias them)."""
    errors: dict[str, str] = {}
    schedule: list[float] | None = None
    if typed.retry_schedule:
        try:
            schedule = [float(part) for part in typed.retry_schedule.replace(";", ",").split(",")]
        except ValueError:
            errors["retry_schedule"] = "write the delays in seconds, separated by commas"
    headers: dict[str, str] = {}
    for name, value in typed.headers:
        if not name:
            errors["headers"] = f"the header with the value {value!r} has no name"
        elif name.lower() in {n.lower() for n in headers}:
            errors["headers"] = f"header {name} is given more than once"
        headers[name] = value
    if not typed.all_events and not typed.events:
        errors["events"] = "choose at least one event, or receive all events"
    if errors:
        raise _problem(errors, typed)
    data: dict[str, Any] = {
        "url": typed.url,
        "events": [] if typed.all_events else typed.events,
        "format": typed.format,
        "retry_schedule": schedule,
        "headers": headers,
    }
    if scope.kind == "account":
        data["name"] = typed.name
    if secret:
        data["secret"] = secret
    return data


def _validated(
    model: type[BaseModel], scope: Scope, data: dict[str, Any], typed: WebhookForm
) -> Any:
    body = (
        data
        if scope.kind == "project"
        else {("retrySchedule" if k == "retry_schedule" else k): v for k, v in data.items()}
    )
    try:
        return forms.validate(model, body, "webhook", {})
    except FormProblem as problem:
        errors = {_ALIASES.get(k, k): v for k, v in problem.errors.items()}
        raise _problem(errors, typed) from None


def create_from_form(
    db: Session, request: Request, scope: Scope, user: User, form: FormData
) -> tuple[Webhook, str]:
    """Register the webhook of a submitted form; returns it and its secret (shown once)."""
    typed = read_form(form, scope)
    data = _fields(scope, typed, _raw(form, "secret"))
    model = ProjectWebhookCreate if scope.kind == "project" else AccountWebhookCreate
    validated = _validated(model, scope, data, typed)
    try:
        return service.create_webhook(
            db,
            config=webhook_config(request),
            organization_id=scope.organization_id,
            project_id=scope.project.id if scope.project is not None else None,
            created_by_id=user.id,
            fields=validated.model_dump(by_alias=False),
        )
    except ApiError as exc:
        raise _service_problem(exc, typed) from None


def update_from_form(
    db: Session, request: Request, scope: Scope, webhook: Webhook, form: FormData
) -> None:
    typed = read_form(form, scope)
    data = _fields(scope, typed, _raw(form, "secret"))
    model = ProjectWebhookUpdate if scope.kind == "project" else AccountWebhookUpdate
    validated = _validated(model, scope, data, typed)
    try:
        service.update_webhook(
            db,
            config=webhook_config(request),
            webhook=webhook,
            changes=validated.model_dump(exclude_unset=True, by_alias=False),
        )
    except ApiError as exc:
        raise _service_problem(exc, typed) from None


_WEBHOOK_FIELDS = {name: "" for name in ("name", "url", "secret", "events", "format", "headers")}


def _service_problem(exc: ApiError, typed: WebhookForm) -> Exception:
    """A refusal of the service (409, 422) as a problem shown on the form; any other error
    stays as it is."""
    if exc.status_code not in (409, 422):
        return exc
    return _problem(forms.from_api_error(exc, "webhook", _WEBHOOK_FIELDS).errors, typed)


def _raw(form: FormData, name: str) -> str:
    """A field as typed (secrets are not trimmed: the service refuses surrounding spaces)."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


# --- delivery log --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryRow:
    delivery: Delivery
    event: str
    attempts: list[DeliveryAttempt]

    @property
    def last(self) -> DeliveryAttempt | None:
        return self.attempts[-1] if self.attempts else None


def delivery_log(
    db: Session, webhook: Webhook, page: int, status: str | None
) -> tuple[int, list[DeliveryRow]]:
    """One page of the webhook's deliveries (newest first) with their attempts."""
    count, rows = paginate_query(
        db,
        service.deliveries_query(webhook, status),
        PageParams(page=page, page_size=DELIVERIES_PER_PAGE),
    )
    deliveries = list(rows)
    types = service.event_types_of(db, deliveries)
    attempts = service.attempts_of(db, deliveries)
    return count, [DeliveryRow(d, types.get(d.event_id, ""), attempts[d.id]) for d in deliveries]


def account_webhook_count(db: Session, organization_id: int) -> int:
    return int(
        db.scalar(
            select(func.count())
            .select_from(Webhook)
            .where(Webhook.organization_id == organization_id, Webhook.project_id.is_(None))
        )
        or 0
    )
