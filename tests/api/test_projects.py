"""Projects (list, create, get, patch, delete) and their members."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, event

from tests.api.conftest import Dump, MemberFactory, create_link, create_project, create_task
from tests.conftest import Actor, ActorFactory


def test_create_answers_201_with_the_project_and_get_returns_the_same(admin: Actor) -> None:
    response = admin.post(
        "/api/v1/projects/",
        json={
            "name": "Launch",
            "description": "Q1",
            "start_date": "2026-02-02",
            "target_end_date": "2026-03-31",
            "calendar": {"working_days": [4, 0, 1, 2, 3], "holidays": ["2026-02-16"]},
            "buffer_method": "rse",
            "yellow_threshold": 40,
            "red_threshold": 80,
            "manager_id": str(admin.id),
        },
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["status"] == "Planning"
    assert created["organization_id"] == admin.organization_id
    assert created["calendar"] == {"working_days": [0, 1, 2, 3, 4], "holidays": ["2026-02-16"]}
    assert (created["buffer_method"], created["yellow_threshold"], created["red_threshold"]) == (
        "rse",
        40,
        80,
    )
    assert created["manager_id"] == str(admin.id)
    assert created["has_baseline"] is False
    assert created["duration"] == 0  # scheduled at creation: no tasks yet
    fetched = admin.get(f"/api/v1/projects/{created['id']}/")
    assert fetched.status_code == 200
    assert fetched.json() == created


def test_defaults(admin: Actor) -> None:
    created = admin.post("/api/v1/projects/", json={"name": "Minimal"}).json()
    assert created["calendar"] == {"working_days": [0, 1, 2, 3, 4], "holidays": []}
    assert created["buffer_method"] == "cut_and_paste"
    assert (created["yellow_threshold"], created["red_threshold"]) == (50, 90)
    assert created["start_date"]  # today
    assert created["project_buffer"]["zone"] == "green"


def test_list_shows_org_admins_every_project_and_members_their_own(
    admin: Actor, make_actor: ActorFactory, make_member: MemberFactory
) -> None:
    first = create_project(admin, "First")
    second = create_project(admin, "Second")
    viewer = make_member(first["id"], 1)
    own = create_project(viewer, "Viewer's own")  # its creator becomes its Admin
    stranger = make_actor(is_org_admin=True)
    create_project(stranger, "Elsewhere")

    names = [p["name"] for p in admin.get("/api/v1/projects/").json()["results"]]
    assert names == ["First", "Second", "Viewer's own"]
    mine = viewer.get("/api/v1/projects/").json()
    assert [p["id"] for p in mine["results"]] == [first["id"], own["id"]]
    assert second["id"] not in {p["id"] for p in mine["results"]}
    assert [p["name"] for p in stranger.get("/api/v1/projects/").json()["results"]] == ["Elsewhere"]
    members = viewer.get(f"/api/v1/projects/{own['id']}/members/").json()["results"]
    assert [(m["user_id"], m["role"]) for m in members] == [(str(viewer.id), 4)]


def test_list_pagination(admin: Actor) -> None:
    ids = [create_project(admin, f"P{i}")["id"] for i in range(5)]
    page1 = admin.get("/api/v1/projects/?page_size=2").json()
    assert page1["count"] == 5
    assert [p["id"] for p in page1["results"]] == ids[:2]
    assert page1["previous"] is None
    assert "page=2" in page1["next"] and "page_size=2" in page1["next"]
    page2 = admin.get(page1["next"]).json()
    assert [p["id"] for p in page2["results"]] == ids[2:4]
    assert "page=1" in page2["previous"]
    page3 = admin.get(page2["next"]).json()
    assert [p["id"] for p in page3["results"]] == ids[4:]
    assert page3["next"] is None
    beyond = admin.get("/api/v1/projects/?page=9&page_size=2").json()
    assert beyond["count"] == 5 and beyond["results"] == [] and beyond["next"] is None
    everything = admin.get("/api/v1/projects/").json()
    assert len(everything["results"]) == 5 and everything["next"] is None


def test_list_reads_the_schedules_with_the_projects_not_one_by_one(
    admin: Actor, engine: Engine
) -> None:
    ids = []
    for days in (2, 3, 5):
        created = create_project(admin, f"{days} days")
        create_task(admin, created["id"], duration=days)
        ids.append(created["id"])
    sent: list[str] = []

    def record(*args: Any) -> None:
        sent.append(args[2])

    event.listen(engine, "before_cursor_execute", record)
    try:
        listed = admin.get("/api/v1/projects/").json()["results"]
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert [(p["id"], p["duration"]) for p in listed] == list(zip(ids, (2, 3, 5), strict=True))
    # The count and the page: the schedule (deferred elsewhere) comes with the page.
    assert len([sql for sql in sent if "FROM projects" in sql]) == 2


def test_patch_changes_fields_and_reschedules(admin: Actor, project: dict[str, Any]) -> None:
    pid = project["id"]
    create_task(admin, pid, "A", duration=3)
    patched = admin.patch(
        f"/api/v1/projects/{pid}/",
        json={"name": "Renamed", "start_date": "2026-01-12", "target_end_date": None},
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["name"] == "Renamed" and body["start_date"] == "2026-01-12"
    assert body["finish_date"] == "2026-01-14"
    assert body["updated_at"] >= project["updated_at"]
    assert admin.get(f"/api/v1/projects/{pid}/").json() == body


def test_status_transitions(admin: Actor, project: dict[str, Any], dump: Dump) -> None:
    pid = project["id"]
    before = dump()
    refused = admin.patch(f"/api/v1/projects/{pid}/", json={"status": "Complete"})
    assert refused.status_code == 409
    assert "status" in refused.json()["detail"]
    assert dump() == before
    started = admin.patch(f"/api/v1/projects/{pid}/", json={"status": "Active"})
    assert started.status_code == 200
    assert started.json()["status"] == "Active" and started.json()["has_baseline"] is True
    frozen = admin.patch(f"/api/v1/projects/{pid}/", json={"status": "Frozen"})
    assert frozen.json()["status"] == "Frozen"


def test_delete_removes_the_project_its_tasks_and_links(
    admin: Actor, project: dict[str, Any]
) -> None:
    pid = project["id"]
    a = create_task(admin, pid, "A")
    b = create_task(admin, pid, "B")
    link = create_link(admin, pid, a["id"], b["id"])
    assert admin.delete(f"/api/v1/projects/{pid}/").status_code == 204
    assert admin.get(f"/api/v1/projects/{pid}/").status_code == 404
    assert admin.get(f"/api/v1/tasks/{a['id']}/").status_code == 404
    assert admin.get(f"/api/v1/dependencies/{link['id']}/").status_code == 404
    assert admin.delete(f"/api/v1/projects/{pid}/").status_code == 404
    assert admin.get("/api/v1/projects/").json()["count"] == 0


def test_members_list_add_patch_delete(
    admin: Actor, project: dict[str, Any], make_actor: ActorFactory
) -> None:
    pid = project["id"]
    user = make_actor(organization_id=admin.organization_id)
    url = f"/api/v1/projects/{pid}/members/"
    assert admin.get(url).json() == {"count": 0, "next": None, "previous": None, "results": []}
    # Without a role the project does not exist for them.
    assert user.get(f"/api/v1/projects/{pid}/").status_code == 404

    added = admin.post(url, json={"user_id": str(user.id), "role": 1})
    assert added.status_code == 201, added.text
    assert added.json() == {
        "user_id": str(user.id),
        "email": user.email,
        "name": "Test User",
        "role": 1,
    }
    assert user.get(f"/api/v1/projects/{pid}/").status_code == 200
    assert (
        user.post(f"/api/v1/projects/{pid}/tasks/", json={"name": "x", "duration": 1}).status_code
        == 403
    )
    listed = admin.get(url).json()
    assert listed["count"] == 1 and listed["results"] == [added.json()]

    again = admin.post(url, json={"user_id": str(user.id), "role": 2})
    assert again.status_code == 409 and "user_id" in again.json()["detail"]

    promoted = admin.patch(f"{url}{user.id}/", json={"role": 2})
    assert promoted.status_code == 200 and promoted.json()["role"] == 2
    assert (
        user.post(f"/api/v1/projects/{pid}/tasks/", json={"name": "x", "duration": 1}).status_code
        == 201
    )

    assert admin.delete(f"{url}{user.id}/").status_code == 204
    assert user.get(f"/api/v1/projects/{pid}/").status_code == 404
    assert admin.delete(f"{url}{user.id}/").status_code == 404
    assert admin.patch(f"{url}{user.id}/", json={"role": 3}).status_code == 404


def test_members_of_another_organization_cannot_be_added(
    admin: Actor, project: dict[str, Any], make_actor: ActorFactory, dump: Dump
) -> None:
    stranger = make_actor()
    before = dump()
    response = admin.post(
        f"/api/v1/projects/{project['id']}/members/",
        json={"user_id": str(stranger.id), "role": 4},
    )
    assert response.status_code == 422
    assert "user_id" in response.json()["detail"]
    assert dump() == before
    assert stranger.get(f"/api/v1/projects/{project['id']}/").status_code == 404


def test_members_pagination(
    admin: Actor, project: dict[str, Any], make_member: MemberFactory
) -> None:
    for role in (1, 2, 3):
        make_member(project["id"], role)
    page = admin.get(f"/api/v1/projects/{project['id']}/members/?page_size=2").json()
    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"]
