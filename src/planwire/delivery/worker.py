"""The delivery worker: claims due deliveries under a lease, sends them, records every attempt.

One asyncio task runs the loop::

    wait for a wake-up ──> claim a batch (thread) ──> one send task per delivery
         ^                                                   │
         │                                                   v
    record batches (thread) <── results queue <── Outcome from the Sender

* **Claiming** (:func:`planwire.delivery.repository.claim_due`) takes as many due deliveries as
  there are free slots (``worker_concurrency``), at most ``per_endpoint_concurrency`` in flight
  per webhook, so one slow receiver holds at most its own slots and never starves the others.
  Everything a batch needs (deliveries, events, webhooks) comes in four statements; decrypted
  secrets are cached per webhook and refreshed when its stored ciphertext changes; each
  event's data is serialized once for all its deliveries in the batch.
* **Sending** goes through the :class:`~planwire.delivery.sender.Sender` seam (by default an
  :class:`~planwire.delivery.sender.HttpSender`: pooled keep-alive connections, the timeout,
  no redirects, truncated response bodies, the connect-time SSRF check).
* **Recording** (:func:`planwire.delivery.repository.record_attempts`) drains the results
  queue in batches, one transaction each: attempt rows, delivery states, webhook statistics.
  The next attempt's time comes from the format's retry policy, the webhook's own
  ``retry_schedule`` overriding the format's default, and ``Retry-After`` on 429/503.
* **Waking** costs no polling delay: an in-process listener
  (:func:`planwire.webhooks.fanout.add_wakeup_listener`) fires after every commit that created
  deliveries, on PostgreSQL a dedicated connection ``LISTEN``\\ s on ``planwire_deliveries``
  (deliveries committed by other processes), a timer fires when the earliest scheduled retry
  falls due (read again only when it may have changed, not on every wake-up), and a backstop
  poll (``poll_interval``) catches the rest: expired leases of a
  crashed worker, resumed webhooks.
* **Leases** last ``lease_seconds`` and are renewed every third of it while their attempt is
  in flight or waiting to be recorded, so a slow send never loses its lease; a crashed
  worker's leases simply expire and any worker takes the deliveries over.
* **Stopping** (:meth:`DeliveryWorker.stop`): no more claims; in-flight attempts get
  ``shutdown_grace`` seconds to finish and be recorded; the rest are cancelled and their
  leases given back, so another worker sends them at once (at least once: the receiver may
  see such an attempt twice).
* **Maintenance** (:mod:`planwire.delivery.maintenance`: auto-disable, retention) runs every
  ``maintenance_interval`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import socket
import threading
import uuid
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from cryptography.fernet import Fernet
from sqlalchemy import Engine
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from planwire import __version__
from planwire.config import ConfigError, Settings
from planwire.db import make_session_factory, utcnow
from planwire.delivery import jsonjs, maintenance, repository
from planwire.delivery.formats import build_request, plan_retry
from planwire.delivery.redaction import REDACTED, redact_headers
from planwire.delivery.repository import (
    AttemptRecord,
    ClaimedBatch,
    ClaimedDelivery,
    DeliveryStatus,
    EventSnapshot,
    WebhookSnapshot,
)
from planwire.delivery.sender import HttpSender, Outcome, Sender
from planwire.delivery.ssrf import TargetPolicy
from planwire.secrets_store import SecretBox, load_key
from planwire.webhooks import fanout
from planwire.webhooks.service import ROTATION_GRACE

__all__ = ["REDACTED", "USER_AGENT", "DeliveryWorker", "public_webhook_id", "redact_headers"]

log = logging.getLogger("planwire.delivery")

USER_AGENT = f"Planwire-Webhooks/{__version__}"
#: Results recorded per transaction at most.
RECORD_BATCH = 500
#: How long after a failed database call the worker tries again.
DB_RETRY_SECONDS = 1.0
#: A delivery whose request cannot be built because its secret does not decrypt (the key
#: changed) waits this long, without using up an attempt, for the operator to fix the key.
UNDECRYPTABLE_RETRY_SECONDS = 60.0
_SECRET_CACHE_SIZE = 10_000

T = TypeVar("T")


def default_owner() -> str:
    """A lease owner name unique to this worker: host, process and a random part."""
    host = socket.gethostname()[:40]
    return f"{host}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(slots=True)
class _Job:
    delivery: ClaimedDelivery
    webhook: WebhookSnapshot
    event: EventSnapshot
    secrets: list[str]
    #: ``jsonjs.dumps(event.data)``, shared by the event's deliveries in the batch; None when
    #: it cannot be serialized (``build_request`` then reports why).
    data_json: bytes | None


class _SecretCache:
    """Decrypted secrets per webhook, refreshed when the stored ciphertext changes (every
    change of the secrets re-seals it). Bounded; thread-safe (filled from the claiming thread).

    During a ``standard`` rotation the list holds the new secret and the previous one; the
    previous one signs only for ``rotation_grace`` after the token was sealed, as
    :func:`planwire.webhooks.service.signing_secrets` rules for the API.
    """

    def __init__(self, key: bytes, rotation_grace: timedelta) -> None:
        self._box = SecretBox(key)
        self._fernet = Fernet(key)
        self._grace = rotation_grace
        self._items: OrderedDict[uuid.UUID, tuple[str, list[str], datetime]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, webhook: WebhookSnapshot, now: datetime) -> list[str]:
        ciphertext = webhook.secrets_ciphertext
        with self._lock:
            cached = self._items.get(webhook.id)
            if cached is not None and cached[0] == ciphertext:
                self._items.move_to_end(webhook.id)
        if cached is None or cached[0] != ciphertext:
            secrets = self._box.open(ciphertext)
            sealed_at = datetime.fromtimestamp(
                self._fernet.extract_timestamp(ciphertext.encode()), UTC
            )
            cached = (ciphertext, secrets, sealed_at)
            with self._lock:
                self._items[webhook.id] = cached
                self._items.move_to_end(webhook.id)
                while len(self._items) > _SECRET_CACHE_SIZE:
                    self._items.popitem(last=False)
        _, secrets, sealed_at = cached
        if len(secrets) > 1 and now - sealed_at >= self._grace:
            return secrets[:1]
        return secrets


def public_webhook_id(webhook_id: uuid.UUID) -> str:
    """The ``webhookId`` of an Exepron-format body."""
    return str(webhook_id)


class DeliveryWorker:
    """See the module docstring. ``start()`` in a running event loop, ``stop()`` to finish.

    ``sender`` defaults to an :class:`HttpSender` built from the settings (and closed by
    ``stop``); a given sender is the caller's to close.
    """

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        sender: Sender | None = None,
        owner: str | None = None,
        poll_interval: float = 1.0,
        batch_size: int = 200,
        maintenance_interval: float = 60.0,
        shutdown_grace: float = 5.0,
        listen: bool = True,
    ) -> None:
        self.settings = settings
        self.owner = owner or default_owner()
        self.poll_interval = poll_interval
        self.batch_size = batch_size
        self.maintenance_interval = maintenance_interval
        self.shutdown_grace = shutdown_grace
        self._engine = engine
        self._sessions: sessionmaker[Session] = make_session_factory(engine)
        # Imported here: the webhooks service imports this module (for redact_headers).
        self._secrets = _SecretCache(load_key(settings), ROTATION_GRACE)
        self._own_sender = sender is None
        self._sender: Sender = sender or HttpSender(
            TargetPolicy(
                allow_private=settings.allow_private_targets,
                allowed_networks=tuple(
                    ipaddress.ip_network(item, strict=False)
                    for item in settings.allowed_target_networks
                ),
                https_only=settings.https_only_targets,
            ),
            timeout=settings.delivery_timeout,
            limit=settings.worker_concurrency,
            limit_per_host=0,  # the worker caps per endpoint itself
            response_body_limit=settings.response_body_limit,
        )
        self._listen = listen and engine.dialect.name == "postgresql"
        self._capacity = settings.worker_concurrency
        self._per_endpoint = settings.per_endpoint_concurrency
        self._lease = timedelta(seconds=settings.lease_seconds)

        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._starved = False  # the last claim left due deliveries behind
        #: When the earliest scheduled retry falls due (the retry timer), read from the
        #: database only when it may have changed: at start, after this worker scheduled a
        #: retry or postponed deliveries, and when the timer or the backstop poll fired.
        self._next_retry: datetime | None = None
        self._timer_stale = True
        self._in_flight: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._per_webhook: Counter[uuid.UUID] = Counter()
        self._unrecorded: set[uuid.UUID] = set()  # sent, waiting in the results queue
        self._results: asyncio.Queue[AttemptRecord | None] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._main: asyncio.Task[None] | None = None
        self._recorder: asyncio.Task[None] | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        if self._main is not None:
            raise RuntimeError("the worker is already running")
        self._loop = asyncio.get_running_loop()
        self._stopping = False
        self._timer_stale = True
        self._wake = asyncio.Event()
        self._results = asyncio.Queue()
        fanout.add_wakeup_listener(self.wake)
        self._recorder = asyncio.create_task(self._record_loop(), name="planwire-recorder")
        self._tasks = [
            asyncio.create_task(self._renew_loop(), name="planwire-lease-renewal"),
            asyncio.create_task(self._maintenance_loop(), name="planwire-maintenance"),
        ]
        if self._listen:
            self._tasks.append(asyncio.create_task(self._listen_loop(), name="planwire-listen"))
        self._main = asyncio.create_task(self._claim_loop(), name="planwire-claim")
        log.info("delivery worker %s started", self.owner)

    async def stop(self) -> None:
        """Stop claiming, let in-flight attempts finish (``shutdown_grace``), give back the
        leases of the rest, and release every resource."""
        if self._main is None:
            return
        self._stopping = True
        fanout.remove_wakeup_listener(self.wake)
        self._wake.set()
        with contextlib.suppress(asyncio.CancelledError):
            await self._main
        if self._in_flight:
            await asyncio.wait(list(self._in_flight.values()), timeout=self.shutdown_grace)
        for task in list(self._in_flight.values()):
            task.cancel()
        await asyncio.gather(*self._in_flight.values(), return_exceptions=True)
        self._results.put_nowait(None)
        assert self._recorder is not None
        await asyncio.gather(self._recorder, return_exceptions=True)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            released = await self._db(repository.release_leases, self.owner)
            if released:
                log.info("gave back %d unfinished deliveries", released)
        except Exception:
            log.exception("could not give back leases; they expire in %s", self._lease)
        if self._own_sender:
            await self._sender.aclose()
        self._main = None
        log.info("delivery worker %s stopped", self.owner)

    def wake(self) -> None:
        """Make the worker look for due deliveries now. Safe from any thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(self._wake.set)

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    # --- database helpers ----------------------------------------------------------------------

    async def _db(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``function(session, *args, **kwargs)`` in one transaction, in a thread."""

        def call() -> T:
            with self._sessions() as session, session.begin():
                return function(session, *args, **kwargs)

        return await asyncio.to_thread(call)

    # --- claiming ------------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            free = self._capacity - len(self._in_flight)
            claimed = 0
            more = free <= 0
            if free > 0:
                try:
                    claimed, more = await self._claim(min(free, self.batch_size))
                except Exception:
                    log.exception("claiming deliveries failed; trying again")
                    await self._sleep_or_wake(DB_RETRY_SECONDS)
                    continue
            self._starved = more
            if self._stopping:
                break
            if claimed and more and len(self._in_flight) < self._capacity:
                continue  # more are due right now
            timeout = self.poll_interval
            if self._timer_stale:
                self._timer_stale = False
                try:
                    self._next_retry = await asyncio.to_thread(self._next_due)
                except Exception:
                    log.exception("reading the next retry time failed")
                    self._next_retry, self._timer_stale = None, True
            if self._next_retry is not None:
                timeout = min(timeout, max((self._next_retry - utcnow()).total_seconds(), 0.0))
            if not await self._sleep_or_wake(timeout):
                # The retry timer fired or the backstop poll is due: claim, then read the
                # next retry time again (other workers schedule retries too).
                self._timer_stale = True

    def _next_due(self) -> datetime | None:
        with self._sessions() as session:
            return repository.next_due_at(session, utcnow())

    async def _sleep_or_wake(self, seconds: float) -> bool:
        """Wait for a wake-up at most ``seconds``; whether one came."""
        try:
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        except TimeoutError:
            return False
        return True

    async def _claim(self, limit: int) -> tuple[int, bool]:
        room = {
            webhook_id: self._per_endpoint - count
            for webhook_id, count in self._per_webhook.items()
            if count
        }
        batch, jobs, undecryptable = await asyncio.to_thread(self._claim_and_prepare, limit, room)
        for job in jobs:
            self._per_webhook[job.webhook.id] += 1
            task = asyncio.create_task(self._attempt(job), name=f"delivery-{job.delivery.id}")
            self._in_flight[job.delivery.id] = task
        if undecryptable:
            until = utcnow() + timedelta(seconds=UNDECRYPTABLE_RETRY_SECONDS)
            await self._db(repository.postpone, self.owner, undecryptable, until)
            self._timer_stale = True
        return len(batch.deliveries), batch.more

    def _claim_and_prepare(
        self, limit: int, room: dict[uuid.UUID, int]
    ) -> tuple[ClaimedBatch, list[_Job], list[uuid.UUID]]:
        now = utcnow()
        with self._sessions() as session, session.begin():
            batch = repository.claim_due(
                session,
                self.owner,
                limit,
                now,
                lease_seconds=self.settings.lease_seconds,
                room=room,
                default_room=self._per_endpoint,
            )
        jobs: list[_Job] = []
        undecryptable: list[uuid.UUID] = []
        data_json: dict[uuid.UUID, bytes | None] = {}
        for event in batch.events.values():
            try:
                data_json[event.id] = jsonjs.dumps(event.data)
            except (ValueError, TypeError, RecursionError):
                data_json[event.id] = None
        for delivery in batch.deliveries:
            webhook = batch.webhooks[delivery.webhook_id]
            try:
                secrets = self._secrets.get(webhook, now)
            except ConfigError as exc:
                log.error("webhook %s: %s", webhook.id, exc)
                undecryptable.append(delivery.id)
                continue
            jobs.append(
                _Job(
                    delivery,
                    webhook,
                    batch.events[delivery.event_id],
                    secrets,
                    data_json[delivery.event_id],
                )
            )
        return batch, jobs, undecryptable

    # --- sending -------------------------------------------------------------------------------

    async def _attempt(self, job: _Job) -> None:
        delivery, webhook, event = job.delivery, job.webhook, job.event
        number = delivery.attempt_count + 1
        started = utcnow()
        headers: dict[str, str] = {}
        try:
            request = build_request(
                webhook.format,
                delivery_id=delivery.id,
                event_type=event.type,
                event_id=event.id,
                occurred_at=event.created_at,
                account_id=event.organization_id,
                project_id=event.project_id,
                webhook_public_id=public_webhook_id(webhook.id),
                data=event.data,
                retry_count=delivery.attempt_count,
                secrets=job.secrets,
                custom_headers=webhook.headers,
                user_agent=USER_AGENT,
                signed_at=started,
                data_json=job.data_json,
            )
            headers = request.headers
            outcome = await self._sender.send(webhook.url, request.body, request.headers)
        except (ValueError, TypeError) as exc:
            # The request cannot be built (an event payload JSON cannot carry): retrying
            # would build the same request, so it fails now, visibly in the log.
            outcome = None
            record = self._record_for(job, number, started, headers, None, str(exc))
        else:
            record = self._record_for(job, number, started, headers, outcome, None)
        finally:
            # A freed slot matters when this endpoint or the worker was full: its due
            # deliveries were left unclaimed. Wake-ups coalesce while a claim is running.
            was_full = (
                self._per_webhook[webhook.id] >= self._per_endpoint
                or len(self._in_flight) >= self._capacity
            )
            self._per_webhook[webhook.id] -= 1
            if self._per_webhook[webhook.id] <= 0:
                del self._per_webhook[webhook.id]
            self._in_flight.pop(delivery.id, None)
            if (was_full or self._starved) and not self._stopping:
                self._wake.set()
        self._unrecorded.add(delivery.id)
        self._results.put_nowait(record)

    def _record_for(
        self,
        job: _Job,
        number: int,
        started: datetime,
        headers: Mapping[str, str],
        outcome: Outcome | None,
        build_error: str | None,
    ) -> AttemptRecord:
        if outcome is None:
            return AttemptRecord(
                delivery_id=job.delivery.id,
                webhook_id=job.webhook.id,
                attempt_number=number,
                started_at=started,
                duration_ms=0.0,
                request_headers=redact_headers(headers),
                response_status=None,
                response_body="",
                error_kind="internal",
                error=f"the request could not be built: {build_error}",
                status="failed",
                next_attempt_at=None,
            )
        next_at: datetime | None = None
        status: DeliveryStatus
        if outcome.succeeded:
            status = "success"
        else:
            delay = plan_retry(job.webhook.format, job.webhook.retry_schedule, number, outcome)
            if delay is None:
                status = "failed"
            else:
                status = "pending"
                next_at = utcnow() + timedelta(seconds=delay)
        return AttemptRecord(
            delivery_id=job.delivery.id,
            webhook_id=job.webhook.id,
            attempt_number=number,
            started_at=started,
            duration_ms=outcome.duration_ms,
            request_headers=redact_headers(headers),
            response_status=outcome.status,
            response_body=outcome.body_excerpt[: self.settings.response_body_limit],
            error_kind=outcome.error_kind,
            error=outcome.error,
            status=status,
            next_attempt_at=next_at,
        )

    # --- recording -----------------------------------------------------------------------------

    async def _record_loop(self) -> None:
        done = False
        while not done:
            first = await self._results.get()
            batch: list[AttemptRecord] = []
            if first is None:
                done = True
            else:
                batch.append(first)
            while len(batch) < RECORD_BATCH and not self._results.empty():
                item = self._results.get_nowait()
                if item is None:
                    done = True
                else:
                    batch.append(item)
            if batch:
                await self._record(batch)

    async def _record(self, batch: list[AttemptRecord]) -> None:
        """Record ``batch``; keep trying while the database is unreachable. A batch the
        database refuses (a record it cannot store) is recorded one by one, and a record
        refused alone is dropped with an error in the log: its lease expires and the
        delivery is attempted again, rather than blocking every other result."""
        tries = 0
        while True:
            tries += 1
            try:
                await self._db(repository.record_attempts, self.owner, batch, utcnow())
                break
            except (OperationalError, InterfaceError, TimeoutError, ConnectionError):
                if self._stopping and tries >= 3:
                    log.exception("could not record %d attempts; giving up", len(batch))
                    break
                log.exception("recording %d attempts failed; trying again", len(batch))
                await asyncio.sleep(DB_RETRY_SECONDS)
            except Exception:
                if len(batch) == 1:
                    log.exception("could not record the attempt of %s", batch[0].delivery_id)
                    break
                log.exception(
                    "a batch of %d attempts was refused; recording one by one", len(batch)
                )
                for item in batch:
                    await self._record([item])
                return
        for item in batch:
            self._unrecorded.discard(item.delivery_id)
        if any(item.status == "pending" for item in batch):
            self._timer_stale = True  # a retry was scheduled: re-arm the timer
            self._wake.set()

    # --- leases, wake-ups, maintenance ---------------------------------------------------------

    async def _renew_loop(self) -> None:
        interval = max(self.settings.lease_seconds / 3, 0.05)
        while True:
            await asyncio.sleep(interval)
            held = set(self._in_flight) | self._unrecorded
            if not held:
                continue
            try:
                await self._db(repository.renew_leases, self.owner, held, utcnow() + self._lease)
            except Exception:
                log.exception("renewing %d leases failed", len(held))

    async def _maintenance_loop(self) -> None:
        while True:
            try:
                report = await asyncio.to_thread(
                    maintenance.run, self._sessions, self.settings, utcnow()
                )
                for webhook_id in report.disabled:
                    log.warning("webhook %s disabled: failing continuously", webhook_id)
                if report.purged_attempts:
                    log.info("purged %d old delivery attempts", report.purged_attempts)
            except Exception:
                log.exception("delivery maintenance failed")
            await asyncio.sleep(self.maintenance_interval)

    async def _listen_loop(self) -> None:
        """On PostgreSQL: wake on ``NOTIFY planwire_deliveries`` from any process."""
        import psycopg

        conninfo = self._engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    conninfo, autocommit=True
                ) as connection:
                    await connection.execute(f"LISTEN {fanout.NOTIFY_CHANNEL}")
                    self._wake.set()  # whatever was committed while we were not listening
                    async for _ in connection.notifies():
                        self._wake.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("LISTEN connection lost (%s); polling until it is back", exc)
                await asyncio.sleep(DB_RETRY_SECONDS)
