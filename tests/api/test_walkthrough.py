"""The README's curl walk-through, step by step, as a curl user would send it: raw JSON
bodies, the same URLs (with their trailing slashes), the token of the first run."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import Actor

PW = "/api/v1"


class Curl:
    """``curl -s -H "Authorization: Bearer $TOKEN" [-X METHOD] URL [-d BODY]``."""

    def __init__(self, client: TestClient, token: str) -> None:
        self.client = client
        self.auth = {"Authorization": f"Bearer {token}"}

    def __call__(self, url: str, data: str | None = None, method: str | None = None) -> Any:
        headers = dict(self.auth)
        if data is not None:
            headers["Content-Type"] = "application/json"
        method = method or ("POST" if data is not None else "GET")
        response = self.client.request(
            method, url, headers=headers, content=data, follow_redirects=False
        )
        assert response.status_code < 300, f"{method} {url}: {response.text}"
        return response.json()


def test_readme_walkthrough(client: TestClient, admin: Actor) -> None:
    curl = Curl(client, admin.token)

    me = curl(f"{PW}/users/me/")
    assert me["email"] == admin.email and me["is_org_admin"] is True

    project = curl(
        f"{PW}/projects/",
        """{
  "name": "Q1 Product Launch", "start_date": "2027-02-01", "target_end_date": "2027-03-31",
  "calendar": {"working_days": [0,1,2,3,4], "holidays": ["2027-02-15"]}
}""",
    )
    assert project["status"] == "Planning"
    p = project["id"]

    design = curl(
        f"{PW}/projects/{p}/tasks/", '{"name": "Design", "duration": 5, "resource": "ux"}'
    )
    assert design["status"] == "NotStarted" and (design["es"], design["ef"]) == (0, 5)

    imported = curl(
        f"{PW}/projects/{p}/tasks/bulk/",
        """{
  "tasks": [
    {"ref": "be", "name": "Backend", "duration": 10, "resource": "dev"},
    {"ref": "fe", "name": "Frontend", "duration": 8, "resource": "dev"},
    {"ref": "ship", "name": "Launch", "duration": 0}
  ],
  "dependencies": [
    {"predecessor": "be", "successor": "fe", "type": "SS", "lag": 2},
    {"predecessor": "be", "successor": "ship", "type": "FS", "lag": 0},
    {"predecessor": "fe", "successor": "ship", "type": "FS", "lag": 0}
  ]
}""",
    )
    ids = {task["ref"]: task["id"] for task in imported["tasks"]}
    assert set(ids) == {"be", "fe", "ship"} and len(imported["dependencies"]) == 3

    link = curl(
        f"{PW}/projects/{p}/dependencies/",
        json.dumps(
            {"predecessor_id": design["id"], "successor_id": ids["be"], "type": "FS", "lag": 0}
        ),
    )
    assert (link["predecessor_id"], link["successor_id"]) == (design["id"], ids["be"])

    schedule = curl(f"{PW}/projects/{p}/schedule/")
    tasks = {task["id"]: task for task in schedule["tasks"]}
    backend, frontend, launch = tasks[ids["be"]], tasks[ids["fe"]], tasks[ids["ship"]]
    assert (backend["es"], backend["ef"]) == (5, 15)
    assert (frontend["es"], frontend["ef"]) == (7, 15)
    assert (launch["es"], launch["ef"]) == (15, 15)
    assert schedule["duration"] == 15
    # Fifteen working days from Monday 1 February 2027, skipping the holiday on the 15th.
    assert schedule["finish_date"] == "2027-02-22"
    assert backend["start_date"] == "2027-02-08" and backend["finish_date"] == "2027-02-22"
    assert schedule["critical_path"][0] == design["id"]
    assert {design["id"], ids["be"], ids["ship"]} <= set(schedule["critical_path"])
    assert schedule["critical_chain"] and "project" in schedule["buffers"]

    started = curl(f"{PW}/projects/{p}/", '{"status": "Active"}', method="PATCH")
    assert started["status"] == "Active" and started["has_baseline"] is True

    progress = curl(
        f"{PW}/tasks/{ids['be']}/",
        '{"status": "InProgress", "remaining_duration": 7}',
        method="PATCH",
    )
    assert progress["status"] == "InProgress"
    assert (progress["remaining_duration"], progress["percent_complete"]) == (7, 30)
    assert progress["actual_start"] is not None

    # The closing paragraph: lists are paginated, and routes answer without the slash too.
    listed = curl(f"{PW}/projects/{p}/tasks?page=1&page_size=2")
    assert listed["count"] == 4 and len(listed["results"]) == 2 and listed["next"]
    assert curl(f"{PW}/projects/{p}")["id"] == p
