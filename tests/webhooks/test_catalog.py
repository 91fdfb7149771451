"""The event catalog: every event of SPEC section 4 is listed with a schema, and the data of real
events produced through the API validates against it (so producers and schemas cannot drift)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator

from planwire.webhooks.catalog import CATALOG, EVENT_TYPES, example_data
from tests.conftest import Actor, ActorFactory
from tests.webhooks.conftest import Db

SPEC_EVENTS = {
    "project.created",
    "task.created",
    "task.updated",
    "task.deleted",
    "dependency.created",
    "dependency.deleted",
    "schedule.recalculated",
    "project.started",
    "project.frozen",
    "project.status_changed",
    "task.ready",
    "task.completed",
    "task.status_changed",
    "task.duration_changed",
    "milestone.achieved",
    "task.red",
    "project.early_warning",
}


def _validator(schema: dict[str, Any]) -> Draft202012Validator:
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_catalog_covers_the_spec_and_its_examples_validate() -> None:
    assert set(CATALOG) == SPEC_EVENTS and len(EVENT_TYPES) == len(SPEC_EVENTS)
    families = {"project", "task", "dependency", "schedule", "critical chain"}
    for event in EVENT_TYPES:
        assert event.family in families and event.description
        _validator(event.schema).validate(event.example)
    assert {e.type for e in EVENT_TYPES if e.family == "critical chain"} == {
        "task.red",
        "project.early_warning",
    }


def test_examples_with_a_project_id_still_validate() -> None:
    project_id = "11111111-2222-4333-8444-555555555555"
    for event in EVENT_TYPES:
        data = example_data(event.type, project_id=project_id)
        _validator(event.schema).validate(data)
        assert project_id in str(data)
    assert example_data("task.created", project_id=project_id)["project_id"] == project_id
    assert example_data("task.created") == CATALOG["task.created"].example
    assert example_data("task.created") is not CATALOG["task.created"].example


def test_schemas_are_strict() -> None:
    validator = _validator(CATALOG["task.red"].schema)
    assert not validator.is_valid({**CATALOG["task.red"].example, "extra": 1})
    missing = dict(CATALOG["task.red"].example)
    del missing["bufferConsumption"]
    assert not validator.is_valid(missing)
    task = _validator(CATALOG["task.updated"].schema)
    assert not task.is_valid({**CATALOG["task.updated"].example, "status": "Sleeping"})


def test_listing(admin: Actor, make_actor: ActorFactory, client: TestClient) -> None:
    viewer = make_actor()  # any authenticated user, no role anywhere
    response = viewer.get("/api/v1/webhook-events")
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["count"] == len(SPEC_EVENTS) and page["next"] is None
    assert {item["type"] for item in page["results"]} == SPEC_EVENTS
    for item in page["results"]:
        assert set(item) == {"type", "family", "description", "schema", "example"}
        assert item["schema"] == CATALOG[item["type"]].schema
    paged = admin.get("/api/v1/webhook-events/", params={"page_size": 5, "page": 4}).json()
    assert len(paged["results"]) == 2 and paged["next"] is None and paged["previous"]
    assert client.get("/api/v1/webhook-events/").status_code == 401


@pytest.fixture
def scenario(admin: Actor) -> None:
    """Drive a project through its life so every event type is produced at least once."""
    project = admin.post(
        "/api/v1/projects/",
        json={
            "name": "Chain",
            "start_date": "2026-01-05",
            "status_date": "2026-01-05",
            "target_end_date": "2026-02-20",
            "manager_id": str(admin.id),
        },
    ).json()
    pid = project["id"]
    admin.post(f"/api/v1/projects/{pid}/members/", json={"user_id": str(admin.id), "role": 4})
    bulk = admin.post(
        f"/api/v1/projects/{pid}/tasks/bulk/",
        json={
            "tasks": [
                {
                    "ref": "a",
                    "name": "A",
                    "duration": 10,
                    "resource": "dev",
                    "assignee_id": str(admin.id),
                },
                {"ref": "b", "name": "B", "duration": 10, "resource": "dev"},
                {"ref": "m", "name": "Launch", "duration": 0},
            ],
            "dependencies": [
                {"predecessor": "a", "successor": "b"},
                {"predecessor": "b", "successor": "m"},
            ],
        },
    )
    assert bulk.status_code == 201, bulk.text
    ids = {t["ref"]: t["id"] for t in bulk.json()["tasks"]}
    extra = admin.post(f"/api/v1/projects/{pid}/tasks/", json={"name": "Docs", "duration": 2})
    link = admin.post(
        f"/api/v1/projects/{pid}/dependencies/",
        json={"predecessor_id": extra.json()["id"], "successor_id": ids["m"], "lag": -1},
    )
    assert link.status_code == 201, link.text
    assert admin.delete(f"/api/v1/dependencies/{link.json()['id']}/").status_code == 204
    assert admin.delete(f"/api/v1/tasks/{extra.json()['id']}/").status_code == 204

    steps: list[tuple[str, dict[str, Any]]] = [
        (f"/api/v1/projects/{pid}/", {"status": "Active"}),
        (f"/api/v1/tasks/{ids['a']}/", {"status": "InProgress", "remaining_duration": 16}),
        (f"/api/v1/tasks/{ids['a']}/", {"remaining_duration": 20}),
        (f"/api/v1/tasks/{ids['a']}/", {"percent_complete": 100}),
        (
            f"/api/v1/tasks/{ids['b']}/",
            {"status": "Completed", "actual_start": "2026-01-06", "actual_finish": "2026-01-20"},
        ),
        (f"/api/v1/tasks/{ids['m']}/", {"status": "Completed", "actual_finish": "2026-01-20"}),
        (f"/api/v1/projects/{pid}/", {"status": "Frozen"}),
    ]
    for url, body in steps:
        response = admin.patch(url, json=body)
        assert response.status_code == 200, (url, body, response.text)


@pytest.mark.usefixtures("scenario")
def test_real_event_data_validates_against_the_catalog(db: Db) -> None:
    events = db.events()
    assert {e["type"] for e in events} == SPEC_EVENTS
    validators = {event.type: _validator(event.schema) for event in EVENT_TYPES}
    for event in events:
        errors = list(validators[event["type"]].iter_errors(event["data"]))
        assert not errors, (event["type"], [e.message for e in errors], event["data"])
    people = [e["data"]["assignedTo"] for e in events if e["type"] in ("task.ready", "task.red")]
    assert any(person is not None for person in people)  # a person object was checked too
