"""API schemas of projects and members."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from planwire.api.types import NoNul, NotBool

ProjectStatus = Literal["Planning", "Active", "Frozen", "Complete", "Cancelled"]
BufferMethod = Literal["cut_and_paste", "rse"]
Name = Annotated[str, NoNul, Field(min_length=1, max_length=200)]
Threshold = Annotated[float, NotBool, Field(ge=0, le=1000, allow_inf_nan=False)]


class Calendar(BaseModel):
    model_config = ConfigDict(extra="forbid")

    working_days: list[Annotated[int, NotBool, Field(ge=0, le=6)]] = Field(
        default_factory=lambda: [0, 1, 2, 3, 4],
        description="Working weekdays, Monday = 0.",
        min_length=1,
        max_length=7,
    )
    holidays: list[date] = Field(default_factory=list, max_length=5000)

    @field_validator("working_days")
    @classmethod
    def _unique_days(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise ValueError("working_days must not repeat a weekday")
        return sorted(value)


class ProjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Annotated[str, NoNul] = Field(default="", max_length=5000)
    start_date: date | None = Field(default=None, description="Defaults to today.")
    target_end_date: date | None = None
    status_date: date | None = Field(default=None, description="The 'now' of execution.")
    manager_id: uuid.UUID | None = None
    calendar: Calendar = Field(default_factory=Calendar)
    buffer_method: BufferMethod = "cut_and_paste"
    yellow_threshold: Threshold = 50.0
    red_threshold: Threshold = 90.0

    @model_validator(mode="after")
    def _consistent(self) -> ProjectCreate:
        check_project_fields(
            self.start_date, self.target_end_date, self.yellow_threshold, self.red_threshold
        )
        return self


class ProjectUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    description: Annotated[str, NoNul] | None = Field(default=None, max_length=5000)
    status: ProjectStatus | None = None
    start_date: date | None = None
    target_end_date: date | None = None
    status_date: date | None = None
    manager_id: uuid.UUID | None = None
    calendar: Calendar | None = None
    buffer_method: BufferMethod | None = None
    yellow_threshold: Threshold | None = None
    red_threshold: Threshold | None = None

    @field_validator(
        "name",
        "description",
        "status",
        "start_date",
        "calendar",
        "buffer_method",
        "yellow_threshold",
        "red_threshold",
    )
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may be omitted but not null")
        return value


def check_project_fields(
    start: date | None, target_end: date | None, yellow: float, red: float
) -> None:
    if start is not None and target_end is not None and target_end < start:
        raise ValueError("target_end_date must not be before start_date")
    if yellow > red:
        raise ValueError("yellow_threshold must not be above red_threshold")


class BufferStatusOut(BaseModel):
    size: int
    consumption: float
    chain_completion: float
    zone: str


class ProjectOut(BaseModel):
    id: uuid.UUID
    organization_id: int
    name: str
    description: str
    status: ProjectStatus
    start_date: date
    target_end_date: date | None
    status_date: date | None
    manager_id: uuid.UUID | None
    calendar: Calendar
    buffer_method: BufferMethod
    yellow_threshold: float
    red_threshold: float
    duration: int | None = Field(description="Project duration in working days (last schedule).")
    finish_date: date | None
    project_buffer: BufferStatusOut
    has_baseline: bool
    created_at: datetime
    updated_at: datetime


class MemberCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: uuid.UUID
    role: Annotated[
        int, NotBool, Field(ge=1, le=4, description="1 Viewer, 2 Member, 3 Manager, 4 Admin")
    ]


class MemberUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Annotated[int, NotBool, Field(ge=1, le=4)]


class MemberOut(BaseModel):
    user_id: uuid.UUID
    email: str
    name: str
    role: int
