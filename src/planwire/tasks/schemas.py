"""API schemas of tasks and dependencies."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from planwire.api.types import NoNul, NotBool

TaskStatus = Literal["NotStarted", "InProgress", "Completed"]
LinkType = Literal["FS", "SS", "FF", "SF"]
MAX_DAYS = 100_000
Days = Annotated[int, NotBool, Field(ge=0, le=MAX_DAYS, description="Working days.")]
Lag = Annotated[
    int, NotBool, Field(ge=-MAX_DAYS, le=MAX_DAYS, description="Working days, may be < 0.")
]
Percent = Annotated[float, NotBool, Field(ge=0, le=100, allow_inf_nan=False)]
Name = Annotated[str, NoNul, Field(min_length=1, max_length=500)]
Resource = Annotated[str, NoNul, Field(max_length=200)]


class TaskFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    safe_duration: Days | None = Field(
        default=None, description="A safe (padded) estimate, used by RSE buffer sizing."
    )
    remaining_duration: Days | None = None
    percent_complete: Percent | None = None
    status: TaskStatus | None = None
    assignee_id: uuid.UUID | None = None
    resource: Resource | None = Field(
        default=None, description="Tasks sharing a resource may not overlap (critical chain)."
    )
    start_no_earlier_than: date | None = None
    actual_start: date | None = None
    actual_finish: date | None = None

    @field_validator("remaining_duration", "percent_complete", "status")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Null means nothing for these: omit them to have them derived.
        if value is None:
            raise ValueError("may be omitted but not null")
        return value


class TaskCreate(TaskFields):
    name: Name
    duration: Days = Field(description="Working days; 0 makes a milestone.")


class TaskUpdate(TaskFields):
    name: Name | None = None
    duration: Days | None = None

    @field_validator("name", "duration", "remaining_duration", "percent_complete", "status")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may be omitted but not null")
        return value


class TaskOut(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID
    name: str
    duration: int
    safe_duration: int | None
    remaining_duration: int
    percent_complete: float
    status: TaskStatus
    is_milestone: bool
    assignee_id: uuid.UUID | None
    resource: str | None
    start_no_earlier_than: date | None
    actual_start: date | None
    actual_finish: date | None
    es: int | None = Field(description="Early start, working days from the project start.")
    ef: int | None = Field(description="Early finish (es + duration).")
    ls: int | None
    lf: int | None
    total_float: int | None
    free_float: int | None
    is_critical: bool
    on_critical_chain: bool
    start_date: date | None
    finish_date: date | None
    buffer_consumption: float = Field(description="% consumed of the buffer this task feeds.")
    zone: Literal["green", "yellow", "red"]
    created_at: datetime
    updated_at: datetime

    model_config = ConfigDict(from_attributes=True)


class DependencyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    predecessor_id: uuid.UUID
    successor_id: uuid.UUID
    type: LinkType = "FS"
    lag: Lag = 0


class DependencyOut(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID
    predecessor_id: uuid.UUID
    successor_id: uuid.UUID
    type: LinkType
    lag: int
    created_at: datetime

    model_config = ConfigDict(from_attributes=True)


class BulkTask(TaskCreate):
    ref: Annotated[str, Field(min_length=1, max_length=100)]


class BulkDependency(BaseModel):
    model_config = ConfigDict(extra="forbid")

    predecessor: str = Field(description="A task's ref in this batch, or an existing task's id.")
    successor: str
    type: LinkType = "FS"
    lag: Lag = 0


class BulkImport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tasks: list[BulkTask] = Field(default_factory=list, max_length=200_000)
    dependencies: list[BulkDependency] = Field(default_factory=list, max_length=1_000_000)


class BulkTaskOut(TaskOut):
    ref: str


class BulkImportOut(BaseModel):
    tasks: list[BulkTaskOut]
    dependencies: list[DependencyOut]
