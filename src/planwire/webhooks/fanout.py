"""Fan-out: one delivery per (event, matching active webhook), written with the event.

Also the wake-up path: a delivery committed must leave within milliseconds. On PostgreSQL the
transaction issues ``pg_notify`` (delivered to listening workers at commit); in-process workers
register a callback with :func:`add_wakeup_listener` that runs after every commit that created
deliveries.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from planwire.db import new_id, utcnow
from planwire.webhooks.models import Delivery, Webhook


class OutboxEvent(Protocol):
    """What fan-out reads of an event: who it belongs to and what it is."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def organization_id(self) -> int: ...
    @property
    def project_id(self) -> uuid.UUID | None: ...
    @property
    def type(self) -> str: ...


NOTIFY_CHANNEL = "planwire_deliveries"
_CREATED = "planwire.deliveries_created"
_listeners: list[Callable[[], None]] = []
_listeners_lock = threading.Lock()


def webhook_matches(webhook: Webhook, event_type: str, project_id: Any) -> bool:
    """Whether ``webhook`` subscribes to an event of ``event_type`` in ``project_id``."""
    if webhook.events and event_type not in webhook.events:
        return False
    if webhook.project_id is None:
        return True
    return webhook.project_id == project_id or event_type == "project.created"


def fan_out(session: Session, events: Sequence[OutboxEvent]) -> int:
    """Insert the deliveries of ``events``; returns how many were created."""
    organization_ids = {event.organization_id for event in events}
    webhooks = session.scalars(
        select(Webhook).where(
            Webhook.organization_id.in_(organization_ids),
            Webhook.is_active.is_(True),
            Webhook.disabled_at.is_(None),
        )
    ).all()
    if not webhooks:
        return 0
    now = utcnow()
    rows = [
        {
            "id": new_id(),
            "webhook_id": webhook.id,
            "event_id": event.id,
            "status": "pending",
            "attempt_count": 0,
            "next_attempt_at": now,
            "is_test": False,
            "created_at": now,
            "updated_at": now,
        }
        for event in events
        for webhook in webhooks
        if webhook.organization_id == event.organization_id
        and webhook_matches(webhook, event.type, event.project_id)
    ]
    if rows:
        session.execute(insert(Delivery), rows)
        announce_deliveries(session)
    return len(rows)


def announce_deliveries(session: Session) -> None:
    """Arrange for workers to wake when this transaction commits."""
    if session.info.get(_CREATED):
        return
    session.info[_CREATED] = True
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": NOTIFY_CHANNEL})


def after_commit(session: Session) -> None:
    """Call once the transaction committed: wakes in-process workers if it created deliveries."""
    if session.info.pop(_CREATED, False):
        notify_listeners()


def after_rollback(session: Session) -> None:
    session.info.pop(_CREATED, None)


def notify_listeners() -> None:
    with _listeners_lock:
        listeners = list(_listeners)
    for listener in listeners:
        listener()


def add_wakeup_listener(listener: Callable[[], None]) -> None:
    with _listeners_lock:
        _listeners.append(listener)


def remove_wakeup_listener(listener: Callable[[], None]) -> None:
    with _listeners_lock:
        if listener in _listeners:
            _listeners.remove(listener)
