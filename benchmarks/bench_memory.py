"""Memory: peak resident memory of a ``planwire worker`` process with 100,000 pending
deliveries.

10,000 ``task.updated`` events are fanned out to 10 webhooks (100,000 pending deliveries) before
the worker starts; it then delivers them all to the receiver (``receiver.py``, verifying each
signature). The figure is the worker's peak RSS (``VmHWM``, read before it stops), with its RSS
once idle at start-up and the time the backlog took.

    .venv/bin/python benchmarks/bench_memory.py [--events 10000] [--webhooks 10]
        [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import time

from _harness import (
    Receiver,
    Row,
    Workers,
    database,
    delivery_counts,
    load_average,
    machine,
    postgres_server,
    print_table,
    rss_mb,
    seed_events,
    seed_organization,
    seed_webhooks,
    workdir,
)

TARGET_MB = 200.0
TIMEOUT_S = 600.0


def run_backend(
    backend: str, events: int, webhooks: int, receiver: Receiver, server_url: str | None
) -> Row:
    total = events * webhooks
    with workdir() as folder, database(backend, server_url, folder) as url:
        organization_id = seed_organization(url)
        seed_webhooks(url, organization_id, [receiver.url(f"/hooks/{i}") for i in range(webhooks)])
        seed_events(url, organization_id, events, per_transaction=1000)
        receiver.reset()
        with Workers(url, 1, folder) as running:
            pid = running.processes[0].pid
            deadline = time.monotonic() + TIMEOUT_S
            started_rss = float("nan")
            while not receiver.stats()["count"]:
                running.check_alive()
                started_rss = rss_mb(pid)
                time.sleep(0.02)
            started = time.monotonic()
            while True:
                running.check_alive()
                if receiver.stats()["count"] >= total and not delivery_counts(url).get("pending"):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"timed out: {receiver.stats()}, {delivery_counts(url)}")
                time.sleep(0.25)
            elapsed = time.monotonic() - started
            peak = running.peak_rss_mb()[0]
        stats = receiver.stats()
        if stats["verified"] < total or stats["bad"]:
            raise RuntimeError(f"not every delivery verified: {stats}")
    return Row(
        "worker memory",
        f"{backend}, {total:,} pending",
        peak,
        "MiB",
        target=f"< {TARGET_MB:.0f} MiB",
        met=peak < TARGET_MB,
        note=(
            f"peak RSS (VmHWM); {started_rss:.0f} MiB before the first send; "
            f"all delivered in {elapsed:.0f} s ({total / elapsed:,.0f}/s)"
        ),
    )


def run(
    backends: list[str],
    events: int = 10_000,
    webhooks: int = 10,
    receiver: Receiver | None = None,
    server_url: str | None = None,
) -> list[Row]:
    if "postgresql" in backends and server_url is None:
        with postgres_server() as started:
            return run(backends, events, webhooks, receiver, started)
    if receiver is None:
        with Receiver() as own:
            return run(backends, events, webhooks, own, server_url)
    return [run_backend(b, events, webhooks, receiver, server_url) for b in backends]


def main() -> None:
    parser = argparse.ArgumentParser(description="Worker peak RSS with 100,000 pending.")
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--webhooks", type=int, default=10)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    load = load_average()
    rows = run(args.backends.split(","), args.events, args.webhooks)
    print(f"machine: {machine()}; load average before the run: {load}")
    print_table(rows)


if __name__ == "__main__":
    main()
