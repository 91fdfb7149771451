"""Delivery throughput: a backlog of deliveries sent, verified and recorded, end to end.

N ``task.updated`` events are recorded through the unit of work (the outbox and its fan-out)
to M account webhooks (trueppm format, signed) pointing at the receiver (``receiver.py``, its
own process, verifying every signature). Then ``planwire worker`` processes start and deliver
the backlog. The rate is deliveries / (time from the first arrival at the receiver until the
database shows every delivery recorded as ``success``): sending, verifying and recording the
attempts and statistics, worker start-up excluded. Cases: SQLite with 1 worker, PostgreSQL
(a throwaway server on 127.0.0.1) with 1 and 4 worker processes. The wire ceiling
(``bench_wire.py``) is measured first, in the same run, against the same receiver.

    .venv/bin/python benchmarks/bench_delivery.py [--events 2000] [--webhooks 10]
        [--cases sqlite:1,postgresql:1,postgresql:4]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import bench_wire
from _harness import (
    Receiver,
    Row,
    Workers,
    attempt_count,
    cpu_seconds,
    database,
    delivery_counts,
    load_average,
    machine,
    postgres_server,
    print_table,
    seed_events,
    seed_organization,
    seed_webhooks,
    workdir,
)

TARGET_RATE = 3000.0
TARGET_RATIO = 0.5
TIMEOUT_S = 300.0


def run_case(
    backend: str,
    workers: int,
    *,
    server_url: str | None,
    receiver: Receiver,
    folder: Path,
    events: int,
    webhooks: int,
    ceiling: float | None,
) -> Row:
    total = events * webhooks
    with database(backend, server_url, folder) as url:
        organization_id = seed_organization(url)
        seed_webhooks(
            url, organization_id, [receiver.url(f"/hooks/{index}") for index in range(webhooks)]
        )
        seed_events(url, organization_id, events)
        receiver.reset()
        with Workers(url, workers, folder) as running:
            pids = [process.pid for process in running.processes]
            deadline = time.monotonic() + TIMEOUT_S
            cpu_at_first: float | None = None
            while True:
                running.check_alive()
                stats = receiver.stats()
                if stats["count"] and cpu_at_first is None:
                    cpu_at_first = sum(cpu_seconds(pid) for pid in pids)
                if stats["count"] >= total:
                    counts = delivery_counts(url)
                    if counts.get("pending", 0) == 0:
                        done = time.time()
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"timed out: receiver {stats}, {delivery_counts(url)}")
                time.sleep(0.02)
            cpu_used = sum(cpu_seconds(pid) for pid in pids) - (cpu_at_first or 0.0)
            peak = max(running.peak_rss_mb())
        errors = running.errors()
        stats = receiver.stats()
        attempts = attempt_count(url)
    if stats["verified"] < total or stats["bad"] or counts.get("success", 0) != total:
        raise RuntimeError(f"not every delivery verified and recorded: {stats}, {counts}")
    if errors:
        raise RuntimeError("the workers logged errors:\n" + "\n".join(errors[:20]))
    elapsed = done - stats["first"]
    rate = total / elapsed
    ratio = rate / ceiling if ceiling else None
    met = rate >= TARGET_RATE and (ratio is None or ratio >= TARGET_RATIO)
    duplicates = stats["count"] - total
    return Row(
        "delivery throughput",
        f"{backend}, {workers} worker{'s' if workers > 1 else ''}",
        rate,
        "deliv/s",
        ceiling_ratio=ratio,
        target=f">= {TARGET_RATE:,.0f}/s and >= {TARGET_RATIO:.0%} of ceiling",
        met=met,
        note=(
            f"{total:,} deliveries ({events:,} events x {webhooks} webhooks) in {elapsed:.1f} s; "
            f"worker CPU {cpu_used / total * 1e6:.0f} us/delivery; peak RSS {peak:.0f} MiB; "
            f"{attempts - total} extra attempts, {duplicates} duplicates"
        ),
    )


def run(
    cases: list[tuple[str, int]],
    *,
    events: int = 2000,
    webhooks: int = 10,
    receiver: Receiver | None = None,
    server_url: str | None = None,
    ceiling: float | None = None,
) -> list[Row]:
    """The rows of the given cases; starts what is not given (receiver, server, ceiling)."""
    rows: list[Row] = []
    own_receiver = receiver is None
    receiver = receiver or Receiver()
    try:
        if ceiling is None:
            row = bench_wire.measure(receiver)
            rows.append(row)
            ceiling = row.value
        with workdir() as folder:
            needs_pg = any(backend == "postgresql" for backend, _ in cases)
            if needs_pg and server_url is None:
                with postgres_server() as started_url:
                    return rows + run(
                        cases,
                        events=events,
                        webhooks=webhooks,
                        receiver=receiver,
                        server_url=started_url,
                        ceiling=ceiling,
                    )
            for backend, workers in cases:
                rows.append(
                    run_case(
                        backend,
                        workers,
                        server_url=server_url,
                        receiver=receiver,
                        folder=folder,
                        events=events,
                        webhooks=webhooks,
                        ceiling=ceiling,
                    )
                )
    finally:
        if own_receiver:
            receiver.stop()
    return rows


def parse_cases(text: str) -> list[tuple[str, int]]:
    cases = []
    for item in text.split(","):
        backend, _, count = item.partition(":")
        if backend not in ("sqlite", "postgresql"):
            raise SystemExit(f"unknown backend {backend!r}")
        cases.append((backend, int(count or 1)))
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description="Delivery throughput, end to end.")
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--webhooks", type=int, default=10)
    parser.add_argument("--cases", default="sqlite:1,postgresql:1,postgresql:4")
    args = parser.parse_args()
    load = load_average()
    rows = run(parse_cases(args.cases), events=args.events, webhooks=args.webhooks)
    print(f"machine: {machine()}; load average before the run: {load}")
    print_table(rows)


if __name__ == "__main__":
    main()
