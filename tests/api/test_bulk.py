"""Bulk import: tasks by ``ref`` and links by ref or existing id, in one transaction and one
recalculation; any bad row refuses the whole batch, naming the row and its field."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import (
    Dump,
    EventsOf,
    create_link,
    create_project,
    create_task,
    random_id,
)
from tests.conftest import Actor, ActorFactory


def bulk(actor: Actor, project_id: str, body: dict[str, Any]) -> Any:
    return actor.post(f"/api/v1/projects/{project_id}/tasks/bulk/", json=body)


def test_bulk_creates_tasks_and_links_by_ref_and_by_existing_id(
    admin: Actor, project: dict[str, Any], events_of: EventsOf
) -> None:
    pid = project["id"]
    design = create_task(admin, pid, "Design", duration=2)
    recalculations = len(events_of("schedule.recalculated"))
    response = bulk(
        admin,
        pid,
        {
            "tasks": [
                {"ref": "be", "name": "Backend", "duration": 5, "resource": "dev"},
                {"ref": "fe", "name": "Frontend", "duration": 3},
                {"ref": "ship", "name": "Launch", "duration": 0},
            ],
            "dependencies": [
                {"predecessor": design["id"], "successor": "be"},
                {"predecessor": "be", "successor": "fe", "type": "SS", "lag": 2},
                {"predecessor": "be", "successor": "ship"},
                {"predecessor": "fe", "successor": "ship", "type": "FS", "lag": 0},
            ],
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert [(t["ref"], t["name"]) for t in body["tasks"]] == [
        ("be", "Backend"),
        ("fe", "Frontend"),
        ("ship", "Launch"),
    ]
    ids = {t["ref"]: t["id"] for t in body["tasks"]}
    assert len(body["dependencies"]) == 4
    assert {
        (d["predecessor_id"], d["successor_id"], d["type"], d["lag"]) for d in body["dependencies"]
    } == {
        (design["id"], ids["be"], "FS", 0),
        (ids["be"], ids["fe"], "SS", 2),
        (ids["be"], ids["ship"], "FS", 0),
        (ids["fe"], ids["ship"], "FS", 0),
    }
    # The answer carries the computed schedule and equals what GET returns.
    for task in body["tasks"]:
        fetched = admin.get(f"/api/v1/tasks/{task['id']}/").json()
        assert fetched == {k: v for k, v in task.items() if k != "ref"}
    es = {t["ref"]: t["es"] for t in body["tasks"]}
    assert es == {"be": 2, "fe": 4, "ship": 7}
    # One recalculation for the whole batch.
    assert len(events_of("schedule.recalculated")) == recalculations + 1
    listed = admin.get(f"/api/v1/projects/{pid}/dependencies/").json()
    assert listed["count"] == 4


def test_empty_batch_is_fine(admin: Actor, project: dict[str, Any]) -> None:
    response = bulk(admin, project["id"], {"tasks": [], "dependencies": []})
    assert response.status_code == 201
    assert response.json() == {"tasks": [], "dependencies": []}


def test_a_batch_of_links_between_existing_tasks(admin: Actor, project: dict[str, Any]) -> None:
    pid = project["id"]
    a, b = create_task(admin, pid, "A")["id"], create_task(admin, pid, "B")["id"]
    response = bulk(admin, pid, {"dependencies": [{"predecessor": a, "successor": b}]})
    assert response.status_code == 201, response.text
    assert response.json()["tasks"] == []


GOOD_TASKS = [
    {"ref": "a", "name": "A", "duration": 1},
    {"ref": "b", "name": "B", "duration": 2},
    {"ref": "c", "name": "C", "duration": 3},
]
GOOD_LINKS = [
    {"predecessor": "a", "successor": "b"},
    {"predecessor": "b", "successor": "c"},
]


def with_task(index: int, **changes: Any) -> dict[str, Any]:
    tasks = [dict(t) for t in GOOD_TASKS]
    tasks[index].update(changes)
    return {
        "tasks": [{k: v for k, v in t.items() if v is not None} for t in tasks],
        "dependencies": GOOD_LINKS,
    }


def with_link(index: int, **changes: Any) -> dict[str, Any]:
    links = [dict(link) for link in GOOD_LINKS]
    if index == len(links):
        links.append({})
    links[index].update(changes)
    return {"tasks": GOOD_TASKS, "dependencies": links}


BAD_BATCHES = {
    "negative duration": (with_task(2, duration=-1), 422, "tasks.2.duration"),
    "duration of the wrong type": (with_task(1, duration="long"), 422, "tasks.1.duration"),
    "missing name": (with_task(1, name=None), 422, "tasks.1.name"),
    "unknown field": (with_task(0, colour="red"), 422, "tasks.0.colour"),
    "missing ref": (with_task(2, ref=None), 422, "tasks.2.ref"),
    "duplicate ref": (with_task(2, ref="a"), 422, "tasks.2.ref"),
    "bad date": (
        with_task(1, start_no_earlier_than="2026-02-30"),
        422,
        "tasks.1.start_no_earlier_than",
    ),
    "inconsistent progress": (
        with_task(1, status="Completed", percent_complete=50),
        422,
        "tasks.1.percent_complete",
    ),
    "unknown ref": (with_link(1, predecessor="zz"), 422, "dependencies.1.predecessor"),
    "unknown task id": (with_link(0, successor=random_id()), 422, "dependencies.0.successor"),
    "bad link type": (with_link(1, type="XX"), 422, "dependencies.1.type"),
    "lag out of range": (with_link(0, lag=100_001), 422, "dependencies.0.lag"),
    "missing successor": (with_link(2, predecessor="a"), 422, "dependencies.2.successor"),
    "duplicate link": (with_link(2, predecessor="a", successor="b"), 409, "dependencies.2"),
    "self link": (with_link(2, predecessor="c", successor="c"), 409, "dependencies.2"),
    "cycle": (with_link(2, predecessor="c", successor="a"), 409, "cycle"),
    "not a list": ({"tasks": {"ref": "a"}}, 422, "tasks"),
    "unknown top-level field": ({"tasks": [], "links": []}, 422, "links"),
}


@pytest.mark.parametrize("case", list(BAD_BATCHES))
def test_any_bad_row_refuses_the_whole_batch(
    admin: Actor, project: dict[str, Any], dump: Dump, case: str
) -> None:
    body, status, field = BAD_BATCHES[case]
    before = dump()
    response = bulk(admin, project["id"], body)
    assert response.status_code == status, response.text
    assert field in response.json()["detail"]
    if case == "cycle":
        assert len(response.json()["cycle"]) == 4
    assert dump() == before


def test_links_to_foreign_tasks_and_existing_duplicates_refuse_the_batch(
    admin: Actor, project: dict[str, Any], make_actor: ActorFactory, dump: Dump
) -> None:
    pid = project["id"]
    mine = create_task(admin, pid, "Mine")["id"]
    other = create_task(admin, create_project(admin, "Other")["id"], "Other")["id"]
    stranger = make_actor(is_org_admin=True)
    foreign = create_task(stranger, create_project(stranger)["id"], "Foreign")["id"]
    existing_successor = create_task(admin, pid, "Next")["id"]
    create_link(admin, pid, mine, existing_successor)
    before = dump()
    for links, status, field in [
        ([{"predecessor": other, "successor": "a"}], 422, "dependencies.0.predecessor"),
        ([{"predecessor": "a", "successor": foreign}], 422, "dependencies.0.successor"),
        ([{"predecessor": mine, "successor": existing_successor}], 409, "dependencies.0"),
        ([{"predecessor": existing_successor, "successor": mine}], 409, "cycle"),
    ]:
        response = bulk(admin, pid, {"tasks": GOOD_TASKS, "dependencies": links})
        assert response.status_code == status, response.text
        assert field in response.json()["detail"]
        assert dump() == before


def test_assignee_of_another_organization_names_the_row(
    admin: Actor, project: dict[str, Any], make_actor: ActorFactory, dump: Dump
) -> None:
    stranger = make_actor()
    before = dump()
    response = bulk(admin, project["id"], with_task(1, assignee_id=str(stranger.id)))
    assert response.status_code == 422
    assert response.json()["detail"].startswith("tasks.1.assignee_id")
    assert dump() == before
