"""Private kernels of the scheduling engine: input checks, adjacency and the CPM passes.

Every link is reduced to one difference constraint on early starts::

    es[succ] >= es[pred] + weight

where ``weight`` folds in the link type, its lag and the tasks' spans (FS: lag + span[pred];
SS: lag; FF: lag + span[pred] - span[succ]; SF: lag - span[succ]), so all four link types share
one forward and one backward pass. The links are kept in CSR form (sorted by predecessor, with
an offsets array), built with numpy.

There are two implementations of the passes, with identical results:

* ``level_passes`` (numpy): Kahn's algorithm one whole level (wave of tasks whose predecessors
  are all done) at a time, each level a handful of vectorised operations. Fast when the network
  is wide, as real projects and random networks are.
* ``forward`` / ``backward`` (plain Python over lists): one task at a time. Used when the
  network is small or deep and narrow (a long chain has one task per level, where per-level numpy
  overhead would dominate); ``level_passes`` gives up early on such networks.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import compress
from operator import not_
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from planwire.scheduling.engine import Network, TaskProgress

IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

FS, SS, FF, SF = 0, 1, 2, 3
LIMIT = 1_000_000_000  # |offsets|, durations and lags are bounded so int64 arithmetic is exact
NEVER = -(1 << 62)  # forward weight of links into started tasks: they never push such a task
NUMPY_MIN_TASKS = 256
NARROW_AFTER_LEVELS = 8
NARROW_TASKS_PER_LEVEL = 32


@dataclass(slots=True)
class Prepared:
    """A validated network in the engine's internal form.

    ``span[i]`` is the length of task i on the schedule (``ef - es``): its planned duration, or
    for a started task the span fixed by its progress. ``start[i]`` is the earliest start of a
    not-started task (project start, start-no-earlier-than, status date) and the fixed start of
    a started one (``fixed[i]``). Links are sorted by predecessor: the links leaving task i are
    ``out_ptr[i]:out_ptr[i + 1]``. ``forward_weight`` is ``weight`` except on links into started
    tasks, where it is ``NEVER``.
    """

    n: int
    span: IntArray
    start: IntArray
    fixed: BoolArray
    has_fixed: bool
    pred: IntArray
    succ: IntArray
    weight: IntArray
    forward_weight: IntArray
    out_ptr: IntArray
    indegree: IntArray


def int_column(values: Sequence[int], name: str) -> IntArray:
    """``values`` as an int64 array; ValueError unless they are integers within +-LIMIT."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a flat sequence of integers")
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if array.dtype.kind not in "iub":
        bad = next((v for v in values if not isinstance(v, int)), None)
        raise ValueError(f"{name} must hold integers, found {bad!r}")
    if array.dtype.kind != "b":
        low, high = int(array.min()), int(array.max())
        if low < -LIMIT or high > LIMIT:
            bad = low if low < -LIMIT else high
            raise ValueError(
                f"{name} holds {bad} at position {int(np.flatnonzero(array == bad)[0])}, "
                f"outside +-{LIMIT}"
            )
    return array.astype(np.int64, copy=False)


def check_links(n: int, pred: IntArray, succ: IntArray) -> None:
    if pred.size != succ.size:
        raise ValueError(
            f"link_pred and link_succ must have the same length, got {pred.size} and {succ.size}"
        )
    for name, column in (("link_pred", pred), ("link_succ", succ)):
        bad_at = np.flatnonzero((column < 0) | (column >= n))
        if bad_at.size:
            at = int(bad_at[0])
            raise ValueError(
                f"{name} holds task index {int(column[at])} at link {at}, "
                f"outside 0..{n - 1} ({n} tasks)"
            )


