"""The schedule through the API: computed fields, calendar dates, one recalculation per request."""

from __future__ import annotations

from collections import Counter
from typing import Any

from tests.conftest import Actor
from tests.lifecycle.conftest import EventsOf, add_tasks, count_types


def test_schedule_endpoint_gives_cpm_fields_and_dates(
    admin: Actor, project: dict[str, Any]
) -> None:
    pid = project["id"]  # starts Monday 2026-01-05
    ids = add_tasks(
        admin,
        pid,
        [
            {"ref": "a", "name": "A", "duration": 3},
            {"ref": "b", "name": "B", "duration": 2},
            {"ref": "c", "name": "C", "duration": 4},
            {"ref": "d", "name": "D", "duration": 1},
        ],
        [
            {"predecessor": "a", "successor": "b", "type": "FS", "lag": 0},
            {"predecessor": "a", "successor": "c", "type": "SS", "lag": 1},
            {"predecessor": "b", "successor": "d", "type": "FS", "lag": 0},
        ],
    )
    schedule = admin.get(f"/api/v1/projects/{pid}/schedule/").json()
    tasks = {t["id"]: t for t in schedule["tasks"]}
    a, b, c, d = (tasks[ids[k]] for k in "abcd")
    assert (a["es"], a["ef"], a["ls"], a["lf"]) == (0, 3, 0, 3)
    assert (b["es"], b["ef"]) == (3, 5)
    assert (c["es"], c["ef"], c["ls"], c["lf"]) == (1, 5, 2, 6)
    assert (d["es"], d["ef"]) == (5, 6)
    assert c["total_float"] == 1 and c["free_float"] == 1 and not c["is_critical"]
    assert schedule["duration"] == 6
    # 6 working days from Monday 5 January end on Monday 12 January.
    assert schedule["finish_date"] == "2026-01-12"
    assert schedule["critical_path"] == [ids["a"], ids["b"], ids["d"]]
    assert b["start_date"] == "2026-01-08" and b["finish_date"] == "2026-01-09"
    # The task resource carries the same computed fields.
    task_c = admin.get(f"/api/v1/tasks/{ids['c']}/").json()
    assert (task_c["es"], task_c["lf"], task_c["total_float"]) == (1, 6, 1)


def test_calendar_skips_weekends_and_holidays(admin: Actor) -> None:
    created = admin.post(
        "/api/v1/projects/",
        json={
            "name": "Holidays",
            "start_date": "2026-12-23",
            "calendar": {"working_days": [0, 1, 2, 3, 4], "holidays": ["2026-12-25"]},
        },
    ).json()
    ids = add_tasks(admin, created["id"], [{"ref": "x", "name": "X", "duration": 3}])
    task = admin.get(f"/api/v1/tasks/{ids['x']}/").json()
    # Wed 23, Thu 24, (Fri 25 holiday, weekend), Mon 28.
    assert task["start_date"] == "2026-12-23"
    assert task["finish_date"] == "2026-12-28"


def test_bulk_import_is_one_recalculation(
    admin: Actor, project: dict[str, Any], events_of: EventsOf
) -> None:
    before = count_types(events_of())["schedule.recalculated"]
    tasks = [{"ref": f"t{i}", "name": f"T{i}", "duration": 1 + i % 3} for i in range(50)]
    links = [
        {"predecessor": f"t{i}", "successor": f"t{i + 1}", "type": "FS", "lag": 0}
        for i in range(49)
    ]
    add_tasks(admin, project["id"], tasks, links)
    counts = count_types(events_of())
    assert counts["schedule.recalculated"] == before + 1
    assert counts["task.created"] == 50 and counts["dependency.created"] == 49


def test_only_changes_the_schedule_depends_on_recalculate(
    admin: Actor, project: dict[str, Any], events_of: EventsOf
) -> None:
    ids = add_tasks(admin, project["id"], [{"ref": "a", "name": "A", "duration": 2}])
    url = f"/api/v1/tasks/{ids['a']}/"

    def patch(body: dict[str, Any]) -> Counter[str]:
        before = count_types(events_of())
        response = admin.patch(url, json=body)
        assert response.status_code == 200, response.text
        return count_types(events_of()) - before

    renamed = patch({"name": "Renamed"})
    assert renamed == Counter({"task.updated": 1})  # no schedule.recalculated
    assert admin.get(url).json()["name"] == "Renamed"
    for body in ({"duration": 4}, {"resource": "ux"}, {"start_no_earlier_than": "2027-03-01"}):
        assert patch(body)["schedule.recalculated"] == 1, body
    assert admin.get(url).json()["ef"] == admin.get(url).json()["es"] + 4


