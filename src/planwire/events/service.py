"""Recording events into the outbox.

Services call :func:`record` while they change things. The events are materialised by
:func:`flush` when the unit of work finishes, after the schedule was recalculated, so an event's
``data`` can be a callable that serialises the object in its final state (a ``task.updated``
carries the task's freshly computed dates). ``flush`` also fans the events out to the matching
webhooks, in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from planwire.db import new_id, utcnow
from planwire.events.models import Event
from planwire.webhooks.fanout import fan_out

_PENDING = "planwire.pending_events"

EventData = dict[str, Any] | Callable[[], dict[str, Any]]


@dataclass(slots=True)
class PendingEvent:
    organization_id: int
    project_id: uuid.UUID | None
    type: str
    data: EventData


def record(
    session: Session,
    *,
    organization_id: int,
    project_id: uuid.UUID | None,
    type: str,
    data: EventData,
) -> None:
    """Queue an event for this transaction. ``data`` must be JSON-ready (or a callable)."""
    pending: list[PendingEvent] = session.info.setdefault(_PENDING, [])
    pending.append(PendingEvent(organization_id, project_id, type, data))


def has_pending(session: Session) -> bool:
    return bool(session.info.get(_PENDING))


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """What fan-out needs of an event written to the outbox."""

    id: uuid.UUID
    organization_id: int
    project_id: uuid.UUID | None
    type: str


def flush(session: Session) -> list[RecordedEvent]:
    """Write the queued events and their deliveries (one INSERT each). Returns the events."""
    pending: list[PendingEvent] = session.info.pop(_PENDING, [])
    if not pending:
        return []
    now = utcnow()
    events = [
        RecordedEvent(new_id(), item.organization_id, item.project_id, item.type)
        for item in pending
    ]
    session.execute(
        insert(Event),
        [
            {
                "id": event.id,
                "organization_id": event.organization_id,
                "project_id": event.project_id,
                "type": event.type,
                "data": item.data() if callable(item.data) else item.data,
                "created_at": now,
            }
            for event, item in zip(events, pending, strict=True)
        ],
    )
    fan_out(session, events)
    return events
