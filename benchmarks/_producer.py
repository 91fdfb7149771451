"""Commit ``task.updated`` events at a fixed rate through the unit of work (latency benchmark).

Every ``--tick`` seconds (10 ms) it commits, in one transaction, the events due by then at
``--rate`` per second (1, 5 or 10 per transaction at 100, 500 and 1,000 events/s): the outbox,
the fan-out and, on PostgreSQL, the NOTIFY, exactly as an API request does. With ``--worker``
it also runs the delivery worker in this process, in the event loop while the producer runs
in a thread: the layout of ``planwire serve`` (API threads and worker in one process), the
SQLite deployment. Prints one JSON line when done producing (``committed``, ``started``,
``ended``: ``time.time()``, ``late_ticks``) and, with ``--worker``, keeps delivering until
SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time

from _harness import SECRET_KEY, task_payload

from planwire.config import Settings
from planwire.db import make_engine, make_session_factory
from planwire.events import service as events_service
from planwire.runtime import tune_gc
from planwire.uow import UnitOfWork


def produce(url: str, organization_id: int, rate: float, seconds: float, tick: float) -> dict:
    engine = make_engine(url)
    factory = make_session_factory(engine)
    total = int(rate * seconds)
    committed = 0
    late = 0
    started = time.time()
    origin = time.perf_counter()
    step = 0
    try:
        while committed < total:
            step += 1
            due_at = origin + step * tick
            delay = due_at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            elif delay < -tick:
                late += 1
            target = min(total, round(step * tick * rate))
            if target <= committed:
                continue
            with UnitOfWork(factory) as uow:
                for index in range(committed, target):
                    data = task_payload(index)
                    events_service.record(
                        uow.session,
                        organization_id=organization_id,
                        project_id=None,
                        type="task.updated",
                        data=data,
                    )
            committed = target
    finally:
        engine.dispose()
    return {"committed": committed, "started": started, "ended": time.time(), "late_ticks": late}


async def with_worker(url: str, organization_id: int, args: argparse.Namespace) -> None:
    from planwire.delivery.worker import DeliveryWorker

    settings = Settings(database_url=url, secret_key=SECRET_KEY, allow_private_targets=True)
    engine = make_engine(settings.sqlalchemy_url)
    worker = DeliveryWorker(settings, engine)
    tune_gc()  # as planwire serve does
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await worker.start()
    try:
        result = await asyncio.to_thread(
            produce, url, organization_id, args.rate, args.seconds, args.tick
        )
        print(json.dumps(result), flush=True)
        await stop.wait()
    finally:
        await worker.stop()
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--organization", type=int, required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--tick", type=float, default=0.01)
    parser.add_argument("--worker", action="store_true")
    args = parser.parse_args()
    if args.worker:
        import uvloop

        uvloop.run(with_worker(args.url, args.organization, args))
    else:
        result = produce(args.url, args.organization, args.rate, args.seconds, args.tick)
        print(json.dumps(result), flush=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
