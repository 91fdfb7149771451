"""Profile a ``planwire worker`` process delivering a backlog, with py-spy (dev extra).

Seeds a backlog as ``bench_delivery.py`` does, runs one worker under ``py-spy record`` (all
threads, native frames off, idle samples left out) until every delivery is recorded, then
prints the functions that hold the most samples, inclusive and self, and writes a
flame graph (SVG) and the raw collapsed stacks beside it.

    .venv/bin/python benchmarks/profile_worker.py [--backend sqlite|postgresql]
        [--events 2000] [--webhooks 10] [--out /tmp/planwire-worker-profile]

py-spy needs ptrace rights over the worker (root, or ``kernel.yama.ptrace_scope=0``).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from _harness import (
    Receiver,
    Workers,
    database,
    delivery_counts,
    postgres_server,
    seed_events,
    seed_organization,
    seed_webhooks,
    workdir,
)


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(__import__("sys").executable).with_name("py-spy"))
    if not Path(found).exists():
        raise SystemExit("py-spy is not installed: .venv/bin/pip install -e '.[dev]'")
    return found


def summarize(raw: Path, top: int = 30) -> None:
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        total += count
        frames = stack.split(";")
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    print(f"{total} samples")
    for title, counter in (("inclusive", inclusive), ("self", own)):
        print(f"\n-- {title} --")
        for frame, count in counter.most_common(top):
            print(f"{count / total:6.1%}  {frame[:150]}")


@contextlib.contextmanager
def maybe_postgres(backend: str) -> Iterator[str | None]:
    if backend == "postgresql":
        with postgres_server() as url:
            yield url
    else:
        yield None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", default="sqlite", choices=("sqlite", "postgresql"))
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--webhooks", type=int, default=10)
    parser.add_argument("--out", default="/tmp/planwire-worker-profile")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    total = args.events * args.webhooks
    with (
        Receiver() as receiver,
        workdir() as folder,
        maybe_postgres(args.backend) as server_url,
        database(args.backend, server_url, folder) as url,
    ):
        organization_id = seed_organization(url)
        seed_webhooks(
            url, organization_id, [receiver.url(f"/hooks/{i}") for i in range(args.webhooks)]
        )
        seed_events(url, organization_id, args.events)
        receiver.reset()
        with Workers(url, 1, folder) as running:
            pid = running.processes[0].pid
            while not receiver.stats()["count"]:
                running.check_alive()
                time.sleep(0.01)
            raw = out / f"worker-{args.backend}.txt"
            recorder = subprocess.Popen(
                [
                    py_spy(),
                    "record",
                    "--pid",
                    str(pid),
                    "--rate",
                    "250",
                    "--threads",
                    "--gil",
                    "--format",
                    "raw",
                    "--output",
                    str(raw),
                ],
                stdout=subprocess.DEVNULL,
                stderr=(out / "py-spy.log").open("wb"),
            )
            while receiver.stats()["count"] < total or delivery_counts(url).get("pending"):
                running.check_alive()
                time.sleep(0.05)
            recorder.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
            recorder.wait(30)
    summarize(raw)
    svg = out / f"worker-{args.backend}.svg"
    flamegraph = shutil.which("flamegraph.pl")
    if flamegraph:
        with svg.open("wb") as handle:
            subprocess.run([flamegraph, str(raw)], stdout=handle, check=False)
    print(f"\ncollapsed stacks: {raw}")


if __name__ == "__main__":
    main()