def _check_bound(value: int, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not -LIMIT <= value <= LIMIT:
        raise ValueError(f"{name} must be an integer offset within +-{LIMIT}, got {value!r}")


def prepare(network: Network) -> Prepared:
    """Validate ``network`` and build its internal form (no cycle check: see the passes)."""
    durations = int_column(network.durations, "durations")
    pred = int_column(network.link_pred, "link_pred")
    succ = int_column(network.link_succ, "link_succ")
    kind = int_column(network.link_type, "link_type")
    lag = int_column(network.link_lag, "link_lag")
    n = durations.size
    for name, column in (("link_succ", succ), ("link_type", kind), ("link_lag", lag)):
        if column.size != pred.size:
            raise ValueError(
                f"link columns must have the same length: link_pred has {pred.size}, {name} has "
                f"{column.size}"
            )
    if n and durations.min() < 0:
        at = int(np.argmin(durations))
        raise ValueError(f"durations must be >= 0: task {at} has {int(durations[at])}")
    check_links(n, pred, succ)
    if kind.size and (kind.min() < FS or kind.max() > SF):
        at = int(np.flatnonzero((kind < FS) | (kind > SF))[0])
        raise ValueError(f"link_type must be 0..3 (FS, SS, FF, SF): link {at} has {int(kind[at])}")

    status = network.status_offset
    if status is not None:
        _check_bound(status, "status_offset")
    start = np.full(n, 0 if status is None or status < 0 else status, dtype=np.int64)
    for task, offset in network.snet.items():
        _check_task_index(task, n, "snet")
        _check_bound(offset, f"snet of task {task}")
        start[task] = max(int(start[task]), offset)
    span = durations.copy()
    fixed = np.zeros(n, dtype=np.bool_)
    for task, progress in network.progress.items():
        _check_task_index(task, n, "progress")
        begin, finish = _progress_dates(task, progress, status)
        fixed[task] = True
        start[task] = begin
        span[task] = finish - begin

    by_pred = np.argsort(pred, kind="stable")
    pred, succ, kind, lag = pred[by_pred], succ[by_pred], kind[by_pred], lag[by_pred]
    from_finish = (kind == FS) | (kind == FF)
    to_finish = kind >= FF
    weight = lag + np.where(from_finish, span[pred], 0) - np.where(to_finish, span[succ], 0)
    has_fixed = bool(network.progress)
    forward_weight = np.where(fixed[succ], NEVER, weight) if has_fixed else weight
    out_ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(pred, minlength=n), out=out_ptr[1:])
    indegree = np.bincount(succ, minlength=n).astype(np.int64, copy=False)
    return Prepared(
        n, span, start, fixed, has_fixed, pred, succ, weight, forward_weight, out_ptr, indegree
    )


def _check_task_index(task: int, n: int, name: str) -> None:
    if isinstance(task, bool) or not isinstance(task, int) or not 0 <= task < n:
        raise ValueError(f"{name} names task index {task!r}, outside 0..{n - 1} ({n} tasks)")


def _progress_dates(task: int, progress: TaskProgress, status: int | None) -> tuple[int, int]:
    start = progress.actual_start
    _check_bound(start, f"actual_start of task {task}")
    if progress.actual_finish is not None:
        _check_bound(progress.actual_finish, f"actual_finish of task {task}")
        if progress.actual_finish < start:
            raise ValueError(
                f"progress of task {task}: actual_finish {progress.actual_finish} is before "
                f"actual_start {start}"
            )
        return start, progress.actual_finish
    _check_bound(progress.remaining, f"remaining of task {task}")
    if progress.remaining < 0:
        raise ValueError(
            f"progress of task {task}: remaining must be >= 0, got {progress.remaining}"
        )
    resume = start if status is None or status < start else status
    return start, resume + progress.remaining


@dataclass(slots=True)
class Passes:
    """Results of the forward and backward passes, as arrays."""

    es: IntArray
    ls: IntArray
    free_float: IntArray
    finish: int


class Cyclic(Exception):
    """The links contain a cycle (the caller finds it with ``cycle_in``)."""


def cpm_passes(prep: Prepared) -> Passes:
    """Forward and backward pass, with numpy levels when the network is wide enough."""
    if prep.n >= NUMPY_MIN_TASKS:
        result = level_passes(prep)
        if result is not None:
            return result
    return list_passes(prep)


def level_passes(prep: Prepared) -> Passes | None:
    """The passes one level at a time; None if the network turns out deep and narrow."""
    n = prep.n
    pred, succ, out_ptr = prep.pred, prep.succ, prep.out_ptr
    out_count = np.diff(out_ptr)
    waiting = prep.indegree.copy()
    es = prep.start.copy()
    frontier = np.flatnonzero(waiting == 0)
    level_links: list[IntArray] = []
    placed = 0
    while frontier.size:
        placed += frontier.size
        levels = len(level_links) + 1
        if levels >= NARROW_AFTER_LEVELS and placed < NARROW_TASKS_PER_LEVEL * levels:
            return None
        counts = out_count[frontier]
        total = int(counts.sum())
        if not total:
            break
        ends = np.cumsum(counts)
        links = np.repeat(out_ptr[frontier] - ends + counts, counts) + np.arange(total)
        targets = succ[links]
        np.maximum.at(es, targets, es[pred[links]] + prep.forward_weight[links])
        level_links.append(links)
        released, hits = np.unique(targets, return_counts=True)
        left = waiting[released] - hits
        waiting[released] = left
        frontier = released[left == 0]
    if placed < n:
        raise Cyclic
    ef = es + prep.span
    finish = max(0, int(ef.max())) if n else 0
    ls = finish - prep.span
    weight = prep.weight
    for links in reversed(level_links):
        np.minimum.at(ls, pred[links], ls[succ[links]] - weight[links])
    free_float = finish - ef
    np.minimum.at(free_float, pred, es[succ] - weight - es[pred])
    return Passes(es, ls, free_float, finish)


