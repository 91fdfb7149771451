"""Helpers of the webhook registration tests: rows read straight from the database."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import Engine, select, update

from planwire.events.models import Event
from planwire.webhooks.models import Delivery, DeliveryAttempt, Webhook
from tests.conftest import Actor

TRUEPPM_EXAMPLE = {
    "url": "https://hooks.example.com/trueppm",
    "secret": "your-shared-secret",
    "events": ["task.created", "task.updated", "schedule.recalculated"],
}
EXEPRON_EXAMPLE = {
    "name": "Production Webhook",
    "url": "https://api.yourapp.com/webhooks/exepron",
    "events": ["project.started", "task.red", "milestone.achieved"],
    "secret": "your-webhook-secret-key",
    "isActive": True,
    "headers": {"X-Custom-Header": "value"},
}


class Db:
    """Direct reads (and the worker's writes, simulated) on the test database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def webhook_rows(self) -> list[dict[str, Any]]:
        with self.engine.connect() as connection:
            return [dict(r._mapping) for r in connection.execute(select(Webhook.__table__))]

    def deliveries(self, webhook_id: str | None = None) -> list[dict[str, Any]]:
        query = (
            select(Delivery.__table__, Event.type.label("event_type"), Event.data)
            .join(Event, Event.id == Delivery.event_id)
            .order_by(Delivery.created_at, Event.created_at)
        )
        if webhook_id is not None:
            query = query.where(Delivery.webhook_id == uuid.UUID(str(webhook_id)))
        with self.engine.connect() as connection:
            return [dict(r._mapping) for r in connection.execute(query)]

    def events(self) -> list[dict[str, Any]]:
        with self.engine.connect() as connection:
            rows = connection.execute(select(Event.__table__).order_by(Event.created_at))
            return [dict(r._mapping) for r in rows]

    def fail_delivery(self, delivery_id: Any, *, attempts: int = 4, status: int = 500) -> None:
        """What the worker leaves after a delivery used up its retries."""
        with self.engine.begin() as connection:
            for number in range(1, attempts + 1):
                connection.execute(
                    DeliveryAttempt.__table__.insert().values(
                        delivery_id=delivery_id,
                        attempt_number=number,
                        duration_ms=12.5 * number,
                        request_headers={
                            "Content-Type": "application/json",
                            "X-TruePPM-Signature": "<redacted>",
                        },
                        response_status=status,
                        response_body="Internal Server Error",
                        error_kind="status",
                        error=f"HTTP {status}",
                    )
                )
            connection.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id)
                .values(
                    status="failed",
                    attempt_count=attempts,
                    response_status=status,
                    last_error="Internal Server Error",
                    next_attempt_at=None,
                    completed_at=Delivery.updated_at,
                )
            )

    def succeed_delivery(self, delivery_id: Any) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                DeliveryAttempt.__table__.insert().values(
                    delivery_id=delivery_id,
                    attempt_number=1,
                    duration_ms=145.2,
                    request_headers={"Content-Type": "application/json"},
                    response_status=200,
                    response_body="OK",
                )
            )
            connection.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id)
                .values(
                    status="success",
                    attempt_count=1,
                    response_status=200,
                    next_attempt_at=None,
                    completed_at=Delivery.updated_at,
                )
            )


@pytest.fixture
def db(engine: Engine) -> Db:
    return Db(engine)


def hooks_url(project_id: str, *rest: str) -> str:
    return "/".join([f"/api/v1/projects/{project_id}/webhooks", *rest]) + "/"


def _merged(example: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """The example with ``body``'s fields; a field given as None is left out."""
    return {k: v for k, v in {**example, **body}.items() if v is not None}


def create_project_webhook(actor: Actor, project_id: str, **body: Any) -> dict[str, Any]:
    response = actor.post(hooks_url(project_id), json=_merged(TRUEPPM_EXAMPLE, body))
    assert response.status_code == 201, response.text
    return dict(response.json())


def create_account_webhook(actor: Actor, **body: Any) -> dict[str, Any]:
    response = actor.post("/api/v1/webhooks", json=_merged(EXEPRON_EXAMPLE, body))
    assert response.status_code == 201, response.text
    return dict(response.json())
