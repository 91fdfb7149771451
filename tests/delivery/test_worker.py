"""The delivery worker and its SQL, on both database backends, against real loopback receivers.

Events are recorded through the unit of work (the outbox and the fan-out the API uses), so each
test creates exactly the deliveries it needs; ``test_worker_api.py`` goes through the HTTP API.
Every wait is bounded and polls the database or the receiver: no timed assertions.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from datetime import timedelta
from typing import Any, TypeVar, cast

import pytest
import standardwebhooks
from cryptography.fernet import Fernet
from sqlalchemy import Engine, delete, event, func, insert, select, text, update

from planwire.auth import service as auth_service
from planwire.config import Settings
from planwire.db import make_engine, make_session_factory, new_id, utcnow
from planwire.delivery import maintenance, repository
from planwire.delivery.formats import generate_secret
from planwire.delivery.redaction import redact_headers
from planwire.delivery.repository import AttemptRecord
from planwire.delivery.worker import DeliveryWorker
from planwire.events import service as events_service
from planwire.events.models import Event
from planwire.secrets_store import SecretBox
from planwire.uow import UnitOfWork
from planwire.webhooks.models import Delivery, DeliveryAttempt, Webhook
from tests.conftest import TEST_SECRET_KEY
from tests.support.receiver import Receiver, Reply

T = TypeVar("T")
BOX = SecretBox(TEST_SECRET_KEY.encode())
SECRET = "s3cret-for-tests-only"
WAIT = 15.0  # upper bound of every wait; tests normally finish far sooner


# --- helpers shared with test_worker_api.py ------------------------------------------------------


def make_organization(engine: Engine) -> int:
    with make_session_factory(engine)() as session:
        organization_id = auth_service.create_organization(session, name="Org").id
        session.commit()
        return organization_id


def add_webhook(
    engine: Engine,
    *,
    organization_id: int,
    url: str,
    fmt: str = "trueppm",
    secrets: Sequence[str] = (SECRET,),
    events: Sequence[str] = (),
    project_id: uuid.UUID | str | None = None,
    retry_schedule: Sequence[float] | None = None,
    headers: dict[str, str] | None = None,
    is_active: bool = True,
    ciphertext: str | None = None,
) -> uuid.UUID:
    """Insert a webhook row as the registration service stores it (secrets sealed)."""
    webhook_id = new_id()
    with make_session_factory(engine)() as session:
        session.add(
            Webhook(
                id=webhook_id,
                organization_id=organization_id,
                project_id=uuid.UUID(str(project_id)) if project_id is not None else None,
                name=f"{fmt} hook",
                url=url,
                events=list(events),
                format=fmt,
                secrets_ciphertext=ciphertext or BOX.seal(list(secrets)),
                retry_schedule=None if retry_schedule is None else list(retry_schedule),
                headers=headers or {},
                is_active=is_active,
            )
        )
        session.commit()
    return webhook_id


def record_events(
    engine: Engine,
    organization_id: int,
    count: int = 1,
    *,
    type: str = "task.created",
    data: dict[str, Any] | None = None,
    project_id: uuid.UUID | None = None,
) -> None:
    """Record ``count`` events in one unit of work (outbox + fan-out + wake-up)."""
    with UnitOfWork(make_session_factory(engine)) as uow:
        for index in range(count):
            events_service.record(
                uow.session,
                organization_id=organization_id,
                project_id=project_id,
                type=type,
                data=data if data is not None else {"index": index, "name": f"Task {index}"},
            )


def set_webhook(engine: Engine, webhook_id: uuid.UUID, **values: Any) -> None:
    with engine.begin() as connection:
        connection.execute(update(Webhook).where(Webhook.id == webhook_id).values(**values))


def deliveries_of(engine: Engine, webhook_id: uuid.UUID | None = None) -> list[Any]:
    query = select(Delivery).order_by(Delivery.created_at, Delivery.id)
    if webhook_id is not None:
        query = query.where(Delivery.webhook_id == webhook_id)
    with make_session_factory(engine)() as session:
        return list(session.scalars(query).all())


def attempts_of(engine: Engine, delivery_id: uuid.UUID) -> list[Any]:
    with make_session_factory(engine)() as session:
        return list(
            session.scalars(
                select(DeliveryAttempt)
                .where(DeliveryAttempt.delivery_id == delivery_id)
                .order_by(DeliveryAttempt.attempt_number)
            ).all()
        )


def webhook_of(engine: Engine, webhook_id: uuid.UUID) -> Webhook:
    with make_session_factory(engine)() as session:
        webhook = session.get(Webhook, webhook_id)
        assert webhook is not None
        return cast(Webhook, webhook)


def wait_until(check: Callable[[], T | None], within: float = WAIT, what: str = "it") -> T:
    """Poll ``check`` until it returns something truthy; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {within} s for {what} in vain")
        time.sleep(0.02)


