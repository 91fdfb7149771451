"""The CSV parser (pure: no database)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from planwire.devx.importers import PlanImportError, detect_format, parse_plan

EXAMPLE = Path(__file__).parents[2] / "examples" / "plans" / "launch.csv"


def parse(text: str, **kw: object) -> object:
    return parse_plan(text.encode(), "csv", **kw)  # type: ignore[arg-type]


def test_the_example_file() -> None:
    plan = parse_plan(EXAMPLE.read_bytes(), "csv")
    assert [(t.ref, t.duration, t.resource) for t in plan.tasks][:3] == [
        ("1", 5, "analyst"),
        ("2", 8, "ux"),
        ("3", 10, "dev"),
    ]
    assert plan.milestones == 2
    assert {(d.predecessor, d.successor, d.type, d.lag) for d in plan.dependencies} == {
        ("1", "2", "FS", 0),
        ("2", "3", "SS", 2),
        ("2", "4", "FS", 0),
        ("3", "4", "SS", 3),
        ("4", "5", "FF", 1),
        ("3", "6", "FS", 0),
        ("4", "6", "FS", 0),
        ("6", "7", "FS", 0),
        ("7", "8", "SF", -2),
        ("7", "9", "FS", 2),
        ("5", "9", "FS", 0),
        ("8", "9", "FS", 0),
    }
    assert plan.task_sources[2] == "line 4 (ref '3')"
    assert plan.warnings == []


def test_units_aliases_delimiters_and_row_numbers_as_refs() -> None:
    text = (
        "Task Name;Days;Depends on;Resource Names;Safe duration;SNET;% Complete;Notes\n"
        "Dig;40h;;crew;6;2026-02-02;100%;muddy\n"
        "\n"
        "Pour;2w;1FS+4h;crew;;;;\n"
        "Cure;3 edays;2 FS + 1 ed;;;;;\n"
        'Inspect;0.5;"1,2SS+50%";;;;;\n'
    )
    plan = parse(text, minutes_per_day=480)
    tasks = plan.tasks  # type: ignore[attr-defined]
    assert [(t.ref, t.name, t.duration) for t in tasks] == [
        ("1", "Dig", 5),
        ("2", "Pour", 10),
        ("3", "Cure", 3),
        ("4", "Inspect", 1),
    ]
    assert tasks[0].safe_duration == 6
    assert tasks[0].start_no_earlier_than == date(2026, 2, 2)
    assert tasks[0].percent_complete == 100
    links = {(d.predecessor, d.successor, d.type, d.lag) for d in plan.dependencies}  # type: ignore[attr-defined]
    assert links == {
        ("1", "2", "FS", 1),  # 4 hours rounds to a day
        ("2", "3", "FS", 1),
        ("1", "4", "FS", 0),
        ("2", "4", "SS", 5),  # 50 % of Pour's 10 days
    }
    text_warnings = "\n".join(plan.warnings)  # type: ignore[attr-defined]
    assert "column 'Notes' is not imported" in text_warnings
    assert "elapsed time counted as working time" in text_warnings
    assert "rounded up to 1" in text_warnings


def test_refs_that_look_like_links_and_a_bom() -> None:
    text = "\ufeffID,Name,Duration,Predecessors\ntask-1,A,1,\nB,B,1,task-1\nC,C,1,B-1d\n"
    plan = parse(text)
    links = {(d.predecessor, d.successor, d.lag) for d in plan.dependencies}  # type: ignore[attr-defined]
    assert links == {("task-1", "B", 0), ("B", "C", -1)}


def test_windows_1252_is_read_with_a_warning() -> None:
    data = "ref,name,duration\n1,Réunion,1\n".encode("cp1252")
    plan = parse_plan(data, "csv")
    assert plan.tasks[0].name == "Réunion"
    assert any("Windows-1252" in w for w in plan.warnings)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ref,title\n1,A\n", "line 1 (header): no 'duration' column"),
        ("ref,name,duration\n", "the file has a header row but no task rows"),
        ("ref,name,duration\n1,A,abc\n", "line 2 (ref '1'): duration: 'abc' is not a duration"),
        ("ref,name,duration\n1,A,\n", "line 2 (ref '1'): duration: empty"),
        ("ref,name,duration\n1,A,3 fortnights\n", "duration: unknown unit 'fortnights'"),
        ("ref,name,duration\n1,,3\n", "line 2 (ref '1'): name: the task has no name"),
        ("ref,name,duration\n1,A,1\n1,B,2\n", "line 3 (ref '1'): ref '1' is also used on line 2"),
        ("ref,name,duration\n,A,1\n", "line 2: the ref is empty"),
        (
            "ref,name,duration,predecessors\n1,A,1,\n2,B,1,7FS\n",
            "line 3 (ref '2'): predecessors: '7FS' does not start with a ref of this file",
        ),
        (
            "ref,name,duration,predecessors\n1,A,1,\n2,B,1,1;1SS\n",
            "line 3 (ref '2'): predecessors: '1' is listed twice",
        ),
        ("ref,name,duration\n1,A,1,extra\n", "line 2: 4 cells but the header has 3 columns"),
        ("ref,name,duration,milestone\n1,A,1,perhaps\n", "milestone: 'perhaps' is not yes or no"),
        ("ref,name,duration,snet\n1,A,1,02/03/2026\n", "'02/03/2026' is not a date"),
        ("ref,name,duration\n1,A,200000\n", "line 2 (ref '1'): duration: 200000 working days"),
        ("ref,name,duration\n1,A,-2\n", "duration: '-2' is not a duration"),
        ("ref,name,duration\n1,A,1\n", None),
        ("ref,name,duration,ref\n", "two columns mean 'ref'"),
    ],
)
def test_errors_name_the_line(text: str, message: str | None) -> None:
    if message is None:
        assert len(parse(text).tasks) == 1  # type: ignore[attr-defined]
        return
    with pytest.raises(PlanImportError) as caught:
        parse(text)
    assert message in str(caught.value)


def test_validation_by_the_bulk_schema_names_the_row() -> None:
    with pytest.raises(PlanImportError, match=r"line 2 \(ref '1'\): percent_complete: "):
        parse("ref,name,duration,percent complete\n1,A,1,140\n")


def test_detect_format() -> None:
    assert detect_format(content_type="application/xml; charset=utf-8") == "mspdi"
    assert detect_format(content_type="text/csv") == "csv"
    assert detect_format(content_type="application/json") is None
    assert detect_format(filename="plan.XML") == "mspdi"
    assert detect_format(filename="plan.csv") == "csv"
    assert detect_format(filename="plan", head=b"\xef\xbb\xbf<?xml") == "mspdi"
    assert detect_format(filename="plan", head=b"ref,name") == "csv"
    assert detect_format(filename="plan", head=b"") is None
