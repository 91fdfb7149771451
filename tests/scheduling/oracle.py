"""Independent reference implementations for the scheduling tests.

Written for obviousness, not speed: CPM as the longest-path problem solved by Bellman-Ford
relaxation straight from the textbook link definitions (no weight folding, no topological
order), so it shares nothing with the engine but the conventions.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from planwire.scheduling import _graph
from planwire.scheduling.engine import TaskProgress

FS, SS, FF, SF = 0, 1, 2, 3


@dataclass
class OracleCpm:
    es: list[int]
    ef: list[int]
    ls: list[int]
    lf: list[int]
    total_float: list[int]
    free_float: list[int]
    duration: int


def oracle_cpm(
    durations: list[int],
    links: list[tuple[int, int, int, int]],
    snet: Mapping[int, int] | None = None,
    progress: Mapping[int, TaskProgress] | None = None,
    status: int | None = None,
) -> OracleCpm:
    """CPM by Bellman-Ford over ``(pred, succ, type, lag)`` links."""
    n = len(durations)
    snet = snet or {}
    progress = progress or {}
    es = [0] * n
    span = list(durations)
    fixed = set(progress)
    for task in range(n):
        if task in progress:
            state = progress[task]
            es[task] = state.actual_start
            if state.actual_finish is not None:
                span[task] = state.actual_finish - state.actual_start
            else:
                resume = state.actual_start if status is None else max(status, state.actual_start)
                span[task] = resume + state.remaining - state.actual_start
        else:
            es[task] = max(0, snet.get(task, 0), status if status is not None else 0)

    def early_bound(pred: int, succ: int, kind: int, lag: int) -> int:
        """Lowest es[succ] the link allows."""
        pred_es, pred_ef = es[pred], es[pred] + span[pred]
        if kind == FS:
            return pred_ef + lag
        if kind == SS:
            return pred_es + lag
        if kind == FF:
            return pred_ef + lag - span[succ]
        return pred_es + lag - span[succ]

    for _ in range(n + 1):
        changed = False
        for pred, succ, kind, lag in links:
            if succ in fixed:
                continue
            bound = early_bound(pred, succ, kind, lag)
            if bound > es[succ]:
                es[succ] = bound
                changed = True
        if not changed:
            break
    ef = [es[t] + span[t] for t in range(n)]
    finish = max([0, *ef])

    lf = [finish] * n
    for _ in range(n + 1):
        changed = False
        for pred, succ, kind, lag in links:
            succ_ls, succ_lf = lf[succ] - span[succ], lf[succ]
            if kind == FS:  # ef[pred] <= es[succ] - lag
                bound = succ_ls - lag
            elif kind == SS:  # es[pred] <= es[succ] - lag
                bound = succ_ls - lag + span[pred]
            elif kind == FF:  # ef[pred] <= ef[succ] - lag
                bound = succ_lf - lag
            else:  # es[pred] <= ef[succ] - lag
                bound = succ_lf - lag + span[pred]
            if bound < lf[pred]:
                lf[pred] = bound
                changed = True
        if not changed:
            break
    ls = [lf[t] - span[t] for t in range(n)]

    free = [finish - ef[t] for t in range(n)]
    for pred, succ, kind, lag in links:
        if kind == FS:
            slack = es[succ] - (ef[pred] + lag)
        elif kind == SS:
            slack = es[succ] - (es[pred] + lag)
        elif kind == FF:
            slack = ef[succ] - (ef[pred] + lag)
        else:
            slack = ef[succ] - (es[pred] + lag)
        free[pred] = min(free[pred], slack)
    total = [ls[t] - es[t] for t in range(n)]
    return OracleCpm(es, ef, ls, lf, total, free, finish)


@contextmanager
def forced_path(path: str) -> Iterator[None]:
    """Run the engine's numpy level passes ("levels"), its plain-Python Kahn passes ("lists") or
    its flat loops over links numbered in topological order ("ordered": only where every link
    goes from a lower to a higher index; other networks then take their usual path)."""
    names = ("NUMPY_MIN_TASKS", "NARROW_AFTER_LEVELS", "ORDERED_PASSES", "ORDERED_FIRST_BELOW")
    saved = {name: getattr(_graph, name) for name in names}
    if path == "levels":
        _graph.NUMPY_MIN_TASKS, _graph.NARROW_AFTER_LEVELS = 0, 1 << 60
        _graph.ORDERED_PASSES = False
    elif path == "lists":
        _graph.NUMPY_MIN_TASKS = 1 << 60
        _graph.ORDERED_PASSES = False
    elif path == "ordered":
        _graph.ORDERED_PASSES, _graph.ORDERED_FIRST_BELOW = True, 1 << 60
    else:
        raise ValueError(f"unknown path {path!r}")
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(_graph, name, value)
