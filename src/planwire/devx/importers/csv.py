"""CSV to a plan: one task per row, links in a ``predecessors`` column (MS Project's notation).

The first row names the columns (any letter case; spaces, ``_`` and ``-`` are ignored), and the
delimiter is whichever of ``,`` ``;`` or a tab that row uses. Columns:

=====================  =========================================================================
column (aliases)       meaning
=====================  =========================================================================
``ref`` (``id``,       the task's reference, unique in the file; without this column a row's
``key``, ``#``)        reference is its number (the first task row is 1, as MS Project's ID)
``name`` (``task``)    required
``duration``           required: working days (``5``, ``5d``, ``5 days``), or hours (``40h``),
(``days``)             weeks (``2w``), months (``1mo``, 20 days); ``0`` is a milestone.
                       ``--minutes-per-day`` (default 480) converts hours; fractions round up
``predecessors``       links into this row's task: ``2;4SS-1d;7FF+2d;9FS+50%`` — a ref, an
(``depends on``)       optional type (``FS`` default, ``SS``, ``FF``, ``SF``) and an optional
                       lag in days (``d``), hours (``h``), weeks (``w``) or percent of the
                       predecessor's duration (``%``); several separated by ``;`` or ``,``
``resource``           who does it (tasks sharing a resource do not overlap: critical chain)
``milestone``          ``yes``/``true``/``1``/``x``: import with duration 0
``safe_duration``      a safe estimate in days (RSE buffer sizing)
``start_no_earlier``   a date (``2026-03-02``)
``_than`` (``snet``)
``percent_complete``   progress, 0..100 (``%`` allowed)
=====================  =========================================================================

Blank lines are skipped; other columns are ignored with a warning. The file is UTF-8 (a BOM is
fine); a file that is not is read as Windows-1252 with a warning (what Excel writes). Errors
name the line and the ref: ``line 7 (ref 'B'): duration: 'abc' is not a duration``.
"""

from __future__ import annotations

import csv as stdlib_csv
import io
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

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

__all__ = ["COLUMNS", "parse"]

#: Column -> the header spellings it accepts (after lowercasing and dropping ' _-()').
COLUMNS: dict[str, tuple[str, ...]] = {
    "ref": ("ref", "id", "key", "#", "uid", "taskid"),
    "name": ("name", "task", "taskname", "title"),
    "duration": ("duration", "days", "durationdays"),
    "predecessors": ("predecessors", "predecessor", "dependson", "depends", "dependencies"),
    "resource": ("resource", "resources", "resourcename", "resourcenames"),
    "milestone": ("milestone", "ismilestone"),
    "safe_duration": ("safeduration",),
    "start_no_earlier_than": ("startnoearlierthan", "snet"),
    "percent_complete": ("percentcomplete", "%complete", "complete", "progress"),
}
_ALIASES = {alias: column for column, aliases in COLUMNS.items() for alias in aliases}
_TRUE = frozenset({"1", "yes", "y", "true", "x"})
_FALSE = frozenset({"", "0", "no", "n", "false"})
_AMOUNT = re.compile(r"(?P<amount>\d+(?:[.]\d+)?)\s*(?P<unit>[a-z%]*)\??", re.IGNORECASE)
_LINK = re.compile(
    r"(?P<ref>.+?)\s*(?P<type>FS|SS|FF|SF)?\s*"
    r"(?:(?P<sign>[+-])\s*(?P<amount>\d+(?:[.]\d+)?)\s*(?P<unit>%|[a-z]+)?)?",
    re.IGNORECASE,
)
_DAY_UNITS = frozenset({"", "d", "day", "days", "wd", "wday", "wdays"})
_HOUR_UNITS = frozenset({"h", "hr", "hrs", "hour", "hours"})
_WEEK_UNITS = frozenset({"w", "wk", "wks", "week", "weeks"})
_MONTH_UNITS = frozenset({"mo", "mon", "mons", "month", "months"})
_MINUTE_UNITS = frozenset({"m", "min", "mins", "minute", "minutes"})


def _header_key(text: str) -> str:
    return re.sub(r"[\s_()\-]", "", text.strip().lower())


@dataclass
class _Row:
    line: int
    ref: str
    values: dict[str, str]

    @property
    def where(self) -> str:
        return f"line {self.line} (ref {self.ref!r})"


