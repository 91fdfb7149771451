"""Hypothesis strategies for random project networks."""

from __future__ import annotations

import graphlib
from dataclasses import dataclass, field

from hypothesis import strategies as st

from planwire.scheduling import Network, TaskProgress


@dataclass
class Case:
    """A random acyclic network with everything the engine takes."""

    durations: list[int]
    links: list[tuple[int, int, int, int]]  # (pred, succ, type, lag)
    snet: dict[int, int] = field(default_factory=dict)
    progress: dict[int, TaskProgress] = field(default_factory=dict)
    status: int | None = None

    def network(self) -> Network:
        return Network(
            durations=list(self.durations),
            link_pred=[link[0] for link in self.links],
            link_succ=[link[1] for link in self.links],
            link_type=[link[2] for link in self.links],
            link_lag=[link[3] for link in self.links],
            snet=dict(self.snet),
            progress=dict(self.progress),
            status_offset=self.status,
        )


@st.composite
def acyclic_cases(
    draw: st.DrawFn,
    max_tasks: int = 12,
    with_constraints: bool = True,
    with_progress: bool = False,
) -> Case:
    """Links always go forward in a hidden random order of the tasks, so there is no cycle."""
    n = draw(st.integers(1, max_tasks))
    durations = draw(st.lists(st.integers(0, 8), min_size=n, max_size=n))
    order = draw(st.permutations(range(n)))
    links = []
    if n > 1:
        pairs = draw(
            st.lists(
                st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(
                    lambda pair: pair[0] != pair[1]
                ),
                max_size=3 * n,
            )
        )
        for a, b in pairs:
            low, high = min(a, b), max(a, b)
            kind = draw(st.integers(0, 3))
            lag = draw(st.integers(-5, 5))
            links.append((order[low], order[high], kind, lag))
    case = Case(durations, links)
    if with_constraints:
        case.snet = draw(st.dictionaries(st.integers(0, n - 1), st.integers(-3, 20), max_size=n))
    if with_progress:
        case.status = draw(st.none() | st.integers(-2, 15))
        started = draw(st.lists(st.integers(0, n - 1), unique=True, max_size=n))
        for task in started:
            start = draw(st.integers(-3, 12))
            if draw(st.booleans()):
                case.progress[task] = TaskProgress(
                    start, 0, start + draw(st.integers(0, durations[task] + 3))
                )
            else:
                case.progress[task] = TaskProgress(start, draw(st.integers(0, 6)), None)
    return case


def in_index_order(case: Case) -> Case:
    """``case`` with its tasks renumbered so that every link goes to a higher index.

    Tasks are numbered in a topological order (graphlib's), so the engine can take its
    ``ordered`` path; durations, constraints and progress follow their task.
    """
    n = len(case.durations)
    sorter: graphlib.TopologicalSorter[int] = graphlib.TopologicalSorter()
    for task in range(n):
        sorter.add(task)
    for pred, succ, _, _ in case.links:
        sorter.add(succ, pred)
    new = {old: index for index, old in enumerate(sorter.static_order())}
    durations = [0] * n
    for old, index in new.items():
        durations[index] = case.durations[old]
    return Case(
        durations,
        [(new[pred], new[succ], kind, lag) for pred, succ, kind, lag in case.links],
        {new[task]: offset for task, offset in case.snet.items()},
        {new[task]: progress for task, progress in case.progress.items()},
        case.status,
    )
