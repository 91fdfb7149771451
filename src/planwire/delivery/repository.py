"""All SQL of the delivery worker: claiming due deliveries under a lease and recording attempts.

Claiming (:func:`claim_due`), in one transaction:

1. pick due deliveries: ``status = 'pending'``, ``next_attempt_at <= now``, the lease free or
   expired, the webhook active and not disabled, oldest first, minus the webhooks the caller
   has no room for. On PostgreSQL the rows are locked ``FOR UPDATE OF deliveries SKIP
   LOCKED`` so concurrent workers on any machine pick disjoint sets without waiting on each
   other; on SQLite (one process) ``BEGIN IMMEDIATE`` already serializes writers;
2. keep at most the caller's room per webhook (the per-endpoint cap), and write
   ``lease_owner`` / ``lease_expires_at`` on the kept rows. The others are unlocked at commit
   and stay claimable;
3. load what the batch needs to build its requests: the distinct events and webhooks of the
   kept rows, one query each.

Four statements per batch whatever its size (five on PostgreSQL, where a ``SET LOCAL`` first
keeps the planner on the due index: :func:`use_due_index`); no per-delivery query. On
PostgreSQL, id lists are one array parameter (``= ANY(:ids)``), so each statement's text is
the same whatever the batch size.

Recording (:func:`record_attempts`), in one transaction per batch of finished attempts, four
statements whatever its size:

1. an executemany update of the webhooks' statistics, in webhook id order (concurrent workers
   and the API, which locks a webhook before deleting it, take the locks in the same order),
   as increments done by the database (``total_calls = total_calls + :n``), so concurrent
   workers never lose a count;
2. a select locking the batch's deliveries that still exist (a webhook deleted while its
   request was in flight takes its deliveries with it);
3. a multi-row insert of the attempt rows;
4. an update of the deliveries, guarded by ``lease_owner`` so a worker that lost its lease
   cannot overwrite the new owner's state.

Steps 2 to 4 are written for the driver (``exec_driver_sql``, values already in the form
the column types store, no per-row work by SQLAlchemy): on SQLite an executemany each, on
PostgreSQL one statement each over binary arrays (``INSERT … SELECT FROM unnest(…)``,
``UPDATE … FROM unnest(…)``).

Statistics: one call per HTTP attempt (first tries, retries, test deliveries and attempts that
got no response alike). ``successful_calls`` counts 2xx answers, ``failed_calls`` everything
else (so ``total = successful + failed``), ``last_triggered_at`` is the start of the latest
attempt. ``failing_since`` is the start of the first failed attempt after the last success
(None while the latest attempt succeeded): what auto-disable looks at.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import (
    Boolean,
    Integer,
    Table,
    Uuid,
    and_,
    any_,
    bindparam,
    case,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from planwire.db import UTCDateTime
from planwire.events.models import Event
from planwire.webhooks.models import Delivery, DeliveryAttempt, Webhook

__all__ = [
    "AttemptRecord",
    "ClaimedBatch",
    "ClaimedDelivery",
    "DeliveryStatus",
    "EventSnapshot",
    "WebhookSnapshot",
    "claim_due",
    "due_query",
    "next_due_at",
    "postpone",
    "record_attempts",
    "release_leases",
    "renew_leases",
    "use_due_index",
]

DeliveryStatus = Literal["pending", "success", "failed"]

_deliveries = cast(Table, Delivery.__table__)
_webhooks = cast(Table, Webhook.__table__)
_attempts = cast(Table, DeliveryAttempt.__table__)


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    id: uuid.UUID
    webhook_id: uuid.UUID
    event_id: uuid.UUID
    #: Attempts made before this one: the Exepron ``metadata.retryCount`` of this attempt.
    attempt_count: int
    is_test: bool


@dataclass(frozen=True, slots=True)
class WebhookSnapshot:
    id: uuid.UUID
    organization_id: int
    url: str
    format: str
    headers: Mapping[str, str]
    retry_schedule: tuple[float, ...] | None
    secrets_ciphertext: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class EventSnapshot:
    id: uuid.UUID
    organization_id: int
    project_id: uuid.UUID | None
    type: str
    data: Mapping[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ClaimedBatch:
    deliveries: list[ClaimedDelivery]
    webhooks: dict[uuid.UUID, WebhookSnapshot]
    events: dict[uuid.UUID, EventSnapshot]
    lease_expires_at: datetime | None
    #: True when more deliveries may be due right now: the batch was full, or some due rows
    #: were left because their webhook had no room.
    more: bool


def claim_due(
    session: Session,
    owner: str,
    limit: int,
    now: datetime,
    *,
    lease_seconds: float = 120.0,
    room: Mapping[uuid.UUID, int] | None = None,
    default_room: int | None = None,
) -> ClaimedBatch:
    """Lease up to ``limit`` due deliveries to ``owner`` until ``now + lease_seconds``.

    ``room`` maps a webhook id to how many more of its deliveries the caller can take now
    (webhooks with 0 are not even read); webhooks not in it get ``default_room`` (None: no
    cap). The caller commits.
    """
    empty = ClaimedBatch([], {}, {}, None, False)
    if limit <= 0:
        return empty
    room = room or {}
    full = [webhook_id for webhook_id, left in room.items() if left <= 0]
    query = due_query(now, limit, excluded=full)
    postgresql = session.get_bind().dialect.name == "postgresql"
    if postgresql:
        use_due_index(session)
    rows = session.execute(query).all()
    if not rows:
        return empty

    taken: Counter[uuid.UUID] = Counter()
    kept: list[ClaimedDelivery] = []
    for row in rows:
        cap = room.get(row.webhook_id, default_room)
        if cap is not None and taken[row.webhook_id] >= cap:
            continue
        taken[row.webhook_id] += 1
        kept.append(
            ClaimedDelivery(row.id, row.webhook_id, row.event_id, row.attempt_count, row.is_test)
        )
    expires = now + timedelta(seconds=lease_seconds)
    session.execute(
        update(_deliveries)
        .where(_id_in(_deliveries.c.id, [item.id for item in kept], postgresql))
        .values(lease_owner=owner, lease_expires_at=expires)
    )
    webhooks = {
        row.id: WebhookSnapshot(
            id=row.id,
            organization_id=row.organization_id,
            url=row.url,
            format=row.format,
            headers=dict(row.headers or {}),
            retry_schedule=None if row.retry_schedule is None else tuple(row.retry_schedule),
            secrets_ciphertext=row.secrets_ciphertext,
            updated_at=row.updated_at,
        )
        for row in session.execute(
            select(
                Webhook.id,
                Webhook.organization_id,
                Webhook.url,
                Webhook.format,
                Webhook.headers,
                Webhook.retry_schedule,
                Webhook.secrets_ciphertext,
                Webhook.updated_at,
            ).where(_id_in(Webhook.id, list(taken), postgresql))
        )
    }
    events = {
        row.id: EventSnapshot(
            row.id, row.organization_id, row.project_id, row.type, row.data, row.created_at
        )
        for row in session.execute(
            select(
                Event.id,
                Event.organization_id,
                Event.project_id,
                Event.type,
                Event.data,
                Event.created_at,
            ).where(_id_in(Event.id, list({item.event_id for item in kept}), postgresql))
        )
    }
    return ClaimedBatch(
        kept, webhooks, events, expires, len(rows) == limit or len(kept) < len(rows)
    )


def due_query(now: datetime, limit: int, *, excluded: Collection[uuid.UUID] = ()) -> Any:
    """The oldest ``limit`` due deliveries (their claim fields), locked, skipping rows other
    workers hold and the webhooks in ``excluded``.

    Paused and disabled webhooks are excluded by id (a small set, hashed once) rather than
    joined: the query reads the ``(status, next_attempt_at)`` index in order and stops after
    ``limit`` rows.
    """
    d = Delivery
    paused = select(Webhook.id).where(
        or_(Webhook.is_active.is_not(True), Webhook.disabled_at.is_not(None))
    )
    query = (
        select(d.id, d.webhook_id, d.event_id, d.attempt_count, d.is_test)
        .where(
            d.status == "pending",
            d.next_attempt_at <= now,
            or_(d.lease_expires_at.is_(None), d.lease_expires_at <= now),
            d.webhook_id.not_in(paused),
        )
        .order_by(d.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True, of=_deliveries)
    )
    if excluded:
        query = query.where(d.webhook_id.not_in(list(excluded)))
    return query


def use_due_index(session: Session) -> None:
    """On PostgreSQL, make this transaction's claims read the due index in order.

    A queue's statistics lag behind it: right after a burst of inserts the planner believes
    a handful of rows are due and picks a bitmap scan that reads and sorts every due row
    (tens of milliseconds per claim with 20,000 due, growing with the backlog). Without
    bitmap scans it reads the ``(status, next_attempt_at)`` index in order and stops after
    the batch, whatever the statistics say.
    """
    session.execute(text("SET LOCAL enable_bitmapscan = off"))


def _id_in(column: Any, ids: list[uuid.UUID], postgresql: bool) -> Any:
    """``column IN ids``; on PostgreSQL ``column = ANY(:ids)``, one array parameter, so the
    statement text stays the same whatever the number of ids."""
    if postgresql:
        return column == any_(bindparam(None, ids, type_=ARRAY(Uuid())))
    return column.in_(ids)


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One finished HTTP attempt and what it decides for its delivery."""

    delivery_id: uuid.UUID
    webhook_id: uuid.UUID
    attempt_number: int
    started_at: datetime
    duration_ms: float
    request_headers: Mapping[str, str]
    response_status: int | None
    response_body: str
    error_kind: str | None
    error: str | None
    #: The delivery's state after this attempt: ``success``, ``pending`` (a retry at
    #: ``next_attempt_at``) or ``failed``.
    status: DeliveryStatus
    next_attempt_at: datetime | None

    @property
    def succeeded(self) -> bool:
        return self.error_kind is None