class _Units:
    def __init__(self, minutes_per_day: float, warnings: Warnings) -> None:
        self.minutes_per_day = minutes_per_day
        self.warnings = warnings

    def days(self, amount: float, unit: str, where: str, what: str) -> float:
        """``amount`` of ``unit`` in working days (``%`` is handled by the caller)."""
        unit = unit.lower()
        elapsed = len(unit) > 1 and unit.startswith("e") and unit[1:] in _ALL_UNITS
        if elapsed:
            unit = unit[1:]
            self.warnings.add("elapsed", f"{where}: {what}: elapsed time counted as working time")
        per_day = 24 * 60 if elapsed else self.minutes_per_day
        if unit in _DAY_UNITS:
            return amount
        if unit in _HOUR_UNITS:
            return amount * 60 / per_day
        if unit in _MINUTE_UNITS:
            return amount / per_day
        if unit in _WEEK_UNITS:
            return amount * (7 if elapsed else 5)
        if unit in _MONTH_UNITS:
            return amount * (30 if elapsed else 20)
        raise PlanImportError(f"{what}: unknown unit {unit!r} (use d, h, w or mo)", where=where)


_ALL_UNITS = _DAY_UNITS | _HOUR_UNITS | _WEEK_UNITS | _MONTH_UNITS | _MINUTE_UNITS


def _decode(data: bytes, warnings: Warnings) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            raise PlanImportError(
                "the file is neither UTF-8 nor Windows-1252 text", where=f"line {line}"
            ) from None
        warnings.add("encoding", f"line {line}: not UTF-8; the file was read as Windows-1252")
        return text


