"""Tasks and the dependencies (links) between them."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Boolean, Date, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from planwire.db import Base, new_id, utcnow

TASK_STATUSES = ("NotStarted", "InProgress", "Completed")
LINK_TYPES = ("FS", "SS", "FF", "SF")


class Task(Base):
    __tablename__ = "tasks"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(500))
    duration: Mapped[int] = mapped_column(Integer)
    safe_duration: Mapped[int | None] = mapped_column(Integer, default=None)
    remaining_duration: Mapped[int] = mapped_column(Integer)
    percent_complete: Mapped[float] = mapped_column(Float, default=0.0)
    status: Mapped[str] = mapped_column(String(20), default="NotStarted")
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    resource: Mapped[str | None] = mapped_column(String(200), default=None)
    start_no_earlier_than: Mapped[date | None] = mapped_column(Date, default=None)
    actual_start: Mapped[date | None] = mapped_column(Date, default=None)
    actual_finish: Mapped[date | None] = mapped_column(Date, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    # Computed by the scheduler (working-day offsets from the project start, textbook convention).
    es: Mapped[int | None] = mapped_column(Integer, default=None)
    ef: Mapped[int | None] = mapped_column(Integer, default=None)
    ls: Mapped[int | None] = mapped_column(Integer, default=None)
    lf: Mapped[int | None] = mapped_column(Integer, default=None)
    total_float: Mapped[int | None] = mapped_column(Integer, default=None)
    free_float: Mapped[int | None] = mapped_column(Integer, default=None)
    is_critical: Mapped[bool] = mapped_column(Boolean, default=False)
    on_critical_chain: Mapped[bool] = mapped_column(Boolean, default=False)
    start_date: Mapped[date | None] = mapped_column(Date, default=None)
    finish_date: Mapped[date | None] = mapped_column(Date, default=None)
    buffer_key: Mapped[str | None] = mapped_column(String(80), default=None)
    buffer_consumption: Mapped[float] = mapped_column(Float, default=0.0)
    zone: Mapped[str] = mapped_column(String(10), default="green")
    # All predecessors complete (kept so task.ready fires on the transition only).
    is_ready: Mapped[bool] = mapped_column(Boolean, default=False)

    @property
    def is_milestone(self) -> bool:
        return self.duration == 0


class Dependency(Base):
    __tablename__ = "dependencies"
    __table_args__ = (UniqueConstraint("predecessor_id", "successor_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    predecessor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE"), index=True
    )
    successor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE"), index=True
    )
    type: Mapped[str] = mapped_column(String(2), default="FS")
    lag: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