def record_attempts(
    session: Session, owner: str, records: Sequence[AttemptRecord], now: datetime
) -> None:
    """Store attempts, move their deliveries on, count them in their webhooks' statistics.

    Four statements whatever the batch size. The webhooks are updated first, in id order: the
    lock order of the API, which locks a webhook before deleting it with its deliveries.
    Attempts of deliveries deleted meanwhile (their webhook was deleted while the request was
    in flight) are then left out: the rows that remain are locked, so a concurrent delete
    cannot slip in between. The caller commits.
    """
    if not records:
        return
    _count_calls(session, records)
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        _record_postgresql(connection, owner, records, now)
    else:
        _record_sqlite(connection, owner, records, now)


# The hot path of the worker: hundreds of rows a second, so these statements are written for
# the driver (exec_driver_sql: no per-row parameter processing by SQLAlchemy) with the values
# already in the form the column types store (checked against them by the tests).

#: Ids per ``IN (?, …)``: below the 999 variables of old SQLite builds.
_SQLITE_MAX_IDS = 900
_SQLITE_INSERT_ATTEMPT = (
    "INSERT INTO delivery_attempts (delivery_id, attempt_number, started_at, duration_ms, "
    "request_headers, response_status, response_body, error_kind, error) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SQLITE_UPDATE_DELIVERY = (
    "UPDATE deliveries SET status = ?, attempt_count = ?, next_attempt_at = ?, "
    "response_status = ?, last_error = ?, completed_at = ?, updated_at = ?, "
    "lease_owner = NULL, lease_expires_at = NULL WHERE id = ? AND lease_owner = ?"
)


