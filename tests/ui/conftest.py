"""Fixtures of the web UI tests: signed-in browser-like clients, one cookie jar per user."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import Actor, ActorFactory

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


@dataclass
class UIUser:
    """A user signed in to the web UI in its own TestClient (its own cookies)."""

    actor: Actor
    client: TestClient
    csrf: str

    def get(self, url: str, **kw: Any) -> Any:
        return self.client.get(url, **kw)

    def post(self, url: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
        """POST a form with the session's CSRF token (as a page's form would)."""
        kw.setdefault("follow_redirects", False)
        return self.client.post(url, data={"csrf_token": self.csrf, **(data or {})}, **kw)

    def forge(self, url: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
        """POST a form without a CSRF token."""
        kw.setdefault("follow_redirects", False)
        return self.client.post(url, data=data or {}, **kw)


SignIn = Callable[[Actor], UIUser]


@pytest.fixture
def new_client(app: FastAPI) -> Iterator[Callable[[], TestClient]]:
    with ExitStack() as stack:

        def make() -> TestClient:
            return stack.enter_context(TestClient(app, base_url="http://testserver"))

        yield make


@pytest.fixture
def sign_in(new_client: Callable[[], TestClient]) -> SignIn:
    """Sign ``actor`` in with its password, in a new client."""

    def sign(actor: Actor) -> UIUser:
        client = new_client()
        page = client.get("/ui/login")
        response = client.post(
            "/ui/login",
            data={"csrf_token": csrf_of(page.text), "email": actor.email, "password": PASSWORD},
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
        projects = client.get("/ui/projects")
        assert projects.status_code == 200
        return UIUser(actor, client, csrf_of(projects.text))

    return sign


@pytest.fixture
def org_admin(make_actor: ActorFactory) -> Actor:
    return make_actor(is_org_admin=True, password=PASSWORD)


@pytest.fixture
def member_with_role(make_actor: ActorFactory, org_admin: Actor) -> Callable[[str, int], Actor]:
    """A user of ``org_admin``'s organization holding ``role`` on the project."""

    def make(project_id: str, role: int) -> Actor:
        actor = make_actor(organization_id=org_admin.organization_id, password=PASSWORD)
        response = org_admin.post(
            f"/api/v1/projects/{project_id}/members/", json={"user_id": str(actor.id), "role": role}
        )
        assert response.status_code == 201, response.text
        return actor

    return make


@pytest.fixture
def planned_project(org_admin: Actor) -> dict[str, Any]:
    """A project with four tasks, links and a milestone, created through the API."""
    project = org_admin.post(
        "/api/v1/projects/", json={"name": "Launch", "start_date": "2026-03-02"}
    ).json()
    response = org_admin.post(
        f"/api/v1/projects/{project['id']}/tasks/bulk/",
        json={
            "tasks": [
                {"ref": "design", "name": "Design", "duration": 5},
                {"ref": "build", "name": "Build", "duration": 10, "resource": "dev"},
                {"ref": "docs", "name": "Docs", "duration": 3, "resource": "dev"},
                {"ref": "test", "name": "Test", "duration": 4},
                {"ref": "ship", "name": "Ship", "duration": 0},
            ],
            "dependencies": [
                {"predecessor": "design", "successor": "build"},
                {"predecessor": "design", "successor": "docs"},
                {"predecessor": "build", "successor": "test"},
                {"predecessor": "test", "successor": "ship"},
                {"predecessor": "docs", "successor": "ship"},
            ],
        },
    )
    assert response.status_code == 201, response.text
    project["tasks"] = {t["ref"]: t["id"] for t in response.json()["tasks"]}
    return dict(project)
