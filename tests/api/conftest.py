"""Fixtures of the API tests: a database dump to prove refused requests write nothing, members
with a role on a project, and the events of the outbox."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import Engine, select

import planwire.models  # noqa: F401  (registers every table in the metadata)
from planwire.db import Base
from planwire.events.models import Event
from tests.conftest import Actor, ActorFactory

# Written by any authenticated request (at most once a minute), so not part of "what changed".
VOLATILE_COLUMNS = {("api_tokens", "last_used_at")}

Dump = Callable[[], dict[str, list[str]]]
MemberFactory = Callable[[str, int], Actor]
EventsOf = Callable[..., list[dict[str, Any]]]


def dump_database(engine: Engine) -> dict[str, list[str]]:
    """Every row of every table, as sorted strings: equal dumps mean an unchanged database."""
    result: dict[str, list[str]] = {}
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if (table.name, c.name) not in VOLATILE_COLUMNS]
            rows = connection.execute(select(*columns)).all()
            result[table.name] = sorted(repr(tuple(row)) for row in rows)
    return result


@pytest.fixture
def dump(engine: Engine) -> Dump:
    return lambda: dump_database(engine)


@pytest.fixture
def make_member(admin: Actor, make_actor: ActorFactory) -> MemberFactory:
    """A new user of the admin's organization holding ``role`` on project ``project_id``."""

    def make(project_id: str, role: int) -> Actor:
        actor = make_actor(organization_id=admin.organization_id)
        response = admin.post(
            f"/api/v1/projects/{project_id}/members/",
            json={"user_id": str(actor.id), "role": role},
        )
        assert response.status_code == 201, response.text
        return actor

    return make


@pytest.fixture
def events_of(engine: Engine) -> EventsOf:
    """Rows of the ``events`` table (oldest first), optionally only of the given types."""

    def read(*types: str) -> list[dict[str, Any]]:
        with engine.connect() as connection:
            rows = connection.execute(select(Event).order_by(Event.created_at, Event.id)).all()
        return [
            {"type": r.type, "data": r.data, "project_id": r.project_id}
            for r in rows
            if not types or r.type in types
        ]

    return read


def api_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) of the app's API routes, sorted.

    Recent FastAPI keeps included routers as ``_IncludedRouter`` entries of ``app.routes``;
    ``iter_route_contexts`` flattens them (older versions list the routes themselves).
    """
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before included routers stayed nested
        contexts: list[Any] = list(app.routes)
    else:
        contexts = list(iter_route_contexts(app.routes))
    found: set[tuple[str, str]] = set()
    for context in contexts:
        route = getattr(context, "original_route", context)
        if isinstance(route, APIRoute):
            path = str(context.path)
            found.update((method, path) for method in context.methods or ())
    return sorted(found)


def create_task(actor: Actor, project_id: str, name: str = "T", **fields: Any) -> dict[str, Any]:
    fields.setdefault("duration", 2)
    response = actor.post(f"/api/v1/projects/{project_id}/tasks/", json={"name": name, **fields})
    assert response.status_code == 201, response.text
    return dict(response.json())


def create_link(
    actor: Actor, project_id: str, predecessor: str, successor: str, **fields: Any
) -> dict[str, Any]:
    response = actor.post(
        f"/api/v1/projects/{project_id}/dependencies/",
        json={"predecessor_id": predecessor, "successor_id": successor, **fields},
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def create_project(actor: Actor, name: str = "P", **fields: Any) -> dict[str, Any]:
    fields.setdefault("start_date", "2026-01-05")
    response = actor.post("/api/v1/projects/", json={"name": name, **fields})
    assert response.status_code == 201, response.text
    return dict(response.json())


def random_id() -> str:
    return str(uuid.uuid4())
