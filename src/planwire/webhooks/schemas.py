"""API schemas of webhooks: the project surface (TruePPM document, snake_case) and the account
surface (Exepron document, camelCase), their deliveries, logs and the event catalog.

Input models share their field names (snake_case in Python) so one service serves both
surfaces; the account models read and write them as camelCase aliases. What can be checked
without the database or the settings is checked here (event types, custom headers, retry
schedule); the URL (SSRF policy from the settings) and the secret (depends on the format, which
a PATCH may leave as stored) are checked by the service.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StrictBool,
    field_validator,
)
from pydantic.alias_generators import to_camel

from planwire.delivery.formats import validate_custom_headers, validate_retry_schedule
from planwire.webhooks.catalog import check_event_types

WebhookFormat = Literal["trueppm", "exepron", "standard"]
DeliveryStatus = Literal["pending", "success", "failed"]

#: Bounds of a webhook's own retry schedule: how many retries, and the longest delay (a day).
MAX_RETRIES = 25
MAX_RETRY_DELAY = 24 * 3600.0
MAX_CUSTOM_HEADERS = 50


def _events(value: list[str]) -> list[str]:
    return check_event_types(value)


def _headers(value: dict[str, str]) -> dict[str, str]:
    validate_custom_headers(value)
    return {name: item.strip() for name, item in value.items()}


def _schedule(value: list[float] | None) -> list[float] | None:
    return None if value is None else list(validate_retry_schedule(value))


def _printable(value: str) -> str:
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValueError("must not contain control characters")
    return value


def _no_nul(value: Any) -> Any:
    """JSON the database can store: PostgreSQL refuses NUL (``\\u0000``) in text and JSONB."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("must not contain NUL characters (\\u0000)")
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_nul(key)
            _no_nul(item)
    elif isinstance(value, list):
        for item in value:
            _no_nul(item)
    return value


EventList = Annotated[
    list[Annotated[str, Field(max_length=64)]],
    Field(
        max_length=100,
        description="Event types to receive (GET /api/v1/webhook-events/); omitted or empty "
        "means all.",
    ),
    AfterValidator(_events),
]
Url = Annotated[
    str,
    Field(
        min_length=1,
        max_length=2000,
        description="http or https; refused if it leads to a private or internal address.",
    ),
]
Secret = Annotated[
    str,
    Field(
        max_length=256,
        description="Write-only. trueppm/exepron: 8 to 256 characters; standard: 'whsec_' + "
        "base64. Generated when omitted on create, and shown once.",
    ),
]
Headers = Annotated[
    dict[Annotated[str, Field(max_length=256)], Annotated[str, Field(max_length=8192)]],
    Field(
        max_length=MAX_CUSTOM_HEADERS,
        description="Extra request headers; they can never replace the headers Planwire sets.",
    ),
    AfterValidator(_headers),
]
RetrySchedule = Annotated[
    list[Annotated[float, Strict(), Field(ge=0, le=MAX_RETRY_DELAY, allow_inf_nan=False)]] | None,
    Field(
        max_length=MAX_RETRIES,
        description="Seconds before each retry (its length is the number of retries; at most "
        f"{MAX_RETRIES}, each at most a day); null means the format's default schedule.",
    ),
    AfterValidator(_schedule),
]
Name = Annotated[str, Field(max_length=200), AfterValidator(_printable)]
EventData = Annotated[
    dict[str, Any] | None,
    Field(description="The event's data; defaults to the catalog's example."),
    AfterValidator(_no_nul),
]

_NOT_NULL = "may be omitted but not null"


# --- project surface (snake_case) ----------------------------------------------------------------


class ProjectWebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Url
    secret: Secret | None = None
    events: EventList | None = None
    format: WebhookFormat = "trueppm"
    retry_schedule: RetrySchedule = None
    headers: Headers = Field(default_factory=dict)
    is_active: StrictBool = True


class ProjectWebhookUpdate(BaseModel):
    """Only the fields given change. A new ``secret`` rotates the secret (see the service)."""

    model_config = ConfigDict(extra="forbid")

    url: Url | None = None
    secret: Secret | None = None
    events: EventList | None = None
    format: WebhookFormat | None = None
    retry_schedule: RetrySchedule = None
    headers: Headers | None = None
    is_active: StrictBool | None = None

    @field_validator("url", "secret", "events", "format", "headers", "is_active")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError(_NOT_NULL)
        return value


class Statistics(BaseModel):
    total_calls: int
    successful_calls: int
    failed_calls: int