def sqlite_datetime(moment: datetime | None) -> str | None:
    """A datetime as :class:`~planwire.db.UTCDateTime` stores it in SQLite (UTC, naive text
    with microseconds)."""
    if moment is None:
        return None
    return _as_utc(moment).replace(tzinfo=None).isoformat(" ", "microseconds")


def _record_sqlite(
    connection: Connection, owner: str, records: Sequence[AttemptRecord], now: datetime
) -> None:
    ids = [item.delivery_id.hex for item in records]
    present: set[str] = set()
    for start in range(0, len(ids), _SQLITE_MAX_IDS):
        chunk = ids[start : start + _SQLITE_MAX_IDS]
        marks = ", ".join("?" * len(chunk))
        statement = f"SELECT id FROM deliveries WHERE id IN ({marks})"  # noqa: S608 - only ?s
        present.update(row[0] for row in connection.exec_driver_sql(statement, tuple(chunk)))
    kept = [(key, item) for key, item in zip(ids, records, strict=True) if key in present]
    if not kept:
        return
    connection.exec_driver_sql(
        _SQLITE_INSERT_ATTEMPT,
        [
            (
                key,
                item.attempt_number,
                sqlite_datetime(item.started_at),
                item.duration_ms,
                json.dumps(dict(item.request_headers)),
                item.response_status,
                item.response_body,
                item.error_kind,
                _error_text(item),
            )
            for key, item in kept
        ],
    )
    stamp = sqlite_datetime(now)
    connection.exec_driver_sql(
        _SQLITE_UPDATE_DELIVERY,
        [
            (
                item.status,
                item.attempt_number,
                sqlite_datetime(item.next_attempt_at) if item.status == "pending" else None,
                item.response_status,
                _error_text(item),
                None if item.status == "pending" else stamp,
                stamp,
                key,
                owner,
            )
            for key, item in kept
        ],
    )


