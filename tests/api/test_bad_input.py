"""Bad input (SPEC 6): every bad request gets a 4xx whose ``detail`` names the field, never a
500, and leaves the database exactly as it was."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import Dump, create_link, create_project, create_task
from tests.conftest import Actor, ActorFactory


@dataclass
class World:
    admin: Actor
    project: str
    a: str
    b: str
    link: str
    other_org_user: str


@pytest.fixture
def world(admin: Actor, make_actor: ActorFactory) -> World:
    project = create_project(admin)["id"]
    a = create_task(admin, project, "A", duration=3)["id"]
    b = create_task(admin, project, "B", duration=2)["id"]
    link = create_link(admin, project, a, b)["id"]
    return World(admin, project, a, b, link, str(make_actor().id))


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # formatted with the World's fields
    body: Any  # JSON-encoded unless bytes
    status: int
    field: str  # must appear in ``detail``


PROJECT = "/api/v1/projects/{project}/"
TASKS = "/api/v1/projects/{project}/tasks/"
TASK = "/api/v1/tasks/{a}/"
LINKS = "/api/v1/projects/{project}/dependencies/"
BULK = "/api/v1/projects/{project}/tasks/bulk/"
MEMBERS = "/api/v1/projects/{project}/members/"


def task(**fields: Any) -> dict[str, Any]:
    return {"name": "T", "duration": 1, **fields}


def link(**fields: Any) -> dict[str, Any]:
    return {"predecessor_id": "{b}", "successor_id": "{a}", "type": "FS", **fields}


GROUPS: dict[str, dict[str, Case]] = {
    "malformed JSON (400)": {
        "truncated JSON": Case("POST", TASKS, b'{"name": "x", "duration": ', 400, "JSON"),
        "not JSON at all": Case("POST", "/api/v1/projects/", b"name=x", 400, "JSON"),
        "invalid UTF-8": Case("PATCH", TASK, b'{"name": "\xff\xfe"}', 400, "JSON"),
        "single quotes": Case("POST", LINKS, b"{'lag': 1}", 400, "JSON"),
        "trailing garbage": Case("POST", BULK, b'{"tasks": []} x', 400, "JSON"),
        "deeply nested": Case("POST", BULK, b"[" * 100_000 + b"]" * 100_000, 400, "body"),
    },
    "not an object": {
        "array body": Case("POST", TASKS, [task()], 422, "body"),
        "string body": Case("PATCH", PROJECT, "x", 422, "body"),
        "empty body": Case("POST", TASKS, b"", 422, "body"),
    },
    "wrong types": {
        "name is a number": Case("POST", "/api/v1/projects/", {"name": 5}, 422, "name"),
        "duration is a word": Case("POST", TASKS, task(duration="long"), 422, "duration"),
        "duration is a boolean": Case("POST", TASKS, task(duration=True), 422, "duration"),
        "duration is fractional": Case("POST", TASKS, task(duration=2.5), 422, "duration"),
        "percent is a word": Case("PATCH", TASK, {"percent_complete": "half"}, 422, "percent"),
        "percent is a boolean": Case("PATCH", TASK, {"percent_complete": True}, 422, "percent"),
        "lag is a list": Case("POST", LINKS, link(lag=[]), 422, "lag"),
        "lag is a boolean": Case("POST", LINKS, link(lag=False), 422, "lag"),
        "type is a number": Case("POST", LINKS, link(type=1), 422, "type"),
        "unknown link type": Case("POST", LINKS, link(type="XX"), 422, "type"),
        "predecessor not a uuid": Case("POST", LINKS, link(predecessor_id="a"), 422, "predecessor"),
        "calendar is a string": Case("PATCH", PROJECT, {"calendar": "weekdays"}, 422, "calendar"),
        "weekday is a word": Case(
            "PATCH", PROJECT, {"calendar": {"working_days": [0, "x"]}}, 422, "working_days.1"
        ),
        "weekday is a boolean": Case(
            "PATCH", PROJECT, {"calendar": {"working_days": [True]}}, 422, "working_days"
        ),
        "status unknown": Case("PATCH", PROJECT, {"status": "Done"}, 422, "status"),
        "task status unknown": Case("PATCH", TASK, {"status": "Started"}, 422, "status"),
        "role is a word": Case("POST", MEMBERS, {"user_id": "{a}", "role": "admin"}, 422, "role"),
        "role is a boolean": Case("POST", MEMBERS, {"user_id": "{a}", "role": True}, 422, "role"),
        "token name is a number": Case("POST", "/api/v1/tokens/", {"name": 5}, 422, "name"),
        "email is a list": Case("POST", "/api/v1/users/", {"email": [], "name": "x"}, 422, "email"),
        "bad email": Case("POST", "/api/v1/users/", {"email": "nobody", "name": "x"}, 422, "email"),
    },
    "missing fields": {
        "task without name": Case("POST", TASKS, {"duration": 1}, 422, "name"),
        "task without duration": Case("POST", TASKS, {"name": "x"}, 422, "duration"),
        "project without name": Case("POST", "/api/v1/projects/", {}, 422, "name"),
        "link without successor": Case(
            "POST", LINKS, {"predecessor_id": "{a}"}, 422, "successor_id"
        ),
        "member without role": Case("POST", MEMBERS, {"user_id": "{a}"}, 422, "role"),
        "user without email": Case("POST", "/api/v1/users/", {"name": "x"}, 422, "email"),
    },
    "unknown fields": {
        "unknown project field": Case(
            "POST", "/api/v1/projects/", {"name": "x", "colour": "red"}, 422, "colour"
        ),
        "unknown project patch field": Case("PATCH", PROJECT, {"owner": "me"}, 422, "owner"),
        "unknown task field": Case("POST", TASKS, task(priority=1), 422, "priority"),
        "unknown task patch field": Case("PATCH", TASK, {"es": 3}, 422, "es"),
        "unknown link field": Case("POST", LINKS, link(weight=2), 422, "weight"),
        "unknown member field": Case(
            "POST", MEMBERS, {"user_id": "{a}", "role": 1, "x": 1}, 422, "x"
        ),
        "unknown calendar field": Case(
            "PATCH", PROJECT, {"calendar": {"weekends": [5, 6]}}, 422, "calendar.weekends"
        ),
        "unknown token field": Case("POST", "/api/v1/tokens/", {"scopes": ["all"]}, 422, "scopes"),
        "unknown user field": Case(
            "POST", "/api/v1/users/", {"email": "a@b.co", "name": "x", "role": 4}, 422, "role"
        ),
    },
    "null where a value is required": {
        "null task status": Case("POST", TASKS, task(status=None), 422, "status"),
        "null percent": Case("POST", TASKS, task(percent_complete=None), 422, "percent_complete"),
        "null remaining": Case("POST", TASKS, task(remaining_duration=None), 422, "remaining"),
        "null task name": Case("PATCH", TASK, {"name": None}, 422, "name"),
        "null duration": Case("PATCH", TASK, {"duration": None}, 422, "duration"),
        "null project name": Case("PATCH", PROJECT, {"name": None}, 422, "name"),
        "null description": Case("PATCH", PROJECT, {"description": None}, 422, "description"),
        "null yellow threshold": Case("PATCH", PROJECT, {"yellow_threshold": None}, 422, "yellow"),
        "null red threshold": Case("PATCH", PROJECT, {"red_threshold": None}, 422, "red_threshold"),
        "null role": Case("PATCH", MEMBERS + "{a}/", {"role": None}, 422, "role"),
    },
    "bad dates": {
        "February 30": Case(
            "POST", TASKS, task(start_no_earlier_than="2026-02-30"), 422, "start_no"
        ),
        "month 13": Case(
            "POST",
            "/api/v1/projects/",
            {"name": "x", "start_date": "2026-13-01"},
            422,
            "start_date",
        ),
        "date in words": Case("PATCH", PROJECT, {"status_date": "yesterday"}, 422, "status_date"),
        "bad holiday": Case(
            "PATCH", PROJECT, {"calendar": {"holidays": ["2026-02-30"]}}, 422, "holidays.0"
        ),
        "bad actual start": Case(
            "PATCH", TASK, {"actual_start": "2026/01/05"}, 422, "actual_start"
        ),
        "end before start": Case(
            "POST",
            "/api/v1/projects/",
            {"name": "x", "start_date": "2026-02-01", "target_end_date": "2026-01-01"},
            422,
            "target_end_date",
        ),
        "end before start by patch": Case(
            "PATCH", PROJECT, {"target_end_date": "2025-12-31"}, 422, "target_end_date"
        ),
    },
    "out of range": {
        "negative duration": Case("POST", TASKS, task(duration=-1), 422, "duration"),
        "negative safe duration": Case("PATCH", TASK, {"safe_duration": -2}, 422, "safe_duration"),
        "negative remaining": Case("PATCH", TASK, {"remaining_duration": -1}, 422, "remaining"),
        "huge duration": Case("POST", TASKS, task(duration=10**30), 422, "duration"),
        "percent above 100": Case("PATCH", TASK, {"percent_complete": 100.5}, 422, "percent"),
        "negative percent": Case("PATCH", TASK, {"percent_complete": -1}, 422, "percent"),
        "lag too large": Case("POST", LINKS, link(lag=100_001), 422, "lag"),
        "lag too negative": Case("POST", LINKS, link(lag=-100_001), 422, "lag"),
        "weekday 7": Case(
            "PATCH", PROJECT, {"calendar": {"working_days": [7]}}, 422, "working_days"
        ),
        "no working day": Case(
            "PATCH", PROJECT, {"calendar": {"working_days": []}}, 422, "working"
        ),
        "repeated weekday": Case(
            "PATCH", PROJECT, {"calendar": {"working_days": [0, 0]}}, 422, "working_days"
        ),
        "yellow above red": Case(
            "PATCH", PROJECT, {"yellow_threshold": 95}, 422, "yellow_threshold"
        ),
        "role 5": Case("POST", MEMBERS, {"user_id": "{a}", "role": 5}, 422, "role"),
        "role 0": Case("PATCH", MEMBERS + "{a}/", {"role": 0}, 422, "role"),
        "name too long": Case("POST", TASKS, task(name="x" * 501), 422, "name"),
        "empty name": Case("PATCH", PROJECT, {"name": ""}, 422, "name"),
        "short password": Case(
            "POST",
            "/api/v1/users/",
            {"email": "a@b.co", "name": "x", "password": "short"},
            422,
            "password",
        ),
    },
    "NUL characters (PostgreSQL cannot store them in text or JSON)": {
        "NUL in project name": Case("PATCH", PROJECT, {"name": "a\x00b"}, 422, "name"),
        "NUL in description": Case("PATCH", PROJECT, {"description": "\x00"}, 422, "description"),
        "NUL in task name": Case("POST", TASKS, task(name="a\x00"), 422, "name"),
        "NUL in resource": Case("PATCH", TASK, {"resource": "dev\x00"}, 422, "resource"),
        "NUL in token name": Case("POST", "/api/v1/tokens/", {"name": "\x00"}, 422, "name"),
        "NUL in user name": Case(
            "POST", "/api/v1/users/", {"email": "n@b.co", "name": "a\x00"}, 422, "name"
        ),
    },
    "foreign ids": {
        "manager of another organization": Case(
            "PATCH", PROJECT, {"manager_id": "{other_org_user}"}, 422, "manager_id"
        ),
        "unknown manager": Case(
            "POST", "/api/v1/projects/", {"name": "x", "manager_id": "{a}"}, 422, "manager_id"
        ),
        "member of another organization": Case(
            "POST", MEMBERS, {"user_id": "{other_org_user}", "role": 1}, 422, "user_id"
        ),
        "assignee of another organization": Case(
            "PATCH", TASK, {"assignee_id": "{other_org_user}"}, 422, "assignee_id"
        ),
        "not a member": Case("PATCH", MEMBERS + "{a}/", {"role": 2}, 404, "{a}"),
    },
    "links": {
        "self link": Case("POST", LINKS, link(predecessor_id="{a}"), 409, "itself"),
        "duplicate link": Case(
            "POST", LINKS, link(predecessor_id="{a}", successor_id="{b}"), 409, "already exists"
        ),
        "cycle": Case("POST", LINKS, link(), 409, "cycle"),
        "link to a missing task": Case(
            "POST", LINKS, link(successor_id="{project}"), 422, "successor_id"
        ),
    },
    "invalid UUIDs in paths": {
        "project id not a uuid": Case("GET", "/api/v1/projects/abc/", None, 422, "project_id"),
        "task id not a uuid": Case("PATCH", "/api/v1/tasks/123/", {"name": "x"}, 422, "task_id"),
        "dependency id not a uuid": Case(
            "DELETE", "/api/v1/dependencies/x-y/", None, 422, "dependency_id"
        ),
        "member id not a uuid": Case("DELETE", MEMBERS + "nobody/", None, 422, "user_id"),
        "token id not a uuid": Case("DELETE", "/api/v1/tokens/0/", None, 422, "token_id"),
        "tasks of a bad project id": Case(
            "POST", "/api/v1/projects/1/tasks/", task(), 422, "project_id"
        ),
    },
    "bad pagination parameters": {
        "page 0": Case("GET", "/api/v1/projects/?page=0", None, 422, "page"),
        "negative page": Case("GET", TASKS + "?page=-1", None, 422, "page"),
        "page is a word": Case("GET", LINKS + "?page=first", None, 422, "page"),
        "huge page": Case("GET", "/api/v1/users/?page=" + "9" * 30, None, 422, "page"),
        "page size 0": Case("GET", MEMBERS + "?page_size=0", None, 422, "page_size"),
        "page size too large": Case(
            "GET", "/api/v1/tokens/?page_size=1001", None, 422, "page_size"
        ),
        "page size is a word": Case("GET", TASKS + "?page_size=all", None, 422, "page_size"),
    },
}


def fill(text: str, world: World) -> str:
    """``text`` with ``{project}``, ``{a}``, ... replaced by the world's ids."""
    for key, value in vars(world).items():
        if isinstance(value, str):
            text = text.replace("{" + key + "}", value)
    return text


