"""Benchmark of the scheduling engine, and side by side with other Python schedulers.

Run: ``.venv/bin/python benchmarks/bench_scheduling.py`` (``--help`` for options).

Networks (seeded, so every run and every tool sees the same ones):

* ``chain-10k``: 10,000 tasks, each finish-to-start after the previous one.
* ``random-10k``: 10,000 tasks, 20,000 links; each link joins a task to one of the 1,000 tasks
  before it in a hidden order, then the task numbers are shuffled. Link types 70 % FS, 10 % each
  SS, FF, SF; lags from -3 to +5 days.
* ``random-100k``: the same with 100,000 tasks and 200,000 links.

``compute_cpm`` is timed in this process (median of several runs). The other tools run in child
processes with a time limit, each on what it supports: networkx (a longest path on a DAG plus
forward and backward passes written with its graph API) and ``criticalpath`` only know
finish-to-start links without lags, so they get the FS-only variant of each network (same task
pairs, type FS, lag 0) and are compared with ``compute_cpm`` on that same variant;
``ccpm-scheduler`` builds a full critical-chain schedule (levelling, chain, buffers) and is
compared with ``compute_cpm`` + ``compute_critical_chain`` on FS-only networks where every task
has one of n/20 resources. Smaller networks are added where a tool cannot handle the large ones,
so that each has a figure. Ratios are theirs / ours. The results and the machine go into the
"Scheduling" section of ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy

from planwire.scheduling import Network, compute_cpm, compute_critical_chain

HERE = Path(__file__).resolve().parent
README = HERE / "README.md"
SECTION = "## Scheduling"


@dataclass(frozen=True)
class Spec:
    name: str
    tasks: int
    links: int
    shape: str  # "chain" or "random"
    fs_only: bool = False
    resourced: bool = False

    @property
    def label(self) -> str:
        suffix = (" FS-only" if self.fs_only else "") + (" +resources" if self.resourced else "")
        return self.name + suffix


def generate(spec: Spec, seed: int = 20260101) -> tuple[Network, list[str | None]]:
    rng = random.Random(f"{seed}-{spec.shape}-{spec.tasks}-{spec.links}")
    n = spec.tasks
    durations = [rng.randint(1, 20) for _ in range(n)]
    if spec.shape == "chain":
        pairs = [(t, t + 1) for t in range(n - 1)]
        label = list(range(n))
    else:
        label = list(range(n))
        rng.shuffle(label)
        pairs = []
        for _ in range(spec.links):
            succ = rng.randrange(1, n)
            pairs.append((label[rng.randrange(max(0, succ - 1000), succ)], label[succ]))
    m = len(pairs)
    if spec.fs_only or spec.shape == "chain":
        kinds, lags = [0] * m, [0] * m
    else:
        kinds = rng.choices((0, 1, 2, 3), weights=(70, 10, 10, 10), k=m)
        lags = [rng.randint(-3, 5) for _ in range(m)]
    network = Network(durations, [p for p, _ in pairs], [s for _, s in pairs], kinds, lags)
    pool = max(1, n // 20)
    resources: list[str | None] = [f"R{rng.randrange(pool)}" for _ in range(n)]
    return network, resources


CPM_NETWORKS = [
    Spec("chain-10k", 10_000, 9_999, "chain"),
    Spec("random-10k", 10_000, 20_000, "random"),
    Spec("random-100k", 100_000, 200_000, "random"),
]
FS_NETWORKS = [
    Spec("chain-1k", 1_000, 999, "chain", fs_only=True),
    Spec("random-1k", 1_000, 2_000, "random", fs_only=True),
    Spec("chain-10k", 10_000, 9_999, "chain", fs_only=True),
    Spec("random-10k", 10_000, 20_000, "random", fs_only=True),
    Spec("random-100k", 100_000, 200_000, "random", fs_only=True),
]
CHAIN_NETWORKS = [
    Spec("random-20", 20, 40, "random", fs_only=True, resourced=True),
    Spec("random-50", 50, 100, "random", fs_only=True, resourced=True),
    Spec("chain-10k", 10_000, 9_999, "chain", fs_only=True, resourced=True),
    Spec("random-10k", 10_000, 20_000, "random", fs_only=True, resourced=True),
    Spec("random-100k", 100_000, 200_000, "random", fs_only=True, resourced=True),
]


def timed(
    run: Callable[[], Any], budget: float = 3.0, most: int = 9, quick: float = 0.25
) -> tuple[float, Any]:
    """Median wall time of several runs (at least 3, fewer only when one run is slow).

    Fast runs are repeated beyond ``most`` until they add up to ``quick`` seconds (at most 201
    runs), so that a burst of load on a shared machine cannot move the median of a
    sub-millisecond figure by itself.
    """
    times: list[float] = []
    result: Any = None
    while len(times) < most or (sum(times) < quick and len(times) < 201):
        began = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - began)
        if len(times) >= 3 and sum(times) > budget:
            break
        if times[-1] > budget:
            break
    return statistics.median(times), result


# --- the other tools, each run in a child process -------------------------------------------


def networkx_cpm(network: Network) -> int:
    """Forward and backward pass over a networkx DiGraph, and the critical path by
    ``dag_longest_path`` (edges weighted by the predecessor's duration, plus a sink fed by every
    task so the last task's duration counts)."""
    import networkx as nx  # type: ignore[import-untyped]

    durations = network.durations
    n = len(durations)
    graph = nx.DiGraph()
    graph.add_nodes_from(range(n))
    graph.add_weighted_edges_from(
        (p, s, durations[p]) for p, s in zip(network.link_pred, network.link_succ, strict=True)
    )
    order = list(nx.topological_sort(graph))
    es = [0] * n
    for task in order:
        es[task] = max((es[p] + durations[p] for p in graph.predecessors(task)), default=0)
    finish = max(es[t] + durations[t] for t in range(n))
    lf = [finish] * n
    for task in reversed(order):
        lf[task] = min((lf[s] - durations[s] for s in graph.successors(task)), default=finish)
    graph.add_weighted_edges_from((t, "end", durations[t]) for t in range(n))
    nx.dag_longest_path(graph)
    length = int(nx.dag_longest_path_length(graph))
    if length != finish:
        raise AssertionError(f"longest path {length} != forward pass {finish}")
    return finish


def criticalpath_cpm(network: Network) -> int:
    from criticalpath import Node  # type: ignore[import-untyped]

    project = Node("project")
    nodes = [project.add(Node(t, duration=d)) for t, d in enumerate(network.durations)]
    for p, s in zip(network.link_pred, network.link_succ, strict=True):
        project.link(nodes[p], nodes[s])
    project.update_all()
    return int(project.duration)


def ccpm_schedule(network: Network, resources: list[str | None]) -> int:
    from ccpm_scheduler import (  # type: ignore[import-untyped]
        Link,
        Resource,
        Task,
        build_schedule,
    )
    from ccpm_scheduler import Network as CcpmNetwork

    incoming: dict[int, list[Any]] = {}
    for p, s in zip(network.link_pred, network.link_succ, strict=True):
        incoming.setdefault(s, []).append(Link(f"T{p}", "FS", 0))
    tasks = [
        Task(
            id=f"T{t}",
            optimal_duration=d,
            realistic_duration=2 * d,
            links=incoming.get(t, []),
            resource_ids=[str(resources[t])],
        )
        for t, d in enumerate(network.durations)
    ]
    pool = [Resource(id=name, capacity=1) for name in sorted({str(r) for r in resources})]
    build_schedule(CcpmNetwork(tasks=tasks, resources=pool), buffer_method="hchain")
    return 0


TOOLS: dict[str, str] = {
    "networkx": "networkx longest path + passes",
    "criticalpath": "criticalpath (PyPI)",
    "ccpm-scheduler": "ccpm-scheduler (PyPI)",
}


def worker(tool: str, spec_json: str) -> None:
    spec = Spec(**json.loads(spec_json))
    network, resources = generate(spec)
    try:
        if tool == "networkx":
            seconds, value = timed(lambda: networkx_cpm(network))
        elif tool == "criticalpath":
            seconds, value = timed(lambda: criticalpath_cpm(network))
        else:
            seconds, value = timed(lambda: ccpm_schedule(network, resources))
    except Exception as exc:  # report any failure of the other tool as data
        print(json.dumps({"error": f"{type(exc).__name__}: {str(exc)[:120]}"}))
        return
    print(json.dumps({"seconds": seconds, "duration": value}))


def run_tool(tool: str, spec: Spec, limit: float) -> dict[str, Any]:
    command = [sys.executable, __file__, "--worker", tool, json.dumps(spec.__dict__)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=limit, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish within {limit:.0f} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"failed: {last[:120]}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


# --- report ----------------------------------------------------------------------------------


def milliseconds(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def machine() -> list[str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return [
        f"`nproc`: {os.cpu_count()}",
        f"CPU model (/proc/cpuinfo): {model}",
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"numpy {numpy.__version__}, {platform.system()}",
    ]


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f} (1 min) / {five:.1f} (5 min)"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per other-tool run")
    parser.add_argument("--no-readme", action="store_true", help="do not update the README")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return

    print("Machine: " + "; ".join(machine()) + f"; {load()} at the start\n")
    load_at_start = load()
    cpm_rows = []
    for spec in CPM_NETWORKS:
        network, resources = generate(spec)
        seconds, result = timed(partial(compute_cpm, network))
        safe: list[int | None] = [None] * len(resources)
        chain_seconds, _ = timed(
            partial(compute_critical_chain, network, resources, safe, "cut_and_paste", result)
        )
        cpm_rows.append(
            [
                spec.name,
                f"{spec.tasks:,}",
                f"{len(network.link_pred):,}",
                milliseconds(seconds),
                milliseconds(chain_seconds),
                str(result.duration),
            ]
        )
    cpm_table = table(
        [
            "network",
            "tasks",
            "links",
            "compute_cpm (median)",
            "compute_critical_chain, n/20 resources (median)",
            "project duration",
        ],
        cpm_rows,
    )
    print(cpm_table, "\n", flush=True)

    comparison_rows = []
    failures: dict[str, list[tuple[int, str, str, bool]]] = {}
    plans = [("networkx", FS_NETWORKS), ("criticalpath", FS_NETWORKS)]
    plans.append(("ccpm-scheduler", CHAIN_NETWORKS))
    for tool, specs in plans:
        for spec in specs:
            network, resources = generate(spec)
            if tool == "ccpm-scheduler":
                what = "CPM + levelling + chain + buffers"

                def ours(
                    network: Network = network, resources: list[str | None] = resources
                ) -> int:
                    cpm = compute_cpm(network)
                    safe = [2 * d for d in network.durations]
                    chain = compute_critical_chain(network, resources, safe, "cut_and_paste", cpm)
                    return chain.chain_finish

            else:
                what = "CPM, FS links without lags"

                def ours(
                    network: Network = network, resources: list[str | None] = resources
                ) -> int:
                    return compute_cpm(network).duration

            our_seconds, our_value = timed(ours)
            # Skip what cannot work: after a time-out on a smaller network, or a failure on a
            # smaller or equal network of the same shape.
            blocker = next(
                (
                    reason
                    for tasks, shape, reason, timed_out in failures.get(tool, [])
                    if (timed_out and tasks < spec.tasks)
                    or (shape == spec.shape and tasks <= spec.tasks)
                ),
                None,
            )
            if blocker is not None:
                outcome: dict[str, Any] = {"error": f"not run: {blocker}"}
            else:
                outcome = run_tool(tool, spec, args.timeout)
                if "error" in outcome:
                    failures.setdefault(tool, []).append(
                        (
                            spec.tasks,
                            spec.shape,
                            f"{outcome['error']} on {spec.name}",
                            outcome["error"].startswith("did not finish"),
                        )
                    )
            if "error" in outcome:
                theirs, ratio, agreement = outcome["error"], "n/a", ""
            else:
                theirs = milliseconds(outcome["seconds"])
                ratio = f"{outcome['seconds'] / our_seconds:,.1f}x"
                agreement = (
                    ""
                    if tool == "ccpm-scheduler"
                    else ("same duration" if outcome["duration"] == our_value else "DIFFERENT")
                )
            comparison_rows.append(
                [
                    TOOLS[tool],
                    spec.label,
                    what,
                    milliseconds(our_seconds),
                    theirs,
                    ratio,
                    agreement,
                ]
            )
            print(" | ".join(comparison_rows[-1]), flush=True)
    comparison_table = table(
        ["tool", "network", "work", "ours", "theirs", "theirs / ours", "check"], comparison_rows
    )
    print("\n" + comparison_table)
    if not args.no_readme:
        write_readme(cpm_table, comparison_table, args.timeout, [load_at_start, load()])
        print(f"\nWrote the Scheduling section of {README}")


def write_readme(cpm_table: str, comparison_table: str, limit: float, loads: list[str]) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = "\n".join(f"- {line}" for line in machine())
    section = f"""{SECTION}

`.venv/bin/python benchmarks/bench_scheduling.py` (networks and method: see the script's
docstring). Targets for `compute_cpm`: a 10,000-task chain and a random 10,000-task network under
20 ms, a 100,000-task network with 200,000 mixed links under 250 ms.

Measured {stamp} on:

{lines}
- {loads[0]} at the start, {loads[1]} at the end

The machine is shared with other jobs: figures are wall-clock medians and move with the load.

{cpm_table}

Side by side (each tool on what it supports; networkx and criticalpath get the FS-only variant
of each network, and ours is timed on that same variant; ccpm-scheduler is compared with
`compute_cpm` + `compute_critical_chain` on FS-only networks with n/20 resources; other tools
run in a child process limited to {limit:.0f} s per network; "check" compares their project
duration with ours):

{comparison_table}
"""
    text = README.read_text() if README.exists() else "# Benchmarks\n"
    start = text.find(SECTION + "\n")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(SECTION))
        text = text[:start] + section + (text[end + 1 :] if end >= 0 else "")
    README.write_text(text)


if __name__ == "__main__":
    main()
