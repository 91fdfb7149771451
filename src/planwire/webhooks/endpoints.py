"""Routes of webhooks: the project surface (TruePPM document), the account surface (Exepron
document) and the event catalog.

Project webhooks: listing and viewing need Viewer on the project, everything else Admin.
Account webhooks: organization admins only; another organization's webhook is a 404.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from planwire.api.deps import ADMIN, VIEWER, CurrentUser, SessionDep, project_for, require_org_admin
from planwire.pagination import Page, PageParams, make_page, page_params, paginate_query
from planwire.webhooks import service
from planwire.webhooks.catalog import EVENT_TYPES
from planwire.webhooks.models import Delivery, Webhook
from planwire.webhooks.schemas import (
    AccountStatistics,
    AccountWebhookCreate,
    AccountWebhookCreated,
    AccountWebhookList,
    AccountWebhookOut,
    AccountWebhookTestRequest,
    AccountWebhookUpdate,
    AttemptOut,
    DeliveryOut,
    EventTypeOut,
    LogEntry,
    LogList,
    ProjectWebhookCreate,
    ProjectWebhookCreated,
    ProjectWebhookOut,
    ProjectWebhookUpdate,
    Statistics,
    WebhookTestRequest,
)

Paging = Annotated[PageParams, Depends(page_params)]


def webhook_config(request: Request) -> service.WebhookConfig:
    """The SSRF policy and secrets key of this app, built once from its settings."""
    state = request.app.state
    config: service.WebhookConfig | None = getattr(state, "webhook_config", None)
    if config is None:
        config = service.WebhookConfig.from_settings(state.settings)
        state.webhook_config = config
    return config


Config = Annotated[service.WebhookConfig, Depends(webhook_config)]

# --- project surface -----------------------------------------------------------------------------

project_router = APIRouter(prefix="/api/v1/projects/{project_id}/webhooks", tags=["webhooks"])


def _project_out(webhook: Webhook) -> ProjectWebhookOut:
    assert webhook.project_id is not None
    return ProjectWebhookOut(
        id=webhook.id,
        project_id=webhook.project_id,
        url=webhook.url,
        events=list(webhook.events or []),
        format=webhook.format,
        retry_schedule=webhook.retry_schedule,
        headers=service.shown_headers(webhook),
        is_active=webhook.is_active,
        disabled_at=webhook.disabled_at,
        disabled_reason=webhook.disabled_reason,
        created_at=webhook.created_at,
        updated_at=webhook.updated_at,
        last_triggered_at=webhook.last_triggered_at,
        statistics=Statistics(
            total_calls=webhook.total_calls,
            successful_calls=webhook.successful_calls,
            failed_calls=webhook.failed_calls,
        ),
    )


def _deliveries_out(session: Session, deliveries: list[Delivery]) -> list[DeliveryOut]:
    types = service.event_types_of(session, deliveries)
    attempts = service.attempts_of(session, deliveries)
    return [
        DeliveryOut(
            id=d.id,
            event=types.get(d.event_id, ""),
            event_id=d.event_id,
            is_test=d.is_test,
            status=d.status,
            response_status=d.response_status,
            attempt_count=d.attempt_count,
            last_error=d.last_error,
            created_at=d.created_at,
            updated_at=d.updated_at,
            completed_at=d.completed_at,
            next_attempt_at=d.next_attempt_at,
            attempts=[
                AttemptOut(
                    attempt_number=a.attempt_number,
                    started_at=a.started_at,
                    duration_ms=a.duration_ms,
                    request_headers=a.request_headers or {},
                    response_status=a.response_status,
                    response_body=a.response_body or "",
                    error_kind=a.error_kind,
                    error=a.error,
                )
                for a in attempts[d.id]
            ],
        )
        for d in deliveries
    ]


@project_router.post(
    "/",
    response_model=ProjectWebhookCreated,
    status_code=201,
    summary="Register a project webhook (Admin); the secret is returned once",
)
def create_project_webhook(
    project_id: uuid.UUID,
    data: ProjectWebhookCreate,
    session: SessionDep,
    user: CurrentUser,
    config: Config,
) -> ProjectWebhookCreated:
    project = project_for(session, user, project_id, ADMIN)
    webhook, secret = service.create_webhook(
        session,
        config=config,
        organization_id=project.organization_id,
        project_id=project.id,
        created_by_id=user.id,
        fields=data.model_dump(),
    )
    return ProjectWebhookCreated(**_project_out(webhook).model_dump(), secret=secret)


@project_router.get(
    "/", response_model=Page[ProjectWebhookOut], summary="List the project's webhooks (Viewer)"
)
def list_project_webhooks(
    project_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    paging: Paging,
) -> Page[ProjectWebhookOut]:
    project = project_for(session, user, project_id, VIEWER)
    query = (
        select(Webhook)
        .where(Webhook.project_id == project.id)
        .order_by(Webhook.created_at, Webhook.id)
    )
    count, rows = paginate_query(session, query, paging)
    return make_page(request, paging, count, [_project_out(w) for w in rows])


@project_router.get("/{webhook_id}/", response_model=ProjectWebhookOut, summary="View (Viewer)")
def get_project_webhook(
    project_id: uuid.UUID, webhook_id: uuid.UUID, session: SessionDep, user: CurrentUser
) -> ProjectWebhookOut:
    project = project_for(session, user, project_id, VIEWER)
    return _project_out(service.project_webhook(session, project.id, webhook_id))


@project_router.patch(
    "/{webhook_id}/",
    response_model=ProjectWebhookOut,
    summary="Change a webhook (Admin): is_active false pauses it, a new secret rotates it",
)
def patch_project_webhook(
    project_id: uuid.UUID,
    webhook_id: uuid.UUID,
    data: ProjectWebhookUpdate,
    session: SessionDep,
    user: CurrentUser,
    config: Config,
) -> ProjectWebhookOut:
    project = project_for(session, user, project_id, ADMIN)
    webhook = service.project_webhook(session, project.id, webhook_id, lock=True)
    service.update_webhook(
        session, config=config, webhook=webhook, changes=data.model_dump(exclude_unset=True)
    )
    return _project_out(webhook)


@project_router.delete("/{webhook_id}/", status_code=204, summary="Delete a webhook (Admin)")
def delete_project_webhook(
    project_id: uuid.UUID, webhook_id: uuid.UUID, session: SessionDep, user: CurrentUser
) -> Response:
    project = project_for(session, user, project_id, ADMIN)
    webhook = service.project_webhook(session, project.id, webhook_id, lock=True)
    service.delete_webhook(session, webhook=webhook)
    return Response(status_code=204)


@project_router.get(
    "/{webhook_id}/deliveries/",
    response_model=Page[DeliveryOut],
    summary="Delivery records with their attempts, newest first (Viewer)",
)
def list_deliveries(
    project_id: uuid.UUID,
    webhook_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    paging: Paging,
    status: Annotated[Literal["pending", "success", "failed"] | None, Query()] = None,
) -> Page[DeliveryOut]:
    project = project_for(session, user, project_id, VIEWER)
    webhook = service.project_webhook(session, project.id, webhook_id)
    count, rows = paginate_query(session, service.deliveries_query(webhook, status), paging)
    return make_page(request, paging, count, _deliveries_out(session, list(rows)))


@project_router.post(
    "/{webhook_id}/test/",
    response_model=DeliveryOut,
    status_code=202,
    summary="Send a test delivery through the normal pipeline (Admin)",
)
def send_project_test(
    project_id: uuid.UUID,
    webhook_id: uuid.UUID,
    session: SessionDep,
    user: CurrentUser,
    data: Annotated[WebhookTestRequest | None, Body()] = None,
) -> DeliveryOut:
    project = project_for(session, user, project_id, ADMIN)
    webhook = service.project_webhook(session, project.id, webhook_id, lock=True)
    request = data or WebhookTestRequest()
    event = request.event or (webhook.events[0] if webhook.events else "task.updated")
    delivery, _ = service.send_test(session, webhook=webhook, event_type=event, data=request.data)
    return _deliveries_out(session, [delivery])[0]


@project_router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver/",
    response_model=DeliveryOut,
    status_code=202,
    summary="Send a failed delivery again, with the same delivery id (Admin)",
)
def redeliver_project_delivery(
    project_id: uuid.UUID,
    webhook_id: uuid.UUID,
    delivery_id: uuid.UUID,
    session: SessionDep,
    user: CurrentUser,
) -> DeliveryOut:
    project = project_for(session, user, project_id, ADMIN)
    webhook = service.project_webhook(session, project.id, webhook_id, lock=True)
    delivery = service.redeliver(session, webhook=webhook, delivery_id=delivery_id)
    return _deliveries_out(session, [delivery])[0]


# --- account surface -----------------------------------------------------------------------------

account_router = APIRouter(prefix="/api/v1/webhooks", tags=["account webhooks"])


def _account_out(webhook: Webhook) -> AccountWebhookOut:
    return AccountWebhookOut(
        id=str(webhook.id),
        name=webhook.name,
        url=webhook.url,
        events=list(webhook.events or []),
        is_active=webhook.is_active,
        created_at=webhook.created_at,
        last_triggered=webhook.last_triggered_at,
        statistics=AccountStatistics(
            total_calls=webhook.total_calls,
            successful_calls=webhook.successful_calls,
            failed_calls=webhook.failed_calls,
        ),
        format=webhook.format,
        headers=service.shown_headers(webhook),
        retry_schedule=webhook.retry_schedule,
        disabled_at=webhook.disabled_at,
        disabled_reason=webhook.disabled_reason,
        updated_at=webhook.updated_at,
    )


def _log_entries(session: Session, webhook: Webhook, deliveries: list[Delivery]) -> LogList:
    types = service.event_types_of(session, deliveries)
    attempts = service.attempts_of(session, deliveries)
    entries = []
    for d in deliveries:
        last = attempts[d.id][-1] if attempts[d.id] else None
        entry = LogEntry(
            id=str(d.id),
            webhook_id=str(webhook.id),
            event=types.get(d.event_id, ""),
            timestamp=d.created_at,
            status=d.status,
            http_status=d.response_status,
            response_time=round(last.duration_ms) if last is not None else None,
            retries=max(0, d.attempt_count - 1),
            is_test=d.is_test,
        )
        if d.last_error and d.status != "success":
            entry.error = d.last_error
        entries.append(entry)
    return LogList(value=entries)


@account_router.post(
    "/",
    response_model=AccountWebhookCreated,
    status_code=201,
    summary="Register an account webhook (organization admin); the secret is returned once",
)
def create_account_webhook(
    data: AccountWebhookCreate, session: SessionDep, user: CurrentUser, config: Config
) -> AccountWebhookCreated:
    require_org_admin(user)
    webhook, secret = service.create_webhook(
        session,
        config=config,
        organization_id=user.organization_id,
        project_id=None,
        created_by_id=user.id,
        fields=data.model_dump(by_alias=False),
    )
    return AccountWebhookCreated(**_account_out(webhook).model_dump(), secret=secret)


@account_router.get("/", response_model=AccountWebhookList, summary="List account webhooks")
def list_account_webhooks(session: SessionDep, user: CurrentUser) -> AccountWebhookList:
    require_org_admin(user)
    webhooks = session.scalars(
        select(Webhook)
        .where(Webhook.organization_id == user.organization_id, Webhook.project_id.is_(None))
        .order_by(Webhook.created_at, Webhook.id)
    ).all()
    return AccountWebhookList(value=[_account_out(w) for w in webhooks])


@account_router.get("/{webhook_id}/", response_model=AccountWebhookOut)
def get_account_webhook(
    webhook_id: str, session: SessionDep, user: CurrentUser
) -> AccountWebhookOut:
    require_org_admin(user)
    return _account_out(service.account_webhook(session, user.organization_id, webhook_id))


@account_router.put(
    "/{webhook_id}/",
    response_model=AccountWebhookOut,
    summary="Update a webhook: only the fields given change; a new secret rotates it",
)
def put_account_webhook(
    webhook_id: str,
    data: AccountWebhookUpdate,
    session: SessionDep,
    user: CurrentUser,
    config: Config,
) -> AccountWebhookOut:
    require_org_admin(user)
    webhook = service.account_webhook(session, user.organization_id, webhook_id, lock=True)
    service.update_webhook(
        session,
        config=config,
        webhook=webhook,
        changes=data.model_dump(exclude_unset=True, by_alias=False),
    )
    return _account_out(webhook)


@account_router.delete("/{webhook_id}/", status_code=204)
def delete_account_webhook(webhook_id: str, session: SessionDep, user: CurrentUser) -> Response:
    require_org_admin(user)
    service.delete_webhook(
        session,
        webhook=service.account_webhook(session, user.organization_id, webhook_id, lock=True),
    )
    return Response(status_code=204)


@account_router.patch("/{webhook_id}/pause/", response_model=AccountWebhookOut)
def pause_account_webhook(
    webhook_id: str, session: SessionDep, user: CurrentUser
) -> AccountWebhookOut:
    """New events are not delivered and scheduled retries wait until it is resumed."""
    require_org_admin(user)
    webhook = service.account_webhook(session, user.organization_id, webhook_id, lock=True)
    service.set_active(session, webhook, active=False)
    return _account_out(webhook)


@account_router.patch("/{webhook_id}/resume/", response_model=AccountWebhookOut)
def resume_account_webhook(
    webhook_id: str, session: SessionDep, user: CurrentUser
) -> AccountWebhookOut:
    """Also re-enables a webhook that was disabled automatically after failing too long."""
    require_org_admin(user)
    webhook = service.account_webhook(session, user.organization_id, webhook_id, lock=True)
    service.set_active(session, webhook, active=True)
    return _account_out(webhook)


@account_router.post(
    "/{webhook_id}/test/",
    response_model=LogEntry,
    response_model_exclude_unset=True,
    status_code=202,
    summary="Send a test event through the normal pipeline; it shows in the logs",
)
def send_account_test(
    webhook_id: str, data: AccountWebhookTestRequest, session: SessionDep, user: CurrentUser
) -> LogEntry:
    require_org_admin(user)
    webhook = service.account_webhook(session, user.organization_id, webhook_id)
    delivery, _ = service.send_test(session, webhook=webhook, event_type=data.event, data=data.data)
    return _log_entries(session, webhook, [delivery]).value[0]


@account_router.get(
    "/{webhook_id}/logs/",
    response_model=LogList,
    response_model_exclude_unset=True,
    summary="Deliveries, newest first",
)
def account_webhook_logs(
    webhook_id: str,
    session: SessionDep,
    user: CurrentUser,
    top: Annotated[int, Query(alias="$top", ge=1, le=1000)] = 50,
) -> LogList:
    require_org_admin(user)
    webhook = service.account_webhook(session, user.organization_id, webhook_id)
    deliveries = session.scalars(service.deliveries_query(webhook).limit(top)).all()
    return _log_entries(session, webhook, list(deliveries))


@account_router.post(
    "/{webhook_id}/logs/{log_id}/redeliver/",
    response_model=LogEntry,
    response_model_exclude_unset=True,
    status_code=202,
    summary="Send a failed delivery again, with the same delivery id",
)
def redeliver_account_delivery(
    webhook_id: str, log_id: uuid.UUID, session: SessionDep, user: CurrentUser
) -> LogEntry:
    require_org_admin(user)
    webhook = service.account_webhook(session, user.organization_id, webhook_id)
    delivery = service.redeliver(session, webhook=webhook, delivery_id=log_id)
    return _log_entries(session, webhook, [delivery]).value[0]


# --- event catalog -------------------------------------------------------------------------------

events_router = APIRouter(prefix="/api/v1/webhook-events", tags=["webhooks"])


@events_router.get(
    "/",
    response_model=Page[EventTypeOut],
    summary="Every event type with its description and the JSON Schema of its data",
)
def list_event_types(request: Request, user: CurrentUser, paging: Paging) -> Page[EventTypeOut]:
    items = [
        EventTypeOut(
            type=e.type,
            family=e.family,
            description=e.description,
            data_schema=e.schema,
            example=e.example,
        )
        for e in EVENT_TYPES
    ]
    page = items[paging.offset : paging.offset + paging.page_size]
    return make_page(request, paging, len(items), page)


router = APIRouter()
router.include_router(project_router)
router.include_router(account_router)
router.include_router(events_router)
