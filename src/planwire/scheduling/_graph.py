"""Private kernels of the scheduling engine: input checks, adjacency and the CPM passes.

Every link is reduced to one difference constraint on early starts::

    es[succ] >= es[pred] + weight

where ``weight`` folds in the link type, its lag and the tasks' spans (FS: lag + span[pred];
SS: lag; FF: lag + span[pred] - span[succ]; SF: lag - span[succ]), so all four link types share
one forward and one backward pass. The links are kept in CSR form (sorted by predecessor, with
an offsets array), built with numpy.

There are three implementations of the passes, with identical results (CPM dates and floats are
unique, whatever order the links are relaxed in):

* ``ordered_passes`` (plain Python, one flat loop over the links per pass): when every link goes
  from a lower to a higher task index, as when tasks are numbered in the order they were planned,
  the index order is already a topological order and links sorted by predecessor can be relaxed
  in storage order, forward then in reverse, with no queue and no per-task bookkeeping. Deep
  narrow networks (long chains) land here when numbered in order; wide ones of any size too.
* ``level_passes`` (numpy): Kahn's algorithm one whole level (wave of tasks whose predecessors
  are all done) at a time, each level a handful of vectorised operations. Fast when the network
  is wide, as real projects and random networks are.
* ``list_passes`` (plain Python over lists): Kahn's algorithm one task at a time. Used when the
  network is small or deep and narrow (a long chain has one task per level, where per-level numpy
  overhead would dominate); ``level_passes`` gives up early on such networks.

Each returns the full CPM columns as lists (``Columns``); the critical path order is the same
(es, then ef, then index) whichever path ran.
"""

from __future__ import annotations

from array import array
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import compress
from operator import add, eq, not_, sub
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
ORDERED_PASSES = True  # use ordered_passes whenever the links allow it (tests switch it off)
ORDERED_FIRST_BELOW = 1500  # tasks; above, numpy levels are faster unless the network is narrow
NARROW_AFTER_LEVELS = 8
NUMPY_SORT_ABOVE = 1000  # critical tasks; fewer are ordered by Python's sort (tests change it)
NARROW_TASKS_PER_LEVEL = 32


