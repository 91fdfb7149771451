"""Microsoft Project XML (MSPDI, the ``File > Save As > XML`` format) to a plan.

What is read, and how it becomes Planwire's model (working days, a Monday = 0 calendar):

* ``Project/MinutesPerDay`` (default 480), ``MinutesPerWeek`` and ``DaysPerMonth`` convert
  durations and lags to working days.
* ``Tasks/Task``: ``UID`` (the task's ``ref``), ``Name``, ``Duration`` (ISO 8601, e.g.
  ``PT40H0M0S`` = 40 working hours = 5 days at 480 minutes a day; a fraction of a day rounds
  up), ``Milestone`` (imported with duration 0), ``PercentComplete`` with ``ActualStart`` /
  ``ActualFinish``, ``ConstraintType`` 4 (start no earlier than) or 2 (must start on, imported
  as start no earlier than) with ``ConstraintDate``. Summary tasks (``Summary`` = 1), the
  project summary task (``OutlineLevel`` 0), blank rows (``IsNull``), inactive and external
  tasks are skipped; the children of a summary task are imported.
* ``PredecessorLink``: ``PredecessorUID``, ``Type`` (0 FF, 1 FS, 2 SF, 3 SS), ``LinkLag`` in
  tenths of a minute with ``LagFormat`` (elapsed formats count 24-hour days, percentage formats
  are a share of the predecessor's duration); rounded to whole days. A link to or from a
  summary task becomes a link to or from each of its (non-summary) descendants.
* ``Resources`` and ``Assignments``: the first resource assigned to a task becomes its
  ``resource`` (what the critical chain levels on).
* ``Calendars/Calendar``: the project's calendar (``Project/CalendarUID``, else the base
  calendar named "Standard"), with the calendars it derives from: ``WeekDays/WeekDay``
  (``DayType`` 1..7 = Sunday..Saturday, ``DayWorking``) give the working weekdays; non-working
  exceptions (``WeekDay`` with ``DayType`` 0, or ``Exceptions/Exception``; daily, weekly,
  monthly and yearly recurrences) within their ``TimePeriod`` ``FromDate``..``ToDate`` become
  holidays.

The XML is parsed with :mod:`defusedxml` (no entity expansion, no external references, so no
"billion laughs" or XXE), and every error names the element and its line.
"""

from __future__ import annotations

import calendar as calendar_module
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from xml.etree.ElementTree import Element, ParseError, TreeBuilder

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from planwire.devx.importers import (
    DEFAULT_MINUTES_PER_DAY,
    ImportedPlan,
    PlanImportError,
    ProgressCallback,
    Warnings,
    make_dependency,
    make_task,
    whole_days,
)
from planwire.projects.schemas import Calendar
from planwire.tasks.schemas import BulkTask

LINK_TYPES = {0: "FF", 1: "FS", 2: "SF", 3: "SS"}
# LagFormat / DurationFormat codes (MSPDI): +32 is the "estimated" variant of each.
_ELAPSED_FORMATS = frozenset({4, 6, 8, 10, 12, 36, 38, 40, 42, 44})
_PERCENT_FORMATS = frozenset({19, 20, 51, 52})
_SNET, _MSO = 4, 2
_CONSTRAINT_NAMES = {
    1: "as late as possible",
    3: "must finish on",
    5: "start no later than",
    6: "finish no earlier than",
    7: "finish no later than",
}
_UNASSIGNED_RESOURCE = -65535
_MAX_EXCEPTION_DAYS = 5000
_READ_CHUNK = 256 * 1024
_DURATION = re.compile(
    r"-?P(?:(?P<years>\d+(?:\.\d+)?)Y)?(?:(?P<months>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<weeks>\d+(?:\.\d+)?)W)?(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?"
)


@functools.cache
def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


class _LineRecordingBuilder:
    """A parser target that drops namespaces and remembers the line each element starts on."""

    def __init__(self) -> None:
        self._builder = TreeBuilder()
        self.lines: dict[int, int] = {}
        self.expat: Any = None  # the parser's expat object, for its current line

    def start(self, tag: str, attrs: dict[str, str]) -> Element:
        element = self._builder.start(_local(tag), attrs)
        self.lines[id(element)] = self.expat.CurrentLineNumber
        return element

    def end(self, tag: str) -> Element:
        return self._builder.end(_local(tag))

    def data(self, text: str) -> None:
        self._builder.data(text)

    def close(self) -> Element:
        return self._builder.close()


