"""Keeping a task's status, percent complete, remaining duration and actual dates consistent.

Whatever subset of those a client sends, :func:`reconcile` derives the rest, or refuses a
combination that contradicts itself with a message naming the fields:

- ``NotStarted``: 0 %, no actual dates; remaining is the current estimate (duration by default).
- ``InProgress``: below 100 %, remaining > 0, an actual start (the status date by default).
- ``Completed``: 100 %, remaining 0, an actual finish (the status date by default).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any


class ProgressError(ValueError):
    """The requested progress contradicts itself: ``field`` is the field to correct."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Progress:
    duration: int
    remaining_duration: int
    percent_complete: float
    status: str
    actual_start: date | None
    actual_finish: date | None


def initial(duration: int) -> Progress:
    return Progress(duration, duration, 0.0, "NotStarted", None, None)


def _status_from(current: Progress, changes: dict[str, Any], duration: int) -> str:
    if "status" in changes:
        return str(changes["status"])
    if "actual_finish" in changes and changes["actual_finish"] is not None:
        return "Completed"
    if "percent_complete" in changes:
        percent = changes["percent_complete"]
        if percent >= 100:
            return "Completed"
        if percent > 0:
            return "InProgress"
    if "remaining_duration" in changes:
        remaining = changes["remaining_duration"]
        if remaining == 0 and duration > 0:
            return "Completed"
        if current.status == "NotStarted" and remaining < duration:
            return "InProgress"
    if "actual_start" in changes and changes["actual_start"] is not None:
        return "InProgress" if current.status == "NotStarted" else current.status
    return current.status


def reconcile(current: Progress, changes: dict[str, Any], today: date) -> Progress:
    """Apply ``changes`` (only the fields the client sent) to ``current``."""
    duration = int(changes.get("duration", current.duration))
    status = _status_from(current, changes, duration)
    percent = changes.get("percent_complete")
    remaining = changes.get("remaining_duration")
    actual_start = changes.get("actual_start", current.actual_start)
    actual_finish = changes.get("actual_finish", current.actual_finish)

    if status == "NotStarted":
        if percent not in (None, 0):
            raise ProgressError("percent_complete", "must be 0 for a NotStarted task")
        for field in ("actual_start", "actual_finish"):
            if changes.get(field):
                raise ProgressError(field, "a NotStarted task has no actual_start or actual_finish")
        if remaining is None:
            keep = current.status == "NotStarted" and "duration" not in changes
            remaining = current.remaining_duration if keep else duration
        return Progress(duration, remaining, 0.0, status, None, None)

    if status == "InProgress":
        if duration == 0:
            raise ProgressError(
                "status", "a milestone (duration 0) is either NotStarted or Completed"
            )
        if percent is not None and percent >= 100:
            raise ProgressError("percent_complete", "must be below 100 for an InProgress task")
        if remaining == 0:
            raise ProgressError("remaining_duration", "must be above 0 for an InProgress task")
        if changes.get("actual_finish"):
            raise ProgressError("actual_finish", "an InProgress task has no actual_finish")
        if remaining is None:
            if percent is not None:
                remaining = max(1, math.ceil(duration * (100 - percent) / 100))
            elif current.status == "InProgress":
                remaining = current.remaining_duration
            else:
                remaining = duration
        if percent is None:
            percent = min(99.0, max(0.0, round(100.0 * (duration - remaining) / duration, 1)))
        actual_start = actual_start or today
        return Progress(duration, remaining, float(percent), status, actual_start, None)

    # Completed
    if percent is not None and percent != 100:
        raise ProgressError("percent_complete", "must be 100 for a Completed task")
    if remaining not in (None, 0):
        raise ProgressError("remaining_duration", "must be 0 for a Completed task")
    actual_finish = actual_finish or today
    actual_start = actual_start or actual_finish
    if actual_finish < actual_start:
        raise ProgressError("actual_finish", "must not be before actual_start")
    return Progress(duration, 0, 100.0, status, actual_start, actual_finish)
