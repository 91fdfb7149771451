"""The authorization matrix: every API route of the app, for every kind of caller.

Callers: no token, a bad token, an org admin of another organization, a user of the
organization without a role on the project, each project role 1..4, and an organization admin.
``RULES`` holds the minimum access of each route in one table; a route of the app missing from
it fails ``test_every_route_has_a_rule``. Expected answers:

- no token / bad token: 401 (except public routes);
- project-scoped routes: 404 for another organization and for a non-member (existence is not
  revealed), 403 below the route's minimum role, success from it up (org admins hold role 4);
- organization routes (users, tokens, project list and creation): as the rule says.

Runs on SQLite only: its ~300 requests (plus the fresh objects deletes consume) take twice as
long on PostgreSQL, and who may call what is decided in Python, identically on both backends;
the PostgreSQL runs of the other API tests cover the same code paths (row locks included).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from planwire.auth import service as auth_service
from planwire.db import make_session_factory
from planwire.projects.models import ProjectMember
from tests.api.conftest import api_routes, create_link, create_project, create_task
from tests.conftest import Actor, ActorFactory

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

PUBLIC = "public"  # no token needed
ANY_USER = "any user"  # any authenticated user, acting within their own organization
ORG_ADMIN = "org admin"  # an admin of the caller's organization
OWN = "own object"  # any authenticated user, on their own object (others' are 404)
VIEWER, MEMBER, MANAGER, ADMIN = 1, 2, 3, 4

# Routes added by other packages, tested by their owners:
EXCLUDED_PREFIXES = (
    "/ui",  # the web UI (session sign-in; tests/ui)
    "/api/v1/webhooks/",  # account webhooks (tests/webhooks)
    "/api/v1/webhook-events/",  # the event catalogue (tests/webhooks)
    "/api/v1/projects/{project_id}/webhooks/",  # project webhooks (tests/webhooks)
    "/api/v1/projects/{project_id}/import/",  # MS Project / CSV import (tests/devx)
)


class World:
    """An organization with a project, its members of every role, a task and a link; makes
    fresh objects for the requests that consume them (deletes, new members, new links)."""

    def __init__(self, engine: Engine, admin: Actor, make_actor: ActorFactory) -> None:
        self.sessions = make_session_factory(engine)
        self.admin = admin
        self.make_actor = make_actor
        self.roles = {
            role: make_actor(organization_id=admin.organization_id) for role in range(1, 5)
        }
        self.project = self.fresh_project()
        self.task = create_task(admin, self.project, "Fixed")["id"]
        self.link = self.fresh_link()

    def fresh_project(self) -> str:
        project_id = create_project(self.admin, "Matrix")["id"]
        with self.sessions() as session:
            for role, actor in self.roles.items():
                session.add(
                    ProjectMember(project_id=uuid.UUID(project_id), user_id=actor.id, role=role)
                )
            session.commit()
        return project_id

    def fresh_user(self) -> str:
        with self.sessions() as session:
            user = auth_service.create_user(
                session,
                organization_id=self.admin.organization_id,
                email=f"fresh-{uuid.uuid4().hex[:8]}@example.com",
                name="Fresh",
            )
            session.commit()
            return str(user.id)

    def fresh_member(self) -> str:
        user_id = self.fresh_user()
        with self.sessions() as session:
            session.add(
                ProjectMember(
                    project_id=uuid.UUID(self.project), user_id=uuid.UUID(user_id), role=1
                )
            )
            session.commit()
        return user_id

    def fresh_task(self) -> str:
        return str(create_task(self.admin, self.project, "Fresh")["id"])

    def fresh_link(self) -> str:
        return str(
            create_link(self.admin, self.project, self.fresh_task(), self.fresh_task())["id"]
        )


Request = Callable[[World, Actor], tuple[str, Any]]  # -> (path, JSON body or None)


@dataclass(frozen=True)
class Rule:
    access: str | int
    success: int
    request: Request


def p(world: World) -> str:
    return f"/api/v1/projects/{world.project}"


RULES: dict[tuple[str, str], Rule] = {
    ("GET", "/health"): Rule(PUBLIC, 200, lambda w, a: ("/health", None)),
    # Users and tokens.
    ("GET", "/api/v1/users/me/"): Rule(ANY_USER, 200, lambda w, a: ("/api/v1/users/me/", None)),
    ("GET", "/api/v1/users/"): Rule(ANY_USER, 200, lambda w, a: ("/api/v1/users/", None)),
    ("POST", "/api/v1/users/"): Rule(
        ORG_ADMIN,
        201,
        lambda w, a: ("/api/v1/users/", {"email": f"{uuid.uuid4().hex}@example.com", "name": "N"}),
    ),
    ("GET", "/api/v1/tokens/"): Rule(ANY_USER, 200, lambda w, a: ("/api/v1/tokens/", None)),
    ("POST", "/api/v1/tokens/"): Rule(
        ANY_USER, 201, lambda w, a: ("/api/v1/tokens/", {"name": "matrix"})
    ),
    ("DELETE", "/api/v1/tokens/{token_id}/"): Rule(
        OWN,
        204,
        lambda w, a: (f"/api/v1/tokens/{a.post('/api/v1/tokens/', json={}).json()['id']}/", None),
    ),
    # Projects.
    ("GET", "/api/v1/projects/"): Rule(ANY_USER, 200, lambda w, a: ("/api/v1/projects/", None)),
    ("POST", "/api/v1/projects/"): Rule(
        ANY_USER, 201, lambda w, a: ("/api/v1/projects/", {"name": "Mine"})
    ),
    ("GET", "/api/v1/projects/{project_id}/"): Rule(VIEWER, 200, lambda w, a: (f"{p(w)}/", None)),
    ("PATCH", "/api/v1/projects/{project_id}/"): Rule(
        MANAGER, 200, lambda w, a: (f"{p(w)}/", {"description": "changed"})
    ),
    ("DELETE", "/api/v1/projects/{project_id}/"): Rule(
        ADMIN, 204, lambda w, a: (f"/api/v1/projects/{w.fresh_project()}/", None)
    ),
    ("GET", "/api/v1/projects/{project_id}/schedule/"): Rule(
        VIEWER, 200, lambda w, a: (f"{p(w)}/schedule/", None)
    ),
    ("POST", "/api/v1/projects/{project_id}/schedule/recalculate/"): Rule(
        MANAGER, 200, lambda w, a: (f"{p(w)}/schedule/recalculate/", None)
    ),
    ("POST", "/api/v1/projects/{project_id}/baseline/"): Rule(
        MANAGER, 201, lambda w, a: (f"{p(w)}/baseline/", None)
    ),
    ("GET", "/api/v1/projects/{project_id}/buffer-history/"): Rule(
        VIEWER, 200, lambda w, a: (f"{p(w)}/buffer-history/", None)
    ),
    # Members.
    ("GET", "/api/v1/projects/{project_id}/members/"): Rule(
        VIEWER, 200, lambda w, a: (f"{p(w)}/members/", None)
    ),
    ("POST", "/api/v1/projects/{project_id}/members/"): Rule(
        ADMIN, 201, lambda w, a: (f"{p(w)}/members/", {"user_id": w.fresh_user(), "role": 1})
    ),
    ("PATCH", "/api/v1/projects/{project_id}/members/{user_id}/"): Rule(
        ADMIN, 200, lambda w, a: (f"{p(w)}/members/{w.fresh_member()}/", {"role": 2})
    ),
    ("DELETE", "/api/v1/projects/{project_id}/members/{user_id}/"): Rule(
        ADMIN, 204, lambda w, a: (f"{p(w)}/members/{w.fresh_member()}/", None)
    ),
    # Tasks.
    ("GET", "/api/v1/projects/{project_id}/tasks/"): Rule(
        VIEWER, 200, lambda w, a: (f"{p(w)}/tasks/", None)
    ),
    ("POST", "/api/v1/projects/{project_id}/tasks/"): Rule(
        MEMBER, 201, lambda w, a: (f"{p(w)}/tasks/", {"name": "N", "duration": 1})
    ),
    ("POST", "/api/v1/projects/{project_id}/tasks/bulk/"): Rule(
        MEMBER,
        201,
        lambda w, a: (f"{p(w)}/tasks/bulk/", {"tasks": [{"ref": "r", "name": "N", "duration": 1}]}),
    ),
    ("GET", "/api/v1/tasks/{task_id}/"): Rule(
        VIEWER, 200, lambda w, a: (f"/api/v1/tasks/{w.task}/", None)
    ),
    ("PATCH", "/api/v1/tasks/{task_id}/"): Rule(
        MEMBER, 200, lambda w, a: (f"/api/v1/tasks/{w.task}/", {"resource": "r"})
    ),
    ("DELETE", "/api/v1/tasks/{task_id}/"): Rule(
        MEMBER, 204, lambda w, a: (f"/api/v1/tasks/{w.fresh_task()}/", None)
    ),
    # Dependencies.
    ("GET", "/api/v1/projects/{project_id}/dependencies/"): Rule(
        VIEWER, 200, lambda w, a: (f"{p(w)}/dependencies/", None)
    ),
    ("POST", "/api/v1/projects/{project_id}/dependencies/"): Rule(
        MEMBER,
        201,
        lambda w, a: (
            f"{p(w)}/dependencies/",
            {"predecessor_id": w.fresh_task(), "successor_id": w.fresh_task()},
        ),
    ),
    ("GET", "/api/v1/dependencies/{dependency_id}/"): Rule(
        VIEWER, 200, lambda w, a: (f"/api/v1/dependencies/{w.link}/", None)
    ),
    ("DELETE", "/api/v1/dependencies/{dependency_id}/"): Rule(
        MEMBER, 204, lambda w, a: (f"/api/v1/dependencies/{w.fresh_link()}/", None)
    ),
}


def test_every_route_has_a_rule(app: FastAPI) -> None:
    routes = {route for route in api_routes(app) if not route[1].startswith(EXCLUDED_PREFIXES)}
    assert routes == set(RULES), (
        f"routes without a rule: {sorted(routes - set(RULES))}; "
        f"rules without a route: {sorted(set(RULES) - routes)}"
    )


@pytest.fixture
def world(engine: Engine, admin: Actor, make_actor: ActorFactory) -> World:
    return World(engine, admin, make_actor)


def callers(world: World) -> dict[str, Actor | dict[str, str]]:
    """The callers: an Actor, or the headers of an anonymous request."""
    return {
        "no token": {},
        "bad token": {"Authorization": "Bearer pw_" + "x" * 43},
        "other organization's admin": world.make_actor(is_org_admin=True),
        "non-member": world.make_actor(organization_id=world.admin.organization_id),
        **{f"role {role}": actor for role, actor in world.roles.items()},
        "org admin": world.admin,
    }


def expected(rule: Rule, caller: str, success: int) -> int:
    if rule.access == PUBLIC:
        return success
    if caller in ("no token", "bad token"):
        return 401
    if rule.access in (ANY_USER, OWN):
        return success
    if rule.access == ORG_ADMIN:
        return success if caller in ("org admin", "other organization's admin") else 403
    assert isinstance(rule.access, int)
    if caller in ("other organization's admin", "non-member"):
        return 404
    role = 4 if caller == "org admin" else int(caller.removeprefix("role "))
    return success if role >= rule.access else 403


@pytest.mark.parametrize("route", list(RULES), ids=[f"{m} {p}" for m, p in RULES])
def test_route_access(
    world: World, client: TestClient, subtests: pytest.Subtests, route: tuple[str, str]
) -> None:
    method, _ = route
    rule = RULES[route]
    for caller, who in callers(world).items():
        with subtests.test(caller):
            actor = who if isinstance(who, Actor) else world.admin
            headers = who.headers if isinstance(who, Actor) else who
            path, body = rule.request(world, actor)
            response = client.request(method, path, headers=headers, json=body)
            want = expected(rule, caller, rule.success)
            assert response.status_code == want, f"{caller}: {response.text}"
            if want >= 400:
                assert response.json()["detail"]


def test_other_users_objects_are_not_found(world: World, client: TestClient) -> None:
    """Own-object routes: another user's token is a 404, even for an org admin."""
    victim = world.roles[1]
    token = victim.post("/api/v1/tokens/", json={"name": "victim"}).json()["id"]
    for actor in (world.admin, world.roles[4], world.make_actor(is_org_admin=True)):
        assert actor.delete(f"/api/v1/tokens/{token}/").status_code == 404
    assert victim.delete(f"/api/v1/tokens/{token}/").status_code == 204


def test_organization_scoped_lists_show_only_the_callers_organization(world: World) -> None:
    outsider = world.make_actor(is_org_admin=True)
    assert outsider.get("/api/v1/projects/").json()["count"] == 0
    users = outsider.get("/api/v1/users/").json()["results"]
    assert [u["id"] for u in users] == [str(outsider.id)]
    # A non-member sees no project of the organization; a viewer sees theirs.
    loner = world.make_actor(organization_id=world.admin.organization_id)
    assert loner.get("/api/v1/projects/").json()["count"] == 0
    assert world.roles[1].get("/api/v1/projects/").json()["count"] == 1
