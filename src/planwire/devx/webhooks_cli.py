"""``planwire webhooks list|test|redeliver|logs``: webhook operations for scripts and operators.

They work directly on the database (``PLANWIRE_DATABASE_URL``) through
:mod:`planwire.webhooks.service`, the functions the API uses, in one unit of work each. With
``--project ID`` they address that project's webhooks (the TruePPM surface); without it, account
webhooks (the Exepron surface). Output is a rich table, or JSON with ``--json``.

Sending is the worker's job: ``test`` and ``redeliver`` queue a delivery (with the usual wake-up
of workers), and ``--wait`` waits for its outcome.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

webhooks_app = typer.Typer(
    help="Webhook operations on the database: list, test, redeliver, logs.", no_args_is_help=True
)
console = Console()

ProjectOption = Annotated[
    uuid.UUID | None,
    typer.Option("--project", help="A project's webhooks (default: account webhooks)."),
]
OrganizationOption = Annotated[
    int | None,
    typer.Option(help="Organization of the account webhooks (default: the first one)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (for scripts).")]
WaitOption = Annotated[
    float,
    typer.Option(
        min=0, max=600, help="Seconds to wait for the outcome (a worker must be running)."
    ),
]


@contextmanager
def _session() -> Iterator[Session]:
    """A unit of work on the configured database (committed when the block succeeds)."""
    from planwire.cli import prepared_engine, settings_or_exit
    from planwire.db import make_session_factory
    from planwire.uow import UnitOfWork

    settings = settings_or_exit()
    engine = prepared_engine(settings)
    try:
        with UnitOfWork(make_session_factory(engine)) as uow:
            yield uow.session
    finally:
        engine.dispose()


def _fail(message: str) -> NoReturn:
    from planwire.cli import fail

    fail(message)


def _webhook(session: Session, webhook_id: str, project: uuid.UUID | None) -> Any:
    from planwire.errors import NotFound
    from planwire.webhooks import service
    from planwire.webhooks.models import Webhook

    try:
        if project is not None:
            return service.project_webhook(session, project, uuid.UUID(webhook_id), lock=True)
        parsed = uuid.UUID(webhook_id)
    except (NotFound, ValueError):
        where = f"project {project}" if project is not None else "the account webhooks"
        _fail(f"no webhook {webhook_id} in {where}")
    found = session.get(Webhook, parsed)
    if found is not None and found.project_id is not None:
        _fail(f"webhook {webhook_id} belongs to project {found.project_id}: add --project")
    if found is None:
        _fail(f"no account webhook {webhook_id}")
    return service.account_webhook(session, found.organization_id, webhook_id, lock=True)


def _organization(session: Session, organization: int | None) -> int:
    from planwire.auth.models import Organization

    if organization is not None:
        if session.get(Organization, organization) is None:
            _fail(f"no organization {organization}")
        return organization
    first = session.scalar(select(Organization.id).order_by(Organization.id))
    if first is None:
        _fail("the database has no organization yet (planwire serve creates one)")
    return first


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _webhook_json(webhook: Any) -> dict[str, Any]:
    from planwire.webhooks import service

    return {
        "id": str(webhook.id),
        "project_id": None if webhook.project_id is None else str(webhook.project_id),
        "name": webhook.name,
        "url": webhook.url,
        "format": webhook.format,
        "events": list(webhook.events or []),
        "is_active": webhook.is_active,
        "disabled_at": _iso(webhook.disabled_at),
        "disabled_reason": webhook.disabled_reason,
        "headers": service.shown_headers(webhook),
        "retry_schedule": webhook.retry_schedule,
        "created_at": _iso(webhook.created_at),
        "last_triggered_at": _iso(webhook.last_triggered_at),
        "statistics": {
            "total_calls": webhook.total_calls,
            "successful_calls": webhook.successful_calls,
            "failed_calls": webhook.failed_calls,
        },
    }


def _state(webhook: Any) -> str:
    if webhook.disabled_at is not None:
        return "[red]disabled[/]"
    return "[green]active[/]" if webhook.is_active else "[yellow]paused[/]"


@webhooks_app.command("list")
def list_webhooks(
    project: ProjectOption = None,
    organization: OrganizationOption = None,
    json_output: JsonOption = False,
) -> None:
    """List the webhooks of a project, or the account webhooks of an organization."""
    from planwire.projects.models import Project
    from planwire.webhooks.models import Webhook

    with _session() as session:
        query = select(Webhook).order_by(Webhook.created_at, Webhook.id)
        if project is not None:
            if session.get(Project, project) is None:
                _fail(f"no project {project}")
            query = query.where(Webhook.project_id == project)
        else:
            org = _organization(session, organization)
            query = query.where(Webhook.organization_id == org, Webhook.project_id.is_(None))
        webhooks = session.scalars(query).all()
        rows = [_webhook_json(w) for w in webhooks]
        states = [_state(w) for w in webhooks]
    if json_output:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="Project webhooks" if project else "Account webhooks")
    for column in ("id", "name / url", "format", "events", "state", "calls ok/failed", "last"):
        table.add_column(column)
    for row, state in zip(rows, states, strict=True):
        stats = row["statistics"]
        table.add_row(
            row["id"],
            (f"{row['name']}\n" if row["name"] else "") + row["url"],
            row["format"],
            ", ".join(row["events"]) or "all",
            state,
            f"{stats['successful_calls']}/{stats['failed_calls']}",
            (row["last_triggered_at"] or "-")[:19],
        )
    console.print(table if rows else "no webhooks")


@webhooks_app.command("test")
def test_webhook(
    webhook_id: Annotated[str, typer.Argument(help="The webhook's id.")],
    project: ProjectOption = None,
    event: Annotated[
        str | None, typer.Option(help="Event type (default: the webhook's first, or task.updated).")
    ] = None,
    wait: WaitOption = 0,
    json_output: JsonOption = False,
) -> None:
    """Queue a test delivery (the catalog's example data) through the normal pipeline."""
    from planwire.errors import ApiError
    from planwire.webhooks import service
    from planwire.webhooks.catalog import CATALOG

    if event is not None and event not in CATALOG:
        _fail(f"unknown event type {event!r}; valid event types are: {', '.join(CATALOG)}")
    with _session() as session:
        webhook = _webhook(session, webhook_id, project)
        chosen = event or (webhook.events[0] if webhook.events else "task.updated")
        try:
            delivery, _ = service.send_test(session, webhook=webhook, event_type=chosen, data=None)
        except ApiError as exc:
            _fail(exc.detail)
        delivery_id = delivery.id
    _report(delivery_id, f"test delivery of {chosen} queued", wait, json_output)


@webhooks_app.command("redeliver")
def redeliver(
    webhook_id: Annotated[str, typer.Argument(help="The webhook's id.")],
    delivery_id: Annotated[uuid.UUID, typer.Argument(help="The failed delivery's id.")],
    project: ProjectOption = None,
    wait: WaitOption = 0,
    json_output: JsonOption = False,
) -> None:
    """Send a failed delivery again, with the same delivery id (X-Planwire-Delivery)."""
    from planwire.errors import ApiError
    from planwire.webhooks import service

    with _session() as session:
        webhook = _webhook(session, webhook_id, project)
        try:
            service.redeliver(session, webhook=webhook, delivery_id=delivery_id)
        except ApiError as exc:
            _fail(exc.detail)
    _report(delivery_id, "redelivery queued", wait, json_output)


def _report(delivery_id: uuid.UUID, what: str, wait: float, json_output: bool) -> None:
    outcome = _wait_for(delivery_id, wait) if wait else None
    if json_output:
        typer.echo(json.dumps({"delivery_id": str(delivery_id), **(outcome or {})}, indent=2))
        return
    console.print(f"{what}: delivery [bold]{delivery_id}[/]", highlight=False)
    if outcome is None:
        console.print("a worker (planwire serve or planwire worker) sends it", style="dim")
    elif outcome["status"] == "pending":
        console.print(
            f"still pending after {wait:g} s (attempts so far: {outcome['attempt_count']}; "
            "is a worker running?)",
            style="yellow",
            highlight=False,
        )
    else:
        colour = "green" if outcome["status"] == "success" else "red"
        error = f", {outcome['last_error']}" if outcome.get("last_error") else ""
        console.print(
            f"[{colour}]{outcome['status']}[/]: HTTP {outcome['response_status'] or '-'} after "
            f"{outcome['attempt_count']} attempt(s){error}",
            highlight=False,
        )


def _wait_for(delivery_id: uuid.UUID, wait: float) -> dict[str, Any]:
    """The delivery's state once it is no longer pending, or after ``wait`` seconds."""
    from planwire.cli import prepared_engine, settings_or_exit
    from planwire.webhooks.models import Delivery

    engine = prepared_engine(settings_or_exit())
    deadline = time.monotonic() + wait
    query = select(
        Delivery.status, Delivery.response_status, Delivery.attempt_count, Delivery.last_error
    ).where(Delivery.id == delivery_id)
    try:
        first = None
        while True:
            with engine.connect() as connection:
                row = connection.execute(query).one()
            first = row.attempt_count if first is None else first
            # A retry scheduled for later is still "pending": report it once it had an attempt.
            attempted = row.attempt_count > first
            if row.status != "pending" or attempted or time.monotonic() >= deadline:
                return {
                    "status": row.status,
                    "response_status": row.response_status,
                    "attempt_count": row.attempt_count,
                    "last_error": row.last_error,
                }
            time.sleep(0.1)
    finally:
        engine.dispose()


@webhooks_app.command("logs")
def logs(
    webhook_id: Annotated[str, typer.Argument(help="The webhook's id.")],
    project: ProjectOption = None,
    top: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 20,
    status: Annotated[
        str | None, typer.Option(help="Only deliveries in this status: pending, success, failed.")
    ] = None,
    attempts: Annotated[
        bool, typer.Option("--attempts", help="Show every attempt of each delivery.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """The deliveries of a webhook, newest first, with their attempts."""
    from planwire.webhooks import service

    if status is not None and status not in ("pending", "success", "failed"):
        _fail("--status must be pending, success or failed")
    with _session() as session:
        webhook = _webhook(session, webhook_id, project)
        deliveries = list(session.scalars(service.deliveries_query(webhook, status).limit(top)))
        types = service.event_types_of(session, deliveries)
        tries = service.attempts_of(session, deliveries)
        rows: list[dict[str, Any]] = [
            {
                "id": str(d.id),
                "event": types.get(d.event_id, ""),
                "status": d.status,
                "response_status": d.response_status,
                "attempt_count": d.attempt_count,
                "is_test": d.is_test,
                "last_error": d.last_error,
                "created_at": _iso(d.created_at),
                "completed_at": _iso(d.completed_at),
                "next_attempt_at": _iso(d.next_attempt_at) if d.status == "pending" else None,
                "attempts": [
                    {
                        "attempt_number": a.attempt_number,
                        "started_at": _iso(a.started_at),
                        "duration_ms": round(a.duration_ms, 1),
                        "response_status": a.response_status,
                        "error_kind": a.error_kind,
                        "error": a.error,
                    }
                    for a in tries[d.id]
                ],
            }
            for d in deliveries
        ]
    if json_output:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"Deliveries of webhook {webhook_id} (newest first)")
    for column in ("delivery", "event", "status", "HTTP", "attempts", "created", "error"):
        table.add_column(column)
    colours = {"success": "green", "failed": "red", "pending": "yellow"}
    for row in rows:
        table.add_row(
            row["id"],
            row["event"] + (" (test)" if row["is_test"] else ""),
            f"[{colours[row['status']]}]{row['status']}[/]",
            str(row["response_status"] or "-"),
            str(row["attempt_count"]),
            (row["created_at"] or "")[:19],
            row["last_error"] or "",
        )
        if attempts:
            for attempt in row["attempts"]:
                table.add_row(
                    "",
                    f"  attempt {attempt['attempt_number']}",
                    "",
                    str(attempt["response_status"] or "-"),
                    f"{attempt['duration_ms']} ms",
                    (attempt["started_at"] or "")[:19],
                    attempt["error"] or "",
                )
    console.print(table if rows else "no deliveries")