def send(world: World, case: Case) -> Any:
    actor = world.admin
    headers = dict(actor.headers)
    content: bytes | None = None
    if isinstance(case.body, bytes):
        content = case.body
    elif case.body is not None:
        content = fill(json.dumps(case.body), world).encode()
    if content is not None:
        headers["Content-Type"] = "application/json"
    return actor.client.request(
        case.method, fill(case.path, world), content=content, headers=headers
    )


@pytest.mark.parametrize("group", list(GROUPS))
def test_bad_input_is_a_4xx_naming_the_field_and_writes_nothing(
    world: World, dump: Dump, subtests: pytest.Subtests, group: str
) -> None:
    # One world per group: every case must leave it unchanged, which is what is checked.
    for name, case in GROUPS[group].items():
        with subtests.test(name):
            before = dump()
            response = send(world, case)
            assert response.status_code == case.status, response.text
            detail = response.json()["detail"]
            assert fill(case.field, world) in detail, detail
            if case.status == 422 and "errors" in response.json():
                assert all(e["field"] and e["message"] for e in response.json()["errors"])
            assert dump() == before


def chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield b" " * min(size, total - sent)
        sent += size


@pytest.mark.parametrize("path", [TASKS, BULK, "/api/v1/projects/"])
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_oversized_bodies_are_413(world: World, dump: Dump, path: str, chunked: bool) -> None:
    limit = 1024 * 1024  # the test settings' max_body_bytes
    url = path.format(project=world.project)
    before = dump()
    body: Any = chunks(limit + 1) if chunked else b" " * (limit + 1)
    response = world.admin.client.post(
        url, content=body, headers={**world.admin.headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 413, response.text
    assert "too large" in response.json()["detail"]
    assert dump() == before
    # A body at the limit is read, and refused for what it is (not JSON), not for its size.
    under = world.admin.client.post(
        url,
        content=chunks(limit) if chunked else b" " * limit,
        headers={**world.admin.headers, "Content-Type": "application/json"},
    )
    assert under.status_code == 400 and "JSON" in under.json()["detail"]


def test_oversized_body_without_a_token_is_still_413(client: TestClient, world: World) -> None:
    response = client.post("/api/v1/projects/", content=chunks(2 * 1024 * 1024))
    assert response.status_code == 413


def test_a_schedule_past_the_year_9999_is_refused(world: World, dump: Dump) -> None:
    admin = world.admin
    far = admin.patch(f"/api/v1/projects/{world.project}/", json={"start_date": "9999-12-30"})
    assert far.status_code == 422, far.text
    assert "9999" in far.json()["detail"]
    ids = [create_task(admin, world.project, f"L{i}", duration=100_000)["id"] for i in range(2)]
    create_link(admin, world.project, world.b, ids[0])
    create_link(admin, world.project, ids[0], ids[1])
    # Two chained tasks of 100,000 working days (~770 years) end in the 28th century. Each
    # request below would push the schedule past 9999-12-31, the last date there is.
    before = dump()
    for response in (
        admin.post(
            f"/api/v1/projects/{world.project}/tasks/",
            json={"name": "X", "duration": 100_000, "start_no_earlier_than": "9990-01-01"},
        ),
        admin.patch(f"/api/v1/tasks/{ids[1]}/", json={"start_no_earlier_than": "9999-01-04"}),
        admin.post(
            f"/api/v1/projects/{world.project}/tasks/bulk/",
            json={
                "tasks": [{"ref": f"r{i}", "name": "R", "duration": 100_000} for i in range(20)],
                "dependencies": [
                    {"predecessor": ids[1] if i == 0 else f"r{i - 1}", "successor": f"r{i}"}
                    for i in range(20)
                ],
            },
        ),
    ):
        assert response.status_code == 422, response.text
        assert "9999" in response.json()["detail"]
    assert dump() == before
