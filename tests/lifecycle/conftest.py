from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, select

from planwire.events.models import Event
from tests.conftest import Actor

EventsOf = Callable[..., list[Event]]


@pytest.fixture
def events_of(engine: Engine) -> EventsOf:
    """The recorded events (oldest first), optionally only of the given types."""

    def read(*types: str) -> list[Event]:
        with engine.connect() as connection:
            rows = connection.execute(select(Event).order_by(Event.created_at)).all()
        events = [Event(id=r.id, type=r.type, data=r.data, project_id=r.project_id) for r in rows]
        return [e for e in events if not types or e.type in types]

    return read


def count_types(events: list[Event]) -> Counter[str]:
    return Counter(e.type for e in events)


def add_tasks(
    actor: Actor,
    project_id: str,
    tasks: list[dict[str, Any]],
    links: list[dict[str, Any]] | None = None,
) -> dict[str, str]:
    """Bulk-create tasks; returns ref -> id."""
    response = actor.post(
        f"/api/v1/projects/{project_id}/tasks/bulk/",
        json={"tasks": tasks, "dependencies": links or []},
    )
    assert response.status_code == 201, response.text
    return {t["ref"]: t["id"] for t in response.json()["tasks"]}