class ProjectWebhookOut(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID
    url: str
    events: list[str] = Field(description="Empty means every event type.")
    format: WebhookFormat
    retry_schedule: list[float] | None = Field(
        description="The webhook's own schedule; null means the format's default."
    )
    headers: dict[str, str]
    is_active: bool
    disabled_at: datetime | None
    disabled_reason: str | None = Field(
        description="Why the webhook was disabled automatically (set is_active to resume)."
    )
    created_at: datetime
    updated_at: datetime
    last_triggered_at: datetime | None
    statistics: Statistics


class ProjectWebhookCreated(ProjectWebhookOut):
    secret: str = Field(description="Shown once, in this response only.")


class WebhookTestRequest(BaseModel):
    """A test delivery: ``event`` defaults to the webhook's first event type; ``data``
    defaults to the catalog's example for the event."""

    model_config = ConfigDict(extra="forbid")

    event: str | None = None
    data: EventData = None

    @field_validator("event")
    @classmethod
    def _known(cls, value: str | None) -> str | None:
        if value is not None:
            check_event_types([value])
        return value


class AttemptOut(BaseModel):
    attempt_number: int
    started_at: datetime
    duration_ms: float
    request_headers: dict[str, Any] = Field(description="As sent, signatures redacted.")
    response_status: int | None
    response_body: str = Field(description="The start of the response body.")
    error_kind: str | None
    error: str | None


class DeliveryOut(BaseModel):
    id: uuid.UUID = Field(description="X-Planwire-Delivery: the same on every attempt.")
    event: str
    event_id: uuid.UUID
    is_test: bool
    status: DeliveryStatus
    response_status: int | None
    attempt_count: int
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    next_attempt_at: datetime | None
    attempts: list[AttemptOut]


# --- account surface (camelCase) -----------------------------------------------------------------


class _Camel(BaseModel):
    """Output: built from Python names, written as camelCase."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=True,
        serialize_by_alias=True,
    )


class _CamelInput(_Camel):
    """Input: read as camelCase only, unknown fields refused."""

    model_config = ConfigDict(extra="forbid", validate_by_name=False)


class AccountWebhookCreate(_CamelInput):
    name: Name = ""
    url: Url
    events: EventList | None = None
    secret: Secret | None = None
    is_active: StrictBool = True
    headers: Headers = Field(default_factory=dict)
    format: WebhookFormat = "exepron"
    retry_schedule: RetrySchedule = None


class AccountWebhookUpdate(_CamelInput):
    """PUT takes a partial body, as the Exepron document's Update example does."""

    name: Name | None = None
    url: Url | None = None
    events: EventList | None = None
    secret: Secret | None = None
    is_active: StrictBool | None = None
    headers: Headers | None = None
    format: WebhookFormat | None = None
    retry_schedule: RetrySchedule = None

    @field_validator("name", "url", "events", "secret", "is_active", "headers", "format")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError(_NOT_NULL)
        return value


class AccountStatistics(_Camel):
    total_calls: int
    successful_calls: int
    failed_calls: int


class AccountWebhookOut(_Camel):
    id: str
    name: str
    url: str
    events: list[str] = Field(description="Empty means every event type.")
    is_active: bool
    created_at: datetime
    last_triggered: datetime | None
    statistics: AccountStatistics
    format: WebhookFormat
    headers: dict[str, str]
    retry_schedule: list[float] | None = Field(
        description="The webhook's own schedule; null means the format's default."
    )
    disabled_at: datetime | None
    disabled_reason: str | None
    updated_at: datetime


class AccountWebhookCreated(AccountWebhookOut):
    secret: str = Field(description="Shown once, in this response only.")


class AccountWebhookList(BaseModel):
    value: list[AccountWebhookOut]


class AccountWebhookTestRequest(_CamelInput):
    event: str
    data: EventData = None

    @field_validator("event")
    @classmethod
    def _known(cls, value: str) -> str:
        check_event_types([value])
        return value


class LogEntry(_Camel):
    id: str
    webhook_id: str
    event: str
    timestamp: datetime = Field(description="When the event was queued for this webhook.")
    status: DeliveryStatus
    http_status: int | None
    response_time: int | None = Field(description="Milliseconds, of the latest attempt.")
    retries: int
    is_test: bool
    error: str | None = Field(default=None, description="Present when the delivery failed.")


class LogList(BaseModel):
    value: list[LogEntry]


# --- event catalog -------------------------------------------------------------------------------


class EventTypeOut(BaseModel):
    type: str
    family: str
    description: str
    data_schema: dict[str, Any] = Field(
        serialization_alias="schema", description="JSON Schema of the event's data."
    )
    example: dict[str, Any]