def _error_text(item: AttemptRecord) -> str | None:
    return None if item.error is None else item.error[:1000]


# PostgreSQL: one statement per step whatever the batch size, the rows passed as arrays in
# binary (``%(name)b``: no text quoting of each element), the SQL text fixed, so psycopg
# prepares each statement once per connection.
_PG_LOCK_PRESENT = "SELECT id FROM deliveries WHERE id = ANY(%(ids)b::uuid[]) FOR UPDATE"
_PG_INSERT_ATTEMPTS = """
    INSERT INTO delivery_attempts (delivery_id, attempt_number, started_at, duration_ms,
        request_headers, response_status, response_body, error_kind, error)
    SELECT a.delivery_id, a.attempt_number, a.started_at, a.duration_ms,
        a.request_headers::jsonb, a.response_status, a.response_body, a.error_kind, a.error
    FROM unnest(%(delivery_id)b::uuid[], %(attempt_number)b::integer[],
        %(started_at)b::timestamptz[], %(duration_ms)b::double precision[],
        %(request_headers)b::text[], %(response_status)b::integer[],
        %(response_body)b::text[], %(error_kind)b::text[], %(error)b::text[])
        AS a(delivery_id, attempt_number, started_at, duration_ms, request_headers,
        response_status, response_body, error_kind, error)
"""
_PG_UPDATE_DELIVERIES = """
    UPDATE deliveries AS d SET status = v.status, attempt_count = v.attempt_count,
        next_attempt_at = v.next_attempt_at, response_status = v.response_status,
        last_error = v.last_error, completed_at = v.completed_at, updated_at = %(now)b,
        lease_owner = NULL, lease_expires_at = NULL
    FROM unnest(%(id)b::uuid[], %(status)b::text[], %(attempt_count)b::integer[],
        %(next_attempt_at)b::timestamptz[], %(response_status)b::integer[],
        %(last_error)b::text[], %(completed_at)b::timestamptz[])
        AS v(id, status, attempt_count, next_attempt_at, response_status, last_error,
        completed_at)
    WHERE d.id = v.id AND d.lease_owner = %(owner)s
"""


def _record_postgresql(
    connection: Connection, owner: str, records: Sequence[AttemptRecord], now: datetime
) -> None:
    present = {
        row[0]
        for row in connection.exec_driver_sql(
            _PG_LOCK_PRESENT, {"ids": [item.delivery_id for item in records]}
        )
    }
    records = [item for item in records if item.delivery_id in present]
    if not records:
        return
    connection.exec_driver_sql(
        _PG_INSERT_ATTEMPTS,
        {
            "delivery_id": [item.delivery_id for item in records],
            "attempt_number": [item.attempt_number for item in records],
            "started_at": [_as_utc(item.started_at) for item in records],
            "duration_ms": [float(item.duration_ms) for item in records],
            "request_headers": [json.dumps(dict(item.request_headers)) for item in records],
            "response_status": [item.response_status for item in records],
            "response_body": [item.response_body for item in records],
            "error_kind": [item.error_kind for item in records],
            "error": [_error_text(item) for item in records],
        },
    )
    pending = [item.status == "pending" for item in records]
    at_now = _as_utc(now)
    connection.exec_driver_sql(
        _PG_UPDATE_DELIVERIES,
        {
            "id": [item.delivery_id for item in records],
            "status": [item.status for item in records],
            "attempt_count": [item.attempt_number for item in records],
            "next_attempt_at": [
                _as_utc(item.next_attempt_at) if waits and item.next_attempt_at else None
                for item, waits in zip(records, pending, strict=True)
            ],
            "response_status": [item.response_status for item in records],
            "last_error": [_error_text(item) for item in records],
            "completed_at": [None if waits else at_now for waits in pending],
            "now": at_now,
            "owner": owner,
        },
    )