def _delimiter(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            counts = {d: line.count(d) for d in (",", ";", "\t")}
            best = max(counts, key=lambda d: counts[d])
            return best if counts[best] else ","
    return ","


def _read_rows(text: str, warnings: Warnings) -> list[_Row]:
    reader = stdlib_csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    try:
        header = next(reader)
        while not any(cell.strip() for cell in header):
            header = next(reader)
    except StopIteration:
        raise PlanImportError("the file has no header row") from None
    except stdlib_csv.Error as exc:
        raise PlanImportError(f"not valid CSV ({exc})", where=f"line {reader.line_num}") from None
    columns: list[str | None] = []
    for cell in header:
        column = _ALIASES.get(_header_key(cell))
        if column is None and cell.strip():
            warnings.add("column", f"column {cell.strip()!r} is not imported")
        if column is not None and column in columns:
            raise PlanImportError(
                f"two columns mean {column!r}", where=f"line {reader.line_num} (header)"
            )
        columns.append(column)
    for required in ("name", "duration"):
        if required not in columns:
            names = ", ".join(COLUMNS[required])
            raise PlanImportError(
                f"no {required!r} column (the header row needs one of: {names})",
                where=f"line {reader.line_num} (header)",
            )
    has_ref = "ref" in columns
    rows: list[_Row] = []
    number = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except stdlib_csv.Error as exc:
            raise PlanImportError(
                f"not valid CSV ({exc})", where=f"line {reader.line_num}"
            ) from None
        if not any(cell.strip() for cell in cells):
            continue
        number += 1
        if len(cells) > len(columns) and any(c.strip() for c in cells[len(columns) :]):
            raise PlanImportError(
                f"{len(cells)} cells but the header has {len(columns)} columns",
                where=f"line {reader.line_num}",
            )
        values = {
            column: cell.strip()
            for column, cell in zip(columns, cells, strict=False)
            if column is not None
        }
        ref = values.get("ref", "") if has_ref else str(number)
        if not ref:
            raise PlanImportError("the ref is empty", where=f"line {reader.line_num}")
        rows.append(_Row(reader.line_num, ref, values))
    if not rows:
        raise PlanImportError("the file has a header row but no task rows")
    return rows


def _number(text: str, where: str, what: str) -> tuple[float, str]:
    match = _AMOUNT.fullmatch(text.strip())
    if match is None:
        raise PlanImportError(f"{what}: {text!r} is not a duration like 5, 5d or 40h", where=where)
    return float(match["amount"]), match["unit"]


def _date(text: str, where: str, what: str) -> date:
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        message = f"{what}: {text!r} is not a date like 2026-03-02"
        raise PlanImportError(message, where=where) from None


def _task_fields(row: _Row, units: _Units, warnings: Warnings) -> tuple[dict[str, Any], float]:
    values = row.values
    where = row.where
    fields: dict[str, Any] = {"ref": row.ref, "name": values.get("name", "")}
    if not fields["name"]:
        raise PlanImportError("name: the task has no name", where=where)
    raw_duration = values.get("duration", "")
    if not raw_duration:
        raise PlanImportError("duration: empty (0 makes a milestone)", where=where)
    amount, unit = _number(raw_duration, where, "duration")
    exact = units.days(amount, unit, where, "duration")
    try:
        days, rounded = whole_days(exact, round_up=True)
    except ValueError as exc:
        raise PlanImportError(f"duration: {exc}", where=where) from None
    if rounded:
        warnings.add(
            "rounded duration", f"{where}: duration {exact:.2f} working days rounded up to {days}"
        )
    milestone = values.get("milestone", "").lower()
    if milestone not in _TRUE and milestone not in _FALSE:
        raise PlanImportError(f"milestone: {milestone!r} is not yes or no", where=where)
    if milestone in _TRUE:
        if days:
            warnings.add(
                "milestone with duration",
                f"{where}: a milestone with a duration of {days} days, imported with duration 0",
            )
        days = 0
    fields["duration"] = days
    if values.get("resource"):
        fields["resource"] = values["resource"]
    if values.get("safe_duration"):
        safe_amount, safe_unit = _number(values["safe_duration"], where, "safe_duration")
        fields["safe_duration"] = whole_days(
            units.days(safe_amount, safe_unit, where, "safe_duration"), round_up=True
        )[0]
    if values.get("start_no_earlier_than"):
        fields["start_no_earlier_than"] = _date(
            values["start_no_earlier_than"], where, "start_no_earlier_than"
        )
    if values.get("percent_complete"):
        text = values["percent_complete"].rstrip("%").strip()
        try:
            fields["percent_complete"] = float(text)
        except ValueError:
            raise PlanImportError(
                f"percent_complete: {values['percent_complete']!r} is not a number", where=where
            ) from None
    return fields, exact


def parse(
    data: bytes, *, minutes_per_day: float | None = None, progress: ProgressCallback | None = None
) -> ImportedPlan:
    """Parse CSV ``data``; raises :class:`PlanImportError` naming the line."""
    warnings = Warnings()
    rows = _read_rows(_decode(data, warnings), warnings)
    if progress is not None:
        progress("read", len(data), len(data))
    units = _Units(minutes_per_day or DEFAULT_MINUTES_PER_DAY, warnings)
    plan = ImportedPlan(format="csv")
    by_ref: dict[str, _Row] = {}
    exact_days: dict[str, float] = {}
    for index, row in enumerate(rows):
        if row.ref in by_ref:
            raise PlanImportError(
                f"ref {row.ref!r} is also used on line {by_ref[row.ref].line}", where=row.where
            )
        by_ref[row.ref] = row
        fields, exact_days[row.ref] = _task_fields(row, units, warnings)
        plan.tasks.append(make_task(fields, row.where))
        plan.task_sources.append(row.where)
        if progress is not None and (index % 500 == 0 or index == len(rows) - 1):
            progress("tasks", index + 1, len(rows))

    seen: dict[tuple[str, str], int] = {}
    for row in rows:
        text = row.values.get("predecessors", "")
        for token in re.split(r"[;,]", text):
            token = token.strip()
            if not token:
                continue
            pred, link_type, lag = _link(token, row, by_ref, exact_days, units, warnings)
            if (pred, row.ref) in seen:
                raise PlanImportError(f"predecessors: {pred!r} is listed twice", where=row.where)
            seen[(pred, row.ref)] = row.line
            plan.dependencies.append(
                make_dependency(
                    {"predecessor": pred, "successor": row.ref, "type": link_type, "lag": lag},
                    row.where,
                )
            )
            plan.dependency_sources.append(f"{row.where}, predecessor {token!r}")
    plan.warnings = warnings.as_list()
    return plan


def _link(
    token: str,
    row: _Row,
    by_ref: dict[str, _Row],
    exact_days: dict[str, float],
    units: _Units,
    warnings: Warnings,
) -> tuple[str, str, int]:
    where = row.where
    if token in by_ref:  # a ref that merely looks like "A-1d" is still a ref
        return token, "FS", 0
    match = _LINK.fullmatch(token)
    if match is None or match["ref"] not in by_ref:
        raise PlanImportError(
            f"predecessors: {token!r} does not start with a ref of this file "
            "(write links as REF[FS|SS|FF|SF][+/-LAG], e.g. 2FS+3d)",
            where=where,
        )
    pred = match["ref"]
    link_type = (match["type"] or "FS").upper()
    lag = 0
    if match["amount"] is not None:
        amount = float(match["amount"])
        unit = match["unit"] or ""
        if unit == "%":
            days = exact_days[pred] * amount / 100
        else:
            days = units.days(amount, unit, where, f"predecessor {token!r}")
        if match["sign"] == "-":
            days = -days
        try:
            lag, rounded = whole_days(days, round_up=False)
        except ValueError as exc:
            raise PlanImportError(f"predecessor {token!r}: {exc}", where=where) from None
        if rounded:
            warnings.add(
                "rounded lag", f"{where}: lag of {token!r} ({days:.2f} days) rounded to {lag}"
            )
    return pred, link_type, lag