@dataclass(slots=True)
class Prepared:
    """A validated network in the engine's internal form.

    ``span[i]`` is the length of task i on the schedule (``ef - es``): its planned duration, or
    for a started task the span fixed by its progress. ``start[i]`` is the earliest start of a
    not-started task (project start, start-no-earlier-than, status date) and the fixed start of
    a started one (``fixed[i]``). Links are sorted by predecessor: the links leaving task i are
    ``out_ptr[i]:out_ptr[i + 1]`` (in no particular order among themselves). ``forward_weight`` is
    ``weight`` except on links into started tasks, where it is ``NEVER``. ``ordered`` is true when
    every link goes from a lower to a higher task index (so the network is acyclic and the index
    order is a topological order).
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
    ordered: bool
    # Filled by level_passes when it completes: the links out of each topological level, level
    # by level, for the numpy kernels of the critical chain (None: the network was not run
    # through levels, those kernels fall back to plain Python).
    levels: list[IntArray] | None = None


def int_column(values: Sequence[int], name: str) -> IntArray:
    """``values`` as an int64 array; ValueError unless they are integers within +-LIMIT."""
    column: IntArray | None = None
    if not isinstance(values, np.ndarray):
        # Sequences of Python ints: array("q") checks that every item is an integer that fits
        # in 64 bits (bool included, as numpy counts it) faster than numpy converts a list.
        # Whatever it refuses takes numpy's way below, which words the error.
        try:
            column = np.frombuffer(array("q", values), dtype=np.int64)
        except (TypeError, OverflowError, ValueError):
            column = None
    if column is None:
        raw = np.asarray(values)
        if raw.ndim != 1:
            raise ValueError(f"{name} must be a flat sequence of integers")
        if raw.size == 0:
            return np.zeros(0, dtype=np.int64)
        if raw.dtype.kind not in "iub":
            bad = next((v for v in values if not isinstance(v, int)), None)
            raise ValueError(f"{name} must hold integers, found {bad!r}")
        column = raw.astype(np.int64, copy=False)
    if column.size:
        low, high = int(column.min()), int(column.max())
        if low < -LIMIT or high > LIMIT:
            bad = low if low < -LIMIT else high
            raise ValueError(
                f"{name} holds {bad} at position {int(np.flatnonzero(column == bad)[0])}, "
                f"outside +-{LIMIT}"
            )
    return column


def check_links(n: int, pred: IntArray, succ: IntArray) -> None:
    if pred.size != succ.size:
        raise ValueError(
            f"link_pred and link_succ must have the same length, got {pred.size} and {succ.size}"
        )
    for name, column in (("link_pred", pred), ("link_succ", succ)):
        if column.size and (column.min() < 0 or column.max() >= n):
            at = int(np.flatnonzero((column < 0) | (column >= n))[0])
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

    if kind.size and kind.max() == FS:  # finish-to-start links only: the common case
        weight = lag + span[pred]
    else:
        from_finish = (kind & 1) == 0  # FS or FF
        to_finish = kind >= FF  # FF or SF
        weight = lag + np.where(from_finish, span[pred], 0) - np.where(to_finish, span[succ], 0)
    if pred.size > 1 and (pred[1:] < pred[:-1]).any():
        # Any order among the links of one predecessor will do (see Prepared): no stable sort.
        by_pred = np.argsort(pred)
        pred, succ, weight = pred[by_pred], succ[by_pred], weight[by_pred]
    has_fixed = bool(network.progress)
    forward_weight = np.where(fixed[succ], NEVER, weight) if has_fixed else weight
    out_ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(pred, minlength=n), out=out_ptr[1:])
    indegree = np.bincount(succ, minlength=n).astype(np.int64, copy=False)
    ordered = not pred.size or bool((pred < succ).all())
    return Prepared(
        n,
        span,
        start,
        fixed,
        has_fixed,
        pred,
        succ,
        weight,
        forward_weight,
        out_ptr,
        indegree,
        ordered,
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
class Columns:
    """The CPM result as lists indexed by task (see ``engine.CpmResult``)."""

    es: list[int]
    ef: list[int]
    ls: list[int]
    lf: list[int]
    total_float: list[int]
    free_float: list[int]
    is_critical: list[bool]
    finish: int
    critical_path: list[int]


def slots_of(tasks: IntArray, ptr: IntArray, counts: IntArray) -> IntArray:
    """The CSR slots of every link of ``tasks`` (``counts[i]`` links from ``ptr[tasks[i]]``),
    task by task, in one vectorised step."""
    total = int(counts.sum())
    if not total:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(counts)
    return np.repeat(ptr[tasks] - ends + counts, counts) + np.arange(total)


class Cyclic(Exception):
    """The links contain a cycle (the caller finds it with ``cycle_in``)."""


def cpm_columns(prep: Prepared) -> Columns:
    """Forward and backward pass by the cheapest path for the network's shape.

    Measured on random networks numbered in order: up to about 1,500 tasks the flat loops of
    ``ordered_passes`` are as fast as numpy levels even when the network is wide; above, numpy
    levels win on wide networks (2x at 100,000 tasks) and give up within a few levels on narrow
    ones, which then take the flat loops (ordered) or Kahn's lists.
    """
    ordered = prep.ordered and ORDERED_PASSES
    if ordered and prep.n < ORDERED_FIRST_BELOW:
        return ordered_passes(prep)
    if prep.n >= NUMPY_MIN_TASKS:
        result = level_passes(prep)
        if result is not None:
            return result
    return ordered_passes(prep) if ordered else list_passes(prep)


def level_passes(prep: Prepared) -> Columns | None:
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
        links = slots_of(frontier, out_ptr, counts)
        if not links.size:
            break
        targets = succ[links]
        np.maximum.at(es, targets, es[pred[links]] + prep.forward_weight[links])
        level_links.append(links)
        released, hits = np.unique(targets, return_counts=True)
        left = waiting[released] - hits
        waiting[released] = left
        frontier = released[left == 0]
    if placed < n:
        raise Cyclic
    prep.levels = level_links
    span = prep.span
    ef = es + span
    finish = max(0, int(ef.max())) if n else 0
    ls = finish - span
    weight = prep.weight
    for links in reversed(level_links):
        np.minimum.at(ls, pred[links], ls[succ[links]] - weight[links])
    free_float = finish - ef
    np.minimum.at(free_float, pred, es[succ] - weight - es[pred])
    total_float = ls - es
    critical_mask = total_float <= 0
    critical = np.flatnonzero(critical_mask)
    critical = critical[np.lexsort((critical, ef[critical], es[critical]))]
    return Columns(
        es.tolist(),
        ef.tolist(),
        ls.tolist(),
        (ls + span).tolist(),
        total_float.tolist(),
        free_float.tolist(),
        critical_mask.tolist(),
        finish,
        critical.tolist(),
    )


def ordered_passes(prep: Prepared) -> Columns:
    """The passes as one flat loop over the links each, for ``prep.ordered`` networks.

    Links are sorted by predecessor and every predecessor has a lower index than its successor,
    so when a link is reached going forward, every link into its predecessor was relaxed
    already (they come from lower indices still); going backward, every link out of its
    successor was.
    """
    pred: list[int] = prep.pred.tolist()
    succ: list[int] = prep.succ.tolist()
    es: list[int] = prep.start.tolist()
    for p, s, w in zip(pred, succ, prep.forward_weight.tolist(), strict=True):
        candidate = es[p] + w
        if candidate > es[s]:
            es[s] = candidate
    span: list[int] = prep.span.tolist()
    ef = list(map(add, es, span))
    finish = max(0, max(ef, default=0))
    ls = [finish - length for length in span]
    free = [finish - early for early in ef]
    pred.reverse()
    succ.reverse()
    for p, s, w in zip(pred, succ, reversed(prep.weight.tolist()), strict=True):
        bound = ls[s] - w
        if bound < ls[p]:
            ls[p] = bound
        bound = es[s] - w - es[p]
        if bound < free[p]:
            free[p] = bound
    return _columns(es, ef, ls, free, span, finish)


def list_passes(prep: Prepared) -> Columns:
    """The passes in plain Python, one task at a time (Kahn's order)."""
    n = prep.n
    ptr: list[int] = prep.out_ptr.tolist()
    out_succ: list[int] = prep.succ.tolist()
    span: list[int] = prep.span.tolist()
    es: list[int] = prep.start.tolist()
    order = _forward(n, ptr, out_succ, prep.forward_weight.tolist(), prep.indegree.tolist(), es)
    ef = list(map(add, es, span))
    finish = max(0, max(ef, default=0))
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
    return _columns(es, ef, ls, free, span, finish)


def _columns(
    es: list[int], ef: list[int], ls: list[int], free: list[int], span: list[int], finish: int
) -> Columns:
    """The remaining columns and the critical path (by es, then ef, then index) from lists."""
    total_float = list(map(sub, ls, es))
    is_critical = [slack <= 0 for slack in total_float]
    critical = list(compress(range(len(es)), is_critical))
    if len(critical) > NUMPY_SORT_ABOVE:
        tasks = np.array(critical, dtype=np.int64)
        early = np.frombuffer(array("q", es), dtype=np.int64)[tasks]
        late = np.frombuffer(array("q", ef), dtype=np.int64)[tasks]
        critical = tasks[rank_order(early, late)].tolist()
    else:
        critical.sort(key=es.__getitem__)  # stable: tasks with equal es stay in index order
        starts = [es[task] for task in critical]
        if any(map(eq, starts, starts[1:])):  # equal es: order those by ef (stable: then index)
            critical.sort(key=lambda task: (es[task], ef[task]))
    return Columns(
        es, ef, ls, list(map(add, ls, span)), total_float, free, is_critical, finish, critical
    )


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


def rank_order(first: IntArray, second: IntArray) -> IntArray:
    """Task indices sorted by ``first``, then ``second``, then index (``np.lexsort`` order).

    When the three fit in one int64 key, one unstable argsort of unique keys does it (several
    times faster than lexsort); otherwise lexsort, which is stable.
    """
    n = first.size
    if not n:
        return np.zeros(0, dtype=np.int64)
    low1, low2 = int(first.min()), int(second.min())
    span1, span2 = int(first.max()) - low1 + 1, int(second.max()) - low2 + 1
    if span1 * span2 * n < 1 << 62:
        key = ((first - low1) * span2 + (second - low2)) * n + np.arange(n)
        return np.argsort(key)
    return np.lexsort((second, first))


def in_adjacency(prep: Prepared) -> tuple[IntArray, IntArray, IntArray]:
    """Incoming links: ``(in_ptr, in_pred, in_weight)``, CSR by successor.

    The links of one successor come in no particular order (nothing downstream depends on it).
    """
    by_succ = np.argsort(prep.succ)
    in_ptr = np.zeros(prep.n + 1, dtype=np.int64)
    np.cumsum(prep.indegree, out=in_ptr[1:])
    return in_ptr, prep.pred[by_succ], prep.weight[by_succ]


def longest_feeding_paths(
    prep: Prepared, levels: list[IntArray], durations: IntArray, on_chain: BoolArray
) -> IntArray:
    """``via`` of the feeding-chain search (see ``engine._feeding_chains``) with numpy levels.

    Over the links between non-chain tasks, ``best[t]`` is the longest planned duration of a
    path ending just before t (0 if none); ``via[t]`` is the lowest predecessor whose path
    reaches that best, when it is positive, else -1. ``levels`` (links out of each topological
    level, in order) ensure a predecessor's ``best`` is final before its links are read.
    """
    n = prep.n
    pred, succ = prep.pred, prep.succ
    best = np.zeros(n, dtype=np.int64)
    between = ~(on_chain[pred] | on_chain[succ])
    for links in levels:
        links = links[between[links]]
        before = pred[links]
        np.maximum.at(best, succ[links], best[before] + durations[before])
    before, after = pred[between], succ[between]
    reaching = (best[before] + durations[before] == best[after]) & (best[after] > 0)
    via = np.full(n, n, dtype=np.int64)
    np.minimum.at(via, after[reaching], before[reaching])
    via[via == n] = -1
    return via


def nearest_origin(
    in_ptr: IntArray, in_pred: IntArray, origin: IntArray, frontier: IntArray
) -> tuple[IntArray, IntArray] | None:
    """Breadth-first search upstream with numpy, one layer at a time (see
    ``engine._assign_buffers``). ``origin[t]`` is the position, in the initial queue
    ``frontier``, of the assigned task t takes its buffer from (-1: none yet).

    A task reached in a layer takes the lowest origin among the layer's tasks it precedes,
    which is what a FIFO queue gives (a layer's tasks queue up grouped by origin, in origin
    order). Fills ``origin`` in place; returns None when done, or ``(origin, frontier)`` to
    finish in plain Python when the search turns out deep and narrow.
    """
    in_count = np.diff(in_ptr)
    claim = np.full(origin.size, origin.size, dtype=np.int64)
    slot = np.empty(origin.size, dtype=np.int64)
    layers = reached = 0
    while frontier.size:
        layers += 1
        if layers >= NARROW_AFTER_LEVELS and reached < NARROW_TASKS_PER_LEVEL * layers:
            return origin, frontier
        counts = in_count[frontier]
        links = slots_of(frontier, in_ptr, counts)
        if not links.size:
            break
        preds = in_pred[links]
        origins = np.repeat(origin[frontier], counts)
        free = origin[preds] < 0
        preds, origins = preds[free], origins[free]
        if not preds.size:
            break
        np.minimum.at(claim, preds, origins)
        # Each task once: the one occurrence whose position won the write into ``slot``.
        places = np.arange(preds.size)
        slot[preds] = places
        found = preds[slot[preds] == places]
        claimed = claim[found]
        origin[found] = claimed
        frontier = found[np.argsort(claimed)]  # any order among tasks of one origin
        reached += found.size
    return None


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
