"""Delivery throughput: a backlog of deliveries sent, verified and recorded, end to end.

N ``task.updated`` events are recorded through the unit of work (the outbox and its fan-out)
to M account webhooks (trueppm format, signed) pointing at the receiver (``receiver.py``, its
own process, verifying every signature). Then ``planwire worker`` processes start and deliver
the backlog. The rate is deliveries / (time from the first arrival at the receiver until the
database shows every delivery recorded as ``success``): sending, verifying and recording the
attempts and statistics, worker start-up excluded. Cases: SQLite with 1 worker, PostgreSQL
(a throwaway server on 127.0.0.1) with 1 and 4 worker processes.

Each case runs ``--rounds`` times, and each round is paired with a wire ceiling
(``bench_wire.py``, against the same receiver) measured just before it: this machine's speed
swings by a third within minutes, and a ratio of two figures taken minutes apart measured the
swing as much as the code. A case's figures are the medians over its rounds (rate and ratio
each), with every round in the note.

    .venv/bin/python benchmarks/bench_delivery.py [--events 2000] [--webhooks 10]
        [--cases sqlite:1,postgresql:1,postgresql:4] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
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
) -> Row:
    """One round of one case: its rate (no ratio, no verdict: see :func:`run_rounds`)."""
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
    return Row(
        "delivery throughput",
        f"{backend}, {workers} worker{'s' if workers > 1 else ''}",
        total / elapsed,
        "deliv/s",
        extra={
            "cpu_us": cpu_used / total * 1e6,
            "peak_mib": peak,
            "extra_attempts": attempts - total,
            "duplicates": stats["count"] - total,
        },
    )


def run_rounds(
    backend: str,
    workers: int,
    *,
    rounds: int,
    server_url: str | None,
    receiver: Receiver,
    folder: Path,
    events: int,
    webhooks: int,
) -> Row:
    """``rounds`` rounds of a case, each after its own wire ceiling; the medians."""
    rates: list[float] = []
    ratios: list[float] = []
    cpu: list[float] = []
    peaks: list[float] = []
    extra_attempts = duplicates = 0
    for _ in range(rounds):
        ceiling = bench_wire.measure(receiver).value
        row = run_case(
            backend,
            workers,
            server_url=server_url,
            receiver=receiver,
            folder=folder,
            events=events,
            webhooks=webhooks,
        )
        rates.append(row.value)
        ratios.append(row.value / ceiling)
        cpu.append(row.extra["cpu_us"])
        peaks.append(row.extra["peak_mib"])
        extra_attempts += row.extra["extra_attempts"]
        duplicates += row.extra["duplicates"]
    rate, ratio = statistics.median(rates), statistics.median(ratios)
    each = ", ".join(
        f"{value:,.0f}/s = {share:.0%}" for value, share in zip(rates, ratios, strict=True)
    )
    return Row(
        row.benchmark,
        row.case,
        rate,
        row.unit,
        ceiling_ratio=ratio,
        target=f">= {TARGET_RATE:,.0f}/s and >= {TARGET_RATIO:.0%} of ceiling",
        met=rate >= TARGET_RATE and ratio >= TARGET_RATIO,
        note=(
            f"median of {rounds} rounds ({each}), each against the ceiling measured just "
            f"before it; {events * webhooks:,} deliveries ({events:,} events x {webhooks} "
            f"webhooks) each; worker CPU {statistics.median(cpu):.0f} us/delivery; peak RSS "
            f"{max(peaks):.0f} MiB; {extra_attempts} extra attempts, {duplicates} duplicates"
        ),
    )


def run(
    cases: list[tuple[str, int]],
    *,
    events: int = 2000,
    webhooks: int = 10,
    rounds: int = 3,
    receiver: Receiver | None = None,
    server_url: str | None = None,
) -> list[Row]:
    """The rows of the given cases; starts what is not given (receiver, server)."""
    rows: list[Row] = []
    own_receiver = receiver is None
    receiver = receiver or Receiver()
    try:
        with workdir() as folder:
            needs_pg = any(backend == "postgresql" for backend, _ in cases)
            if needs_pg and server_url is None:
                with postgres_server() as started_url:
                    return rows + run(
                        cases,
                        events=events,
                        webhooks=webhooks,
                        rounds=rounds,
                        receiver=receiver,
                        server_url=started_url,
                    )
            for backend, workers in cases:
                rows.append(
                    run_rounds(
                        backend,
                        workers,
                        rounds=rounds,
                        server_url=server_url,
                        receiver=receiver,
                        folder=folder,
                        events=events,
                        webhooks=webhooks,
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
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    load = load_average()
    rows = run(
        parse_cases(args.cases), events=args.events, webhooks=args.webhooks, rounds=args.rounds
    )
    print(f"machine: {machine()}; load average before the run: {load}")
    print_table(rows)


if __name__ == "__main__":
    main()
