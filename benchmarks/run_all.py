"""Every benchmark in one run, one table: wire ceiling, delivery throughput, latency, API,
worker memory and scheduling, on this machine, with the targets.

One throwaway PostgreSQL server and one receiver process serve the whole run. The wire
ceiling is measured first against that receiver (the table's first row), and again before
each round of each delivery case: a delivery rate's ratio is to the ceiling measured just
before it. ``bench_scheduling.py`` runs as a child process (``--no-readme``) and its
figures are read from its output. With ``--readme`` the table, the machine and the load go
into the "All benchmarks" section of ``benchmarks/README.md`` (other sections untouched).

    .venv/bin/python benchmarks/run_all.py [--quick] [--readme]

``--quick`` runs smaller sizes (for a smoke test; the README figures come from a full run).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import time
from pathlib import Path

import bench_api
import bench_delivery
import bench_latency
import bench_memory
import bench_wire
from _harness import (
    BENCH_DIR,
    PYTHON,
    Receiver,
    Row,
    load_average,
    machine,
    postgres_server,
    print_table,
)

README = BENCH_DIR / "README.md"
SECTION = "## All benchmarks (run_all.py)"
#: compute_cpm targets as the Scheduling section of the README states them, in ms.
CPM_TARGETS_MS = {"chain-10k": 20.0, "random-10k": 20.0, "random-100k": 250.0}


def _milliseconds(text: str) -> float:
    value = float(text.split()[0].replace(",", ""))
    return value * 1000 if text.strip().endswith(" s") else value


def scheduling_rows(timeout: float) -> list[Row]:
    """Run ``bench_scheduling.py`` and turn its two tables into rows."""
    done = subprocess.run(
        [PYTHON, str(BENCH_DIR / "bench_scheduling.py"), "--no-readme", "--timeout", str(timeout)],
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench_scheduling.py failed:\n{done.stderr[-3000:]}")
    rows: list[Row] = []
    for line in done.stdout.splitlines():
        if not line.startswith("|"):  # progress lines repeat the final table's rows
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 6 and re.fullmatch(r"[\d,]+", cells[1]) and cells[0] != "network":
            network, tasks, links, cpm, chain, _ = cells
            target = CPM_TARGETS_MS.get(network)
            cpm_ms = _milliseconds(cpm)
            rows.append(
                Row(
                    "scheduling compute_cpm",
                    f"{network} ({tasks} tasks, {links} links)",
                    cpm_ms,
                    "ms",
                    target=f"< {target:.0f} ms" if target else "",
                    met=cpm_ms < target if target else None,
                    note="median, bench_scheduling.py",
                )
            )
            rows.append(
                Row(
                    "scheduling critical chain",
                    f"{network}, n/20 resources",
                    _milliseconds(chain),
                    "ms",
                    note="median, bench_scheduling.py",
                )
            )
        elif len(cells) == 7 and cells[5].endswith("x") and cells[5] != "theirs / ours":
            tool, network, _, ours, theirs, ratio, check = cells
            rows.append(
                Row(
                    "scheduling vs " + tool,
                    network,
                    float(ratio.rstrip("x").replace(",", "")),
                    "x (theirs / ours)",
                    note=f"ours {ours}, theirs {theirs}" + (f"; {check}" if check else ""),
                )
            )
    if not rows:
        raise RuntimeError(f"no figures in the output of bench_scheduling.py:\n{done.stdout}")
    return rows


def write_readme(rows: list[Row], header: str) -> None:
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        print_table(rows)
    section = (
        f"{SECTION}\n\n`.venv/bin/python benchmarks/run_all.py --readme` (each benchmark on its "
        f"own: see the list above). {header}\n\n{buffer.getvalue().strip()}\n"
    )
    text = README.read_text() if README.exists() else "# Benchmarks\n"
    start = text.find(SECTION + "\n")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(SECTION))
        text = text[:start] + section + ("\n" + text[end + 1 :] if end >= 0 else "")
    README.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description="Every benchmark, one table.")
    parser.add_argument("--quick", action="store_true", help="smaller sizes (smoke test)")
    parser.add_argument("--readme", action="store_true", help="write the README section")
    parser.add_argument("--scheduling-timeout", type=float, default=20.0)
    parser.add_argument(
        "--only", default="", help="comma-separated: wire,delivery,latency,api,memory,scheduling"
    )
    args = parser.parse_args()
    only = set(filter(None, args.only.split(",")))

    def wanted(name: str) -> bool:
        return not only or name in only

    quick = args.quick
    load_before = load_average()
    began = time.monotonic()
    rows: list[Row] = []
    with postgres_server() as server_url, Receiver(record=True) as receiver:
        ceiling = bench_wire.measure(receiver, requests=5_000 if quick else 20_000)
        rows.append(ceiling)
        if wanted("delivery"):
            rows += bench_delivery.run(
                [("sqlite", 1), ("postgresql", 1), ("postgresql", 4)],
                events=500 if quick else 2000,
                rounds=1 if quick else 3,
                receiver=receiver,
                server_url=server_url,
            )
        if wanted("latency"):
            rows += bench_latency.run(
                ["sqlite", "postgresql"],
                [100, 500, 1000],
                seconds=2.0 if quick else 10.0,
                server_url=server_url,
                receiver=receiver,
            )
        if wanted("api"):
            rows += bench_api.run(
                ["sqlite", "postgresql"],
                requests=40 if quick else 300,
                rounds=1 if quick else 3,
                server_url=server_url,
                receiver=receiver,
            )
        if wanted("memory"):
            rows += bench_memory.run(
                ["sqlite", "postgresql"],
                events=1000 if quick else 10_000,
                receiver=receiver,
                server_url=server_url,
            )
    if wanted("scheduling"):
        rows += scheduling_rows(args.scheduling_timeout)
    minutes = (time.monotonic() - began) / 60
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    header = (
        f"Run {stamp} in {minutes:.0f} min{' (--quick)' if quick else ''} on: {machine()}. "
        f"Load average {load_before} before, {load_average()} after (a shared machine: "
        "other work moves these figures)."
    )
    print(f"\n{header}")
    print_table(rows)
    if args.readme:
        write_readme(rows, header)
        print(f"\nwrote the '{SECTION}' section of {README.relative_to(Path.cwd())}")


if __name__ == "__main__":
    main()
