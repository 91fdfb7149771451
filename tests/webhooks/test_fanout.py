"""Which registered webhooks get a delivery for a real event: the events filter, paused and
disabled webhooks, project and account scope, and project.created reaching the organization."""

from __future__ import annotations

from collections import Counter
from typing import Any

from tests.conftest import Actor, ActorFactory
from tests.webhooks.conftest import Db, create_account_webhook, create_project_webhook, hooks_url


def _types(db: Db, hook: dict[str, Any]) -> Counter[str]:
    return Counter(d["event_type"] for d in db.deliveries(hook["id"]))


def test_deliveries_for_matching_active_webhooks_only(
    admin: Actor, make_actor: ActorFactory, project: dict[str, Any], db: Db
) -> None:
    pid = project["id"]
    other_project = admin.post("/api/v1/projects/", json={"name": "Other"}).json()
    tasks_only = create_project_webhook(admin, pid, events=["task.created"])
    everything = create_project_webhook(admin, pid, events=None)
    paused = create_project_webhook(admin, pid, events=None)
    admin.patch(hooks_url(pid, paused["id"]), json={"is_active": False})
    elsewhere = create_project_webhook(admin, other_project["id"], events=None)
    account = create_account_webhook(admin, events=["task.created", "dependency.created"])
    account_paused = create_account_webhook(admin, events=None)
    admin.patch(f"/api/v1/webhooks/{account_paused['id']}/pause")
    stranger = make_actor(is_org_admin=True)
    foreign = create_account_webhook(stranger, events=None)

    a = admin.post(f"/api/v1/projects/{pid}/tasks/", json={"name": "A", "duration": 2}).json()
    b = admin.post(f"/api/v1/projects/{pid}/tasks/", json={"name": "B", "duration": 1}).json()
    link = admin.post(
        f"/api/v1/projects/{pid}/dependencies/",
        json={"predecessor_id": a["id"], "successor_id": b["id"]},
    )
    assert link.status_code == 201, link.text

    assert _types(db, tasks_only) == {"task.created": 2}
    everything_types = _types(db, everything)
    assert everything_types["task.created"] == 2 and everything_types["dependency.created"] == 1
    assert everything_types["schedule.recalculated"] == 3
    assert "project.created" not in everything_types  # created before the project's webhooks
    assert _types(db, paused) == {} and _types(db, account_paused) == {}
    assert _types(db, elsewhere) == {}
    assert _types(db, account) == {"task.created": 2, "dependency.created": 1}
    assert _types(db, foreign) == {}
    assert all(d["status"] == "pending" and not d["is_test"] for d in db.deliveries())

    # Resumed, it gets new events again (and nothing for what happened while paused).
    admin.patch(hooks_url(pid, paused["id"]), json={"is_active": True})
    admin.patch(f"/api/v1/tasks/{a['id']}/", json={"name": "A2"})
    assert _types(db, paused)["task.updated"] == 1
    assert "task.created" not in _types(db, paused)


def test_project_created_reaches_the_organizations_webhooks(
    admin: Actor, make_actor: ActorFactory, project: dict[str, Any], db: Db
) -> None:
    project_hook = create_project_webhook(admin, project["id"], events=["project.created"])
    account = create_account_webhook(admin, events=["project.created"])
    not_subscribed = create_project_webhook(admin, project["id"], events=["task.created"])
    stranger = make_actor(is_org_admin=True)
    stranger_project = stranger.post("/api/v1/projects/", json={"name": "Theirs"}).json()
    foreign = create_project_webhook(stranger, stranger_project["id"], events=None)

    created = admin.post("/api/v1/projects/", json={"name": "New"}).json()

    [delivery] = db.deliveries(project_hook["id"])
    assert delivery["event_type"] == "project.created"
    assert delivery["data"]["id"] == created["id"]
    assert _types(db, account) == {"project.created": 1}
    assert _types(db, not_subscribed) == {}
    assert "project.created" not in _types(db, foreign)
