"""Working-day calendar: conversion between dates and working-day offsets.

Conventions (shared with :mod:`planwire.scheduling.engine`):

* A calendar has a weekly pattern of working weekdays (Monday = 0 ... Sunday = 6) and a set of
  holidays. A holiday that falls on a non-working weekday changes nothing.
* Offsets count working days from the project start: offset 0 is the first working day on or
  after ``start``, offset 1 the next working day, and so on; negative offsets are the working days
  before it (offset -1 is the last working day before offset 0).
* ``offset_of(d)`` of a non-working day is the offset of the next working day, so that a task
  "starting" on a Saturday starts on Monday. For every ``d``, ``offset_of(d)`` equals the number
  of working days in ``[start, d)`` (negated for the days before ``start``).
* Schedules use the textbook convention: a task of duration ``d`` with early start ``es`` has
  ``ef = es + d``. Its start date is ``date_of(es)``; its finish date is the last working day it
  occupies, ``date_of(ef - 1)``, or ``date_of(es)`` for a milestone (duration 0).

Every conversion is O(log h) for h holidays (arithmetic on the weekly pattern plus a bisection in
the sorted holidays), so converting a 100,000-task schedule takes milliseconds; ``dates_of``
does the same arithmetic for many offsets at once, with numpy.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from datetime import date, datetime

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["WorkCalendar"]

_DEFAULT_WORKING_DAYS = (0, 1, 2, 3, 4)
_UNIX_EPOCH = date(1970, 1, 1).toordinal()  # day 0 of numpy's datetime64[D]
_LAST_ORDINAL = date.max.toordinal()


class WorkCalendar:
    """A project calendar that converts between dates and working-day offsets.

    ``start`` is the project start date, ``working_days`` the working weekdays (Monday = 0) and
    ``holidays`` the non-working dates. Raises ``ValueError`` for an empty or out-of-range set of
    working days and ``TypeError`` for values that are not dates.
    """

    __slots__ = (
        "_anchor",
        "_before_start",
        "_effective_before_holiday",
        "_holidays",
        "_holidays_before_anchor",
        "_pattern",
        "_per_week",
        "_prefix",
        "_skip_bounds",
        "_weekday_offsets",
        "holidays",
        "start",
        "working_days",
    )

    def __init__(
        self,
        start: date,
        working_days: Iterable[int] = _DEFAULT_WORKING_DAYS,
        holidays: Iterable[date] = (),
    ) -> None:
        _check_date(start, "start")
        days = tuple(working_days)
        if not days:
            raise ValueError("working_days must not be empty: a calendar needs a working weekday")
        for day in days:
            if isinstance(day, bool) or not isinstance(day, int):
                raise ValueError(f"working_days must hold weekday numbers 0-6, got {day!r}")
            if not 0 <= day <= 6:
                raise ValueError(
                    f"working_days must hold weekday numbers 0-6 (Monday = 0), got {day}"
                )
        pattern = sorted(set(days))
        holiday_list = list(holidays)
        for holiday in holiday_list:
            _check_date(holiday, "holidays")

        self.start = start
        self.working_days: tuple[int, ...] = tuple(pattern)
        self.holidays: tuple[date, ...] = tuple(sorted(set(holiday_list)))
        self._pattern = pattern
        self._per_week = len(pattern)
        # _prefix[r] = working weekdays among the first r days of a week (Monday first).
        self._prefix = [sum(1 for w in pattern if w < r) for r in range(8)]
        # Day ordinals are counted from the Monday of the start's week, so weekday == day % 7.
        self._anchor = start.toordinal() - start.weekday()
        working = set(pattern)
        self._holidays = [
            h.toordinal() for h in self.holidays if h.weekday() in working
        ]  # ordinals of holidays that remove a working day, ascending
        self._holidays_before_anchor = bisect_left(self._holidays, self._anchor)
        # Working days (holidays excluded) before each holiday, counted from the anchor.
        # Non-decreasing, so date_of can bisect it to learn how many holidays to skip.
        self._effective_before_holiday = [
            self._pattern_count(ordinal) - (index - self._holidays_before_anchor)
            for index, ordinal in enumerate(self._holidays)
        ]
        self._before_start = self._count(start.toordinal())
        # date_of's lists as arrays, for dates_of.
        self._skip_bounds = np.array(self._effective_before_holiday, dtype=np.int64)
        self._weekday_offsets = np.array(self._pattern, dtype=np.int64)

    def __repr__(self) -> str:
        return (
            f"WorkCalendar(start={self.start!r}, working_days={self.working_days!r}, "
            f"holidays={len(self.holidays)} dates)"
        )

    def _pattern_count(self, ordinal: int) -> int:
        """Pattern working days in [anchor, ordinal) (negative before the anchor)."""
        weeks, rest = divmod(ordinal - self._anchor, 7)
        return weeks * self._per_week + self._prefix[rest]

    def _count(self, ordinal: int) -> int:
        """Working days (holidays excluded) in [anchor, ordinal), negative before the anchor."""
        holidays_before = bisect_left(self._holidays, ordinal) - self._holidays_before_anchor
        return self._pattern_count(ordinal) - holidays_before

    def offset_of(self, d: date) -> int:
        """Working-day offset of ``d``; a non-working day maps to the next working day's offset."""
        return self._count(d.toordinal()) - self._before_start

    def date_of(self, offset: int) -> date:
        """The working day with this offset (negative offsets lie before the start)."""
        target = offset + self._before_start  # index of the working day counted from the anchor
        holidays_skipped = (
            bisect_right(self._effective_before_holiday, target) - self._holidays_before_anchor
        )
        weeks, rest = divmod(target + holidays_skipped, self._per_week)
        return date.fromordinal(self._anchor + weeks * 7 + self._pattern[rest])

    def dates_of(self, offsets: ArrayLike) -> list[date]:
        """``[self.date_of(offset) for offset in offsets]``, computed for all of them at once."""
        given = np.asarray(offsets, dtype=np.int64)
        target = given + self._before_start
        skipped = (
            np.searchsorted(self._skip_bounds, target, side="right") - self._holidays_before_anchor
        )
        weeks, rest = np.divmod(target + skipped, self._per_week)
        ordinals = self._anchor + weeks * 7 + self._weekday_offsets[rest]
        if ordinals.size and (ordinals.min() < 1 or ordinals.max() > _LAST_ORDINAL):
            # Beyond what a date can hold: date_of raises the error that says so.
            return [self.date_of(offset) for offset in given.tolist()]
        days: list[date] = (ordinals - _UNIX_EPOCH).astype("datetime64[D]").tolist()
        return days

    def is_working_day(self, d: date) -> bool:
        """Whether ``d`` is a working day of this calendar."""
        ordinal = d.toordinal()
        if (ordinal - self._anchor) % 7 not in self._pattern:
            return False
        index = bisect_left(self._holidays, ordinal)
        return index == len(self._holidays) or self._holidays[index] != ordinal

    def start_date(self, es: int) -> date:
        """Calendar date on which a task with early start ``es`` starts."""
        return self.date_of(es)

    def finish_date(self, es: int, ef: int) -> date:
        """Last working day of a task spanning offsets ``[es, ef)``; ``date_of(es)`` if ef <= es."""
        return self.date_of(ef - 1 if ef > es else es)


def _check_date(value: object, name: str) -> None:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise TypeError(f"{name} must be datetime.date values, got {value!r}")
