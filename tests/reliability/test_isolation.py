"""Organizations are walled off: the admin of one organization, with a valid token (and a web
UI session), walks EVERY route of the app (enumerated from ``app.routes``) with the ids of
another organization's objects, and gets 404 or 403, never its data, and changes nothing.

Path ids are tried all foreign, and one foreign id among the caller's own (its own project with
another organization's webhook, its own webhook with another's delivery, ...). Ids in request
bodies are tried too: a link, a member, an assignee of another organization. A route added
later without a row in the tables below fails this test until it is classified.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from tests.conftest import Actor, ActorFactory
from tests.reliability.helpers import (
    account_hooks,
    project_hooks,
    register_account_hook,
    register_project_hook,
)

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

PARAM = re.compile(r"{(\w+)}")

#: Routes without ids that create in the caller's own organization (or sign in/out).
OWN_ORGANIZATION = {
    ("POST", "/api/v1/users/"),
    ("POST", "/api/v1/tokens/"),
    ("POST", "/api/v1/projects/"),
    ("POST", "/api/v1/webhooks/"),
    ("POST", "/ui/login"),
    ("POST", "/ui/logout"),
    ("POST", "/ui/projects"),
    ("POST", "/ui/webhooks"),
}
#: Path parameters that are not ids.
NOT_IDS = {"name"}

HIJACK = "hijacked-by-another-organization"
CSV = b"ref,name,duration\nx,hijacked,1\n"


def _bodies(own: World) -> dict[tuple[str, str], Any]:
    """A request body for every route with ids that takes one: valid for the route, so only
    the ids can make it fail. ``None``: no body."""
    return {
        ("PATCH", "/api/v1/projects/{project_id}/"): {"name": HIJACK},
        ("DELETE", "/api/v1/projects/{project_id}/"): None,
        ("POST", "/api/v1/projects/{project_id}/schedule/recalculate/"): None,
        ("POST", "/api/v1/projects/{project_id}/baseline/"): None,
        ("POST", "/api/v1/projects/{project_id}/members/"): {"user_id": own.member, "role": 1},
        ("PATCH", "/api/v1/projects/{project_id}/members/{user_id}/"): {"role": 2},
        ("DELETE", "/api/v1/projects/{project_id}/members/{user_id}/"): None,
        ("POST", "/api/v1/projects/{project_id}/tasks/"): {"name": HIJACK, "duration": 1},
        ("POST", "/api/v1/projects/{project_id}/tasks/bulk/"): {
            "tasks": [{"ref": "x", "name": HIJACK, "duration": 1}]
        },
        ("PATCH", "/api/v1/tasks/{task_id}/"): {"name": HIJACK},
        ("DELETE", "/api/v1/tasks/{task_id}/"): None,
        ("POST", "/api/v1/projects/{project_id}/dependencies/"): {
            "predecessor_id": own.task,
            "successor_id": own.other_task,
        },
        ("DELETE", "/api/v1/dependencies/{dependency_id}/"): None,
        ("POST", "/api/v1/projects/{project_id}/import/"): CSV,
        ("DELETE", "/api/v1/tokens/{token_id}/"): None,
        ("POST", "/api/v1/projects/{project_id}/webhooks/"): {"url": "http://127.0.0.1:9/h"},
        ("PATCH", "/api/v1/projects/{project_id}/webhooks/{webhook_id}/"): {"is_active": False},
        ("DELETE", "/api/v1/projects/{project_id}/webhooks/{webhook_id}/"): None,
        ("POST", "/api/v1/projects/{project_id}/webhooks/{webhook_id}/test/"): None,
        (
            "POST",
            "/api/v1/projects/{project_id}/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver/",
        ): None,
        ("PUT", "/api/v1/webhooks/{webhook_id}/"): {"name": HIJACK},
        ("DELETE", "/api/v1/webhooks/{webhook_id}/"): None,
        ("PATCH", "/api/v1/webhooks/{webhook_id}/pause/"): None,
        ("PATCH", "/api/v1/webhooks/{webhook_id}/resume/"): None,
        ("POST", "/api/v1/webhooks/{webhook_id}/test/"): {"event": "task.updated"},
        ("POST", "/api/v1/webhooks/{webhook_id}/logs/{log_id}/redeliver/"): None,
    }


@dataclass
class World:
    """One organization's objects (ids as strings) and a marker found in its data."""

    actor: Actor
    project: str
    task: str
    other_task: str
    dependency: str
    member: str
    token: str
    project_hook: str
    account_hook: str
    project_delivery: str
    account_delivery: str
    marker: str

    def ids(self, path: str) -> dict[str, str]:
        account = "{project_id}" not in path
        return {
            "project_id": self.project,
            "task_id": self.task,
            "dependency_id": self.dependency,
            "user_id": self.member,
            "token_id": self.token,
            "webhook_id": self.account_hook if account else self.project_hook,
            "delivery_id": self.account_delivery if account else self.project_delivery,
            "log_id": self.account_delivery,
        }


