"""Wire ceiling: the most webhook POSTs per second this machine carries over loopback.

A minimal client (aiohttp, keep-alive, uvloop, the garbage-collector settings of ``planwire
worker``, the worker's concurrency: 256 requests in flight, no database, no signing: one
precomputed signature header) posts a delivery-sized body
with a delivery's headers to the receiver every other benchmark uses (``receiver.py``, in its
own process, verifying each signature). Every delivery figure is given as a ratio to this one,
measured in the same run.

    .venv/bin/python benchmarks/bench_wire.py [--requests 20000] [--concurrency 256]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import time
import uuid

import aiohttp
import uvloop
from _harness import SECRET, Receiver, Row, machine, print_table, task_payload

from planwire.delivery import jsonjs
from planwire.runtime import tune_gc

WEBHOOKS = 10


def delivery_like_request() -> tuple[bytes, dict[str, str]]:
    body = jsonjs.dumps(
        {
            "event": "task.updated",
            "project_id": "6f1c2b0e-1d2c-4b7a-9a55-0c8f7d1e2a3b",
            "timestamp": "2026-03-04T15:12:30Z",
            "data": task_payload(7),
        }
    )
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Planwire-Webhooks/bench",
        "X-Planwire-Event": "task.updated",
        "X-Planwire-Event-Id": str(uuid.uuid4()),
        "X-Planwire-Delivery": str(uuid.uuid4()),
        "X-TruePPM-Signature": "sha256=" + signature,
    }
    return body, headers


async def _blast(urls: list[str], requests: int, concurrency: int) -> float:
    body, headers = delivery_like_request()
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=0)
    async with aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=30),
        skip_auto_headers=("Accept-Encoding",),
    ) as session:
        remaining = requests
        failures = 0

        async def one_client(offset: int) -> None:
            nonlocal remaining, failures
            index = offset
            while remaining > 0:
                remaining -= 1
                async with session.post(urls[index % len(urls)], data=body, headers=headers) as r:
                    await r.read()
                    if r.status != 200:
                        failures += 1
                index += 1

        # Warm-up: open the connections.
        remaining = concurrency * 2
        await asyncio.gather(*(one_client(i) for i in range(concurrency)))
        remaining = requests
        started = time.perf_counter()
        await asyncio.gather(*(one_client(i) for i in range(concurrency)))
        elapsed = time.perf_counter() - started
        if failures:
            raise RuntimeError(f"{failures} requests failed")
    return elapsed


def measure(receiver: Receiver, requests: int = 20_000, concurrency: int = 256) -> Row:
    """The ceiling in requests per second (best of two runs)."""
    urls = [receiver.url(f"/hooks/{index}") for index in range(WEBHOOKS)]
    tune_gc()  # what planwire worker does: the same process settings on both sides
    best = 0.0
    for _ in range(2):
        receiver.reset()
        elapsed = uvloop.run(_blast(urls, requests, concurrency))
        stats = receiver.stats()
        expected = requests + concurrency * 2
        if stats["count"] != expected or stats["verified"] != expected:
            raise RuntimeError(f"the receiver counted {stats}, expected {expected} verified")
        best = max(best, requests / elapsed)
    return Row(
        "wire ceiling",
        f"aiohttp client, {concurrency} in flight, no DB",
        best,
        "req/s",
        note=f"{requests:,} POSTs of {len(delivery_like_request()[0])} B, best of 2",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="Wire ceiling over loopback.")
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=256)
    args = parser.parse_args()
    with Receiver() as receiver:
        row = measure(receiver, args.requests, args.concurrency)
    print(f"machine: {machine()}")
    print_table([row])


if __name__ == "__main__":
    main()
