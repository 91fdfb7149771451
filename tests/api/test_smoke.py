from __future__ import annotations

from typing import Any

from tests.conftest import Actor


def test_create_project_with_tasks_and_link(admin: Actor, project: dict[str, Any]) -> None:
    pid = project["id"]
    a = admin.post(f"/api/v1/projects/{pid}/tasks/", json={"name": "A", "duration": 3})
    assert a.status_code == 201, a.text
    b = admin.post(f"/api/v1/projects/{pid}/tasks/", json={"name": "B", "duration": 2})
    link = admin.post(
        f"/api/v1/projects/{pid}/dependencies/",
        json={"predecessor_id": a.json()["id"], "successor_id": b.json()["id"]},
    )
    assert link.status_code == 201, link.text
    task_b = admin.get(f"/api/v1/tasks/{b.json()['id']}").json()
    assert task_b["es"] == 3 and task_b["ef"] == 5
    assert task_b["start_date"] == "2026-01-08"