async def await_until(check: Callable[[], T | None], within: float = WAIT, what: str = "it") -> T:
    return await asyncio.to_thread(wait_until, check, within, what)


def all_finished(engine: Engine, expected: int) -> Callable[[], list[Any] | None]:
    """A check: the ``expected`` deliveries, once none of them is pending any more."""

    def check() -> list[Any] | None:
        with engine.connect() as connection:
            total, pending = connection.execute(
                select(func.count(), func.count().filter(Delivery.status == "pending"))
            ).one()
        if total == expected and pending == 0:
            return deliveries_of(engine)
        return None

    return check


def closed_port() -> int:
    """A loopback port nothing listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


@contextlib.asynccontextmanager
async def running(
    settings: Settings, engine: Engine, **options: Any
) -> AsyncIterator[DeliveryWorker]:
    worker = DeliveryWorker(settings, engine, **{"poll_interval": 0.2, **options})
    await worker.start()
    try:
        yield worker
    finally:
        await worker.stop()


@pytest.fixture
def wsettings(settings: Settings) -> Settings:
    # Generous: on a loaded machine a slow answer must not turn into a timeout and a retry.
    return settings.model_copy(
        update={"delivery_timeout": 10.0, "lease_seconds": 30.0, "worker_concurrency": 32}
    )


@pytest.fixture
def organization(engine: Engine) -> int:
    return make_organization(engine)


@pytest.fixture
def other_receiver() -> Iterator[Receiver]:
    with Receiver() as rx:
        yield rx


# --- claiming -----------------------------------------------------------------------------------


def _claim(engine: Engine, owner: str, limit: int = 100, **kw: Any) -> repository.ClaimedBatch:
    with make_session_factory(engine)() as session, session.begin():
        return repository.claim_due(session, owner, limit, kw.pop("now", utcnow()), **kw)


def test_claim_takes_due_deliveries_of_active_webhooks_under_a_lease(
    engine: Engine, organization: int
) -> None:
    active = add_webhook(engine, organization_id=organization, url="http://127.0.0.1:9/a")
    paused = add_webhook(engine, organization_id=organization, url="http://127.0.0.1:9/p")
    disabled = add_webhook(engine, organization_id=organization, url="http://127.0.0.1:9/d")
    record_events(engine, organization, 3)
    set_webhook(engine, paused, is_active=False)
    set_webhook(engine, disabled, disabled_at=utcnow(), disabled_reason="test")
    later = deliveries_of(engine, active)[2]
    with engine.begin() as connection:  # one of the active webhook's is not due yet
        connection.execute(
            update(Delivery)
            .where(Delivery.id == later.id)
            .values(next_attempt_at=utcnow() + timedelta(hours=1))
        )

    batch = _claim(engine, "worker-1", lease_seconds=30)
    assert {d.webhook_id for d in batch.deliveries} == {active}
    assert len(batch.deliveries) == 2 and later.id not in {d.id for d in batch.deliveries}
    assert set(batch.webhooks) == {active}
    assert {e for e in batch.events} == {d.event_id for d in batch.deliveries}
    assert all(d.attempt_count == 0 for d in batch.deliveries)
    assert batch.webhooks[active].url == "http://127.0.0.1:9/a"
    assert BOX.open(batch.webhooks[active].secrets_ciphertext) == [SECRET]
    assert not batch.more
    leased = {row.id: row for row in deliveries_of(engine, active)}
    for claimed in batch.deliveries:
        assert leased[claimed.id].lease_owner == "worker-1"
        assert leased[claimed.id].lease_expires_at is not None

    # Held: another worker gets nothing until the lease expires, then takes them over.
    assert _claim(engine, "worker-2").deliveries == []
    takeover = _claim(engine, "worker-2", now=utcnow() + timedelta(seconds=31))
    assert {d.id for d in takeover.deliveries} == {d.id for d in batch.deliveries}

    # Resuming the paused webhook makes its waiting delivery claimable.
    set_webhook(engine, paused, is_active=True)
    assert {d.webhook_id for d in _claim(engine, "worker-3").deliveries} == {paused}


def test_claim_respects_the_room_left_per_endpoint(engine: Engine, organization: int) -> None:
    slow = add_webhook(engine, organization_id=organization, url="http://127.0.0.1:9/slow")
    record_events(engine, organization, 6)
    fast = add_webhook(engine, organization_id=organization, url="http://127.0.0.1:9/fast")
    record_events(engine, organization, 2)  # 2 more for slow, 2 for fast

    batch = _claim(engine, "w", 100, default_room=3)
    per_webhook = {slow: 0, fast: 0}
    for claimed in batch.deliveries:
        per_webhook[claimed.webhook_id] += 1
    assert per_webhook == {slow: 3, fast: 2}
    assert batch.more  # due deliveries of the slow endpoint were left behind

    # No room at all for the slow one: it is not even read; the rest stays claimable.
    batch = _claim(engine, "w2", 100, room={slow: 0})
    assert batch.deliveries == []
    batch = _claim(engine, "w2", 100, room={slow: 2})
    assert [d.webhook_id for d in batch.deliveries] == [slow, slow]


def test_claim_and_record_use_a_fixed_number_of_statements(
    engine: Engine, organization: int
) -> None:
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "SAVEPOINT", "RELEASE")):
            statements.append(statement)

    for fmt in ("trueppm", "exepron", "standard"):
        add_webhook(engine, organization_id=organization, url=f"http://127.0.0.1:9/{fmt}")
    sizes: list[tuple[int, int, int]] = []
    for events in (1, 15):
        with engine.begin() as connection:
            connection.execute(update(Delivery).values(status="success"))
        record_events(engine, organization, events)
        event.listen(engine, "before_cursor_execute", count)
        try:
            statements.clear()
            batch = _claim(engine, "w", 200)
            claim_statements = len(statements)
            statements.clear()
            now = utcnow()
            records = [
                AttemptRecord(
                    delivery_id=d.id,
                    webhook_id=d.webhook_id,
                    attempt_number=1,
                    started_at=now,
                    duration_ms=1.0,
                    request_headers={"A": "b"},
                    response_status=200,
                    response_body="OK",
                    error_kind=None,
                    error=None,
                    status="success",
                    next_attempt_at=None,
                )
                for d in batch.deliveries
            ]
            with make_session_factory(engine)() as session, session.begin():
                repository.record_attempts(session, "w", records, now)
            record_statements = len(statements)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        sizes.append((len(batch.deliveries), claim_statements, record_statements))
    (small, claim_small, record_small), (large, claim_large, record_large) = sizes
    assert (small, large) == (3, 45)
    # due rows (on PostgreSQL after the planner setting that keeps them in index order),
    # lease, webhooks, events
    expected_claim = 5 if engine.dialect.name == "postgresql" else 4
    assert claim_small == claim_large == expected_claim
    assert record_small == record_large == 4  # statistics, lock, attempts, deliveries


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgres_claims_read_the_due_index_in_order_before_statistics_exist(
    engine: Engine, organization: int
) -> None:
    """Right after a burst (no ANALYZE yet) a claim must not read and sort every due row."""
    for index in range(10):
        add_webhook(engine, organization_id=organization, url=f"http://127.0.0.1:9/{index}")
    record_events(engine, organization, 2000)
    query = repository.due_query(utcnow(), 200)
    with make_session_factory(engine)() as session, session.begin():
        repository.use_due_index(session)
        compiled = query.compile(dialect=engine.dialect)
        plan = "\n".join(
            row[0]
            for row in session.connection().exec_driver_sql(
                "EXPLAIN " + str(compiled), compiled.params
            )
        )
    assert "ix_deliveries_due" in plan
    assert "Sort" not in plan and "Bitmap" not in plan, plan


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgres_claims_skip_rows_locked_by_another_worker(
    engine: Engine, organization: int
) -> None:
    add_webhook(engine, organization_id=organization, url="http://127.0.0.1:9/x")
    record_events(engine, organization, 10)
    factory = make_session_factory(engine)
    with factory() as first, factory() as second:
        first.begin()
        held = repository.claim_due(first, "one", 4, utcnow())  # not committed: rows locked
        second.begin()
        other = repository.claim_due(second, "two", 100, utcnow())  # must not wait
        second.commit()
        first.commit()
    assert len(held.deliveries) == 4 and len(other.deliveries) == 6
    assert not {d.id for d in held.deliveries} & {d.id for d in other.deliveries}


# --- recording ----------------------------------------------------------------------------------


def _record(engine: Engine, owner: str, *records: AttemptRecord) -> None:
    with make_session_factory(engine)() as session, session.begin():
        repository.record_attempts(session, owner, list(records), utcnow())


def _attempt(
    delivery: Any, number: int, *, ok: bool, status: str, at_offset: float = 0.0
) -> AttemptRecord:
    return AttemptRecord(
        delivery_id=delivery.id,
        webhook_id=delivery.webhook_id,
        attempt_number=number,
        started_at=utcnow() + timedelta(seconds=at_offset),
        duration_ms=3.5,
        request_headers={"X-TruePPM-Signature": "<redacted>"},
        response_status=200 if ok else 500,
        response_body="OK" if ok else "boom",
        error_kind=None if ok else "http",
        error=None if ok else "HTTP 500 Internal Server Error",
        status=status,  # type: ignore[arg-type]
        next_attempt_at=utcnow() + timedelta(seconds=60) if status == "pending" else None,
    )


def test_recording_moves_deliveries_on_and_counts_every_attempt(
    engine: Engine, organization: int
) -> None:
    hook = add_webhook(engine, organization_id=organization, url="http://127.0.0.1:9/x")
    record_events(engine, organization, 3)
    first, second, third = _claim(engine, "w").deliveries

    _record(
        engine,
        "w",
        _attempt(first, 1, ok=False, status="pending", at_offset=-3),
        _attempt(second, 1, ok=False, status="failed", at_offset=-2),
    )
    rows = {row.id: row for row in deliveries_of(engine, hook)}
    assert rows[first.id].status == "pending" and rows[first.id].attempt_count == 1
    assert rows[first.id].next_attempt_at > utcnow() and rows[first.id].lease_owner is None
    assert rows[first.id].response_status == 500 and "500" in rows[first.id].last_error
    assert rows[second.id].status == "failed" and rows[second.id].completed_at is not None
    stats = webhook_of(engine, hook)
    assert (stats.total_calls, stats.successful_calls, stats.failed_calls) == (2, 0, 2)
    failing_since = stats.failing_since
    assert failing_since is not None

    # A later failure keeps failing_since; a success clears it.
    _record(engine, "w", _attempt(third, 1, ok=False, status="pending", at_offset=-1))
    assert webhook_of(engine, hook).failing_since == failing_since
    retry = _claim(engine, "w", now=utcnow() + timedelta(seconds=61)).deliveries
    by_id = {d.id: d for d in retry}
    assert by_id[first.id].attempt_count == 1  # the Exepron retryCount of the next attempt
    _record(
        engine,
        "w",
        _attempt(by_id[first.id], 2, ok=True, status="success", at_offset=0),
        _attempt(by_id[third.id], 2, ok=False, status="failed", at_offset=1),
    )
    stats = webhook_of(engine, hook)
    assert (stats.total_calls, stats.successful_calls, stats.failed_calls) == (5, 1, 4)
    # The failure after the success in the same batch starts a new failing streak.
    assert stats.failing_since is not None and stats.failing_since > failing_since
    assert stats.last_triggered_at is not None
    done = {row.id: row for row in deliveries_of(engine, hook)}[first.id]
    assert done.status == "success" and done.attempt_count == 2 and done.completed_at
    assert [a.attempt_number for a in attempts_of(engine, first.id)] == [1, 2]
    assert attempts_of(engine, first.id)[1].response_body == "OK"


def test_a_worker_that_lost_its_lease_cannot_overwrite_the_delivery(
    engine: Engine, organization: int
) -> None:
    hook = add_webhook(engine, organization_id=organization, url="http://127.0.0.1:9/x")
    record_events(engine, organization, 1)
    (stale,) = _claim(engine, "old", lease_seconds=1).deliveries
    (fresh,) = _claim(engine, "new", now=utcnow() + timedelta(seconds=2)).deliveries
    _record(engine, "old", _attempt(stale, 1, ok=False, status="failed"))
    row = deliveries_of(engine, hook)[0]
    assert row.status == "pending" and row.lease_owner == "new"
    # The attempt happened, so it is kept and counted.
    assert len(attempts_of(engine, fresh.id)) == 1
    assert webhook_of(engine, hook).total_calls == 1


def test_attempts_of_a_webhook_deleted_in_flight_are_dropped(
    engine: Engine, organization: int
) -> None:
    kept = add_webhook(engine, organization_id=organization, url="http://127.0.0.1:9/kept")
    gone = add_webhook(engine, organization_id=organization, url="http://127.0.0.1:9/gone")
    record_events(engine, organization, 1)
    batch = _claim(engine, "w")
    with engine.begin() as connection:  # deleted while its request is in flight
        connection.execute(delete(Delivery).where(Delivery.webhook_id == gone))
        connection.execute(delete(Webhook).where(Webhook.id == gone))
    _record(engine, "w", *(_attempt(d, 1, ok=True, status="success") for d in batch.deliveries))
    (row,) = deliveries_of(engine)
    assert row.webhook_id == kept and row.status == "success"
    assert len(attempts_of(engine, row.id)) == 1 and webhook_of(engine, kept).total_calls == 1


def test_stored_headers_never_hold_signatures_or_credentials() -> None:
    stored = redact_headers(
        {
            "Content-Type": "application/json",
            "X-TruePPM-Signature": "sha256=abc",
            "X-Exepron-Signature": "abc",
            "webhook-signature": "v1,abc",
            "Authorization": "Bearer xyz",
            "X-Api-Key": "k",
            "X-Custom-Header": "value",
        }
    )
    assert stored == {
        "Content-Type": "application/json",
        "X-TruePPM-Signature": "<redacted>",
        "X-Exepron-Signature": "<redacted>",
        "webhook-signature": "<redacted>",
        "Authorization": "<redacted>",
        "X-Api-Key": "<redacted>",
        "X-Custom-Header": "value",
    }


# --- the running worker -------------------------------------------------------------------------


async def test_worker_delivers_every_delivery_once_and_counts_calls(
    wsettings: Settings, engine: Engine, organization: int, receiver: Receiver
) -> None:
    hook = add_webhook(engine, organization_id=organization, url=receiver.url("/hook"))
    async with running(wsettings, engine):
        record_events(engine, organization, 40)
        rows = await await_until(all_finished(engine, 40), what="40 deliveries")
    assert {row.status for row in rows} == {"success"}
    sent_ids = [r.headers["X-Planwire-Delivery"] for r in receiver.requests]
    assert sorted(sent_ids) == sorted(str(row.id) for row in rows)
    stats = webhook_of(engine, hook)
    assert (stats.total_calls, stats.successful_calls, stats.failed_calls) == (40, 40, 0)
    assert stats.failing_since is None and stats.last_triggered_at is not None
    assert all(row.lease_owner is None and row.attempt_count == 1 for row in rows)


async def test_a_slow_endpoint_cannot_starve_the_others(
    wsettings: Settings,
    engine: Engine,
    organization: int,
    receiver: Receiver,
    other_receiver: Receiver,
) -> None:
    settings = wsettings.model_copy(update={"worker_concurrency": 4, "per_endpoint_concurrency": 2})
    receiver.program("/slow", Reply(delay=0.3))
    slow = add_webhook(engine, organization_id=organization, url=receiver.url("/slow"))
    record_events(engine, organization, 10)  # all older than the fast endpoint's
    fast = add_webhook(engine, organization_id=organization, url=other_receiver.url("/fast"))
    record_events(engine, organization, 10)
    async with running(settings, engine):
        await await_until(all_finished(engine, 30), what="30 deliveries")
    assert receiver.max_in_flight <= 2
    fast_done = max(r.completed_at for r in deliveries_of(engine, fast))
    slow_done = max(r.completed_at for r in deliveries_of(engine, slow))
    # The fast endpoint's ten went out alongside the slow one's, not after them.
    assert fast_done < slow_done
    assert other_receiver.max_in_flight <= 2


async def test_a_crashed_workers_claims_are_taken_over_when_the_lease_expires(
    wsettings: Settings, engine: Engine, organization: int, receiver: Receiver
) -> None:
    hook = add_webhook(engine, organization_id=organization, url=receiver.url("/hook"))
    record_events(engine, organization, 3)
    crashed = _claim(engine, "crashed-worker", lease_seconds=0.5)
    assert len(crashed.deliveries) == 3
    async with running(wsettings, engine):
        rows = await await_until(all_finished(engine, 3), what="the crashed worker's deliveries")
    assert {row.status for row in rows} == {"success"}
    assert len(receiver.requests) == 3
    assert webhook_of(engine, hook).total_calls == 3


async def test_leases_are_renewed_during_a_long_send(
    wsettings: Settings, engine: Engine, organization: int, receiver: Receiver
) -> None:
    settings = wsettings.model_copy(update={"lease_seconds": 0.3})
    receiver.program("/slow", Reply(delay=1.5))
    add_webhook(engine, organization_id=organization, url=receiver.url("/slow"))
    async with running(settings, engine), running(settings, engine, poll_interval=0.05):
        record_events(engine, organization, 1)
        (row,) = await await_until(all_finished(engine, 1), what="the slow delivery")
    # Five lease lengths in flight, a second worker polling all along: sent exactly once.
    assert len(receiver.requests) == 1
    assert row.status == "success" and row.attempt_count == 1


async def test_stopping_gives_back_the_leases_of_unfinished_attempts(
    wsettings: Settings, engine: Engine, organization: int, receiver: Receiver
) -> None:
    receiver.enqueue("/hook", Reply.hang())
    hook = add_webhook(engine, organization_id=organization, url=receiver.url("/hook"))
    async with running(wsettings, engine, shutdown_grace=0.1):
        record_events(engine, organization, 1)
        await asyncio.to_thread(receiver.wait_for, 1, WAIT)
    (row,) = deliveries_of(engine, hook)
    assert row.status == "pending" and row.lease_owner is None and row.attempt_count == 0
    assert attempts_of(engine, row.id) == []
    async with running(wsettings, engine):  # the next worker sends it at once
        (row,) = await await_until(all_finished(engine, 1), what="the redelivery")
    assert row.status == "success"
    first, second = receiver.requests
    assert first.headers["X-Planwire-Delivery"] == second.headers["X-Planwire-Delivery"]


async def test_an_undecryptable_secret_postpones_without_using_an_attempt(
    wsettings: Settings, engine: Engine, organization: int, receiver: Receiver
) -> None:
    foreign = SecretBox(Fernet.generate_key()).seal([SECRET])
    hook = add_webhook(
        engine, organization_id=organization, url=receiver.url("/x"), ciphertext=foreign
    )
    async with running(wsettings, engine):
        record_events(engine, organization, 1)

        def postponed() -> Any:
            (row,) = deliveries_of(engine, hook)
            return row if row.next_attempt_at > utcnow() + timedelta(seconds=30) else None

        row = await await_until(postponed, what="the delivery to be postponed")
    assert row.status == "pending" and row.attempt_count == 0 and row.lease_owner is None
    assert receiver.requests == []


async def test_a_standard_rotation_stops_signing_with_the_old_secret_after_the_grace(
    wsettings: Settings, engine: Engine, organization: int, receiver: Receiver
) -> None:
    new, old = generate_secret("standard"), generate_secret("standard")
    fernet = Fernet(TEST_SECRET_KEY.encode())
    ciphertexts = {
        "fresh": BOX.seal([new, old]),
        "stale": fernet.encrypt_at_time(
            json.dumps([new, old]).encode(), int(time.time()) - 25 * 3600
        ).decode(),
    }
    for name, ciphertext in ciphertexts.items():
        add_webhook(
            engine,
            organization_id=organization,
            url=receiver.url(f"/{name}"),
            fmt="standard",
            ciphertext=ciphertext,
        )
    async with running(wsettings, engine):
        record_events(engine, organization, 1)
        requests = await asyncio.to_thread(receiver.wait_for, 2, WAIT)
    signatures = {r.path: r.headers["webhook-signature"].split() for r in requests}
    assert len(signatures["/fresh"]) == 2 and len(signatures["/stale"]) == 1
    for request in requests:
        headers = {name.lower(): value for name, value in request.headers.items()}
        standardwebhooks.Webhook(new).verify(request.body, headers)


async def test_an_endpoint_failing_continuously_is_disabled(
    wsettings: Settings, engine: Engine, organization: int, receiver: Receiver
) -> None:
    settings = wsettings.model_copy(update={"auto_disable_after_hours": 0.5 / 3600})
    receiver.program("/down", Reply(status=503))
    hook = add_webhook(
        engine,
        organization_id=organization,
        url=receiver.url("/down"),
        fmt="exepron",
        retry_schedule=[0.2] * 20,
    )
    async with running(settings, engine, maintenance_interval=0.1):
        record_events(engine, organization, 1)

        def disabled_webhook() -> Webhook | None:
            webhook = webhook_of(engine, hook)
            return webhook if webhook.disabled_at is not None else None

        disabled = await await_until(disabled_webhook, what="the webhook to be disabled")
        calls = len(receiver.requests)
        await asyncio.sleep(0.5)  # retries of a disabled webhook wait, like a paused one's
        assert len(receiver.requests) <= calls + 1  # at most one already in flight
    assert disabled.is_active is False
    assert disabled.disabled_reason and "failed" in disabled.disabled_reason
    (row,) = deliveries_of(engine, hook)
    assert row.status == "pending"


def test_maintenance_disables_only_endpoints_failing_throughout_the_window(
    engine: Engine, organization: int
) -> None:
    now = utcnow()
    week = now - timedelta(days=7)
    still_failing = add_webhook(engine, organization_id=organization, url="http://h/1")
    set_webhook(engine, still_failing, failing_since=week, last_triggered_at=now)
    silent = add_webhook(engine, organization_id=organization, url="http://h/2")
    set_webhook(engine, silent, failing_since=week, last_triggered_at=week)
    recent = add_webhook(engine, organization_id=organization, url="http://h/3")
    set_webhook(engine, recent, failing_since=now - timedelta(hours=1), last_triggered_at=now)
    healthy = add_webhook(engine, organization_id=organization, url="http://h/4")
    set_webhook(engine, healthy, failing_since=None, last_triggered_at=now)

    with make_session_factory(engine)() as session, session.begin():
        disabled = maintenance.disable_failing_webhooks(session, now, timedelta(days=5))
    assert disabled == [still_failing]
    hook = webhook_of(engine, still_failing)
    assert hook.is_active is False and hook.disabled_at is not None
    assert hook.disabled_reason is not None and "120 hours" in hook.disabled_reason
    for other in (silent, recent, healthy):
        assert webhook_of(engine, other).disabled_at is None


def test_maintenance_purges_attempts_past_retention(engine: Engine, organization: int) -> None:
    add_webhook(engine, organization_id=organization, url="http://h/1")
    record_events(engine, organization, 1)
    (delivery,) = deliveries_of(engine)
    now = utcnow()
    with engine.begin() as connection:
        connection.execute(
            insert(DeliveryAttempt),
            [
                {
                    "delivery_id": delivery.id,
                    "attempt_number": n,
                    "started_at": now - timedelta(days=age),
                    "duration_ms": 1.0,
                    "request_headers": {},
                    "response_body": "",
                }
                for n, age in enumerate((40, 31, 29, 1), start=1)
            ],
        )
    settings = Settings(database_url="sqlite://", attempt_retention_days=30)
    report = maintenance.run(make_session_factory(engine), settings, now)
    assert report.purged_attempts == 2 and report.disabled == []
    assert [a.attempt_number for a in attempts_of(engine, delivery.id)] == [3, 4]


async def test_several_workers_share_the_work_and_send_each_delivery_once(
    wsettings: Settings, engine: Engine, organization: int, receiver: Receiver
) -> None:
    count = 300
    add_webhook(engine, organization_id=organization, url=receiver.url("/a"))
    add_webhook(engine, organization_id=organization, url=receiver.url("/b"))
    record_events(engine, organization, count // 2)
    engines = [make_engine(wsettings.sqlalchemy_url) for _ in range(3)]  # as separate processes
    try:
        started = time.monotonic()
        async with contextlib.AsyncExitStack() as stack:
            workers = [
                await stack.enter_async_context(running(wsettings, other, batch_size=50))
                for other in engines
            ]
            rows = await await_until(all_finished(engine, count), what="all deliveries")
            elapsed = time.monotonic() - started
    finally:
        for other in engines:
            other.dispose()
    assert {row.status for row in rows} == {"success"}
    sent = [r.headers["X-Planwire-Delivery"] for r in receiver.requests]
    assert len(sent) == len(set(sent)) == count
    with make_session_factory(engine)() as session:
        assert session.scalar(select(Delivery).where(Delivery.lease_owner.is_not(None))) is None
    assert len({w.owner for w in workers}) == 3
    print(f"\n{engine.dialect.name}: {count} deliveries by 3 workers in {elapsed:.2f} s")


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_postgres_notify_wakes_a_worker_in_another_process(
    wsettings: Settings, engine: Engine, organization: int, receiver: Receiver
) -> None:
    hook = add_webhook(engine, organization_id=organization, url=receiver.url("/hook"))
    async with running(wsettings, engine, poll_interval=30):
        await asyncio.sleep(0.3)  # let the LISTEN connection come up and the first poll pass
        # Written the way another process would: raw SQL and NOTIFY, no in-process wake-up.
        event_id, delivery_id = new_id(), new_id()
        now = utcnow()
        with engine.begin() as connection:
            connection.execute(
                insert(Event).values(
                    id=event_id,
                    organization_id=organization,
                    type="task.created",
                    data={"name": "elsewhere"},
                    created_at=now,
                )
            )
            connection.execute(
                insert(Delivery).values(
                    id=delivery_id,
                    webhook_id=hook,
                    event_id=event_id,
                    status="pending",
                    attempt_count=0,
                    next_attempt_at=now,
                    is_test=False,
                    created_at=now,
                    updated_at=now,
                )
            )
            connection.execute(text("SELECT pg_notify('planwire_deliveries', '')"))
        (request,) = await asyncio.to_thread(receiver.wait_for, 1, 5.0)
    assert request.headers["X-Planwire-Delivery"] == str(delivery_id)
    assert json.loads(request.body)["data"] == {"name": "elsewhere"}