@dataclass
class _Units:
    minutes_per_day: float
    minutes_per_week: float
    days_per_month: float


@dataclass
class _Task:
    uid: int
    name: str
    level: int
    label: str
    element: Element
    is_summary: bool
    skip_reason: str | None
    days: float = 0.0
    leaves: list[int] = field(default_factory=list)


class _Reader:
    def __init__(self, root: Element, lines: dict[int, int]) -> None:
        self.root = root
        self.lines = lines
        self.warnings = Warnings()

    # --- element helpers ---------------------------------------------------------------------

    def line(self, element: Element) -> int:
        return self.lines.get(id(element), 0)

    def at(self, element: Element, label: str | None = None) -> str:
        name = label or f"<{element.tag}>"
        return f"{name} (line {self.line(element)})"

    def text(self, parent: Element, name: str) -> str | None:
        child = parent.find(name)
        if child is None or child.text is None or not child.text.strip():
            return None
        return child.text.strip()

    def field_where(self, parent: Element, name: str, owner: str) -> str:
        child = parent.find(name)
        line = self.line(child) if child is not None else self.line(parent)
        return f"{owner}, <{name}> (line {line})"

    def integer(self, parent: Element, name: str, owner: str, default: int | None = None) -> int:
        raw = self.text(parent, name)
        if raw is None:
            if default is None:
                raise PlanImportError(
                    f"<{name}> is missing", where=f"{owner} (line {self.line(parent)})"
                )
            return default
        try:
            return int(raw)
        except ValueError:
            raise PlanImportError(
                f"{raw!r} is not an integer", where=self.field_where(parent, name, owner)
            ) from None

    def number(self, parent: Element, name: str, owner: str, default: float) -> float:
        raw = self.text(parent, name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            value = float("nan")
        if not 0 < value < 1e9:
            raise PlanImportError(
                f"{raw!r} is not a positive number", where=self.field_where(parent, name, owner)
            )
        return value

    def flag(self, parent: Element, name: str, owner: str) -> bool:
        raw = self.text(parent, name)
        if raw is None:
            return False
        lowered = raw.lower()
        if lowered in ("1", "true"):
            return True
        if lowered in ("0", "false"):
            return False
        raise PlanImportError(
            f"{raw!r} is not a flag (0 or 1)", where=self.field_where(parent, name, owner)
        )

    def day(self, parent: Element, name: str, owner: str) -> date | None:
        raw = self.text(parent, name)
        if raw is None or raw.startswith("NA"):
            return None
        try:
            return date.fromisoformat(raw[:10])
        except ValueError:
            raise PlanImportError(
                f"{raw!r} is not a date like 2026-01-05T08:00:00",
                where=self.field_where(parent, name, owner),
            ) from None

    # --- durations ---------------------------------------------------------------------------

    def work_minutes(self, raw: str, units: _Units, where: str) -> float:
        match = _DURATION.fullmatch(raw)
        if match is None or raw.startswith("-") or raw in ("P", "PT") or raw.endswith("T"):
            raise PlanImportError(
                f"{raw!r} is not an ISO 8601 duration like PT40H0M0S", where=where
            )
        parts = {k: float(v) for k, v in match.groupdict().items() if v is not None}
        if parts.get("years"):
            raise PlanImportError(f"{raw!r}: durations in years are not supported", where=where)
        return (
            parts.get("months", 0) * units.days_per_month * units.minutes_per_day
            + parts.get("weeks", 0) * units.minutes_per_week
            + parts.get("days", 0) * units.minutes_per_day
            + parts.get("hours", 0) * 60
            + parts.get("minutes", 0)
            + parts.get("seconds", 0) / 60
        )

    # --- the document ------------------------------------------------------------------------

    def units(self, minutes_per_day: float | None) -> _Units:
        root = self.root
        per_day = minutes_per_day or self.number(
            root, "MinutesPerDay", "<Project>", DEFAULT_MINUTES_PER_DAY
        )
        if per_day > 24 * 60:
            raise PlanImportError(
                "more than 1440 minutes a day",
                where=self.field_where(root, "MinutesPerDay", "<Project>"),
            )
        per_week = self.number(root, "MinutesPerWeek", "<Project>", per_day * 5)
        per_month = self.number(root, "DaysPerMonth", "<Project>", 20)
        return _Units(per_day, per_week, per_month)

    def tasks(self) -> list[_Task]:
        container = self.root.find("Tasks")
        found: list[_Task] = []
        seen: dict[int, str] = {}
        for element in [] if container is None else container.findall("Task"):
            uid = self.integer(element, "UID", "<Task>")
            name = self.text(element, "Name") or ""
            label = f"Task UID {uid}" + (f" {name!r}" if name else "")
            where = self.at(element, label)
            if uid in seen:
                raise PlanImportError(f"UID {uid} is also used by {seen[uid]}", where=where)
            seen[uid] = where
            level = self.integer(element, "OutlineLevel", label, default=1)
            skip: str | None = None
            if self.flag(element, "IsNull", label):
                skip = "blank row"
            elif level == 0:
                skip = "project summary task"
            elif self.flag(element, "ExternalTask", label):
                skip = "external task"
            elif self.text(element, "Active") is not None and not self.flag(
                element, "Active", label
            ):
                skip = "inactive task"
            found.append(
                _Task(
                    uid=uid,
                    name=name,
                    level=level,
                    label=label,
                    element=element,
                    is_summary=self.flag(element, "Summary", label),
                    skip_reason=skip,
                )
            )
        return found

    def resources_by_task(self) -> dict[int, list[str]]:
        names: dict[int, str] = {}
        resources = self.root.find("Resources")
        for element in [] if resources is None else resources.findall("Resource"):
            uid = self.integer(element, "UID", "<Resource>")
            name = self.text(element, "Name")
            if name:
                names[uid] = name
        by_task: dict[int, list[str]] = {}
        assignments = self.root.find("Assignments")
        for element in [] if assignments is None else assignments.findall("Assignment"):
            owner = "<Assignment>"
            task_uid = self.integer(element, "TaskUID", owner)
            resource_uid = self.integer(element, "ResourceUID", owner, default=_UNASSIGNED_RESOURCE)
            if resource_uid in names:
                by_task.setdefault(task_uid, []).append(names[resource_uid])
        return by_task


def _read_tree(data: bytes, progress: ProgressCallback | None) -> tuple[Element, dict[int, int]]:
    builder = _LineRecordingBuilder()
    parser = DefusedXMLParser(target=builder)
    builder.expat = parser.parser
    total = len(data)
    try:
        for offset in range(0, total, _READ_CHUNK):
            parser.feed(data[offset : offset + _READ_CHUNK])
            if progress is not None:
                progress("read", min(offset + _READ_CHUNK, total), total)
        root = parser.close()
    except ParseError as exc:
        line, column = exc.position
        reason = str(exc).split(":", 1)[0]
        raise PlanImportError(
            f"the XML is not well-formed ({reason})", where=f"line {line}, column {column + 1}"
        ) from None
    except DefusedXmlException:
        raise PlanImportError(
            "the XML declares entities or external references, which are refused "
            "(they are how 'billion laughs' and XXE attacks work; MS Project never writes them)"
        ) from None
    if not isinstance(root, Element):
        raise PlanImportError("the XML has no root element")
    return root, builder.lines


def parse(
    data: bytes, *, minutes_per_day: float | None = None, progress: ProgressCallback | None = None
) -> ImportedPlan:
    """Parse MSPDI ``data``; raises :class:`PlanImportError` naming the element."""
    root, lines = _read_tree(data, progress)
    if root.tag != "Project":
        raise PlanImportError(
            f"this is not a Microsoft Project XML file: the root element is <{root.tag}>, "
            "expected <Project>",
            where="line 1",
        )
    reader = _Reader(root, lines)
    units = reader.units(minutes_per_day)
    tasks = reader.tasks()
    by_uid = {task.uid: task for task in tasks}
    _collect_leaves(tasks)
    resources = reader.resources_by_task()
    plan = ImportedPlan(format="mspdi")

    imported = [t for t in tasks if not t.is_summary and t.skip_reason is None]
    for task in tasks:
        if task.skip_reason is not None or task.is_summary:
            plan.skipped_tasks += 1
        if task.skip_reason in ("inactive task", "external task"):
            reader.warnings.add(
                task.skip_reason,
                f"{reader.at(task.element, task.label)}: {task.skip_reason}, not imported",
            )
        task.days = _task_days(reader, task, units)

    for index, task in enumerate(imported):
        plan.tasks.append(_bulk_task(reader, task, resources.get(task.uid, [])))
        plan.task_sources.append(reader.at(task.element, task.label))
        if progress is not None and (index % 500 == 0 or index == len(imported) - 1):
            progress("tasks", index + 1, len(imported))

    _links(reader, tasks, by_uid, units, plan)
    plan.calendar = _calendar(reader)
    plan.warnings = reader.warnings.as_list()
    return plan


def _collect_leaves(tasks: list[_Task]) -> None:
    """Give each summary task the UIDs of its importable descendants (outline order)."""
    stack: list[_Task] = []
    for task in tasks:
        while stack and stack[-1].level >= task.level:
            stack.pop()
        if not task.is_summary and task.skip_reason is None:
            for ancestor in stack:
                ancestor.leaves.append(task.uid)
        if task.is_summary or task.level == 0:
            stack.append(task)


def _task_days(reader: _Reader, task: _Task, units: _Units) -> float:
    element = task.element
    raw = reader.text(element, "Duration")
    if raw is None:
        return 0.0
    where = reader.field_where(element, "Duration", task.label)
    minutes = reader.work_minutes(raw, units, where)
    fmt = reader.integer(element, "DurationFormat", task.label, default=7)
    if fmt in _ELAPSED_FORMATS:
        if not task.is_summary and task.skip_reason is None:
            reader.warnings.add(
                "elapsed duration",
                f"{where}: an elapsed duration, imported as {minutes / 1440:g} working days",
            )
        return minutes / (24 * 60)
    return minutes / units.minutes_per_day


def _bulk_task(reader: _Reader, task: _Task, resources: list[str]) -> BulkTask:
    element = task.element
    label = task.label
    where = reader.at(element, label)
    fields: dict[str, Any] = {"ref": str(task.uid), "name": task.name}
    if not task.name:
        fields["name"] = f"Task {task.uid}"
        reader.warnings.add("unnamed", f"{where}: no <Name>, imported as 'Task {task.uid}'")
    try:
        days, rounded = whole_days(task.days, round_up=True)
    except ValueError as exc:
        where = reader.field_where(element, "Duration", label)
        raise PlanImportError(str(exc), where=where) from None
    if rounded:
        reader.warnings.add(
            "rounded duration",
            f"{where}: duration {task.days:.2f} working days rounded up to {days}",
        )
    if reader.flag(element, "Milestone", label):
        if days:
            reader.warnings.add(
                "milestone with duration",
                f"{where}: a milestone with a duration of {days} days, imported as a "
                "milestone (duration 0)",
            )
        days = 0
    fields["duration"] = days

    percent = reader.integer(element, "PercentComplete", label, default=0)
    if not 0 <= percent <= 100:
        raise PlanImportError(
            f"{percent} is not a percentage from 0 to 100",
            where=reader.field_where(element, "PercentComplete", label),
        )
    if percent:
        fields["percent_complete"] = float(percent)
        actual_start = reader.day(element, "ActualStart", label)
        actual_finish = reader.day(element, "ActualFinish", label)
        if actual_start is not None:
            fields["actual_start"] = actual_start
        if actual_finish is not None and percent == 100:
            fields["actual_finish"] = actual_finish

    constraint = reader.integer(element, "ConstraintType", label, default=0)
    if constraint in (_SNET, _MSO):
        snet = reader.day(element, "ConstraintDate", label)
        if snet is not None:
            fields["start_no_earlier_than"] = snet
            if constraint == _MSO:
                reader.warnings.add(
                    "must start on",
                    f"{where}: 'must start on' imported as 'start no earlier than' {snet}",
                )
    elif constraint in _CONSTRAINT_NAMES:
        reader.warnings.add(
            "constraint",
            f"{where}: constraint '{_CONSTRAINT_NAMES[constraint]}' is not imported",
        )

    if resources:
        fields["resource"] = resources[0]
        if len(resources) > 1:
            reader.warnings.add(
                "several resources",
                f"{where}: {len(resources)} resources assigned; Planwire levels on one, "
                f"{resources[0]!r}",
            )
    return make_task(fields, where)


@dataclass
class _RawLink:
    predecessor: _Task
    successor: _Task
    type: str
    lag: int
    where: str


def _links(
    reader: _Reader,
    tasks: list[_Task],
    by_uid: dict[int, _Task],
    units: _Units,
    plan: ImportedPlan,
) -> None:
    raw: list[_RawLink] = []
    for task in tasks:
        for number, element in enumerate(task.element.findall("PredecessorLink"), start=1):
            owner = f"{task.label}, PredecessorLink {number}"
            where = reader.at(element, owner)
            if reader.flag(element, "CrossProject", owner):
                reader.warnings.add(
                    "cross-project link", f"{where}: a link to another project, not imported"
                )
                continue
            pred_uid = reader.integer(element, "PredecessorUID", owner)
            predecessor = by_uid.get(pred_uid)
            if predecessor is None:
                raise PlanImportError(
                    f"PredecessorUID {pred_uid} is not a task of this file", where=where
                )
            code = reader.integer(element, "Type", owner, default=1)
            if code not in LINK_TYPES:
                raise PlanImportError(
                    f"link Type {code} is not one of 0 (FF), 1 (FS), 2 (SF), 3 (SS)",
                    where=reader.field_where(element, "Type", owner),
                )
            lag = _lag(reader, element, owner, predecessor, units)
            raw.append(_RawLink(predecessor, task, LINK_TYPES[code], lag, where))

    # Links between imported tasks tell which tasks under a summary start it and finish it.
    preds: dict[int, set[int]] = {}
    succs: dict[int, set[int]] = {}
    for link in raw:
        if _imported(link.predecessor) and _imported(link.successor):
            preds.setdefault(link.successor.uid, set()).add(link.predecessor.uid)
            succs.setdefault(link.predecessor.uid, set()).add(link.successor.uid)

    seen: dict[tuple[int, int], str] = {}
    for link in raw:
        expanded = link.predecessor.is_summary or link.successor.is_summary
        if expanded:
            reader.warnings.add(
                "summary link",
                f"{link.where}: a link with a summary task, imported as links with the tasks "
                "that start or finish it",
            )
        elif not (_imported(link.predecessor) and _imported(link.successor)):
            reader.warnings.add(
                "link to skipped task",
                f"{link.where}: a link with a task that is not imported, left out",
            )
            continue
        # FS and FF hang on the predecessor's finish, SS and SF on its start; FS and SS
        # constrain the successor's start, FF and SF its finish.
        from_finish = link.type in ("FS", "FF")
        to_start = link.type in ("FS", "SS")
        for pred in _side(link.predecessor, preds, succs, finish=from_finish):
            for succ in _side(link.successor, preds, succs, finish=not to_start):
                if pred == succ and expanded:
                    continue
                if (pred, succ) in seen:
                    if not expanded:
                        raise PlanImportError(
                            f"a second link from UID {pred} to UID {succ} "
                            f"(the first is {seen[(pred, succ)]})",
                            where=link.where,
                        )
                    continue
                seen[(pred, succ)] = link.where
                plan.dependencies.append(
                    make_dependency(
                        {
                            "predecessor": str(pred),
                            "successor": str(succ),
                            "type": link.type,
                            "lag": link.lag,
                        },
                        link.where,
                    )
                )
                plan.dependency_sources.append(link.where)


def _imported(task: _Task) -> bool:
    return not task.is_summary and task.skip_reason is None


def _side(
    task: _Task, preds: dict[int, set[int]], succs: dict[int, set[int]], *, finish: bool
) -> list[int]:
    """The task itself, or for a summary task the tasks under it that finish it (no successor
    under it) or start it (no predecessor under it)."""
    if not task.is_summary:
        return [task.uid] if task.skip_reason is None else []
    under = set(task.leaves)
    neighbours = succs if finish else preds
    return [uid for uid in task.leaves if not neighbours.get(uid, set()) & under]


def _lag(reader: _Reader, element: Element, owner: str, predecessor: _Task, units: _Units) -> int:
    raw = reader.integer(element, "LinkLag", owner, default=0)
    if raw == 0:
        return 0
    fmt = reader.integer(element, "LagFormat", owner, default=7)
    where = reader.field_where(element, "LinkLag", owner)
    if fmt in _PERCENT_FORMATS:
        days = predecessor.days * raw / 100
    elif fmt in _ELAPSED_FORMATS:
        days = raw / 10 / (24 * 60)
        reader.warnings.add(
            "elapsed lag", f"{where}: an elapsed lag, imported as {days:g} working days"
        )
    else:
        days = raw / 10 / units.minutes_per_day
    try:
        lag, rounded = whole_days(days, round_up=False)
    except ValueError as exc:
        raise PlanImportError(str(exc), where=where) from None
    if rounded:
        reader.warnings.add("rounded lag", f"{where}: lag {days:.2f} working days rounded to {lag}")
    return lag


# --- calendars -----------------------------------------------------------------------------------


def _calendar(reader: _Reader) -> Calendar | None:
    container = reader.root.find("Calendars")
    calendars = [] if container is None else container.findall("Calendar")
    if not calendars:
        return None
    by_uid: dict[int, Element] = {}
    for element in calendars:
        uid = reader.integer(element, "UID", "<Calendar>")
        by_uid[uid] = element
    wanted = reader.integer(reader.root, "CalendarUID", "<Project>", default=-1)
    chosen = by_uid.get(wanted)
    if chosen is None:
        bases = [c for c in calendars if reader.flag(c, "IsBaseCalendar", "<Calendar>")]
        standard = [c for c in bases if (reader.text(c, "Name") or "").lower() == "standard"]
        chosen = (standard or bases or calendars)[0]

    chain: list[Element] = []  # the calendar and the ones it derives from, base first
    current: Element | None = chosen
    while current is not None and current not in chain:
        chain.insert(0, current)
        base_uid = reader.integer(current, "BaseCalendarUID", "<Calendar>", default=-1)
        current = by_uid.get(base_uid)

    # Day types 1..7 are Sunday..Saturday; Planwire's weekdays are Monday = 0.
    working = {2: True, 3: True, 4: True, 5: True, 6: True, 1: False, 7: False}
    holidays: set[date] = set()
    for element in chain:
        owner = f"Calendar UID {reader.text(element, 'UID')} {reader.text(element, 'Name') or ''}"
        owner = owner.strip()
        weekdays = element.find("WeekDays")
        for weekday in [] if weekdays is None else weekdays.findall("WeekDay"):
            label = f"{owner}, WeekDay"
            day_type = reader.integer(weekday, "DayType", label)
            day_working = reader.flag(weekday, "DayWorking", label)
            if 1 <= day_type <= 7:
                working[day_type] = day_working
            elif day_type == 0:
                _exception_days(reader, weekday, label, day_working, holidays, recurring=False)
            else:
                raise PlanImportError(
                    f"DayType {day_type} is not 0 (exception) or 1..7 (Sunday..Saturday)",
                    where=reader.field_where(weekday, "DayType", label),
                )
        exceptions = element.find("Exceptions")
        for exception in [] if exceptions is None else exceptions.findall("Exception"):
            name = reader.text(exception, "Name")
            label = f"{owner}, Exception" + (f" {name!r}" if name else "")
            day_working = reader.flag(exception, "DayWorking", label)
            _exception_days(reader, exception, label, day_working, holidays, recurring=True)

    days = sorted((day_type - 2) % 7 for day_type, works in working.items() if works)
    if not days:
        raise PlanImportError(
            "the project calendar has no working weekday", where=reader.at(chosen, "<Calendar>")
        )
    return Calendar.model_construct(working_days=days, holidays=sorted(holidays))


def _exception_days(
    reader: _Reader,
    element: Element,
    label: str,
    day_working: bool,
    holidays: set[date],
    *,
    recurring: bool,
) -> None:
    where = reader.at(element, label)
    period = element.find("TimePeriod")
    if period is None:
        raise PlanImportError("an exception without a <TimePeriod>", where=where)
    start = reader.day(period, "FromDate", label)
    end = reader.day(period, "ToDate", label)
    if start is None or end is None:
        raise PlanImportError("<TimePeriod> needs <FromDate> and <ToDate>", where=where)
    if end < start:
        raise PlanImportError(f"ToDate {end} is before FromDate {start}", where=where)
    if day_working:
        reader.warnings.add(
            "working exception",
            f"{where}: extra working time on {start}..{end} cannot be expressed in a Planwire "
            "calendar (working weekdays and holidays); not imported",
        )
        return
    kind = reader.integer(element, "Type", label, default=1) if recurring else 1
    every = max(1, reader.integer(element, "Period", label, default=1)) if recurring else 1
    try:
        days = list(_recurrence(reader, element, label, kind, every, start, end))
    except _Unsupported as exc:
        reader.warnings.add("recurrence", f"{where}: {exc}; not imported")
        return
    if len(days) > _MAX_EXCEPTION_DAYS:
        raise PlanImportError(
            f"{len(days)} days off ({start}..{end}); at most {_MAX_EXCEPTION_DAYS} are imported",
            where=where,
        )
    holidays.update(days)


class _Unsupported(Exception):
    pass


def _recurrence(
    reader: _Reader, element: Element, label: str, kind: int, every: int, start: date, end: date
) -> Iterator[date]:
    """The days of an exception. Types: 1 daily, 2 yearly on a day, 3 yearly on the n-th
    weekday, 4 monthly on a day, 5 monthly on the n-th weekday, 6 weekly on some weekdays."""
    where = reader.at(element, label)
    if (end - start).days > 366 * 100:
        raise PlanImportError(f"the period {start}..{end} is longer than 100 years", where=where)
    if kind == 1:
        day = start
        while day <= end:
            yield day
            day += timedelta(days=every)
    elif kind == 6:
        mask = reader.integer(element, "DaysOfWeek", label)
        first_week = start - timedelta(days=(start.weekday() + 1) % 7)  # weeks start on Sunday
        day = start
        while day <= end:
            bit = 1 << ((day.weekday() + 1) % 7)  # 1 = Sunday … 64 = Saturday
            if mask & bit and ((day - first_week).days // 7) % every == 0:
                yield day
            day += timedelta(days=1)
    elif kind in (2, 3, 4, 5):
        yearly = kind in (2, 3)
        month_of_year = reader.integer(element, "Month", label, default=0) + 1 if yearly else None
        for year, month in _months(start, end, every, yearly, month_of_year):
            if kind in (2, 4):
                wanted = reader.integer(element, "MonthDay", label)
                last = calendar_module.monthrange(year, month)[1]
                if not 1 <= wanted <= 31:
                    raise PlanImportError(f"MonthDay {wanted} is not 1..31", where=where)
                candidate = date(year, month, min(wanted, last))
            else:
                candidate = _nth_in_month(reader, element, label, year, month)
            if start <= candidate <= end:
                yield candidate
    else:
        raise _Unsupported(f"recurrence type {kind} is unknown")


def _months(
    start: date, end: date, every: int, yearly: bool, month_of_year: int | None
) -> Iterator[tuple[int, int]]:
    year, month = start.year, start.month
    if yearly and month_of_year is not None:
        if not 1 <= month_of_year <= 12:
            raise _Unsupported(f"month {month_of_year - 1} is not 0..11")
        month = month_of_year
    step = 12 * every if yearly else every
    while (year, month) <= (end.year, end.month):
        yield year, month
        index = year * 12 + month - 1 + step
        year, month = divmod(index, 12)
        month += 1


def _nth_in_month(reader: _Reader, element: Element, label: str, year: int, month: int) -> date:
    item = reader.integer(element, "MonthItem", label, default=0)
    position = reader.integer(element, "MonthPosition", label, default=0)
    last_day = calendar_module.monthrange(year, month)[1]
    if item == 0:  # the n-th day of the month
        return date(year, month, last_day if position >= 4 else position + 1)
    if not 3 <= item <= 9:
        raise _Unsupported("a recurrence on the n-th weekday or weekend day")
    weekday = (item - 3 - 1) % 7  # 3..9 = Sunday..Saturday; Python's Monday = 0
    days = [
        date(year, month, d)
        for d in range(1, last_day + 1)
        if date(year, month, d).weekday() == weekday
    ]
    return days[-1] if position >= 4 else days[min(position, len(days) - 1)]


__all__ = ["LINK_TYPES", "parse"]
