"""``planwire import``: the command line on a real database, and a 10,000-task MSPDI file."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from planwire.cli import app
from planwire.config import Settings
from planwire.tasks.models import Dependency, Task
from tests.conftest import Actor
from tests.devx.plans import large_mspdi

DATA = Path(__file__).parent / "data"


def run_import(settings: Settings, *args: str) -> Any:
    env = {
        "PLANWIRE_DATABASE_URL": settings.database_url,
        "PLANWIRE_SECRET_KEY": settings.secret_key or "",
    }
    return CliRunner().invoke(app, ["import", *args], env=env)


def test_import_command(settings: Settings, admin: Actor, project: dict[str, Any]) -> None:
    result = run_import(settings, str(DATA / "calendar.xml"), "--project", project["id"])
    assert result.exit_code == 0, result.output
    assert "Imported 1 tasks (0 milestones) and 0 links from calendar.xml (mspdi)" in result.output
    assert "calendar applied (11 holidays)" in result.output
    assert "warning: Calendar UID 2 Six-day week, Exception 'Release Sunday'" in result.output
    calendar = admin.get(f"/api/v1/projects/{project['id']}/").json()["calendar"]
    assert calendar["working_days"] == [0, 1, 2, 3, 4, 5]


def test_import_command_errors(settings: Settings, project: dict[str, Any], tmp_path: Path) -> None:
    bad = tmp_path / "plan.csv"
    bad.write_text("ref,name,duration\n1,A,1\n2,B,often\n")
    result = run_import(settings, str(bad), "--project", project["id"])
    assert result.exit_code == 2
    assert "plan.csv: line 3 (ref '2'): duration: 'often' is not a duration" in result.output
    result = run_import(
        settings, str(DATA / "links.xml"), "--project", "00000000-0000-0000-0000-000000000000"
    )
    assert result.exit_code == 2 and "no project 00000000-" in result.output
    result = run_import(
        settings, str(DATA / "links.xml"), "--project", project["id"], "--as", "nobody@x.org"
    )
    assert result.exit_code == 2 and "no user 'nobody@x.org'" in result.output
    result = run_import(
        settings, str(DATA / "links.xml"), "--project", project["id"], "--format", "x"
    )
    assert result.exit_code == 2 and "--format must be one of: mspdi, csv" in result.output


@pytest.mark.slow
def test_ten_thousand_tasks(
    settings: Settings, engine: Engine, admin: Actor, project: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "large.xml"
    path.write_bytes(large_mspdi(10_000))
    started = time.perf_counter()
    result = run_import(settings, str(path), "--project", project["id"], "--json")
    elapsed = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    print(
        f"\n10,000-task MSPDI import on {engine.dialect.name}: {elapsed:.2f} s "
        f"(parse, create, one recalculation, commit; the command says {body['seconds']} s)"
    )
    assert body["counts"] == {
        "tasks": 10_000,
        "dependencies": 10_899,  # 99 FS + 9 SS per phase of 100, and 99 phase-to-phase links
        "milestones": 200,
        "skipped_tasks": 101,  # the project summary task and 100 phases
        "holidays": 0,
    }
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(Task)) == 10_000
        assert connection.scalar(select(func.count()).select_from(Dependency)) == 10_899
        unscheduled = connection.scalar(
            select(func.count()).select_from(Task).where(Task.es.is_(None))
        )
        assert unscheduled == 0
        last_finish = connection.scalar(select(func.max(Task.ef)))
    # Each phase: 100 tasks of 1..5 days in a chain, two milestones: 290 days; 100 phases.
    assert last_finish == 29_000
    assert admin.get(f"/api/v1/projects/{project['id']}/").json()["duration"] >= 29_000
