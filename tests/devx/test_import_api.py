"""POST /api/v1/projects/{id}/import/: MSPDI and CSV files through the API, on both backends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.api.conftest import dump_database
from tests.conftest import Actor, ActorFactory
from tests.devx.plans import mspdi

DATA = Path(__file__).parent / "data"
EXAMPLE_CSV = Path(__file__).parents[2] / "examples" / "plans" / "launch.csv"
XML = "application/xml"


def upload(actor: Actor, project_id: str, data: bytes, content_type: str, query: str = "") -> Any:
    return actor.client.post(
        f"/api/v1/projects/{project_id}/import/{query}",
        content=data,
        headers={**actor.headers, "Content-Type": content_type},
    )


def schedule_by_name(actor: Actor, project_id: str) -> dict[str, dict[str, Any]]:
    schedule = actor.get(f"/api/v1/projects/{project_id}/schedule/").json()
    return {task["name"]: task for task in schedule["tasks"]}


def test_mspdi_import_creates_tasks_links_and_one_schedule(
    admin: Actor, project: dict[str, Any]
) -> None:
    response = upload(admin, project["id"], (DATA / "links.xml").read_bytes(), XML)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["format"] == "mspdi"
    assert body["counts"] == {
        "tasks": 8,
        "dependencies": 9,
        "milestones": 1,
        "skipped_tasks": 1,
        "holidays": 0,
    }
    assert body["calendar_applied"] is False
    assert [t["ref"] for t in body["tasks"]] == ["1", "2", "3", "4", "5", "6", "7", "8"]
    assert body["tasks"][0]["source"] == "Task UID 1 'Design' (line 10)"
    # The tasks exist and the links were scheduled with their types and lags.
    task = admin.get(f"/api/v1/tasks/{body['tasks'][1]['id']}/").json()
    assert task["name"] == "Build (FS +3 days)" and task["duration"] == 5
    by_name = schedule_by_name(admin, project["id"])
    assert (by_name["Design"]["es"], by_name["Design"]["ef"]) == (0, 10)
    assert by_name["Build (FS +3 days)"]["es"] == 13  # FS + 3
    assert by_name["Docs (SS -1 day)"]["es"] == 12  # SS - 1 from Build's start
    assert by_name["Test (FF +16 hours)"]["ef"] == 20  # FF + 2 from Build's finish (18)
    assert by_name["Review (FS +50% of Design)"]["es"] == 15  # 10 + 50 % of 10
    links = admin.get(f"/api/v1/projects/{project['id']}/dependencies/?page_size=100").json()
    assert links["count"] == 9
    assert {link["type"] for link in links["results"]} == {"FS", "SS", "FF", "SF"}


def test_calendar_is_applied_and_used(admin: Actor, project: dict[str, Any]) -> None:
    response = upload(admin, project["id"], (DATA / "calendar.xml").read_bytes(), "text/xml")
    assert response.status_code == 201, response.text
    assert response.json()["calendar_applied"] is True
    assert response.json()["counts"]["holidays"] == 11
    calendar = admin.get(f"/api/v1/projects/{project['id']}/").json()["calendar"]
    assert calendar["working_days"] == [0, 1, 2, 3, 4, 5]
    assert calendar["holidays"][:2] == ["2026-01-07", "2026-01-08"]
    # Mon 5, Tue 6, (7 and 8 off), Fri 9, Sat 10, Mon 12, Tue 13.
    task = schedule_by_name(admin, project["id"])["Six days of work"]
    assert (task["start_date"], task["finish_date"]) == ("2026-01-05", "2026-01-13")

    again = upload(
        admin, project["id"], (DATA / "calendar.xml").read_bytes(), XML, "?apply_calendar=false"
    )
    assert again.status_code == 201 and again.json()["calendar_applied"] is False


def test_a_member_imports_tasks_but_not_the_calendar(
    admin: Actor, project: dict[str, Any], make_actor: ActorFactory
) -> None:
    member = make_actor(organization_id=admin.organization_id)
    viewer = make_actor(organization_id=admin.organization_id)
    for user, role in ((member, 2), (viewer, 1)):
        added = admin.post(
            f"/api/v1/projects/{project['id']}/members/",
            json={"user_id": str(user.id), "role": role},
        )
        assert added.status_code == 201, added.text
    data = (DATA / "calendar.xml").read_bytes()
    assert upload(viewer, project["id"], data, XML).status_code == 403
    response = upload(member, project["id"], data, XML)
    assert response.status_code == 201, response.text
    assert response.json()["calendar_applied"] is False
    assert "needs the Manager role" in response.json()["warnings"][0]
    outsider = make_actor()
    assert upload(outsider, project["id"], data, XML).status_code == 404


def test_csv_import(admin: Actor, project: dict[str, Any]) -> None:
    response = upload(admin, project["id"], EXAMPLE_CSV.read_bytes(), "text/csv; charset=utf-8")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["format"] == "csv"
    assert body["counts"]["tasks"] == 9 and body["counts"]["dependencies"] == 12
    by_name = schedule_by_name(admin, project["id"])
    assert by_name["Backend"]["es"] == by_name["Design"]["es"] + 2


def test_summary_tasks_through_the_api(admin: Actor, project: dict[str, Any]) -> None:
    response = upload(admin, project["id"], (DATA / "summary.xml").read_bytes(), XML)
    assert response.status_code == 201, response.text
    by_name = schedule_by_name(admin, project["id"])
    assert set(by_name) == {"Spec", "Prototype", "Build", "Test", "Done"}
    assert by_name["Build"]["es"] == by_name["Prototype"]["ef"] + 1


def test_task_details_through_the_api(admin: Actor, project: dict[str, Any]) -> None:
    response = upload(admin, project["id"], (DATA / "details.xml").read_bytes(), XML)
    assert response.status_code == 201, response.text
    tasks = {
        t["name"]: admin.get(f"/api/v1/tasks/{t['id']}/").json() for t in response.json()["tasks"]
    }
    assert tasks["Survey"]["status"] == "Completed"
    assert tasks["Foundations"]["status"] == "InProgress"
    assert tasks["Foundations"]["percent_complete"] == 40
    assert tasks["Inspection"]["start_no_earlier_than"] == "2026-02-02"
    assert tasks["Handover"]["is_milestone"] is True
    assert tasks["Survey"]["resource"] == "Crane crew"


@pytest.mark.parametrize(
    ("data", "content_type", "status", "message"),
    [
        (b"<Project>", XML, 422, "the XML is not well-formed"),
        (b"{}", "application/json", 415, "is not a plan format"),
        (b"", XML, 422, "the file is empty"),
        (
            mspdi("<Task><UID>4</UID><Name>A</Name>\n<Duration>soon</Duration></Task>"),
            XML,
            422,
            "Task UID 4 'A', <Duration> (line 6): 'soon' is not an ISO 8601 duration",
        ),
        (b"ref,name,duration\n1,A,x\n", "text/csv", 422, "line 2 (ref '1'): duration"),
    ],
)
def test_bad_files_are_refused_and_nothing_is_written(
    admin: Actor,
    project: dict[str, Any],
    engine: Engine,
    data: bytes,
    content_type: str,
    status: int,
    message: str,
) -> None:
    before = dump_database(engine)
    response = upload(admin, project["id"], data, content_type)
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]
    assert dump_database(engine) == before


def test_errors_of_the_bulk_rules_name_the_row(
    admin: Actor, project: dict[str, Any], engine: Engine
) -> None:
    # A milestone cannot be in progress: tasks.service refuses it, the message names the row.
    before = dump_database(engine)
    response = upload(
        admin, project["id"], b"ref,name,duration,percent complete\nm,Gate,0,50\n", "text/csv"
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith("line 2 (ref 'm'): ")
    assert response.json()["location"] == "line 2 (ref 'm')"
    # A cycle names the rows it runs through.
    cycle = b"ref,name,duration,predecessors\na,A,1,c\nb,B,1,a\nc,C,1,b\n"
    response = upload(admin, project["id"], cycle, "text/csv")
    assert response.status_code == 409, response.text
    detail = response.json()["detail"]
    assert "close a cycle" in detail and "line 2 (ref 'a')" in detail
    assert len(response.json()["cycle"]) == 4
    assert dump_database(engine) == before


def test_import_records_events_and_one_recalculation(
    admin: Actor, project: dict[str, Any], engine: Engine
) -> None:
    from sqlalchemy import select

    from planwire.events.models import Event

    response = upload(admin, project["id"], EXAMPLE_CSV.read_bytes(), "text/csv")
    assert response.status_code == 201
    with engine.connect() as connection:
        types = [row.type for row in connection.execute(select(Event.type))]
    assert types.count("task.created") == 9
    assert types.count("dependency.created") == 12
    assert types.count("schedule.recalculated") == 2  # project creation, then the import
