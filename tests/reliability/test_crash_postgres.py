"""Crash safety on PostgreSQL: four ``planwire worker`` processes share the queue; one is killed
with SIGKILL while it holds leases. Every delivery still arrives; the only duplicates are
deliveries the killed worker had leased (in flight at the kill), and those leases are taken
over by the others once they expire, never before.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from planwire.db import make_engine, make_session_factory
from planwire.events import service as events_service
from planwire.migrations import upgrade
from planwire.uow import UnitOfWork
from planwire.webhooks.models import Delivery, DeliveryAttempt, Webhook
from tests.conftest import TEST_SECRET_KEY
from tests.delivery.test_worker import add_webhook, make_organization
from tests.reliability.helpers import child_env, planwire_process, stop_process, wait_until
from tests.support.receiver import Receiver, Reply

EVENTS = 5000
WORKERS = 4
LEASE_SECONDS = 3
BATCH = 500


def _record_events(engine: Engine, organization_id: int, first: int, count: int) -> None:
    """``count`` events through the service layer, ``BATCH`` per unit of work."""
    factory = make_session_factory(engine)
    for start in range(first, first + count, BATCH):
        with UnitOfWork(factory) as uow:
            for index in range(start, min(start + BATCH, first + count)):
                events_service.record(
                    uow.session,
                    organization_id=organization_id,
                    project_id=None,
                    type="task.updated",
                    data={"index": index, "name": f"Task {index}"},
                )


def _leases(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(Delivery.lease_owner, func.count())
            .where(Delivery.lease_owner.is_not(None))
            .group_by(Delivery.lease_owner)
        )
        return {owner: count for owner, count in rows}


def _owned_by(pid: int, owner: str) -> bool:
    return f":{pid}:" in owner


def _log_tails(logs: list[Path]) -> str:
    return "\n".join(
        f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        for log in logs
        if log.exists()
    )


@pytest.mark.slow
def test_a_worker_killed_mid_flight_loses_nothing_and_duplicates_only_its_leases(
    postgres_database_url: str, tmp_path: Path, record_property: Any
) -> None:
    engine = make_engine(postgres_database_url)
    upgrade(engine)
    logs = [tmp_path / f"worker-{n}.log" for n in range(WORKERS)]
    try:
        with Receiver(default=Reply(delay=0.02)) as receiver:
            organization = make_organization(engine)
            hook = add_webhook(
                engine,
                organization_id=organization,
                url=receiver.url("/crash"),
                retry_schedule=[0.5, 1, 1, 1, 1],
            )
            env = child_env(
                {
                    "database_url": postgres_database_url,
                    "secret_key": TEST_SECRET_KEY,
                    "allow_private_targets": "true",
                    "lease_seconds": str(LEASE_SECONDS),
                    "delivery_timeout": "10",
                    "worker_concurrency": "64",
                    "per_endpoint_concurrency": "64",
                }
            )
            with contextlib.ExitStack() as stack:
                workers = [
                    stack.enter_context(planwire_process(["worker"], env, log)) for log in logs
                ]
                victim = workers[0]
                started = time.monotonic()
                _record_events(engine, organization, 0, EVENTS // 2)

                # Kill the victim while it holds leases, once a good part has arrived.
                def victim_busy() -> bool:
                    if any(w.poll() is not None for w in workers):
                        raise AssertionError("a worker exited early\n" + _log_tails(logs))
                    held = sum(n for o, n in _leases(engine).items() if _owned_by(victim.pid, o))
                    return held > 0 and len(receiver.requests) >= EVENTS // 5

                wait_until(victim_busy, 60, "the victim to hold leases mid-flight")
                os.kill(victim.pid, signal.SIGKILL)
                victim.wait(timeout=10)
                with engine.connect() as connection:
                    frozen: dict[uuid.UUID, datetime] = {
                        row.id: row.lease_expires_at
                        for row in connection.execute(
                            select(Delivery.id, Delivery.lease_owner, Delivery.lease_expires_at)
                        )
                        if row.lease_owner and _owned_by(victim.pid, row.lease_owner)
                    }
                assert frozen, "the victim held no lease when it was killed"
                _record_events(engine, organization, EVENTS // 2, EVENTS - EVENTS // 2)

                def all_delivered() -> bool:
                    with engine.connect() as connection:
                        done = connection.scalar(
                            select(func.count()).where(Delivery.status == "success")
                        )
                    return done == EVENTS

                wait_until(all_delivered, 90, f"{EVENTS} deliveries\n{_log_tails(logs)}")
                elapsed = time.monotonic() - started
                for worker in workers[1:]:
                    stop_process(worker)
                    assert worker.returncode == 0, _log_tails(logs)
            received = Counter(r.headers["X-Planwire-Delivery"] for r in receiver.requests)

        with engine.connect() as connection:
            deliveries = {
                str(row.id): row
                for row in connection.execute(
                    select(
                        Delivery.id, Delivery.status, Delivery.lease_owner, Delivery.attempt_count
                    )
                )
            }
            attempts = connection.execute(
                select(DeliveryAttempt.delivery_id, DeliveryAttempt.started_at)
            ).all()
            total_calls = connection.scalar(select(Webhook.total_calls).where(Webhook.id == hook))
    finally:
        engine.dispose()

    lost = set(deliveries) - set(received)
    unexpected = set(received) - set(deliveries)
    duplicated = {delivery_id for delivery_id, count in received.items() if count > 1}
    frozen_ids = {str(delivery_id) for delivery_id in frozen}
    summary = (
        f"{len(deliveries)} deliveries by {WORKERS} workers (one killed) in {elapsed:.1f} s: "
        f"delivered {len(set(received) & set(deliveries))}, lost {len(lost)}, "
        f"duplicated {len(duplicated)} (the killed worker held {len(frozen)} leases), "
        f"{sum(received.values())} requests"
    )
    print("\n" + summary)
    record_property("crash_postgres", summary)

    assert len(deliveries) == EVENTS
    assert lost == set() and unexpected == set()
    assert duplicated <= frozen_ids, f"duplicates outside the killed worker's leases: {summary}"
    assert max(received.values()) <= 2
    assert {row.status for row in deliveries.values()} == {"success"}
    assert all(row.lease_owner is None for row in deliveries.values())
    # Every delivery has exactly its recorded attempts; the killed worker's sends were never
    # recorded, so a taken-over delivery shows the survivor's attempt, made after the expiry.
    assert len(attempts) == total_calls == sum(r.attempt_count for r in deliveries.values())
    by_delivery: dict[uuid.UUID, list[datetime]] = {}
    for delivery_id, started_at in attempts:
        by_delivery.setdefault(delivery_id, []).append(started_at)
    for delivery_id, expires in frozen.items():
        taken_over = by_delivery[delivery_id]
        assert taken_over and min(taken_over) >= expires, "taken over before the lease expired"
