"""API: PATCH of a task in a 1,000-task project, end to end, over real HTTP.

``planwire serve --no-worker`` (uvicorn, its own process) on 127.0.0.1 serves a project of
1,000 tasks and about 1,900 finish-to-start links (each task follows one or two of the 20
before it) imported in one bulk request, with one project webhook (so every request also
fans its events out to a delivery; the worker is off, deliveries just accumulate). A client
(aiohttp, keep-alive) then sends ``PATCH /api/v1/tasks/{id}/``:

* ``duration``: toggles a task's duration between d and d + 1 (tasks of the first half, so
  the change moves its successors): token lookup, project lock, the change, recalculation of
  all 1,000 tasks with the bulk update of those that moved, the events (``task.updated``,
  ``schedule.recalculated``, …) and their deliveries, commit, the task serialized;
* ``name``: renames a task (same path, nothing moves in the schedule).

One client in sequence gives p50 / p99 / max and requests/s; 4 concurrent clients give the
throughput under contention. On SQLite and on PostgreSQL (a throwaway server). The two kinds
of PATCH take turns, ``--rounds`` rounds of ``--requests`` each, so that both meet the same
phases of a shared machine; the p50 is the median of the rounds' p50s (each round's in the
note), p99 and max are over every request.

    .venv/bin/python benchmarks/bench_api.py [--requests 300] [--rounds 3]
        [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
import statistics
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import uvloop
from _harness import (
    PLANWIRE,
    Receiver,
    Row,
    database,
    environment,
    load_average,
    machine,
    percentile,
    postgres_server,
    print_table,
    workdir,
)

TASKS = 1000
P50_TARGET_MS = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def seed_admin(url: str) -> str:
    """An organization, an admin and an API token; the token."""
    from planwire.auth import service as auth_service
    from planwire.db import make_engine, make_session_factory

    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            organization = auth_service.create_organization(session, name="Bench")
            admin = auth_service.create_user(
                session,
                organization_id=organization.id,
                email="bench@planwire.local",
                name="Bench",
                is_org_admin=True,
            )
            _, token = auth_service.create_token(session, user=admin, name="bench")
            session.commit()
            return token
    finally:
        engine.dispose()


class Server:
    """``planwire serve --no-worker`` on a free port; stopped on exit."""

    def __init__(self, url: str, folder: Path) -> None:
        self.port = free_port()
        self.log = folder / f"serve-{self.port}.log"
        with self.log.open("wb") as handle:
            self.process = subprocess.Popen(
                [PLANWIRE, "serve", "--no-worker", "--port", str(self.port)],
                env=environment(url),
                stdout=handle,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(self.base + "/health", timeout=2):  # noqa: S310
                    return
            except OSError as exc:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"the server did not start:\n{self.log.read_text()}"
                    ) from exc
                time.sleep(0.1)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def plan(rng: random.Random) -> dict[str, Any]:
    tasks = [
        {"ref": f"t{i}", "name": f"Task {i}", "duration": rng.randint(1, 10)} for i in range(TASKS)
    ]
    links = []
    for i in range(1, TASKS):
        for j in sorted(rng.sample(range(max(0, i - 20), i), min(i, rng.randint(1, 2)))):
            links.append({"predecessor": f"t{j}", "successor": f"t{i}", "type": "FS", "lag": 0})
    return {"tasks": tasks, "dependencies": links}


async def _call(
    session: aiohttp.ClientSession, method: str, url: str, body: Any, expected: int
) -> Any:
    async with session.request(method, url, json=body) as response:
        if response.status != expected:
            raise RuntimeError(f"{method} {url}: {response.status} {await response.text()}")
        return await response.json()


async def measure(
    base: str, token: str, receiver: Receiver, requests: int, rounds: int
) -> dict[str, Any]:
    rng = random.Random(20260101)
    headers = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(limit=8)
    async with aiohttp.ClientSession(base, headers=headers, connector=connector) as session:
        project = await _call(
            session, "POST", "/api/v1/projects/", {"name": "Bench 1,000 tasks"}, 201
        )
        started = time.perf_counter()
        imported = await _call(
            session, "POST", f"/api/v1/projects/{project['id']}/tasks/bulk/", plan(rng), 201
        )
        import_seconds = time.perf_counter() - started
        await _call(
            session,
            "POST",
            f"/api/v1/projects/{project['id']}/webhooks/",
            {"url": receiver.url("/hooks/api")},
            201,
        )
        tasks = imported["tasks"]
        durations = {t["id"]: t["duration"] for t in tasks}
        first_half = [t["id"] for t in tasks[: TASKS // 2]]

        def duration_patch() -> tuple[str, dict[str, Any]]:
            task_id = rng.choice(first_half)
            base_duration = durations[task_id]
            toggled = getattr(duration_patch, "toggled", set())
            duration_patch.toggled = toggled  # type: ignore[attr-defined]
            new = base_duration if task_id in toggled else base_duration + 1
            toggled ^= {task_id}
            return task_id, {"duration": new}

        counter = 0

        def name_patch() -> tuple[str, dict[str, Any]]:
            nonlocal counter
            counter += 1
            return rng.choice(first_half), {"name": f"Renamed {counter}"}

        async def one(make: Any) -> float:
            task_id, body = make()
            t0 = time.perf_counter()
            await _call(session, "PATCH", f"/api/v1/tasks/{task_id}/", body, 200)
            return (time.perf_counter() - t0) * 1000

        kinds = (("duration", duration_patch), ("name", name_patch))
        for _, make in kinds:
            for _ in range(20):  # warm-up
                await one(make)
        # Per kind: each round's latencies, requests/s in sequence and with 4 clients.
        results: dict[str, Any] = {label: ([], [], []) for label, _ in kinds}
        results["import_seconds"] = import_seconds
        for _ in range(rounds):
            for label, make in kinds:
                t0 = time.perf_counter()
                latencies = [await one(make) for _ in range(requests)]
                sequential = requests / (time.perf_counter() - t0)

                async def client(count: int, make: Any = make) -> None:
                    for _ in range(count):
                        await one(make)

                t0 = time.perf_counter()
                await asyncio.gather(*(client(requests // 4) for _ in range(4)))
                concurrent = (requests // 4 * 4) / (time.perf_counter() - t0)
                for collected, value in zip(
                    results[label], (latencies, sequential, concurrent), strict=True
                ):
                    collected.append(value)
        return results


def run_backend(
    backend: str,
    requests: int,
    rounds: int,
    server_url: str | None,
    receiver: Receiver,
    folder: Path,
) -> list[Row]:
    with database(backend, server_url, folder) as url:
        token = seed_admin(url)
        with Server(url, folder) as server:
            results = uvloop.run(measure(server.base, token, receiver, requests, rounds))
    rows = []
    for label in ("duration", "name"):
        each_round, sequential, concurrent = results[label]
        p50s = [percentile(latencies, 50) for latencies in each_round]
        p50 = statistics.median(p50s)
        latencies = [value for latencies in each_round for value in latencies]
        rows.append(
            Row(
                "API PATCH task p50",
                f"{backend}, {label}",
                p50,
                "ms",
                target=f"< {P50_TARGET_MS:.0f} ms" if label == "duration" else "",
                met=p50 < P50_TARGET_MS if label == "duration" else None,
                note=(
                    f"median of {rounds} rounds' p50 ("
                    + ", ".join(f"{value:.2f}" for value in p50s)
                    + f" ms); p99 {percentile(latencies, 99):.1f} ms, max "
                    f"{max(latencies):.1f} ms; {statistics.median(sequential):,.0f} req/s in "
                    f"sequence, {statistics.median(concurrent):,.0f} req/s with 4 clients; "
                    f"{requests} requests a round, 1,000 tasks"
                    + (
                        f" (bulk import of them: {results['import_seconds']:.2f} s)"
                        if label == "duration"
                        else ""
                    )
                ),
            )
        )
    return rows


def run(
    backends: list[str],
    requests: int = 300,
    rounds: int = 3,
    server_url: str | None = None,
    receiver: Receiver | None = None,
) -> list[Row]:
    if "postgresql" in backends and server_url is None:
        with postgres_server() as started:
            return run(backends, requests, rounds, started, receiver)
    if receiver is None:
        with Receiver() as own:
            return run(backends, requests, rounds, server_url, own)
    rows: list[Row] = []
    with workdir() as folder:
        for backend in backends:
            rows += run_backend(backend, requests, rounds, server_url, receiver, folder)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description="Task PATCH end to end over HTTP.")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    load = load_average()
    rows = run(args.backends.split(","), args.requests, args.rounds)
    print(f"machine: {machine()}; load average before the run: {load}")
    print_table(rows)


if __name__ == "__main__":
    main()
