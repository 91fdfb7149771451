"""The event catalog: every event type a webhook can subscribe to, with the JSON Schema of its
``data`` and a realistic example (sent by ``…/test`` when no data is given).

The schemas are derived from the producers, so they say what is really sent:

* resource events (``project.created``, ``task.*`` resource changes, ``dependency.*``) carry the
  API object, so their schema is the Pydantic output model's serialization schema
  (``ProjectOut``, ``TaskOut``, ``DependencyOut``), made strict: every property required, no
  other property;
* lifecycle events carry the Exepron-style camelCase dicts of :mod:`planwire.events.payloads`,
  written out here key for key;
* ``schedule.recalculated`` carries the schedule summary of
  :func:`planwire.scheduling.service.recalculate`.

``tests/webhooks/test_catalog.py`` validates real events produced through the API against these
schemas, so a producer that drifts from its schema fails the tests.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from planwire.projects.schemas import ProjectOut
from planwire.tasks.schemas import DependencyOut, TaskOut

__all__ = [
    "CATALOG",
    "EVENT_TYPES",
    "EventType",
    "Family",
    "check_event_types",
    "example_data",
    "unknown_event_message",
]

Family = Literal["project", "task", "dependency", "schedule", "critical chain"]
JSONSchema = dict[str, Any]

_DRAFT = "https://json-schema.org/draft/2020-12/schema"


@dataclass(frozen=True, slots=True)
class EventType:
    type: str
    family: Family
    description: str
    schema: JSONSchema
    example: dict[str, Any]


# --- schema building blocks ----------------------------------------------------------------------


def _strict(schema: JSONSchema) -> JSONSchema:
    """Every object with ``properties`` requires all of them and allows no other (what
    ``model_dump`` produces: all fields, always)."""
    if isinstance(schema.get("properties"), dict):
        schema["required"] = list(schema["properties"])
        schema["additionalProperties"] = False
    for value in schema.values():
        if isinstance(value, dict):
            _strict(value)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    _strict(item)
    return schema


def _model_schema(model: type[BaseModel]) -> JSONSchema:
    return {"$schema": _DRAFT, **_strict(model.model_json_schema(mode="serialization"))}


def _nullable(schema: JSONSchema) -> JSONSchema:
    return {"anyOf": [schema, {"type": "null"}]}


def _object(**properties: JSONSchema) -> JSONSchema:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def _top(description: str, **properties: JSONSchema) -> JSONSchema:
    return {"$schema": _DRAFT, "description": description, **_object(**properties)}


_ID: JSONSchema = {"type": "string", "format": "uuid"}
_STR: JSONSchema = {"type": "string"}
_INT: JSONSchema = {"type": "integer"}
_NUM: JSONSchema = {"type": "number"}
_BOOL: JSONSchema = {"type": "boolean"}
_DATE: JSONSchema = {"type": "string", "format": "date"}
_DATE_OR_NULL = _nullable(_DATE)
_DATETIME: JSONSchema = {"type": "string", "format": "date-time"}
_STR_OR_NULL = _nullable(_STR)
_PERSON = _nullable(_object(id=_ID, name=_STR, email=_STR))
_PROJECT_STATUS: JSONSchema = {
    "type": "string",
    "enum": ["Planning", "Active", "Frozen", "Complete", "Cancelled"],
}
_TASK_STATUS: JSONSchema = {"type": "string", "enum": ["NotStarted", "InProgress", "Completed"]}
_ZONE: JSONSchema = {"type": "string", "enum": ["green", "yellow", "red"]}
_TASK_BASE = {"taskId": _ID, "taskName": _STR, "projectId": _ID}


# --- examples ------------------------------------------------------------------------------------

_PROJECT_ID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
_TASK_ID = "5b1e2f8a-0c3d-4e6f-9a7b-1c2d3e4f5a6b"
_TASK2_ID = "8d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a"
_MILESTONE_ID = "c0ffee00-1234-4abc-9def-0123456789ab"
_LINK_ID = "0e9d8c7b-6a5f-4e3d-2c1b-0a9f8e7d6c5b"
_USER_ID = "7f3a9c2e-4b1d-4e8f-a6c5-2d9b8e7f1a30"
_JANE = {"id": _USER_ID, "name": "Jane Smith", "email": "jane.smith@company.com"}
_JOHN = {
    "id": "2a6b9c1d-3e4f-4a5b-8c7d-9e0f1a2b3c4d",
    "name": "John Developer",
    "email": "john.dev@company.com",
}

_PROJECT_EXAMPLE = ProjectOut.model_validate(
    {
        "id": _PROJECT_ID,
        "organization_id": 12345,
        "name": "Q1 Product Launch",
        "description": "",
        "status": "Planning",
        "start_date": "2026-02-02",
        "target_end_date": "2026-03-31",
        "status_date": None,
        "manager_id": _USER_ID,
        "calendar": {"working_days": [0, 1, 2, 3, 4], "holidays": []},
        "buffer_method": "cut_and_paste",
        "yellow_threshold": 50.0,
        "red_threshold": 90.0,
        "duration": 0,
        "finish_date": "2026-02-02",
        "project_buffer": {"size": 0, "consumption": 0.0, "chain_completion": 0.0, "zone": "green"},
        "has_baseline": False,
        "created_at": "2026-01-30T14:30:00Z",
        "updated_at": "2026-01-30T14:30:00Z",
    }
).model_dump(mode="json")

_TASK_EXAMPLE = TaskOut.model_validate(
    {
        "id": _TASK_ID,
        "project_id": _PROJECT_ID,
        "name": "Backend Development",
        "duration": 10,
        "safe_duration": None,
        "remaining_duration": 10,
        "percent_complete": 0.0,
        "status": "NotStarted",
        "is_milestone": False,
        "assignee_id": None,
        "resource": "backend",
        "start_no_earlier_than": None,
        "actual_start": None,
        "actual_finish": None,
        "es": 0,
        "ef": 10,
        "ls": 0,
        "lf": 10,
        "total_float": 0,
        "free_float": 0,
        "is_critical": True,
        "on_critical_chain": True,
        "start_date": "2026-02-02",
        "finish_date": "2026-02-13",
        "buffer_consumption": 0.0,
        "zone": "green",
        "created_at": "2026-01-30T14:30:00Z",
        "updated_at": "2026-01-30T14:30:00Z",
    }
).model_dump(mode="json")

_DEPENDENCY_EXAMPLE = DependencyOut.model_validate(
    {
        "id": _LINK_ID,
        "project_id": _PROJECT_ID,
        "predecessor_id": _TASK_ID,
        "successor_id": _TASK2_ID,
        "type": "FS",
        "lag": 0,
        "created_at": "2026-01-30T14:30:00Z",
    }
).model_dump(mode="json")

# --- schedule.recalculated -----------------------------------------------------------------------

_BUFFER = _object(
    key=_STR,
    kind={"type": "string", "enum": ["project", "feeding"]},
    size=_INT,
    tasks={"type": "array", "items": _ID},
    projected_finish=_INT,
    consumption=_NUM,
    chain_completion=_NUM,
    zone=_ZONE,
)
_SCHEDULE_SCHEMA = _top(
    "The schedule summary: durations in working days, offsets from the project start.",
    project_id=_ID,
    duration=_INT,
    finish_date=_DATE,
    critical_path={"type": "array", "items": _ID},
    critical_chain={"type": "array", "items": _ID},
    critical_chain_length=_INT,
    projected_completion=_DATE,
    chain_finish_date=_DATE,
    buffers={"type": "object", "additionalProperties": _BUFFER},
    changed_tasks={"type": "array", "items": _ID},
    calculated_at=_DATETIME,
)
_SCHEDULE_EXAMPLE = {
    "project_id": _PROJECT_ID,
    "duration": 20,
    "finish_date": "2026-02-27",
    "critical_path": [_TASK_ID, _TASK2_ID],
    "critical_chain": [_TASK_ID, _TASK2_ID],
    "critical_chain_length": 20,
    "projected_completion": "2026-03-13",
    "chain_finish_date": "2026-02-27",
    "buffers": {
        "project": {
            "key": "project",
            "kind": "project",
            "size": 10,
            "tasks": [_TASK_ID, _TASK2_ID],
            "projected_finish": 20,
            "consumption": 0.0,
            "chain_completion": 0.0,
            "zone": "green",
        }
    },
    "changed_tasks": [_TASK2_ID],
    "calculated_at": "2026-01-30T14:30:00Z",
}

# --- lifecycle events (Exepron style) ------------------------------------------------------------

_STARTED_SCHEMA = _top(
    "The project as it starts, with its manager, buffer and critical chain length (days).",
    projectId=_ID,
    projectName=_STR,
    startDate=_DATE,
    targetEndDate=_DATE_OR_NULL,
    managerId=_nullable(_ID),
    managerName=_STR_OR_NULL,
    managerEmail=_STR_OR_NULL,
    bufferSize=_INT,
    criticalChainLength=_INT,
    teamSize=_INT,
)
_STARTED_EXAMPLE = {
    "projectId": _PROJECT_ID,
    "projectName": "Q1 Product Launch",
    "startDate": "2026-02-02",
    "targetEndDate": "2026-03-31",
    "managerId": _USER_ID,
    "managerName": "Jane Smith",
    "managerEmail": "jane.smith@company.com",
    "bufferSize": 15,
    "criticalChainLength": 45,
    "teamSize": 8,
}

_FROZEN_SCHEMA = _top(
    "The project put on hold: who froze it, when, and where its buffer stood.",
    projectId=_ID,
    projectName=_STR,
    previousStatus=_PROJECT_STATUS,
    newStatus=_PROJECT_STATUS,
    frozenBy=_PERSON,
    frozenAt=_DATETIME,
    managerId=_nullable(_ID),
    managerName=_STR_OR_NULL,
    bufferConsumption=_NUM,
    targetEndDate=_DATE_OR_NULL,
)
_FROZEN_EXAMPLE = {
    "projectId": _PROJECT_ID,
    "projectName": "Q1 Product Launch",
    "previousStatus": "Active",
    "newStatus": "Frozen",
    "frozenBy": _JANE,
    "frozenAt": "2026-02-10T09:00:00Z",
    "managerId": _USER_ID,
    "managerName": "Jane Smith",
    "bufferConsumption": 20.0,
    "targetEndDate": "2026-03-31",
}

_PROJECT_STATUS_SCHEMA = _top(
    "A project status transition.",
    projectId=_ID,
    projectName=_STR,
    previousStatus=_PROJECT_STATUS,
    newStatus=_PROJECT_STATUS,
    changedBy=_PERSON,
    changedAt=_DATETIME,
)
_PROJECT_STATUS_EXAMPLE = {
    "projectId": _PROJECT_ID,
    "projectName": "Q1 Product Launch",
    "previousStatus": "Planning",
    "newStatus": "Active",
    "changedBy": _JANE,
    "changedAt": "2026-02-02T08:00:00Z",
}

_EARLY_WARNING_SCHEMA = _top(
    "The project buffer entered the yellow zone.",
    projectId=_ID,
    projectName=_STR,
    warningLevel=_ZONE,
    bufferConsumption=_NUM,
    projectedCompletion=_DATE_OR_NULL,
    originalTarget=_DATE_OR_NULL,
    daysLate=_INT,
    criticalTasks={
        "type": "array",
        "items": _object(id=_ID, name=_STR, bufferConsumption=_NUM),
    },
    recommendations={"type": "array", "items": _STR},
)
_EARLY_WARNING_EXAMPLE = {
    "projectId": _PROJECT_ID,
    "projectName": "Q1 Product Launch",
    "warningLevel": "yellow",
    "bufferConsumption": 65.0,
    "projectedCompletion": "2026-04-05",
    "originalTarget": "2026-03-31",
    "daysLate": 5,
    "criticalTasks": [{"id": _TASK_ID, "name": "Backend Development", "bufferConsumption": 78.0}],
    "recommendations": [
        "Consider adding resources to critical tasks",
        "Review and reduce scope if possible",
    ],
}

_TASK_READY_SCHEMA = _top(
    "A task whose predecessors are all complete, in an active project.",
    **_TASK_BASE,
    projectName=_STR,
    assignedTo=_PERSON,
    resource=_STR_OR_NULL,
    duration=_INT,
    plannedStart=_DATE_OR_NULL,
    plannedFinish=_DATE_OR_NULL,
    onCriticalChain=_BOOL,
)
_TASK_READY_EXAMPLE = {
    "taskId": _TASK2_ID,
    "taskName": "Frontend Implementation",
    "projectId": _PROJECT_ID,
    "projectName": "Q1 Product Launch",
    "assignedTo": _JOHN,
    "resource": "frontend",
    "duration": 10,
    "plannedStart": "2026-02-16",
    "plannedFinish": "2026-02-27",
    "onCriticalChain": True,
}

_TASK_COMPLETED_SCHEMA = _top(
    "A task that reached 100 % / Completed.",
    **_TASK_BASE,
    projectName=_STR,
    completedBy=_PERSON,
    completedAt=_DATETIME,
    actualStart=_DATE_OR_NULL,
    actualFinish=_DATE_OR_NULL,
    duration=_INT,
    assignedTo=_PERSON,
    percentComplete=_NUM,
)
_TASK_COMPLETED_EXAMPLE = {
    "taskId": _TASK_ID,
    "taskName": "Backend Development",
    "projectId": _PROJECT_ID,
    "projectName": "Q1 Product Launch",
    "completedBy": _JOHN,
    "completedAt": "2026-02-13T17:00:00Z",
    "actualStart": "2026-02-02",
    "actualFinish": "2026-02-13",
    "duration": 10,
    "assignedTo": _JOHN,
    "percentComplete": 100,
}

_TASK_STATUS_SCHEMA = _top(
    "A task status transition.",
    **_TASK_BASE,
    previousStatus=_TASK_STATUS,
    newStatus=_TASK_STATUS,
    changedBy=_PERSON,
    changedAt=_DATETIME,
    percentComplete=_NUM,
    estimatedCompletion=_DATE_OR_NULL,
)
_TASK_STATUS_EXAMPLE = {
    "taskId": _TASK2_ID,
    "taskName": "Frontend Implementation",
    "projectId": _PROJECT_ID,
    "previousStatus": "NotStarted",
    "newStatus": "InProgress",
    "changedBy": _JOHN,
    "changedAt": "2026-02-16T10:15:00Z",
    "percentComplete": 0,
    "estimatedCompletion": "2026-02-27",
}

_DURATION_SCHEMA = _top(
    "A task's remaining duration (working days) changed.",
    **_TASK_BASE,
    previousRemainingDuration=_INT,
    newRemainingDuration=_INT,
    duration=_INT,
    changedBy=_PERSON,
    changedAt=_DATETIME,
    estimatedCompletion=_DATE_OR_NULL,
)
_DURATION_EXAMPLE = {
    "taskId": _TASK_ID,
    "taskName": "Backend Development",
    "projectId": _PROJECT_ID,
    "previousRemainingDuration": 4,
    "newRemainingDuration": 6,
    "duration": 10,
    "changedBy": _JOHN,
    "changedAt": "2026-02-10T16:00:00Z",
    "estimatedCompletion": "2026-02-17",
}

_MILESTONE_SCHEMA = _top(
    "A milestone completed; daysEarly is negative when late. linkedDeliverables are the "
    "milestone's predecessors.",
    milestoneId=_ID,
    milestoneName=_STR,
    projectId=_ID,
    projectName=_STR,
    achievedDate=_DATE_OR_NULL,
    plannedDate=_DATE_OR_NULL,
    daysEarly=_INT,
    completedBy=_PERSON,
    linkedDeliverables={
        "type": "array",
        "items": _object(id=_ID, name=_STR, status=_STR),
    },
)
_MILESTONE_EXAMPLE = {
    "milestoneId": _MILESTONE_ID,
    "milestoneName": "Alpha Release",
    "projectId": _PROJECT_ID,
    "projectName": "Q1 Product Launch",
    "achievedDate": "2026-02-10",
    "plannedDate": "2026-02-12",
    "daysEarly": 2,
    "completedBy": _JANE,
    "linkedDeliverables": [{"id": _TASK_ID, "name": "Alpha Build", "status": "Delivered"}],
}

_TASK_RED_SCHEMA = _top(
    "A task's buffer consumption crossed above the red threshold.",
    **_TASK_BASE,
    projectName=_STR,
    assignedTo=_PERSON,
    bufferConsumption=_NUM,
    remainingDuration=_INT,
    dueDate=_DATE_OR_NULL,
    previousStatus=_ZONE,
    criticalChainImpact=_BOOL,
)
_TASK_RED_EXAMPLE = {
    "taskId": _TASK_ID,
    "taskName": "Backend Development",
    "projectId": _PROJECT_ID,
    "projectName": "Q1 Product Launch",
    "assignedTo": _JOHN,
    "bufferConsumption": 92.5,
    "remainingDuration": 3,
    "dueDate": "2026-02-15",
    "previousStatus": "yellow",
    "criticalChainImpact": True,
}

_TASK_SCHEMA = _model_schema(TaskOut)
_DEPENDENCY_SCHEMA = _model_schema(DependencyOut)

EVENT_TYPES: tuple[EventType, ...] = (
    EventType(
        "project.created",
        "project",
        "A project is created. Reaches every matching webhook of the organization, project "
        "webhooks of other projects included. Data: the project as GET /api/v1/projects/{id}/ "
        "returns it.",
        _model_schema(ProjectOut),
        _PROJECT_EXAMPLE,
    ),
    EventType(
        "project.started",
        "project",
        "A project goes from Planning to Active (a baseline is recorded).",
        _STARTED_SCHEMA,
        _STARTED_EXAMPLE,
    ),
    EventType(
        "project.frozen",
        "project",
        "A project's status changes to Frozen (on hold).",
        _FROZEN_SCHEMA,
        _FROZEN_EXAMPLE,
    ),
    EventType(
        "project.status_changed",
        "project",
        "Any project status transition (Planning, Active, Frozen, Complete, Cancelled).",
        _PROJECT_STATUS_SCHEMA,
        _PROJECT_STATUS_EXAMPLE,
    ),
    EventType(
        "task.created",
        "task",
        "A task is created. Data: the task as GET /api/v1/tasks/{id}/ returns it.",
        _TASK_SCHEMA,
        _TASK_EXAMPLE,
    ),
    EventType(
        "task.updated",
        "task",
        "A field of a task changes. Data: the task as GET /api/v1/tasks/{id}/ returns it, "
        "with its recalculated schedule.",
        _TASK_SCHEMA,
        _TASK_EXAMPLE,
    ),
    EventType(
        "task.deleted",
        "task",
        "A task is deleted. Data: its last state as GET /api/v1/tasks/{id}/ returned it.",
        _TASK_SCHEMA,
        _TASK_EXAMPLE,
    ),
    EventType(
        "task.ready",
        "task",
        "All predecessors of a task are complete (in an active project): it can start.",
        _TASK_READY_SCHEMA,
        _TASK_READY_EXAMPLE,
    ),
    EventType(
        "task.completed",
        "task",
        "A task reaches 100 % / Completed.",
        _TASK_COMPLETED_SCHEMA,
        _TASK_COMPLETED_EXAMPLE,
    ),
    EventType(
        "task.status_changed",
        "task",
        "Any task status transition (NotStarted, InProgress, Completed).",
        _TASK_STATUS_SCHEMA,
        _TASK_STATUS_EXAMPLE,
    ),
    EventType(
        "task.duration_changed",
        "task",
        "A task's remaining duration changes, with the previous and new values.",
        _DURATION_SCHEMA,
        _DURATION_EXAMPLE,
    ),
    EventType(
        "milestone.achieved",
        "task",
        "A milestone task (duration 0) is completed.",
        _MILESTONE_SCHEMA,
        _MILESTONE_EXAMPLE,
    ),
    EventType(
        "dependency.created",
        "dependency",
        "A task link (FS/SS/FF/SF) is created. Data: the dependency object.",
        _DEPENDENCY_SCHEMA,
        _DEPENDENCY_EXAMPLE,
    ),
    EventType(
        "dependency.deleted",
        "dependency",
        "A task link is deleted (also when one of its tasks is). Data: the dependency object.",
        _DEPENDENCY_SCHEMA,
        _DEPENDENCY_EXAMPLE,
    ),
    EventType(
        "schedule.recalculated",
        "schedule",
        "A recalculation completes. Data: the schedule summary (duration, finish date, critical "
        "path and chain, buffers, the tasks whose computed fields changed).",
        _SCHEDULE_SCHEMA,
        _SCHEDULE_EXAMPLE,
    ),
    EventType(
        "task.red",
        "critical chain",
        "The consumption of the buffer a task feeds crosses above the red threshold "
        "(default 90 %).",
        _TASK_RED_SCHEMA,
        _TASK_RED_EXAMPLE,
    ),
    EventType(
        "project.early_warning",
        "critical chain",
        "The project buffer's consumption leaves the green zone (yellow threshold, default 50 %).",
        _EARLY_WARNING_SCHEMA,
        _EARLY_WARNING_EXAMPLE,
    ),
)

CATALOG: Mapping[str, EventType] = {event.type: event for event in EVENT_TYPES}


def unknown_event_message(name: object) -> str:
    return f"unknown event type {name!r}; valid event types are: " + ", ".join(CATALOG)


def check_event_types(names: Iterable[str]) -> list[str]:
    """The event types without repeats, in the order given; ``ValueError`` naming the valid
    types at the first unknown one."""
    result: list[str] = []
    for name in names:
        if name not in CATALOG:
            raise ValueError(unknown_event_message(name))
        if name not in result:
            result.append(name)
    return result


def example_data(event_type: str, *, project_id: str | None = None) -> dict[str, Any]:
    """A fresh copy of the event's example ``data``, with the project id swapped in if given."""
    data = copy.deepcopy(CATALOG[event_type].example)
    if project_id is not None:
        for key in ("project_id", "projectId"):
            if key in data:
                data[key] = project_id
        if event_type == "project.created":
            data["id"] = project_id
    return data
