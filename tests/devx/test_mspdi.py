"""The MSPDI parser, element by element (pure: no database)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from planwire.devx.importers import PlanImportError, parse_plan
from tests.devx.plans import large_mspdi, mspdi

DATA = Path(__file__).parent / "data"


def read(name: str) -> bytes:
    return (DATA / name).read_bytes()


def links_of(plan: object) -> set[tuple[str, str, str, int]]:
    return {(d.predecessor, d.successor, d.type, d.lag) for d in plan.dependencies}  # type: ignore[attr-defined]


def test_durations_link_types_and_lag_formats() -> None:
    plan = parse_plan(read("links.xml"), "mspdi")
    assert [(t.ref, t.duration) for t in plan.tasks] == [
        ("1", 10),  # PT80H0M0S at 480 minutes a day
        ("2", 5),
        ("3", 3),
        ("4", 4),
        ("5", 1),
        ("6", 2),
        ("7", 1),
        ("8", 0),  # Milestone
    ]
    assert links_of(plan) == {
        ("1", "2", "FS", 3),  # LinkLag 14400 tenths of minutes, LagFormat 7 (days)
        ("2", "3", "SS", -1),  # negative lag
        ("2", "4", "FF", 2),  # 16 hours in LagFormat 5 (hours)
        ("4", "5", "SF", 0),
        ("1", "6", "FS", 5),  # LagFormat 19: 50 % of Design's 10 days
        ("3", "7", "FS", 2),  # LagFormat 8: 2 elapsed days
        ("5", "8", "FS", 0),  # no Type, LinkLag or LagFormat: FS, 0
        ("6", "8", "FS", 1),  # half a day (estimated days, LagFormat 39) rounds to 1
        ("7", "8", "FS", 0),
    }
    assert plan.skipped_tasks == 1  # the project summary task (UID 0)
    assert plan.milestones == 1
    assert plan.calendar is None
    assert plan.task_sources[0] == "Task UID 1 'Design' (line 10)"
    assert any("elapsed lag" in w for w in plan.warnings)
    assert any("rounded to 1" in w for w in plan.warnings)


def test_calendar_weekdays_base_calendar_and_exceptions() -> None:
    plan = parse_plan(read("calendar.xml"), "mspdi")
    assert plan.calendar is not None
    assert plan.calendar.working_days == [0, 1, 2, 3, 4, 5]  # Standard + working Saturdays
    assert plan.calendar.holidays == [
        date(2026, 1, 7),  # old-style WeekDay DayType 0
        date(2026, 1, 8),
        date(2026, 2, 16),  # daily exception over two days
        date(2026, 2, 17),
        date(2026, 3, 3),  # weekly: Tuesdays in 1..14 March
        date(2026, 3, 10),
        date(2026, 4, 24),  # monthly: last Friday of April and May
        date(2026, 5, 29),
        date(2026, 12, 25),  # yearly, from the base calendar
        date(2027, 12, 25),
        date(2028, 12, 25),
    ]
    assert any("Release Sunday" in w and "not imported" in w for w in plan.warnings)


def test_base_calendar_named_standard_when_the_project_names_none() -> None:
    calendars = """<Calendars>
      <Calendar><UID>3</UID><Name>Night shift</Name><IsBaseCalendar>1</IsBaseCalendar>
        <WeekDays><WeekDay><DayType>1</DayType><DayWorking>1</DayWorking></WeekDay></WeekDays>
      </Calendar>
      <Calendar><UID>1</UID><Name>Standard</Name><IsBaseCalendar>1</IsBaseCalendar>
        <WeekDays><WeekDay><DayType>6</DayType><DayWorking>0</DayWorking></WeekDay></WeekDays>
      </Calendar></Calendars>\n"""
    plan = parse_plan(mspdi("", extra=calendars), "mspdi")
    assert plan.calendar is not None
    assert plan.calendar.working_days == [0, 1, 2, 3]  # Standard without Fridays


def test_summary_tasks_are_skipped_and_their_links_land_on_the_tasks_under_them() -> None:
    plan = parse_plan(read("summary.xml"), "mspdi")
    assert [t.name for t in plan.tasks] == ["Spec", "Prototype", "Build", "Test", "Done"]
    # 0 (project), Phase 1, Phase 2, Sub-phase, the blank row, inactive and external tasks.
    assert plan.skipped_tasks == 7
    assert links_of(plan) == {
        ("11", "12", "FS", 0),
        # Phase 1 -> Phase 2 (FS + 1 day): Phase 1 finishes with Prototype, Phase 2 starts
        # with Build.
        ("12", "21", "FS", 1),
        ("21", "23", "FS", 0),
        # Phase 2 -> Done: Phase 2 finishes with Test.
        ("23", "31", "FS", 0),
    }
    text = "\n".join(plan.warnings)
    assert "inactive task" in text and "external task" in text
    assert "a link with a task that is not imported" in text


def test_summary_links_by_type_use_the_start_or_finish_side() -> None:
    tasks = """
    <Task><UID>1</UID><Name>P</Name><OutlineLevel>1</OutlineLevel><Summary>1</Summary></Task>
    <Task><UID>2</UID><Name>A</Name><OutlineLevel>2</OutlineLevel><Duration>PT8H0M0S</Duration></Task>
    <Task><UID>3</UID><Name>B</Name><OutlineLevel>2</OutlineLevel><Duration>PT8H0M0S</Duration>
      <PredecessorLink><PredecessorUID>2</PredecessorUID></PredecessorLink></Task>
    <Task><UID>4</UID><Name>X</Name><OutlineLevel>1</OutlineLevel><Duration>PT8H0M0S</Duration>
      <PredecessorLink><PredecessorUID>1</PredecessorUID><Type>3</Type></PredecessorLink>
      <PredecessorLink><PredecessorUID>1</PredecessorUID><Type>0</Type></PredecessorLink></Task>
    """
    plan = parse_plan(mspdi(tasks), "mspdi")
    # SS hangs on P's start (A starts it), FF on its finish (B finishes it).
    assert links_of(plan) == {("2", "3", "FS", 0), ("2", "4", "SS", 0), ("3", "4", "FF", 0)}


def test_task_details_resources_progress_constraints() -> None:
    plan = parse_plan(read("details.xml"), "mspdi")
    by_ref = {t.ref: t for t in plan.tasks}
    survey = by_ref["1"]
    assert survey.duration == 5  # 35 hours at 420 minutes a day
    assert survey.percent_complete == 100
    assert (survey.actual_start, survey.actual_finish) == (date(2026, 1, 5), date(2026, 1, 9))
    assert survey.resource == "Crane crew"
    foundations = by_ref["2"]
    assert (foundations.duration, foundations.percent_complete) == (10, 40)
    assert foundations.actual_start == date(2026, 1, 12) and foundations.actual_finish is None
    assert foundations.resource == "Crane crew"  # the first of two resources
    assert by_ref["3"].duration == 1  # 3.5 hours rounds up
    assert by_ref["3"].start_no_earlier_than == date(2026, 2, 2)
    assert by_ref["4"].start_no_earlier_than == date(2026, 1, 19)  # must start on
    assert by_ref["4"].resource is None  # assigned to the "unassigned" resource
    assert by_ref["5"].duration == 0  # Milestone flag wins over P1W
    assert by_ref["6"].name == "Task 6" and by_ref["6"].duration == 3  # P2DT3H30M
    text = "\n".join(plan.warnings)
    for expected in (
        "2 resources assigned",
        "rounded up to 1",
        "'must start on' imported as 'start no earlier than'",
        "imported as a milestone",
        "'finish no later than' is not imported",
        "no <Name>",
    ):
        assert expected in text


def test_minutes_per_day_override() -> None:
    tasks = "<Task><UID>1</UID><Name>A</Name><Duration>PT40H0M0S</Duration></Task>"
    assert parse_plan(mspdi(tasks), "mspdi").tasks[0].duration == 5
    assert parse_plan(mspdi(tasks), "mspdi", minutes_per_day=600).tasks[0].duration == 4
    file_day = "<MinutesPerDay>600</MinutesPerDay>\n"
    assert parse_plan(mspdi(tasks, extra=file_day), "mspdi").tasks[0].duration == 4


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"<Project><Tasks><Task>", "line 1, column 23: the XML is not well-formed"),
        (b"<Workbook/>", "the root element is <Workbook>, expected <Project>"),
        (
            mspdi("<Task><UID>1</UID><Name>A</Name>\n<Duration>40 hours</Duration></Task>"),
            "Task UID 1 'A', <Duration> (line 6): '40 hours' is not an ISO 8601 duration",
        ),
        (
            mspdi("<Task><Name>A</Name></Task>"),
            "<Task> (line 5): <UID> is missing",
        ),
        (
            mspdi("<Task><UID>x1</UID></Task>"),
            "<Task>, <UID> (line 5): 'x1' is not an integer",
        ),
        (
            mspdi("<Task><UID>1</UID><Name>A</Name></Task>\n<Task><UID>1</UID></Task>"),
            "Task UID 1 (line 6): UID 1 is also used by Task UID 1 'A' (line 5)",
        ),
        (
            mspdi(
                "<Task><UID>1</UID><Name>A</Name></Task><Task><UID>2</UID><Name>B</Name>\n"
                "<PredecessorLink><PredecessorUID>1</PredecessorUID></PredecessorLink>"
                "<PredecessorLink><PredecessorUID>1</PredecessorUID><Type>3</Type>"
                "</PredecessorLink></Task>"
            ),
            "Task UID 2 'B', PredecessorLink 2 (line 6): a second link from UID 1 to UID 2",
        ),
        (
            mspdi(
                "<Task><UID>1</UID><Name>A</Name>\n<PredecessorLink><PredecessorUID>9"
                "</PredecessorUID></PredecessorLink></Task>"
            ),
            "Task UID 1 'A', PredecessorLink 1 (line 6): PredecessorUID 9 is not a task",
        ),
        (
            mspdi(
                "<Task><UID>1</UID><Name>A</Name></Task><Task><UID>2</UID><Name>B</Name>"
                "<PredecessorLink><PredecessorUID>1</PredecessorUID><Type>7</Type>"
                "</PredecessorLink></Task>"
            ),
            "link Type 7 is not one of 0 (FF), 1 (FS), 2 (SF), 3 (SS)",
        ),
        (
            mspdi("<Task><UID>1</UID><Name>A</Name><Milestone>maybe</Milestone></Task>"),
            "<Milestone> (line 5): 'maybe' is not a flag",
        ),
        (
            mspdi("<Task><UID>1</UID><Name>A</Name><PercentComplete>140</PercentComplete></Task>"),
            "140 is not a percentage",
        ),
        (
            mspdi(f"<Task><UID>1</UID><Name>{'n' * 501}</Name></Task>"),
            "Task UID 1 'nnn",  # the name is too long: BulkTask's own rule
        ),
        (
            mspdi(
                "",
                extra="<Calendars><Calendar><UID>1</UID><WeekDays>"
                + "".join(
                    f"<WeekDay><DayType>{d}</DayType><DayWorking>0</DayWorking></WeekDay>"
                    for d in range(1, 8)
                )
                + "</WeekDays></Calendar></Calendars>",
            ),
            "the project calendar has no working weekday",
        ),
        (
            mspdi(
                "",
                extra="<Calendars><Calendar><UID>1</UID><Exceptions><Exception><TimePeriod>"
                "<FromDate>2026-02-01T00:00:00</FromDate><ToDate>2026-01-01T00:00:00</ToDate>"
                "</TimePeriod></Exception></Exceptions></Calendar></Calendars>",
            ),
            "Calendar UID 1, Exception (line 4): ToDate 2026-01-01 is before FromDate",
        ),
    ],
)
def test_errors_name_the_element(document: bytes, message: str) -> None:
    with pytest.raises(PlanImportError) as caught:
        parse_plan(document, "mspdi")
    assert message in str(caught.value)


def test_entity_expansion_is_refused() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE Project [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><Project><Name>&b;</Name></Project>'
    )
    with pytest.raises(PlanImportError, match="declares entities"):
        parse_plan(bomb, "mspdi")
    external = (
        b'<?xml version="1.0"?><!DOCTYPE Project [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<Project><Name>&x;</Name></Project>"
    )
    with pytest.raises(PlanImportError, match="declares entities"):
        parse_plan(external, "mspdi")


def test_empty_file() -> None:
    with pytest.raises(PlanImportError, match="the file is empty"):
        parse_plan(b"  \n", "mspdi")


def test_progress_reports_bytes_then_tasks() -> None:
    data = large_mspdi(1200)
    seen: list[tuple[str, int, int]] = []
    plan = parse_plan(data, "mspdi", progress=lambda *args: seen.append(args))
    assert len(plan.tasks) == 1200
    reads = [s for s in seen if s[0] == "read"]
    assert len(reads) > 1 and reads[-1] == ("read", len(data), len(data))
    assert seen[-1] == ("tasks", 1200, 1200)
