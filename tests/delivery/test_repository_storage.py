"""The worker's driver-level statements store exactly what the ORM column types store.

``record_attempts`` writes attempts and delivery states with ``exec_driver_sql`` (no
SQLAlchemy parameter processing on the hot path); these tests read the rows back through the
ORM on both backends, and compare the SQLite datetime text with the column type's own.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.dialects import sqlite

from planwire.db import UTCDateTime, make_session_factory, utcnow
from planwire.delivery import repository
from planwire.delivery.repository import AttemptRecord
from planwire.webhooks.models import Delivery, DeliveryAttempt
from tests.delivery.test_worker import add_webhook, make_organization, record_events


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 3, 4, 15, 12, 30, 123456, tzinfo=UTC),
        datetime(2026, 3, 4, 15, 12, 30, tzinfo=UTC),  # no microseconds: still written
        datetime(2026, 3, 4, 17, 12, 30, 5, tzinfo=timezone(timedelta(hours=2))),
        datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
    ],
)
def test_sqlite_datetime_text_is_the_column_types(moment: datetime) -> None:
    dialect = sqlite.dialect()
    processor = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    assert processor is not None
    assert repository.sqlite_datetime(moment) == processor(moment)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        repository.sqlite_datetime(datetime(2026, 1, 1))  # noqa: DTZ001 - the point


def test_recorded_attempts_read_back_through_the_orm(engine: Engine) -> None:
    organization = make_organization(engine)
    add_webhook(engine, organization_id=organization, url="http://127.0.0.1:9/hook")
    record_events(engine, organization, 3)
    factory = make_session_factory(engine)
    with factory() as session, session.begin():
        batch = repository.claim_due(session, "w", 10, utcnow())
    first, second, third = batch.deliveries
    started = datetime(2026, 3, 4, 15, 12, 30, tzinfo=UTC)
    retry_at = started + timedelta(seconds=10, microseconds=250)
    now = started + timedelta(seconds=1)

    def attempt(delivery_id: object, **values: object) -> AttemptRecord:
        fields: dict[str, object] = {
            "delivery_id": delivery_id,
            "webhook_id": first.webhook_id,
            "attempt_number": 1,
            "started_at": started,
            "duration_ms": 12,
            "request_headers": {"X-Planwire-Event": "task.created", "Name": 'été 😀 "q"'},
            "response_status": 200,
            "response_body": "OK é",
            "error_kind": None,
            "error": None,
            "status": "success",
            "next_attempt_at": None,
        }
        fields.update(values)
        return AttemptRecord(**fields)  # type: ignore[arg-type]

    records = [
        attempt(first.id),
        attempt(
            second.id,
            response_status=503,
            error_kind="http",
            error="HTTP 503 " + "x" * 1200,
            status="pending",
            next_attempt_at=retry_at,
        ),
        attempt(
            third.id, response_status=None, error_kind="connect", error="refused", status="failed"
        ),
    ]
    with factory() as session, session.begin():
        repository.record_attempts(session, "w", records, now)

    with factory() as session:
        deliveries = {d.id: d for d in session.scalars(select(Delivery))}
        attempts = {a.delivery_id: a for a in session.scalars(select(DeliveryAttempt))}
    done, waiting, failed = deliveries[first.id], deliveries[second.id], deliveries[third.id]
    assert (done.status, done.attempt_count, done.response_status) == ("success", 1, 200)
    assert done.completed_at == now and done.updated_at == now and done.next_attempt_at is None
    assert done.lease_owner is None and done.lease_expires_at is None
    assert (waiting.status, waiting.next_attempt_at, waiting.completed_at) == (
        "pending",
        retry_at,
        None,
    )
    assert waiting.last_error == ("HTTP 503 " + "x" * 1200)[:1000]
    assert (failed.status, failed.response_status, failed.last_error) == (
        "failed",
        None,
        "refused",
    )
    assert failed.completed_at == now
    stored = attempts[first.id]
    assert stored.started_at == started and stored.duration_ms == 12.0
    assert stored.request_headers == records[0].request_headers
    assert (stored.response_status, stored.response_body) == (200, "OK é")
    assert attempts[second.id].error_kind == "http"
    assert attempts[third.id].response_status is None


def test_a_worker_that_lost_its_lease_records_the_attempt_but_not_the_state(
    engine: Engine,
) -> None:
    organization = make_organization(engine)
    add_webhook(engine, organization_id=organization, url="http://127.0.0.1:9/hook")
    record_events(engine, organization, 1)
    factory = make_session_factory(engine)
    with factory() as session, session.begin():
        (delivery,) = repository.claim_due(session, "old", 10, utcnow()).deliveries
    with factory() as session, session.begin():  # the lease passed to another worker
        session.get_one(Delivery, delivery.id).lease_owner = "new"
    record = AttemptRecord(
        delivery.id, delivery.webhook_id, 1, utcnow(), 1.0, {}, 200, "", None, None, "success", None
    )
    with factory() as session, session.begin():
        repository.record_attempts(session, "old", [record], utcnow())
    with factory() as session:
        stored = session.get_one(Delivery, delivery.id)
        assert (stored.status, stored.lease_owner) == ("pending", "new")
        assert len(session.scalars(select(DeliveryAttempt)).all()) == 1
