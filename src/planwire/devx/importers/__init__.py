"""Plan files to :class:`~planwire.tasks.schemas.BulkImport`: Microsoft Project XML and CSV.

A parser reads the whole file and either returns an :class:`ImportedPlan` or raises
:class:`PlanImportError` whose message names the row (CSV: ``line 7 (ref 'B')``) or the element
(MSPDI: ``Task UID 12 'Design' (line 45)``) and what is wrong with it. The plan is then created
by :func:`planwire.devx.plan_import.import_plan` through ``tasks.service.bulk_import``: one
transaction, one recalculation, the same rules as the bulk API.

What cannot be carried over exactly (a fractional duration, an elapsed lag, a recurring calendar
exception Planwire cannot express) is converted as described in ``examples/plans/README.md``
and reported in :attr:`ImportedPlan.warnings`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from planwire.projects.schemas import Calendar
from planwire.tasks.schemas import MAX_DAYS, BulkDependency, BulkImport, BulkTask

__all__ = [
    "DEFAULT_MINUTES_PER_DAY",
    "FORMATS",
    "ImportedPlan",
    "PlanFormat",
    "PlanImportError",
    "ProgressCallback",
    "Warnings",
    "detect_format",
    "make_dependency",
    "make_task",
    "parse_plan",
    "whole_days",
]

PlanFormat = Literal["mspdi", "csv"]
FORMATS: tuple[PlanFormat, ...] = ("mspdi", "csv")
DEFAULT_MINUTES_PER_DAY = 480.0

#: ``progress(phase, done, total)``: phases ``"read"`` (bytes) and ``"tasks"`` (tasks).
ProgressCallback = Callable[[str, int, int], None]

_XML_TYPES = frozenset({"application/xml", "text/xml", "application/vnd.ms-project+xml"})
_CSV_TYPES = frozenset({"text/csv", "application/csv", "text/comma-separated-values"})


class PlanImportError(ValueError):
    """The file cannot be imported; ``where`` names the row or element, ``message`` the fault."""

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.message = message
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class Warnings:
    """Warnings grouped by kind: the first few of a kind in full, then a count of the rest
    (a 10,000-task file with every duration rounded says so once, not 10,000 times)."""

    PER_KIND = 3

    def __init__(self) -> None:
        self._kinds: dict[str, list[str]] = {}
        self._counts: dict[str, int] = {}

    def add(self, kind: str, message: str) -> None:
        self._counts[kind] = self._counts.get(kind, 0) + 1
        shown = self._kinds.setdefault(kind, [])
        if len(shown) < self.PER_KIND:
            shown.append(message)

    def as_list(self) -> list[str]:
        result: list[str] = []
        for kind, shown in self._kinds.items():
            result.extend(shown)
            rest = self._counts[kind] - len(shown)
            if rest:
                result.append(f"… and {rest} more like the above ({kind})")
        return result


@dataclass
class ImportedPlan:
    """A parsed plan: what goes to the bulk import, and where each piece came from."""

    format: PlanFormat
    tasks: list[BulkTask] = field(default_factory=list)
    dependencies: list[BulkDependency] = field(default_factory=list)
    #: ``task_sources[i]`` names the row or element ``tasks[i]`` came from; same for links.
    task_sources: list[str] = field(default_factory=list)
    dependency_sources: list[str] = field(default_factory=list)
    calendar: Calendar | None = None
    #: Rows or elements deliberately not imported (summary, inactive, blank, external tasks).
    skipped_tasks: int = 0
    warnings: list[str] = field(default_factory=list)

    def bulk(self) -> BulkImport:
        # The items were validated one by one (to name the row); no need to do it again.
        return BulkImport.model_construct(tasks=self.tasks, dependencies=self.dependencies)

    @property
    def milestones(self) -> int:
        return sum(1 for task in self.tasks if task.duration == 0)


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    name = ".".join(str(part) for part in first["loc"]) or "value"
    return f"{name}: {first['msg']}"


def make_task(fields: Mapping[str, Any], where: str) -> BulkTask:
    """A validated :class:`BulkTask`, or :class:`PlanImportError` naming ``where``."""
    try:
        return BulkTask.model_validate(dict(fields))
    except ValidationError as exc:
        raise PlanImportError(_describe(exc), where=where) from None


def make_dependency(fields: Mapping[str, Any], where: str) -> BulkDependency:
    try:
        return BulkDependency.model_validate(dict(fields))
    except ValidationError as exc:
        raise PlanImportError(_describe(exc), where=where) from None


def whole_days(days: float, *, round_up: bool) -> tuple[int, bool]:
    """``days`` as an integer number of working days and whether that changed its value.

    Durations round up (a 2-hour task stays a task, not a milestone); lags round to the
    nearest day, halves away from zero.
    """
    if not math.isfinite(days) or abs(days) > MAX_DAYS:
        raise ValueError(f"{days:g} working days is out of range (at most {MAX_DAYS})")
    nearest = round(days)
    if math.isclose(days, nearest, abs_tol=1e-9):
        return int(nearest), False
    if round_up:
        return math.ceil(days), True
    return int(math.copysign(math.floor(abs(days) + 0.5), days)), True


def detect_format(
    *, filename: str | None = None, content_type: str | None = None, head: bytes = b""
) -> PlanFormat | None:
    """The format a file is in, from its media type, its name, or its first bytes."""
    if content_type:
        media = content_type.split(";", 1)[0].strip().lower()
        if media in _XML_TYPES or media.endswith("+xml"):
            return "mspdi"
        if media in _CSV_TYPES:
            return "csv"
    if filename:
        lowered = filename.lower()
        if lowered.endswith(".xml"):
            return "mspdi"
        if lowered.endswith((".csv", ".txt")):
            return "csv"
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if start.startswith(b"<"):
        return "mspdi"
    if head:
        return "csv"
    return None


def parse_plan(
    data: bytes,
    fmt: PlanFormat,
    *,
    minutes_per_day: float | None = None,
    progress: ProgressCallback | None = None,
) -> ImportedPlan:
    """Parse ``data`` as ``fmt``; raises :class:`PlanImportError`."""
    if not data.strip():
        raise PlanImportError("the file is empty")
    if minutes_per_day is not None and not (0 < minutes_per_day <= 24 * 60):
        raise PlanImportError("minutes per day must be above 0 and at most 1440")
    if fmt == "mspdi":
        from planwire.devx.importers.mspdi import parse as parse_mspdi

        return parse_mspdi(data, minutes_per_day=minutes_per_day, progress=progress)
    if fmt == "csv":
        from planwire.devx.importers.csv import parse as parse_csv

        return parse_csv(data, minutes_per_day=minutes_per_day, progress=progress)
    raise PlanImportError(f"unknown format {fmt!r} (use one of: {', '.join(FORMATS)})")
