"""Delivery latency at fixed offered loads: from the committed event to the receiver.

For each offered load (100, 500 and 1,000 events/s, 10 s each) a producer process
(``_producer.py``) commits ``task.updated`` events through the unit of work, in one
transaction every 10 ms, to one account webhook (trueppm, signed) pointing at the receiver
(``receiver.py``, its own process, verifying every signature and recording each arrival with
its ``X-Planwire-Event-Id``). Latency = arrival time at the receiver - the event's
``created_at`` (stamped when the event is written, just before its transaction commits, so
the commit itself counts). Cases:

* ``sqlite``: the worker runs in the producer's process, in its event loop, the producer in a
  thread: the layout of ``planwire serve`` (woken in-process after each commit);
* ``postgresql``: one ``planwire worker`` process (woken by LISTEN/NOTIFY), the producer in
  another, on a throwaway server on 127.0.0.1.

"Backlog" is whether delivery keeps up: the deliveries committed but not yet received when
the producer stops, and how long the rest took to arrive; it builds when the latency of the
last 2 s exceeds that of the first 2 s (p50, with 50 ms of slack) or the rest takes over 1 s.

    .venv/bin/python benchmarks/bench_latency.py [--rates 100,500,1000] [--seconds 10]
        [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

from _harness import (
    BENCH_DIR,
    PYTHON,
    Receiver,
    Row,
    Workers,
    database,
    delivery_counts,
    environment,
    load_average,
    machine,
    percentile,
    postgres_server,
    print_table,
    seed_organization,
    seed_webhooks,
    workdir,
)

P99_TARGET_MS = 50.0
P99_TARGET_RATE = 500
NO_BACKLOG_RATE = 1000
DRAIN_TIMEOUT_S = 60.0


def created_at(url: str) -> dict[str, float]:
    from sqlalchemy import select

    from planwire.db import make_engine
    from planwire.events.models import Event

    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as connection:
            return {
                str(row.id): row.created_at.timestamp()
                for row in connection.execute(select(Event.id, Event.created_at))
            }
    finally:
        engine.dispose()


def run_load(
    backend: str,
    url: str,
    organization_id: int,
    rate: int,
    seconds: float,
    receiver: Receiver,
    folder: Path,
) -> list[Row]:
    receiver.reset()
    before = set(created_at(url))
    argv = [
        PYTHON,
        str(BENCH_DIR / "_producer.py"),
        "--url",
        url,
        "--organization",
        str(organization_id),
        "--rate",
        str(rate),
        "--seconds",
        str(seconds),
    ]
    if backend == "sqlite":
        argv.append("--worker")
    log = (folder / f"producer-{backend}-{rate}.log").open("w")
    producer = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=log, text=True, env=environment(url)
    )
    try:
        assert producer.stdout is not None
        line = producer.stdout.readline()
        if not line:
            producer.wait(30)
            raise RuntimeError(f"the producer failed: {Path(log.name).read_text()[-2000:]}")
        produced = json.loads(line)
        expected = produced["committed"]
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while receiver.stats()["count"] < expected and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        producer.terminate()
        producer.wait(30)
        log.close()
    stats = receiver.stats()
    if stats["bad"] or stats["verified"] < expected:
        raise RuntimeError(f"{expected} events, receiver {stats}")
    created = {k: v for k, v in created_at(url).items() if k not in before}
    first_arrival: dict[str, float] = {}
    for event_id, at in receiver.arrivals():
        if event_id in created and event_id not in first_arrival:
            first_arrival[event_id] = at
    latencies = [(created[e], (at - created[e]) * 1000) for e, at in first_arrival.items()]
    values = [ms for _, ms in latencies]
    end = produced["ended"]
    start = produced["started"]
    backlog_at_end = sum(1 for e, t in created.items() if t <= end) - sum(
        1 for at in first_arrival.values() if at <= end
    )
    drain = max(0.0, max(first_arrival.values()) - end)
    early = [ms for t, ms in latencies if t - start <= 2.0]
    late = [ms for t, ms in latencies if end - t <= 2.0]
    grows = percentile(late, 50) > max(2 * percentile(early, 50), percentile(early, 50) + 50)
    builds = grows or drain > 1.0
    achieved = expected / (end - start)
    label = f"{backend}, {rate:,} events/s"
    note = (
        f"{expected:,} events in {end - start:.1f} s ({achieved:,.0f}/s achieved), "
        f"max {max(values):.0f} ms; p50 first/last 2 s {percentile(early, 50):.1f}/"
        f"{percentile(late, 50):.1f} ms; at the end {backlog_at_end} not yet received, "
        f"all within {drain:.2f} s"
    )
    rows = [
        Row(
            "latency p50",
            label,
            percentile(values, 50),
            "ms",
            note=note,
        ),
        Row(
            "latency p99",
            label,
            percentile(values, 99),
            "ms",
            target=f"< {P99_TARGET_MS:.0f} ms at {P99_TARGET_RATE} events/s"
            if rate == P99_TARGET_RATE
            else "",
            met=percentile(values, 99) < P99_TARGET_MS if rate == P99_TARGET_RATE else None,
        ),
        Row(
            "backlog",
            label,
            float(backlog_at_end),
            "deliv",
            target="none at 1,000 events/s" if rate == NO_BACKLOG_RATE else "",
            met=(not builds) if rate == NO_BACKLOG_RATE else None,
            note="builds" if builds else "does not build",
        ),
    ]
    return rows


def run_backend(
    backend: str,
    rates: list[int],
    seconds: float,
    receiver: Receiver,
    server_url: str | None,
    folder: Path,
) -> list[Row]:
    rows: list[Row] = []
    with database(backend, server_url, folder) as url:
        organization_id = seed_organization(url)
        seed_webhooks(url, organization_id, [receiver.url("/hooks/latency")])
        if backend == "postgresql":
            with Workers(url, 1, folder) as workers:
                time.sleep(1.0)  # the worker is up and LISTENing
                workers.check_alive()
                for rate in rates:
                    rows += run_load(backend, url, organization_id, rate, seconds, receiver, folder)
                workers.check_alive()
                errors = workers.errors()
        else:
            for rate in rates:
                rows += run_load(backend, url, organization_id, rate, seconds, receiver, folder)
            errors = []
        if errors:
            raise RuntimeError("the worker logged errors:\n" + "\n".join(errors[:20]))
        left = delivery_counts(url).get("pending", 0)
        if left:
            raise RuntimeError(f"{left} deliveries still pending")
    return rows


def run(
    backends: list[str],
    rates: list[int],
    seconds: float = 10.0,
    server_url: str | None = None,
    receiver: Receiver | None = None,
) -> list[Row]:
    """The rows of ``backends`` at ``rates``; ``receiver`` must record arrivals."""
    if "postgresql" in backends and server_url is None:
        with postgres_server() as started:
            return run(backends, rates, seconds, started, receiver)
    if receiver is None:
        with Receiver(record=True) as own:
            return run(backends, rates, seconds, server_url, own)
    rows: list[Row] = []
    with workdir() as folder:
        for backend in backends:
            rows += run_backend(backend, rates, seconds, receiver, server_url, folder)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description="Delivery latency at fixed offered loads.")
    parser.add_argument("--rates", default="100,500,1000")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    load = load_average()
    rows = run(args.backends.split(","), [int(r) for r in args.rates.split(",")], args.seconds)
    print(f"machine: {machine()}; load average before the run: {load}")
    print_table(rows)


if __name__ == "__main__":
    main()
