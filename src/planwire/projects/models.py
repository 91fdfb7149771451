"""Projects, their members and the history of their buffer status."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from planwire.db import Base, JSONDocument, JSONType, new_id, utcnow

PROJECT_STATUSES = ("Planning", "Active", "Frozen", "Complete", "Cancelled")
BUFFER_METHODS = ("cut_and_paste", "rse")


def default_calendar() -> dict[str, Any]:
    return {"working_days": [0, 1, 2, 3, 4], "holidays": []}


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(5000), default="")
    status: Mapped[str] = mapped_column(String(20), default="Planning")
    start_date: Mapped[date] = mapped_column(Date)
    target_end_date: Mapped[date | None] = mapped_column(Date, default=None)
    status_date: Mapped[date | None] = mapped_column(Date, default=None)
    manager_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    calendar: Mapped[dict[str, Any]] = mapped_column(JSONType, default=default_calendar)
    buffer_method: Mapped[str] = mapped_column(String(20), default="cut_and_paste")
    yellow_threshold: Mapped[float] = mapped_column(Float, default=50.0)
    red_threshold: Mapped[float] = mapped_column(Float, default=90.0)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set by the service when the project's own fields change, not by a recalculation.
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    # The last schedule, as computed by the scheduling service: about 200 KB of JSON for a
    # 1,000-task project, so it is loaded when first used, not with every project row (each
    # write to a project locks and reads its row). Lists that show it undefer it.
    schedule: Mapped[dict[str, Any] | None] = mapped_column(
        JSONDocument, default=None, deferred=True
    )
    scheduled_at: Mapped[datetime | None] = mapped_column(default=None)
    # A random token written with every recalculation's results: a process that remembers the
    # computed values it wrote under this token knows they are still the stored ones.
    schedule_revision: Mapped[str | None] = mapped_column(String(32), default=None)
    # Baseline recorded on Planning -> Active (and on POST .../baseline/).
    baseline: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, default=None)
    # Project buffer status, kept for transitions (events fire on change only).
    buffer_zone: Mapped[str] = mapped_column(String(10), default="green")
    buffer_consumption: Mapped[float] = mapped_column(Float, default=0.0)
    chain_completion: Mapped[float] = mapped_column(Float, default=0.0)


class ProjectMember(Base):
    """A user's role on a project: 1 Viewer, 2 Member, 3 Manager, 4 Admin."""

    __tablename__ = "project_members"

    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BufferHistoryPoint(Base):
    """One point of the fever chart: recorded when a recalculation changes the buffer status."""

    __tablename__ = "buffer_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    chain_completion: Mapped[float] = mapped_column(Float)
    buffer_consumption: Mapped[float] = mapped_column(Float)
    zone: Mapped[str] = mapped_column(String(10))
