"""Dependencies: list and create under the project, get and delete by id, four link types with
lags, and the links that are refused (cycles, self-links, duplicates, foreign tasks)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tests.api.conftest import Dump, create_link, create_project, create_task, random_id
from tests.conftest import Actor, ActorFactory


@pytest.mark.parametrize(
    ("type", "lag", "successor_es"),
    [
        ("FS", 0, 4),  # starts when A finishes
        ("FS", 2, 6),
        ("FS", -1, 3),
        ("SS", 1, 1),  # starts a day after A starts
        ("FF", 0, 2),  # finishes with A (4 days): B (2 days) starts on day 2
        ("FF", -1, 1),
        ("SF", 3, 1),  # finishes 3 days after A starts
    ],
)
def test_link_types_and_lags_shape_the_schedule(
    admin: Actor, project: dict[str, Any], type: str, lag: int, successor_es: int
) -> None:
    pid = project["id"]
    a = create_task(admin, pid, "A", duration=4)
    b = create_task(admin, pid, "B", duration=2)
    response = admin.post(
        f"/api/v1/projects/{pid}/dependencies/",
        json={"predecessor_id": a["id"], "successor_id": b["id"], "type": type, "lag": lag},
    )
    assert response.status_code == 201, response.text
    link = response.json()
    assert (link["type"], link["lag"], link["project_id"]) == (type, lag, pid)
    assert admin.get(f"/api/v1/tasks/{b['id']}/").json()["es"] == successor_es


def test_create_list_get_delete(admin: Actor, project: dict[str, Any]) -> None:
    pid = project["id"]
    a, b, c = (create_task(admin, pid, name, duration=1) for name in "ABC")
    first = create_link(admin, pid, a["id"], b["id"])
    assert first["type"] == "FS" and first["lag"] == 0  # the defaults
    second = create_link(admin, pid, b["id"], c["id"], type="SS", lag=1)
    url = f"/api/v1/projects/{pid}/dependencies/"
    listed = admin.get(url).json()
    assert listed["count"] == 2 and listed["results"] == [first, second]
    paged = admin.get(f"{url}?page_size=1&page=2").json()
    assert paged["results"] == [second] and paged["previous"] and paged["next"] is None
    assert admin.get(f"/api/v1/dependencies/{first['id']}/").json() == first

    assert admin.get(f"/api/v1/tasks/{c['id']}/").json()["es"] == 2
    assert admin.delete(f"/api/v1/dependencies/{first['id']}/").status_code == 204
    assert admin.get(f"/api/v1/dependencies/{first['id']}/").status_code == 404
    assert admin.delete(f"/api/v1/dependencies/{first['id']}/").status_code == 404
    assert admin.get(url).json()["results"] == [second]
    assert admin.get(f"/api/v1/tasks/{b['id']}/").json()["es"] == 0  # rescheduled


def test_a_link_closing_a_cycle_is_409_with_the_cycle(
    admin: Actor, project: dict[str, Any], dump: Dump
) -> None:
    pid = project["id"]
    a, b, c, d = (create_task(admin, pid, name)["id"] for name in "ABCD")
    create_link(admin, pid, a, b)
    create_link(admin, pid, b, c)
    create_link(admin, pid, c, d)
    before = dump()
    response = admin.post(
        f"/api/v1/projects/{pid}/dependencies/",
        json={"predecessor_id": c, "successor_id": a, "type": "SS", "lag": 0},
    )
    assert response.status_code == 409, response.text
    body = response.json()
    cycle = body["cycle"]
    assert cycle[0] == cycle[-1]
    assert set(cycle) == {a, b, c}
    # Consecutive ids are linked: a -> b -> c -> a in some rotation.
    pairs = set(itertools.pairwise(cycle))
    assert pairs == {(a, b), (b, c), (c, a)}
    assert "cycle" in body["detail"]
    assert dump() == before


def test_self_link_and_duplicate_link_are_conflicts(
    admin: Actor, project: dict[str, Any], dump: Dump
) -> None:
    pid = project["id"]
    a = create_task(admin, pid, "A")["id"]
    b = create_task(admin, pid, "B")["id"]
    create_link(admin, pid, a, b)
    before = dump()
    url = f"/api/v1/projects/{pid}/dependencies/"
    own = admin.post(url, json={"predecessor_id": a, "successor_id": a})
    assert own.status_code == 409
    assert own.json()["cycle"] == [a, a]
    again = admin.post(url, json={"predecessor_id": a, "successor_id": b, "type": "SS"})
    assert again.status_code == 409
    assert "already exists" in again.json()["detail"]
    reverse = admin.post(url, json={"predecessor_id": b, "successor_id": a})
    assert reverse.status_code == 409 and set(reverse.json()["cycle"]) == {a, b}
    assert dump() == before


def test_links_across_projects_and_organizations_are_refused(
    admin: Actor, project: dict[str, Any], make_actor: ActorFactory, dump: Dump
) -> None:
    pid = project["id"]
    here = create_task(admin, pid, "Here")["id"]
    other_project = create_project(admin, "Other")
    there = create_task(admin, other_project["id"], "There")["id"]
    stranger = make_actor(is_org_admin=True)
    foreign = create_task(stranger, create_project(stranger)["id"], "Foreign")["id"]
    url = f"/api/v1/projects/{pid}/dependencies/"
    before = dump()

    across = admin.post(url, json={"predecessor_id": there, "successor_id": here})
    assert across.status_code == 422
    assert across.json()["detail"].startswith("predecessor_id")
    assert "across projects" in across.json()["detail"]

    to_foreign = admin.post(url, json={"predecessor_id": here, "successor_id": foreign})
    missing = admin.post(url, json={"predecessor_id": here, "successor_id": random_id()})
    assert to_foreign.status_code == missing.status_code == 422
    assert to_foreign.json()["detail"].startswith("successor_id")
    # A task of another organization is indistinguishable from one that does not exist.
    assert to_foreign.json()["detail"] == missing.json()["detail"].replace(
        missing.json()["detail"].split()[3], foreign
    )
    assert "across projects" not in to_foreign.json()["detail"]

    # Nor can the stranger link or read our tasks through their own project.
    theirs = stranger.post(
        f"/api/v1/projects/{create_project(stranger)['id']}/dependencies/",
        json={"predecessor_id": foreign, "successor_id": here},
    )
    assert theirs.status_code == 422
    assert stranger.get(f"/api/v1/tasks/{here}/").status_code == 404
    # Only the projects the stranger made in the meantime changed the database.
    after = dump()
    assert after["tasks"] == before["tasks"] and after["dependencies"] == before["dependencies"]


@pytest.mark.parametrize("lag", [100_001, -100_001, 10**12])
def test_lag_out_of_range_is_422(
    admin: Actor, project: dict[str, Any], dump: Dump, lag: int
) -> None:
    pid = project["id"]
    a = create_task(admin, pid, "A")["id"]
    b = create_task(admin, pid, "B")["id"]
    before = dump()
    response = admin.post(
        f"/api/v1/projects/{pid}/dependencies/",
        json={"predecessor_id": a, "successor_id": b, "lag": lag},
    )
    assert response.status_code == 422
    assert response.json()["detail"].startswith("lag")
    assert dump() == before
