"""Routing: every API route with and without its trailing slash (no redirect), the OpenAPI
document and docs, and a transaction committed before its response is sent."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.pool import NullPool
from starlette.types import Message, Receive, Scope, Send

from planwire.projects.models import Project
from planwire.tasks.models import Task
from tests.api.conftest import api_routes, create_project, create_task, random_id
from tests.conftest import Actor


def test_every_route_answers_with_and_without_its_trailing_slash(
    app: FastAPI, admin: Actor
) -> None:
    routes = [(m, p) for m, p in api_routes(app) if p.startswith("/api/")]
    assert len(routes) >= 25
    for method, path in routes:
        assert path.endswith("/"), f"{method} {path} is declared without its trailing slash"
        # Unknown ids reach the handler (a 404 naming the object), not "No such route".
        concrete = re.sub(r"\{[^}]+\}", random_id(), path)
        for url in (concrete, concrete.rstrip("/"), concrete.rstrip("/") + "?page=1"):
            response = admin.client.request(
                method,
                url,
                headers=admin.headers,
                json={} if method != "GET" else None,
                follow_redirects=False,
            )
            assert not 300 <= response.status_code < 400, (method, url)
            assert response.status_code != 405, (method, url)
            assert response.json().get("detail") != "No such route.", (method, url)


def test_unknown_routes_and_methods(admin: Actor) -> None:
    missing = admin.get("/api/v1/nothing-here/")
    assert missing.status_code == 404 and missing.json() == {"detail": "No such route."}
    wrong = admin.client.put("/api/v1/projects", headers=admin.headers, json={})
    assert wrong.status_code == 405 and "not allowed" in wrong.json()["detail"]


def test_slashless_requests_keep_their_query_string(admin: Actor) -> None:
    for i in range(3):
        create_project(admin, f"P{i}")
    page = admin.client.get(
        "/api/v1/projects?page=2&page_size=1", headers=admin.headers, follow_redirects=False
    )
    assert page.status_code == 200
    body = page.json()
    assert body["count"] == 3 and len(body["results"]) == 1
    assert body["results"][0]["name"] == "P1"


def test_openapi_document_and_docs(app: FastAPI, client: TestClient) -> None:
    document = client.get("/openapi.json")
    assert document.status_code == 200
    spec = document.json()
    assert spec["info"]["title"] == "Planwire"
    for method, path in api_routes(app):
        if path.startswith("/api/"):
            assert method.lower() in spec["paths"][path], (method, path)
    assert "/api/v1/projects/{project_id}/tasks/bulk/" in spec["paths"]
    link = spec["paths"]["/api/v1/projects/{project_id}/dependencies/"]["post"]
    assert "409" in link["responses"]
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "text/html" in docs.headers["content-type"] and "openapi.json" in docs.text
    assert client.get("/health").json()["status"] == "ok"


def counting(engine: Engine, model: Any) -> int:
    # A plain engine: Planwire's SQLite engine begins with BEGIN IMMEDIATE, which would wait for
    # the writer; a plain read sees the last committed state at once.
    reader = create_engine(engine.url, poolclass=NullPool)
    try:
        with reader.connect() as connection:
            return int(connection.scalar(select(func.count()).select_from(model)) or 0)
    finally:
        reader.dispose()


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_the_transaction_is_committed_before_the_response_is_sent(
    app: FastAPI, engine: Engine, admin: Actor, method: str
) -> None:
    """A client that gets a 2xx can read its write at once (and never gets a 2xx for a
    transaction that then fails to commit): the commit happens before the response starts."""
    project = create_project(admin)
    task = create_task(admin, project["id"])
    seen: list[int] = []

    async def spy(scope: Scope, receive: Receive, send: Send) -> None:
        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Another connection sees only committed rows.
                seen.append(counting(engine, Task))
            await send(message)

        await app(scope, receive, watch)

    with TestClient(spy) as spying:
        if method == "POST":
            response = spying.post(
                f"/api/v1/projects/{project['id']}/tasks/",
                headers=admin.headers,
                json={"name": "New", "duration": 1},
            )
            assert response.status_code == 201
            assert seen == [2]
        else:
            response = spying.delete(f"/api/v1/tasks/{task['id']}/", headers=admin.headers)
            assert response.status_code == 204
            assert seen == [0]
    assert counting(engine, Project) == 1