def _as_utc(moment: datetime) -> datetime:
    """What :class:`~planwire.db.UTCDateTime` stores: aware datetimes only, in UTC."""
    if moment.tzinfo is None:
        raise ValueError("naive datetimes are not stored; use an aware UTC datetime")
    return moment.astimezone(UTC)


def _count_calls(session: Session, records: Sequence[AttemptRecord]) -> None:
    by_webhook: dict[uuid.UUID, list[AttemptRecord]] = {}
    for item in records:
        by_webhook.setdefault(item.webhook_id, []).append(item)
    params: list[dict[str, Any]] = []
    # In id order: concurrent workers then lock webhook rows in the same order (no deadlock).
    for webhook_id, items in sorted(by_webhook.items(), key=lambda pair: pair[0]):
        items.sort(key=lambda item: item.started_at)
        successes = sum(1 for item in items if item.succeeded)
        last_success = max(
            (index for index, item in enumerate(items) if item.succeeded), default=None
        )
        failures_after = items[(last_success + 1) if last_success is not None else 0 :]
        params.append(
            {
                "b_id": webhook_id,
                "b_total": len(items),
                "b_ok": successes,
                "b_failed": len(items) - successes,
                "b_last": items[-1].started_at,
                # A success in this batch resets failing_since to the first failure after it
                # (or None); otherwise it keeps its value or starts at this batch's first one.
                "b_reset": last_success is not None,
                "b_failing": failures_after[0].started_at if failures_after else None,
            }
        )
    w = _webhooks
    last = bindparam("b_last", type_=UTCDateTime())
    failing = bindparam("b_failing", type_=UTCDateTime())
    session.connection().execute(
        update(w)
        .where(w.c.id == bindparam("b_id"))
        .values(
            total_calls=w.c.total_calls + bindparam("b_total", type_=Integer),
            successful_calls=w.c.successful_calls + bindparam("b_ok", type_=Integer),
            failed_calls=w.c.failed_calls + bindparam("b_failed", type_=Integer),
            last_triggered_at=case(
                (or_(w.c.last_triggered_at.is_(None), w.c.last_triggered_at < last), last),
                else_=w.c.last_triggered_at,
            ),
            failing_since=case(
                (bindparam("b_reset", type_=Boolean), failing),
                else_=func.coalesce(w.c.failing_since, failing),
            ),
        ),
        params,
    )


def renew_leases(
    session: Session, owner: str, delivery_ids: Collection[uuid.UUID], until: datetime
) -> int:
    """Extend ``owner``'s leases on ``delivery_ids``; returns how many it still held."""
    if not delivery_ids:
        return 0
    result = session.execute(
        update(_deliveries)
        .where(_deliveries.c.id.in_(list(delivery_ids)), _deliveries.c.lease_owner == owner)
        .values(lease_expires_at=until)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def release_leases(session: Session, owner: str) -> int:
    """Give back every lease ``owner`` holds (graceful shutdown): the deliveries stay pending
    and any worker takes them at once."""
    result = session.execute(
        update(_deliveries)
        .where(_deliveries.c.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def postpone(
    session: Session, owner: str, delivery_ids: Collection[uuid.UUID], until: datetime
) -> None:
    """Release ``owner``'s leases on ``delivery_ids`` and make them due at ``until`` without
    counting an attempt (the worker could not even build the request, e.g. a key mismatch)."""
    if not delivery_ids:
        return
    session.execute(
        update(_deliveries)
        .where(_deliveries.c.id.in_(list(delivery_ids)), _deliveries.c.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None, next_attempt_at=until)
    )


def next_due_at(session: Session, now: datetime) -> datetime | None:
    """When the earliest pending delivery not yet due becomes due (the retry timer)."""
    return session.scalar(
        select(func.min(Delivery.next_attempt_at)).where(
            and_(Delivery.status == "pending", Delivery.next_attempt_at > now)
        )
    )