def list_passes(prep: Prepared) -> Passes:
    """The passes in plain Python, one task at a time (Kahn's order)."""
    n = prep.n
    ptr: list[int] = prep.out_ptr.tolist()
    out_succ: list[int] = prep.succ.tolist()
    span: list[int] = prep.span.tolist()
    es: list[int] = prep.start.tolist()
    order = _forward(n, ptr, out_succ, prep.forward_weight.tolist(), prep.indegree.tolist(), es)
    finish = max(0, max(map(int.__add__, es, span), default=0))
    weight: list[int] = prep.weight.tolist()
    ls = [0] * n
    free = [0] * n
    for task in reversed(order):
        early = es[task]
        late = finish - span[task]
        slack = late - early
        for slot in range(ptr[task], ptr[task + 1]):
            succ = out_succ[slot]
            link_weight = weight[slot]
            bound = ls[succ] - link_weight
            if bound < late:
                late = bound
            bound = es[succ] - link_weight - early
            if bound < slack:
                slack = bound
        ls[task] = late
        free[task] = slack
    as_array = np.array
    return Passes(as_array(es, np.int64), as_array(ls, np.int64), as_array(free, np.int64), finish)


def _forward(
    n: int,
    ptr: list[int],
    out_succ: list[int],
    weight: list[int],
    waiting: list[int],
    es: list[int],
) -> list[int]:
    """Kahn's topological sort fused with the forward pass; fills ``es``, returns the order.

    A task's early start is final when it leaves the queue (all its predecessors are done); it
    then relaxes its successors. Raises ``Cyclic`` if some task is never released.
    """
    order = list(compress(range(n), map(not_, waiting)))
    append = order.append
    for task in order:  # the list grows while we walk it: a FIFO without pops
        early = es[task]
        for slot in range(ptr[task], ptr[task + 1]):
            succ = out_succ[slot]
            candidate = early + weight[slot]
            if candidate > es[succ]:
                es[succ] = candidate
            left = waiting[succ] - 1
            waiting[succ] = left
            if not left:
                append(succ)
    if len(order) < n:
        raise Cyclic
    return order


def in_adjacency(prep: Prepared) -> tuple[list[int], list[int], list[int]]:
    """Incoming links as lists: ``(in_ptr, in_pred, in_weight)``, CSR by successor."""
    by_succ = np.argsort(prep.succ, kind="stable")
    in_ptr = np.zeros(prep.n + 1, dtype=np.int64)
    np.cumsum(prep.indegree, out=in_ptr[1:])
    return in_ptr.tolist(), prep.pred[by_succ].tolist(), prep.weight[by_succ].tolist()


def cycle_in(n: int, link_pred: list[int], link_succ: list[int]) -> list[int] | None:
    """One cycle of the link graph, as task indices in link order, or None if it is acyclic.

    Kahn's algorithm removes every task that is not on or downstream of a cycle; every task left
    has a predecessor that is also left, so walking predecessors from one of them must revisit a
    task, which lies on a cycle. A breadth-first search from that task then returns the shortest
    cycle through it (the friendliest one to show a user).
    """
    successors: list[list[int]] = [[] for _ in range(n)]
    remaining = [0] * n
    for pred, succ in zip(link_pred, link_succ, strict=True):
        successors[pred].append(succ)
        remaining[succ] += 1
    queue = deque(compress(range(n), map(not_, remaining)))
    while queue:
        task = queue.popleft()
        for succ in successors[task]:
            remaining[succ] -= 1
            if not remaining[succ]:
                queue.append(succ)
    left = [task for task in range(n) if remaining[task]]
    if not left:
        return None
    in_left = [False] * n
    for task in left:
        in_left[task] = True
    some_pred: dict[int, int] = {}
    for pred, succ in zip(link_pred, link_succ, strict=True):
        if in_left[succ] and in_left[pred] and succ not in some_pred:
            some_pred[succ] = pred
    seen: set[int] = set()
    task = left[0]
    while task not in seen:
        seen.add(task)
        task = some_pred[task]
    return _shortest_cycle_through(task, successors, in_left)


def _shortest_cycle_through(
    origin: int, successors: list[list[int]], allowed: list[bool]
) -> list[int]:
    parent = {origin: -1}
    queue = deque([origin])
    while queue:
        task = queue.popleft()
        for succ in successors[task]:
            if succ == origin:
                cycle = [task]
                while cycle[-1] != origin:
                    cycle.append(parent[cycle[-1]])
                cycle.reverse()
                return cycle
            if allowed[succ] and succ not in parent:
                parent[succ] = task
                queue.append(succ)
    raise AssertionError("the task was found on a cycle, so the search must return to it")


def progress_remaining(durations: Sequence[int], progress: Mapping[int, TaskProgress]) -> list[int]:
    """Remaining work per task: the duration, the remaining days once started, 0 when done."""
    remaining = list(durations)
    for task, state in progress.items():
        remaining[task] = 0 if state.actual_finish is not None else state.remaining
    return remaining