def _build(actor: Actor, make_actor: ActorFactory, label: str) -> World:
    marker = f"{label}-{uuid.uuid4().hex[:10]}"

    def ok(response: Any) -> dict[str, Any]:
        assert response.status_code in (200, 201, 202), response.text
        return dict(response.json())

    project = ok(
        actor.post(
            "/api/v1/projects/", json={"name": f"{marker} project", "start_date": "2026-01-05"}
        )
    )["id"]
    tasks = [
        ok(
            actor.post(
                f"/api/v1/projects/{project}/tasks/", json={"name": f"{marker} {n}", "duration": 2}
            )
        )["id"]
        for n in range(2)
    ]
    dependency = ok(
        actor.post(
            f"/api/v1/projects/{project}/dependencies/",
            json={"predecessor_id": tasks[0], "successor_id": tasks[1]},
        )
    )["id"]
    member = make_actor(organization_id=actor.organization_id, email=f"{marker}@example.com")
    ok(
        actor.post(
            f"/api/v1/projects/{project}/members/", json={"user_id": str(member.id), "role": 1}
        )
    )
    token = ok(actor.get("/api/v1/tokens/"))["results"][0]["id"]
    project_hook = ok(register_project_hook(actor, project, f"http://127.0.0.1:9/{marker}"))["id"]
    account_hook = ok(register_account_hook(actor, f"http://127.0.0.1:9/{marker}"))["id"]
    project_delivery = ok(actor.post(project_hooks(project, project_hook, "test")))["id"]
    account_delivery = ok(
        actor.post(account_hooks(account_hook, "test"), json={"event": "task.updated"})
    )["id"]
    return World(
        actor,
        project,
        tasks[0],
        tasks[1],
        dependency,
        str(member.id),
        token,
        project_hook,
        account_hook,
        project_delivery,
        account_delivery,
        marker,
    )


def _routes(app: FastAPI) -> Iterator[tuple[str, str]]:
    for context in iter_route_contexts(app.routes):
        methods = getattr(context.original_route, "methods", None) or set()
        path = context.path
        assert path is not None
        for method in sorted(methods - {"HEAD"}):
            yield method, path