def test_cycle_is_refused_with_its_task_ids_and_nothing_written(
    admin: Actor, project: dict[str, Any], events_of: EventsOf
) -> None:
    pid = project["id"]
    ids = add_tasks(
        admin,
        pid,
        [{"ref": r, "name": r.upper(), "duration": 1} for r in "abc"],
        [
            {"predecessor": "a", "successor": "b"},
            {"predecessor": "b", "successor": "c"},
        ],
    )
    events_before = len(events_of())
    response = admin.post(
        f"/api/v1/projects/{pid}/dependencies/",
        json={"predecessor_id": ids["c"], "successor_id": ids["a"], "type": "FF", "lag": -2},
    )
    assert response.status_code == 409, response.text
    body = response.json()
    assert set(body["cycle"]) == {ids["a"], ids["b"], ids["c"]}
    assert body["cycle"][0] == body["cycle"][-1]
    assert "cycle" in body["detail"]
    links = admin.get(f"/api/v1/projects/{pid}/dependencies/").json()
    assert links["count"] == 2
    assert len(events_of()) == events_before


def test_progress_schedules_in_progress_work_from_the_status_date(admin: Actor) -> None:
    created = admin.post(
        "/api/v1/projects/",
        json={"name": "Run", "start_date": "2026-01-05", "status_date": "2026-01-07"},
    ).json()
    pid = created["id"]
    ids = add_tasks(
        admin,
        pid,
        [{"ref": "a", "name": "A", "duration": 4}, {"ref": "b", "name": "B", "duration": 2}],
        [{"predecessor": "a", "successor": "b"}],
    )
    assert admin.patch(f"/api/v1/projects/{pid}/", json={"status": "Active"}).status_code == 200
    # A started on the 5th; on the 7th (offset 2) it still needs 5 days: it ends at offset 7.
    response = admin.patch(
        f"/api/v1/tasks/{ids['a']}/",
        json={"status": "InProgress", "actual_start": "2026-01-05", "remaining_duration": 5},
    )
    assert response.status_code == 200, response.text
    a = response.json()
    assert (a["es"], a["ef"]) == (0, 7)
    b = admin.get(f"/api/v1/tasks/{ids['b']}/").json()
    assert (b["es"], b["ef"]) == (7, 9)


def test_feeding_buffers_are_keyed_by_their_joining_task(admin: Actor) -> None:
    """Keys survive changes to the task list: deleting an earlier task must not make the
    baseline of a feeding buffer match another buffer (or none)."""
    created = admin.post(
        "/api/v1/projects/",
        json={"name": "Feeders", "start_date": "2027-01-04", "status_date": "2027-01-04"},
    ).json()
    pid = created["id"]
    ids = add_tasks(
        admin,
        pid,
        [
            {"ref": "x", "name": "Early extra", "duration": 1},
            {"ref": "a", "name": "A", "duration": 10},
            {"ref": "f", "name": "Feeder", "duration": 4},
            {"ref": "c", "name": "C", "duration": 6},
        ],
        [{"predecessor": "a", "successor": "c"}, {"predecessor": "f", "successor": "c"}],
    )
    admin.patch(f"/api/v1/projects/{pid}/", json={"status": "Active"})
    feeder = admin.get(f"/api/v1/projects/{pid}/schedule/").json()["buffers"]
    key = f"feeding:{ids['f']}"
    assert key in feeder and feeder[key]["size"] == 2
    assert admin.delete(f"/api/v1/tasks/{ids['x']}/").status_code == 204
    # The feeder now ends on day 5 instead of 4: one day of its 2-day buffer, measured
    # against its own baseline although its position in the task list changed.
    admin.patch(
        f"/api/v1/tasks/{ids['f']}/", json={"status": "InProgress", "remaining_duration": 5}
    )
    schedule = admin.get(f"/api/v1/projects/{pid}/schedule/").json()
    assert set(schedule["buffers"]) == {"project", key}
    assert schedule["buffers"][key]["consumption"] == 50.0
    task = {t["id"]: t for t in schedule["tasks"]}[ids["f"]]
    assert task["buffer"] == key
