"""Periodic housekeeping of the delivery engine, run by every worker (each step is idempotent).

* **Auto-disable.** An endpoint is disabled when its deliveries have been failing continuously
  for ``auto_disable_after_hours``: its ``failing_since`` (the start of the first failed
  attempt after its last success, kept by the worker's recording) is at least that long before
  both now and its latest attempt. Requiring a failed attempt at the end of the window too
  means an endpoint is never disabled for a stretch in which nothing was tried. Disabling sets
  ``disabled_at``, ``disabled_reason`` and ``is_active = false``; its pending deliveries stay
  pending and go out if the webhook is enabled again.
* **Retention.** Attempt rows older than ``attempt_retention_days`` are deleted, in chunks so
  a large purge never holds the database's write lock for long.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from planwire.config import Settings
from planwire.webhooks.models import DeliveryAttempt, Webhook

__all__ = ["MaintenanceReport", "disable_failing_webhooks", "purge_attempts", "run"]

PURGE_CHUNK = 5000


@dataclass(frozen=True, slots=True)
class MaintenanceReport:
    disabled: list[uuid.UUID]
    purged_attempts: int


def disable_failing_webhooks(session: Session, now: datetime, after: timedelta) -> list[uuid.UUID]:
    """Disable the webhooks failing continuously for ``after``; returns their ids. The caller
    commits."""
    cutoff = now - after
    candidates = session.execute(
        select(Webhook.id, Webhook.failing_since, Webhook.last_triggered_at)
        .where(
            Webhook.failing_since.is_not(None),
            Webhook.failing_since <= cutoff,
            Webhook.disabled_at.is_(None),
        )
        .order_by(Webhook.id)  # the lock order of the workers' statistics updates
    ).all()
    hours = after.total_seconds() / 3600
    disabled: list[uuid.UUID] = []
    for webhook_id, failing_since, last_attempt in candidates:
        if failing_since is None or last_attempt is None or last_attempt - failing_since < after:
            continue
        reason = (
            f"disabled automatically: every delivery attempt failed for {hours:g} hours "
            f"(since {failing_since:%Y-%m-%d %H:%M:%S} UTC)"
        )
        result = session.execute(
            update(Webhook)
            .where(
                Webhook.id == webhook_id,
                # Unchanged since read: a success in between cleared or moved it.
                Webhook.failing_since == failing_since,
                Webhook.disabled_at.is_(None),
            )
            .values(is_active=False, disabled_at=now, disabled_reason=reason, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 0):
            disabled.append(webhook_id)
    return disabled


def purge_attempts(
    session_factory: sessionmaker[Session], now: datetime, retention: timedelta
) -> int:
    """Delete attempt rows started before ``now - retention``, one short transaction per
    chunk; returns how many were deleted."""
    cutoff = now - retention
    total = 0
    while True:
        with session_factory() as session, session.begin():
            ids = session.scalars(
                select(DeliveryAttempt.id)
                .where(DeliveryAttempt.started_at < cutoff)
                .limit(PURGE_CHUNK)
            ).all()
            if ids:
                session.execute(
                    delete(DeliveryAttempt)
                    .where(DeliveryAttempt.id.in_(ids))
                    .execution_options(synchronize_session=False)
                )
        total += len(ids)
        if len(ids) < PURGE_CHUNK:
            return total


def run(
    session_factory: sessionmaker[Session], settings: Settings, now: datetime
) -> MaintenanceReport:
    """One round of housekeeping (blocking: call it in a thread from async code)."""
    with session_factory() as session, session.begin():
        disabled = disable_failing_webhooks(
            session, now, timedelta(hours=settings.auto_disable_after_hours)
        )
    purged = purge_attempts(session_factory, now, timedelta(days=settings.attempt_retention_days))
    return MaintenanceReport(disabled, purged)