def _ui_session(app: FastAPI, actor: Actor) -> TestClient:
    """A browser session of ``actor`` (signed in by pasting its API token)."""
    browser = TestClient(app)
    page = browser.get("/ui/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf, page.text[:500]
    signed_in = browser.post(
        "/ui/login",
        data={"token": actor.token, "csrf_token": csrf.group(1)},
        follow_redirects=False,
    )
    assert signed_in.status_code == 303, signed_in.text[:500]
    page = browser.get("/ui/projects")
    assert page.status_code == 200
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    browser.headers["X-CSRF-Token"] = csrf.group(1)
    return browser


def _snapshot(world: World) -> list[Any]:
    """Everything of ``world`` its own admin can read."""
    actor, pid = world.actor, world.project
    urls = [
        f"/api/v1/projects/{pid}/",
        f"/api/v1/projects/{pid}/tasks/",
        f"/api/v1/projects/{pid}/dependencies/",
        f"/api/v1/projects/{pid}/members/",
        f"/api/v1/projects/{pid}/schedule/",
        "/api/v1/tokens/",
        "/api/v1/users/",
        project_hooks(pid),
        project_hooks(pid, world.project_hook, "deliveries"),
        account_hooks(),
        account_hooks(world.account_hook, "logs"),
    ]
    result = []
    for url in urls:
        response = actor.get(url)
        assert response.status_code == 200, (url, response.text)
        result.append(response.json())
    return result


def test_no_route_reaches_another_organizations_data(
    app: FastAPI, admin: Actor, make_actor: ActorFactory
) -> None:
    victim = _build(admin, make_actor, "victim")
    intruder_actor = make_actor(is_org_admin=True)
    intruder = _build(intruder_actor, make_actor, "intruder")
    before = _snapshot(victim)
    bodies = _bodies(intruder)
    browser = _ui_session(app, intruder_actor)

    def send(client: Callable[..., Any], method: str, url: str, body: Any) -> Any:
        if isinstance(body, bytes):
            return client(method, url, content=body, headers={"Content-Type": "text/csv"})
        if url.startswith("/ui/") and method == "POST":
            return client(method, url, data={"name": HIJACK})
        return client(method, url, json=body) if body is not None else client(method, url)

    def api(method: str, url: str, **kw: Any) -> Any:
        headers = {**intruder_actor.headers, **kw.pop("headers", {})}
        return intruder_actor.client.request(method, url, headers=headers, **kw)

    problems: list[str] = []
    tried = 0
    for method, path in _routes(app):
        params = [p for p in PARAM.findall(path) if p not in NOT_IDS]
        client = browser.request if path.startswith("/ui") else api
        if not params:
            if method != "GET":
                if (method, path) not in OWN_ORGANIZATION:
                    problems.append(f"{method} {path}: unclassified route without ids")
                continue
            response = client(method, path)
            if victim.marker in response.text:
                problems.append(f"{method} {path}: shows the other organization's data")
            continue
        body = None
        if not path.startswith("/ui") and method != "GET":
            if (method, path) not in bodies:
                problems.append(f"{method} {path}: no body in the table of this test")
                continue
            body = bodies[method, path]
        foreign, own = victim.ids(path), intruder.ids(path)
        variants = [{p: foreign[p] for p in params}]
        if len(params) > 1:  # one foreign id among the caller's own
            variants += [{q: (foreign if q == p else own)[q] for q in params} for p in params]
        for ids in variants:
            url = PARAM.sub(lambda m, ids=ids: ids.get(m.group(1), m.group(0)), path)
            if "{name}" in url:
                url = url.replace("{name}", "planwire.css")
            response = send(client, method, url, body)
            tried += 1
            if response.status_code not in (403, 404):
                problems.append(f"{method} {url} ({path}): {response.status_code}")
            if victim.marker in response.text:
                problems.append(f"{method} {url}: shows the other organization's data")

    # Foreign ids in bodies, on the caller's own objects.
    own_project = intruder.project
    for method, url, body in [
        (
            "POST",
            f"/api/v1/projects/{own_project}/dependencies/",
            {"predecessor_id": victim.task, "successor_id": intruder.task},
        ),
        (
            "POST",
            f"/api/v1/projects/{own_project}/dependencies/",
            {"predecessor_id": intruder.task, "successor_id": victim.task},
        ),
        ("POST", f"/api/v1/projects/{own_project}/members/", {"user_id": victim.member, "role": 4}),
        (
            "POST",
            f"/api/v1/projects/{own_project}/tasks/",
            {"name": HIJACK, "duration": 1, "assignee_id": victim.member},
        ),
        ("PATCH", f"/api/v1/tasks/{intruder.task}/", {"assignee_id": victim.member}),
        (
            "POST",
            f"/api/v1/projects/{own_project}/tasks/bulk/",
            {
                "tasks": [{"ref": "x", "name": HIJACK, "duration": 1}],
                "dependencies": [{"predecessor": victim.task, "successor": "x"}],
            },
        ),
        (
            "POST",
            f"/ui/projects/{own_project}/dependencies",
            {"predecessor_id": victim.task, "successor_id": intruder.task},
        ),
    ]:
        if url.startswith("/ui"):
            response = browser.request(method, url, data=body)
        else:
            response = api(method, url, json=body)
        tried += 1
        if not 400 <= response.status_code < 500:
            problems.append(f"{method} {url} with {body}: {response.status_code}")
        if victim.marker in response.text:
            problems.append(f"{method} {url} with {body}: shows the other organization's data")

    print(f"\n{tried} foreign requests")
    assert problems == [], "\n".join(problems)
    assert tried > 100
    assert _snapshot(victim) == before  # nothing changed
