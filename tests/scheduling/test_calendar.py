"""WorkCalendar: offsets across weekends and holidays, round trips, milestones, validation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planwire.scheduling import WorkCalendar

MONDAY = date(2026, 1, 5)
FRIDAY = date(2026, 1, 9)


def naive_offset(calendar: WorkCalendar, day: date) -> int:
    """Count working days one by one: the definition, with no arithmetic cleverness."""
    holidays = set(calendar.holidays)

    def working(d: date) -> bool:
        return d.weekday() in calendar.working_days and d not in holidays

    count, cursor = 0, calendar.start
    if day >= calendar.start:
        while cursor < day:
            count += working(cursor)
            cursor += timedelta(days=1)
        return count
    while cursor > day:
        cursor -= timedelta(days=1)
        count -= working(cursor)
    return count


def test_offsets_skip_the_weekend() -> None:
    calendar = WorkCalendar(MONDAY)
    assert [calendar.date_of(k) for k in range(7)] == [
        date(2026, 1, 5),
        date(2026, 1, 6),
        date(2026, 1, 7),
        date(2026, 1, 8),
        date(2026, 1, 9),
        date(2026, 1, 12),
        date(2026, 1, 13),
    ]
    assert calendar.offset_of(date(2026, 1, 10)) == 5  # Saturday -> next Monday's offset
    assert calendar.offset_of(date(2026, 1, 11)) == 5
    assert calendar.offset_of(date(2026, 1, 12)) == 5


def test_a_weekend_start_begins_on_the_next_working_day() -> None:
    calendar = WorkCalendar(date(2026, 1, 10))  # a Saturday
    assert calendar.date_of(0) == date(2026, 1, 12)
    assert calendar.offset_of(date(2026, 1, 10)) == 0
    assert calendar.date_of(-1) == FRIDAY


def test_holidays_are_skipped_and_weekend_holidays_change_nothing() -> None:
    calendar = WorkCalendar(
        date(2026, 12, 21), holidays=[date(2026, 12, 25), date(2026, 12, 26), date(2027, 1, 1)]
    )
    assert [calendar.date_of(k) for k in range(8)] == [
        date(2026, 12, 21),
        date(2026, 12, 22),
        date(2026, 12, 23),
        date(2026, 12, 24),
        date(2026, 12, 28),  # 25 is a holiday, 26 a holiday on a Saturday
        date(2026, 12, 29),
        date(2026, 12, 30),
        date(2026, 12, 31),
    ]
    assert calendar.date_of(8) == date(2027, 1, 4)
    assert calendar.offset_of(date(2026, 12, 25)) == 4
    assert not calendar.is_working_day(date(2026, 12, 25))
    assert calendar.is_working_day(date(2026, 12, 24))


def test_task_dates_use_the_last_working_day_and_milestones_their_start() -> None:
    calendar = WorkCalendar(MONDAY)
    assert calendar.start_date(3) == date(2026, 1, 8)
    # A 3-day task starting on Thursday works Thursday, Friday and Monday.
    assert calendar.finish_date(3, 6) == date(2026, 1, 12)
    assert calendar.finish_date(0, 1) == MONDAY
    assert calendar.finish_date(5, 5) == date(2026, 1, 12)  # milestone


def test_custom_working_week() -> None:
    calendar = WorkCalendar(MONDAY, working_days=[6, 0, 1, 2, 3])  # Sunday to Thursday
    assert calendar.working_days == (0, 1, 2, 3, 6)
    assert calendar.date_of(4) == date(2026, 1, 11)  # the Sunday after Thursday the 8th
    assert calendar.offset_of(FRIDAY) == 4


@pytest.mark.parametrize(
    ("working_days", "message"),
    [
        ([], "working_days must not be empty"),
        ([0, 7], "got 7"),
        ([-1], "got -1"),
        (["Monday"], "got 'Monday'"),
        ([True], "got True"),
    ],
)
def test_bad_working_days_are_refused(working_days: list[object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WorkCalendar(MONDAY, working_days)  # type: ignore[arg-type]


def test_dates_must_be_dates() -> None:
    with pytest.raises(TypeError, match="start"):
        WorkCalendar(datetime(2026, 1, 5, tzinfo=UTC))
    with pytest.raises(TypeError, match="holidays"):
        WorkCalendar(MONDAY, holidays=["2026-12-25"])  # type: ignore[list-item]


calendars = st.builds(
    WorkCalendar,
    st.dates(date(2024, 1, 1), date(2028, 12, 31)),
    st.lists(st.integers(0, 6), min_size=1, max_size=7),
    st.lists(st.dates(date(2023, 6, 1), date(2029, 6, 30)), max_size=40),
)


@settings(max_examples=300, deadline=None)
@given(calendar=calendars, delta=st.integers(-400, 400))
def test_offset_of_matches_counting_day_by_day(calendar: WorkCalendar, delta: int) -> None:
    day = calendar.start + timedelta(days=delta)
    assert calendar.offset_of(day) == naive_offset(calendar, day)


@settings(max_examples=300, deadline=None)
@given(calendar=calendars, offset=st.integers(-300, 300))
def test_date_of_round_trips_through_working_days(calendar: WorkCalendar, offset: int) -> None:
    day = calendar.date_of(offset)
    assert calendar.is_working_day(day)
    assert calendar.offset_of(day) == offset
    # The next working day has the next offset: no working day is skipped.
    assert calendar.date_of(offset + 1) > day
    cursor = day + timedelta(days=1)
    while not calendar.is_working_day(cursor):
        cursor += timedelta(days=1)
    assert calendar.date_of(offset + 1) == cursor


@settings(max_examples=200, deadline=None)
@given(calendar=calendars, es=st.integers(-50, 200), duration=st.integers(0, 30))
def test_finish_date_is_never_before_the_start_date(
    calendar: WorkCalendar, es: int, duration: int
) -> None:
    start, finish = calendar.start_date(es), calendar.finish_date(es, es + duration)
    assert finish >= start
    assert (finish == start) == (duration <= 1)


@settings(max_examples=300, deadline=None)
@given(calendar=calendars, offsets=st.lists(st.integers(-600, 600), max_size=60))
def test_dates_of_converts_like_date_of(calendar: WorkCalendar, offsets: list[int]) -> None:
    days = calendar.dates_of(offsets)
    assert days == [calendar.date_of(offset) for offset in offsets]
    assert all(type(day) is date for day in days)


def test_dates_of_beyond_the_last_date_fails_as_date_of_does() -> None:
    calendar = WorkCalendar(date(9999, 12, 1))
    assert calendar.dates_of([0, 22]) == [date(9999, 12, 1), date(9999, 12, 31)]
    with pytest.raises(ValueError, match="out of range") as raised:
        calendar.date_of(23)
    with pytest.raises(ValueError, match=str(raised.value)):
        calendar.dates_of([0, 23])
