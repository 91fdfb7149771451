"""The pure scheduling engine: CPM, the critical chain and its buffers.

Plain data in, plain data out: no database, no web framework, no recursion. Tasks are the
indices ``0..n-1`` and every input is columnar (one sequence per field); the CPM passes run on
numpy arrays one topological level at a time (see ``_graph``), so the CPM of a 100,000-task
network takes a fraction of a second.

Conventions
-----------
* Time is in working days, as offsets from the project start (see
  :mod:`planwire.scheduling.calendar` for the conversion to dates). Textbook convention: a task of
  duration ``d`` that starts at ``es`` finishes at ``ef = es + d``; a milestone has ``d = 0``.
* Links constrain the successor only: ``FS`` succ.es >= pred.ef + lag, ``SS`` succ.es >= pred.es
  + lag, ``FF`` succ.ef >= pred.ef + lag, ``SF`` succ.ef >= pred.es + lag. Lags may be negative.
* A task never starts before offset 0 (the project start, as in MS Project), nor before its
  start-no-earlier-than offset, nor (once a status date is set) before the status date unless it
  has started.
* Progress: a completed task keeps its actual dates; an in-progress task keeps its actual start
  and finishes ``remaining`` days after the status date (or after its start, if later). Started
  tasks are not moved by their predecessors; if they started out of sequence, their predecessors
  can get a negative total float, which marks them critical.
* The backward pass starts from the project finish (the latest ``ef``, at least 0) and mirrors the
  forward pass. ``total_float = ls - es``; ``free_float`` is the least slack among the task's
  outgoing link constraints, and never more than ``project finish - ef`` (the project finish acts
  as a successor of every task, so a task that ends the project has no free float even when its
  SS/SF successors leave it slack); ``is_critical`` is ``total_float <= 0``.

Exceptions: ``ValueError`` for malformed input (the message names the field and the task or
link); ``CycleError``, a ``ValueError`` carrying ``cycle``, for a dependency cycle (catch it first).
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_right
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from functools import partial
from heapq import heappop, heappush
from itertools import compress
from operator import add, is_not, not_
from typing import Literal

import numpy as np

from planwire.scheduling import _graph

__all__ = [
    "Buffer",
    "BufferBaseline",
    "BufferMethod",
    "BufferStatus",
    "ChainResult",
    "CpmResult",
    "CycleError",
    "LinkType",
    "Network",
    "TaskProgress",
    "Zone",
    "baseline_of",
    "buffer_status",
    "compute_cpm",
    "compute_critical_chain",
    "find_cycle",
]

BufferMethod = Literal["cut_and_paste", "rse"]
Zone = Literal["green", "yellow", "red"]
PROJECT_BUFFER = "project"


class LinkType(IntEnum):
    """Dependency type: which end of the predecessor constrains which end of the successor."""

    FS = 0
    SS = 1
    FF = 2
    SF = 3


@dataclass(frozen=True, slots=True)
class TaskProgress:
    """Progress of a started task, as offsets. ``actual_finish`` set means completed."""

    actual_start: int
    remaining: int
    actual_finish: int | None = None


@dataclass(slots=True)
class Network:
    """A project network in columnar form; tasks are ``0..n-1``, links are parallel columns.

    ``durations`` are planned durations in working days (>= 0; 0 is a milestone). Link ``j`` goes
    from ``link_pred[j]`` to ``link_succ[j]`` with type ``link_type[j]`` (a ``LinkType`` value)
    and lag ``link_lag[j]``. ``snet`` maps a task to its start-no-earlier-than offset,
    ``progress`` holds only the tasks that started, and ``status_offset`` is the status date
    ("now") as an offset, or None while planning.
    """

    durations: Sequence[int]
    link_pred: Sequence[int]
    link_succ: Sequence[int]
    link_type: Sequence[int]
    link_lag: Sequence[int]
    snet: Mapping[int, int] = field(default_factory=dict)
    progress: Mapping[int, TaskProgress] = field(default_factory=dict)
    status_offset: int | None = None


@dataclass(frozen=True, slots=True)
class CpmResult:
    """Per-task CPM dates and floats (lists indexed by task) and the project summary."""

    es: list[int]
    ef: list[int]
    ls: list[int]
    lf: list[int]
    total_float: list[int]
    free_float: list[int]
    is_critical: list[bool]
    duration: int  # project finish offset: the latest ef, at least 0
    critical_path: list[int]  # critical tasks ordered by es, then ef, then index
    # The network this was computed from and its validated internal form, which
    # compute_critical_chain reuses when it is given this result for that same Network object
    # (not part of the result: not compared, not shown).
    _source: tuple[Network, _graph.Prepared] | None = field(default=None, repr=False, compare=False)


class CycleError(ValueError):
    """The links contain a cycle; ``cycle`` lists its tasks in link order."""

    def __init__(self, cycle: list[int]) -> None:
        self.cycle = cycle
        shown = " -> ".join(str(task) for task in [*cycle, cycle[0]])
        super().__init__(f"the dependencies contain a cycle: {shown}")


def find_cycle(n: int, link_pred: Sequence[int], link_succ: Sequence[int]) -> list[int] | None:
    """Return the tasks of one dependency cycle in link order, or None if there is none.

    Each task in the result links to the next one, and the last to the first. Among the cycles
    through the task it finds, the shortest is returned. Iterative, O(n + links).
    """
    preds = _graph.int_column(link_pred, "link_pred")
    succs = _graph.int_column(link_succ, "link_succ")
    _graph.check_links(n, preds, succs)
    return _graph.cycle_in(n, preds.tolist(), succs.tolist())


def compute_cpm(network: Network) -> CpmResult:
    """Forward and backward pass of the critical path method (see the module conventions).

    Raises ``CycleError`` if the links form a cycle and ``ValueError`` for malformed input.
    """
    prep = _graph.prepare(network)
    try:
        columns = _graph.cpm_columns(prep)
    except _graph.Cyclic:
        cycle = find_cycle(prep.n, network.link_pred, network.link_succ)
        assert cycle is not None
        raise CycleError(cycle) from None
    return CpmResult(
        es=columns.es,
        ef=columns.ef,
        ls=columns.ls,
        lf=columns.lf,
        total_float=columns.total_float,
        free_float=columns.free_float,
        is_critical=columns.is_critical,
        duration=columns.finish,
        critical_path=columns.critical_path,
        _source=(network, prep),
    )


@dataclass(frozen=True, slots=True)
class Buffer:
    """A CCPM buffer and the chain it protects.

    ``key`` is ``"project"`` or ``"feeding:<name of the joining non-chain task>"`` (its index
    unless the caller named the tasks: see :func:`compute_critical_chain`); ``tasks`` the
    protected chain, first to last; ``projected_finish`` the levelled finish offset of that chain;
    ``chain_duration`` the sum of the chain's planned durations and ``remaining`` the work left on
    it (planned duration if not started, remaining days if in progress, 0 if completed).
    """

    key: str
    size: int
    tasks: list[int]
    projected_finish: int
    chain_duration: int
    remaining: int


@dataclass(frozen=True, slots=True)
class ChainResult:
    """The resource-levelled schedule, the critical chain and its buffers.

    ``start``/``finish`` are levelled offsets per task; ``chain`` is the critical chain, first to
    last, ending at ``chain_finish``; ``buffers`` maps each buffer key to its ``Buffer`` (the
    project buffer first, then feeding buffers by joining task); ``task_buffer`` gives, per task,
    the key of the buffer its work feeds.
    """

    start: list[int]
    finish: list[int]
    chain: list[int]
    chain_finish: int
    buffers: dict[str, Buffer]
    task_buffer: list[str | None]


@dataclass(frozen=True, slots=True)
class BufferBaseline:
    """What was recorded for a buffer when the baseline was set."""

    size: int
    finish: int  # the chain's planned finish offset
    chain_duration: int  # the chain's planned duration (sum of its tasks' durations)


@dataclass(frozen=True, slots=True)
class BufferStatus:
    """Execution status of one buffer; ``consumption`` and ``completion`` are percentages."""

    size: int
    consumption: float
    completion: float
    zone: Zone


def compute_critical_chain(
    network: Network,
    resources: Sequence[str | None],
    safe_durations: Sequence[int | None],
    method: BufferMethod,
    cpm: CpmResult | None = None,
    task_names: Sequence[str] | None = None,
) -> ChainResult:
    """Level resources, find the critical chain and size the project and feeding buffers.

    Levelling is a serial schedule-generation scheme. Tasks are taken one at a time among those
    whose predecessors are all placed, lowest CPM late finish first (ties: lower CPM early start,
    then lower index), and each is placed at the earliest offset that satisfies its incoming
    links (all four types, with lags, against the already placed predecessors), its lower bounds
    (project start, start-no-earlier-than, status date) and its resource: tasks that share a
    non-empty ``resources`` string never overlap. Milestones occupy no resource time. Started
    and completed tasks keep their fixed dates and are booked on their resource first.

    The critical chain is then walked back from the task with the latest levelled finish (ties:
    latest start, so a closing milestone ends the chain, then lowest index): at each step the
    next task is one whose precedence link or resource hand-over ends exactly where the current
    task starts (the one starting earliest; ties: precedence before resource, then lowest
    index). The walk stops at a task nothing binds.

    Buffers are sized over their chain's tasks with ``method``: ``cut_and_paste`` is half the
    chain's planned duration rounded half up, ``rse`` is the square root of the sum of
    ``(safe_duration - duration) ** 2`` over the tasks that have a safe duration, rounded up.
    Every non-chain task linked into a chain task gets a feeding buffer, over the longest path
    (by planned duration) of non-chain tasks ending at it. ``task_buffer`` maps chain tasks to
    ``"project"``, a joining task to its own buffer, other feeding-chain tasks to the buffer of
    the lowest joining task whose chain holds them, and every other task to the buffer of the
    nearest (fewest links) assigned task downstream, or ``"project"`` if there is none.

    A feeding buffer's key is ``"feeding:"`` and the joining task's entry in ``task_names``
    (the caller's own ids, which outlive task numbers), or its index when none are given.
    """
    if method not in ("cut_and_paste", "rse"):
        raise ValueError(f"method must be 'cut_and_paste' or 'rse', got {method!r}")
    if cpm is None:
        cpm = compute_cpm(network)
    prep = _prepared(network, cpm)
    n = prep.n
    span: list[int] = prep.span.tolist()
    durations: list[int] = span if not prep.has_fixed else list(network.durations)
    for name, column in (
        ("resources", resources),
        ("safe_durations", safe_durations),
        ("cpm.lf", cpm.lf),
        ("task_names", range(n) if task_names is None else task_names),
    ):
        if len(column) != n:
            raise ValueError(f"{name} must have one entry per task ({n}), got {len(column)}")
    known_safe: Iterator[int] = filter(partial(is_not, None), safe_durations)  # type: ignore[arg-type]
    if min(known_safe, default=0) < 0:
        for task, safe in enumerate(safe_durations):
            if safe is not None and safe < 0:
                raise ValueError(f"safe_durations must be >= 0: task {task} has {safe}")

    resource_of = _resource_ids(resources)
    # The plain-Python feeding-chain search (no numpy levels) needs a topological order. Any
    # gives the same longest paths: the index order when the network is numbered in order,
    # else the levelling's placing order.
    order = list(range(n)) if prep.levels is None and prep.ordered else []
    needs_order = prep.levels is None and not prep.ordered
    if max(resource_of, default=-1) < 0 and _computed_from(cpm, prep) and not needs_order:
        # No task has a resource: levelling would place every task at the earliest offset its
        # links and lower bounds allow, which is its CPM early start in this very network.
        start = list(cpm.es)
    else:
        start, placed = _level(prep, span, resource_of, cpm, with_order=needs_order)
        order = placed if needs_order else order
    finish = list(map(add, start, span))
    in_ptr_array, in_pred_array, in_weight_array = _graph.in_adjacency(prep)
    in_ptr: list[int] = in_ptr_array.tolist()
    in_pred: list[int] = in_pred_array.tolist()
    chain = _walk_chain(span, start, finish, resource_of, in_ptr, in_pred, in_weight_array.tolist())
    chain_finish = finish[chain[-1]] if chain else 0

    remaining = _graph.progress_remaining(durations, network.progress)
    if method == "rse":
        safety = [
            0 if safe is None else safe - planned
            for safe, planned in zip(safe_durations, durations, strict=True)
        ]
        has_safe = [safe is not None for safe in safe_durations]

    def make_buffer(key: str, tasks: list[int], chain_end: int) -> Buffer:
        planned = sum(map(durations.__getitem__, tasks))
        if method == "cut_and_paste":
            size = (planned + 1) // 2
        else:
            squares = sum(safety[t] * safety[t] for t in tasks if has_safe[t])
            root = math.isqrt(squares)
            size = root if root * root == squares else root + 1
        return Buffer(key, size, tasks, chain_end, planned, sum(map(remaining.__getitem__, tasks)))

    buffers = {PROJECT_BUFFER: make_buffer(PROJECT_BUFFER, chain, chain_finish)} if n else {}
    feeding = _feeding_chains(prep, order, durations, chain, in_ptr, in_pred)
    name_of = str if task_names is None else task_names.__getitem__
    keys = [f"feeding:{name_of(joining)}" for joining, _ in feeding]
    for key, (joining, tasks) in zip(keys, feeding, strict=True):
        buffers[key] = make_buffer(key, tasks, finish[joining])
    task_buffer = _assign_buffers(
        prep, chain, feeding, keys, (in_ptr_array, in_pred_array), in_ptr, in_pred
    )
    return ChainResult(start, finish, chain, chain_finish, buffers, task_buffer)


def _prepared(network: Network, cpm: CpmResult) -> _graph.Prepared:
    """The internal form of ``network``: the one ``cpm`` was computed from, if it is the same
    Network object (a CpmResult only fits the network it came from anyway), else a new one."""
    if cpm._source is not None:
        source, prep = cpm._source
        if (
            source is network
            and len(network.durations) == prep.n
            and len(network.link_pred) == prep.pred.size
        ):
            return prep
    return _graph.prepare(network)


def _computed_from(cpm: CpmResult, prep: _graph.Prepared) -> bool:
    """Whether ``cpm`` holds the dates of ``prep`` itself (not of another network's)."""
    return cpm._source is not None and cpm._source[1] is prep


def baseline_of(chain: ChainResult) -> dict[str, BufferBaseline]:
    """The baseline to record for each buffer of ``chain`` (its size, finish and chain length)."""
    return {
        key: BufferBaseline(buffer.size, buffer.projected_finish, buffer.chain_duration)
        for key, buffer in chain.buffers.items()
    }


def buffer_status(
    chain: ChainResult,
    baseline: Mapping[str, BufferBaseline] | None,
    yellow: float = 50.0,
    red: float = 90.0,
) -> dict[str, BufferStatus]:
    """Consumption, chain completion and zone of every buffer of ``chain``.

    Against the buffer's baseline (when ``baseline`` has its key): ``consumption`` is
    ``max(0, projected finish - baseline finish) / baseline size * 100`` (it may pass 100; 0 for a
    zero-size buffer) and ``completion`` is the share of the baseline chain's duration that is no
    longer remaining. Without a baseline the consumption is 0 and the completion is measured
    against the current chain. Either is 0 when its reference is 0. ``size`` is the size the
    consumption is measured against. Zones: ``green`` below ``yellow``, ``yellow`` from
    ``yellow`` up to ``red`` inclusive, ``red`` above ``red``.
    """
    if not 0 <= yellow <= red:
        raise ValueError(f"zone thresholds need 0 <= yellow <= red, got yellow={yellow}, red={red}")
    statuses: dict[str, BufferStatus] = {}
    for key, buffer in chain.buffers.items():
        recorded = baseline.get(key) if baseline is not None else None
        if recorded is None:
            size, consumption, reference = buffer.size, 0.0, buffer.chain_duration
        else:
            size, reference = recorded.size, recorded.chain_duration
            delay = buffer.projected_finish - recorded.finish
            consumption = delay / size * 100.0 if size > 0 and delay > 0 else 0.0
        done = reference - buffer.remaining
        completion = min(100.0, max(0.0, done / reference * 100.0)) if reference > 0 else 0.0
        if consumption < yellow:
            zone: Zone = "green"
        elif consumption <= red:
            zone = "yellow"
        else:
            zone = "red"
        statuses[key] = BufferStatus(size, consumption, completion, zone)
    return statuses


def _resource_ids(resources: Sequence[str | None]) -> list[int]:
    """Resource number per task, -1 for none (None or an empty string)."""
    numbers: dict[str | None, int] = {name: i for i, name in enumerate(dict.fromkeys(resources))}
    numbers[None] = numbers[""] = -1
    return list(map(numbers.__getitem__, resources))


def _level(
    prep: _graph.Prepared,
    span: list[int],
    resource_of: list[int],
    cpm: CpmResult,
    with_order: bool = True,
) -> tuple[list[int], list[int]]:
    """Serial schedule generation with late-finish priority (see compute_critical_chain).

    Returns the levelled starts and the order the tasks were placed in (a topological order;
    empty unless ``with_order``).

    The loop works on tasks renumbered by priority rank (rank by (lf, es, index)): the heap
    holds plain ints that are the tasks themselves, and since tasks are placed roughly in rank
    order, the lists it reads are walked roughly in storage order (a third faster at 100,000
    tasks than in task order, from memory locality alone).
    """
    n = prep.n
    by_rank = _graph.rank_order(
        _graph.int_column(cpm.lf, "cpm.lf"), _graph.int_column(cpm.es, "cpm.es")
    )
    rank = np.empty(n, dtype=np.int64)
    rank[by_rank] = np.arange(n)
    # The links in rank space, grouped by the rank of their predecessor.
    out_count = np.diff(prep.out_ptr)[by_rank]
    ptr_array = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(out_count, out=ptr_array[1:])
    links = np.repeat(prep.out_ptr[by_rank] - ptr_array[:-1], out_count)
    links += np.arange(links.size)
    ptr: list[int] = ptr_array.tolist()
    out_succ: list[int] = rank[prep.succ[links]].tolist()
    out_weight: list[int] = prep.forward_weight[links].tolist()
    waiting: list[int] = prep.indegree[by_rank].tolist()
    # Earliest start of each rank; the fixed start of started tasks.
    bound: list[int] = prep.start[by_rank].tolist()
    length_of: list[int] = prep.span[by_rank].tolist()
    # Resource to level each rank on: -1 for none, for milestones and for started tasks.
    resource_array = np.frombuffer(array("q", resource_of), dtype=np.int64)
    levelled: list[int] = np.where((prep.span > 0) & ~prep.fixed, resource_array, -1)[
        by_rank
    ].tolist()

    resource_count = max(resource_of, default=-1) + 1
    busy_start: list[list[int]] = [[] for _ in range(resource_count)]
    busy_end: list[list[int]] = [[] for _ in range(resource_count)]
    if prep.has_fixed:
        for task in compress(range(n), prep.fixed.tolist()):
            resource = resource_of[task]
            if resource >= 0 and span[task] > 0:
                begin = bound[int(rank[task])]
                _book_merging(busy_start[resource], busy_end[resource], begin, begin + span[task])

    start = [0] * n  # by rank
    heap = list(compress(range(n), map(not_, waiting)))  # ranks in increasing order: a heap
    order: list[int] = []
    append = order.append if with_order else int  # int(task): a cheap no-op
    placed = 0
    while heap:
        task = heappop(heap)
        append(task)
        placed += 1
        begin = bound[task]
        resource = levelled[task]
        if resource >= 0:
            ends = busy_end[resource]
            if not ends or begin > ends[-1]:  # after everything booked: the common case
                busy_start[resource].append(begin)
                ends.append(begin + length_of[task])
            elif begin == ends[-1]:
                ends[-1] = begin + length_of[task]
            else:  # the first gap at or after begin long enough for the task
                starts = busy_start[resource]
                length = length_of[task]
                index = bisect_right(starts, begin) - 1
                if index >= 0 and ends[index] > begin:
                    begin = ends[index]
                index += 1
                count = len(starts)
                while index < count and starts[index] < begin + length:
                    begin = ends[index]
                    index += 1
                # Book [begin, end) just before interval ``index`` (every interval before it
                # ends at or before begin, the next one starts at or after end), merging with
                # touching neighbours.
                end = begin + length
                if index and ends[index - 1] == begin:
                    if index < count and starts[index] == end:
                        ends[index - 1] = ends[index]
                        del starts[index], ends[index]
                    else:
                        ends[index - 1] = end
                elif index < count and starts[index] == end:
                    starts[index] = begin
                else:
                    starts.insert(index, begin)
                    ends.insert(index, end)
        start[task] = begin
        for slot in range(ptr[task], ptr[task + 1]):
            succ = out_succ[slot]
            candidate = begin + out_weight[slot]
            if candidate > bound[succ]:
                bound[succ] = candidate
            left = waiting[succ] - 1
            waiting[succ] = left
            if not left:
                heappush(heap, succ)
    if placed < n:
        raise ValueError("the links contain a cycle")
    by_task: list[int] = np.frombuffer(array("q", start), dtype=np.int64)[rank].tolist()
    if with_order:
        order = by_rank[np.array(order, dtype=np.int64)].tolist()
    return by_task, order


def _book_merging(starts: list[int], ends: list[int], begin: int, end: int) -> None:
    """Book [begin, end), merging with whatever it overlaps (started tasks may overlap)."""
    index = bisect_right(starts, begin)
    if index > 0 and ends[index - 1] >= begin:
        index -= 1
        begin = starts[index]
        end = max(end, ends[index])
    last = index
    while last < len(starts) and starts[last] <= end:
        end = max(end, ends[last])
        last += 1
    starts[index:last] = [begin]
    ends[index:last] = [end]


def _walk_chain(
    span: list[int],
    start: list[int],
    finish: list[int],
    resource_of: list[int],
    in_ptr: list[int],
    in_pred: list[int],
    in_weight: list[int],
) -> list[int]:
    """Walk back from the latest finish through binding links and resource hand-overs."""
    n = len(span)
    if not n:
        return []
    # The tasks that hand a resource over (not milestones), grouped by resource, each group in
    # index order; a group's table (finish -> the lowest of its tasks finishing there) is built
    # the first time the walk needs it, so a long walk builds them all, a short one few.
    resource_array = np.frombuffer(array("q", resource_of), dtype=np.int64)
    holder = np.flatnonzero(
        (resource_array >= 0) & (np.frombuffer(array("q", span), dtype=np.int64) > 0)
    )
    grouped = np.sort(resource_array[holder] * n + holder)
    members: list[int] = (grouped % n).tolist()
    first_member: list[int] = np.searchsorted(grouped, np.arange(max(resource_of) + 2) * n).tolist()
    handover: dict[int, dict[int, int]] = {}
    finish_array = np.frombuffer(array("q", finish), dtype=np.int64)
    # The latest finish; among ties the latest start, so a closing milestone ends the chain.
    latest = finish_array.max()
    current = max(
        np.flatnonzero(finish_array == latest).tolist(),
        key=lambda task: (start[task], -task),
    )
    chain = [current]
    seen = {current}
    while True:
        # The next task: the binding predecessor or resource hand-over that starts earliest;
        # ties: precedence before resource, then the lowest index.
        begin = start[current]
        best = best_start = -1
        for slot in range(in_ptr[current], in_ptr[current + 1]):
            pred = in_pred[slot]
            pred_start = start[pred]
            if (
                pred_start + in_weight[slot] == begin
                and pred not in seen
                and (
                    best < 0
                    or pred_start < best_start
                    or (pred_start == best_start and pred < best)
                )
            ):
                best, best_start = pred, pred_start
        resource = resource_of[current]
        if resource >= 0 and span[current] > 0:
            table = handover.get(resource)
            if table is None:
                group = members[first_member[resource] : first_member[resource + 1]]
                group.reverse()  # the lowest task is written last
                table = handover[resource] = dict(
                    zip(map(finish.__getitem__, group), group, strict=True)
                )
            before = table.get(begin)
            if (
                before is not None
                and before not in seen
                and (best < 0 or start[before] < best_start)
            ):
                best = before
        if best < 0:
            break
        current = best
        chain.append(current)
        seen.add(current)
    chain.reverse()
    return chain


def _feeding_chains(
    prep: _graph.Prepared,
    order: list[int],
    durations: list[int],
    chain: list[int],
    in_ptr: list[int],
    in_pred: list[int],
) -> list[tuple[int, list[int]]]:
    """``(joining task, its feeding chain)`` for every non-chain task linked into the chain.

    The feeding chain is the longest path (by planned duration; ties: lowest predecessor index)
    of non-chain tasks that ends at the joining task, found by one pass in topological order:
    numpy levels when the CPM ran through them (``_graph.longest_feeding_paths``), else plain
    Python in the levelling order.
    """
    n = prep.n
    # length[t]: planned duration of the longest non-chain path ending at t; -1 marks the chain.
    length = [0] * n
    for task in chain:
        length[task] = -1
    joining = sorted(
        {
            pred
            for task in chain
            for pred in in_pred[in_ptr[task] : in_ptr[task + 1]]
            if length[pred] >= 0
        }
    )
    if not joining:
        return []
    if prep.levels is not None:
        on_chain = np.zeros(n, dtype=np.bool_)
        on_chain[chain] = True
        planned = _graph.int_column(durations, "durations")
        via: list[int] = _graph.longest_feeding_paths(prep, prep.levels, planned, on_chain).tolist()
    else:
        via = [-1] * n
        for task in order:
            if length[task] < 0:
                continue
            best, best_pred = 0, -1
            for pred in in_pred[in_ptr[task] : in_ptr[task + 1]]:
                path = length[pred]
                if path > best or (path == best and best_pred > pred):
                    best, best_pred = path, pred
            length[task] = best + durations[task]
            via[task] = best_pred
    chains = []
    for task in joining:
        path_tasks = [task]
        step = via[task]
        while step >= 0:
            path_tasks.append(step)
            step = via[step]
        path_tasks.reverse()
        chains.append((task, path_tasks))
    return chains


def _assign_buffers(
    prep: _graph.Prepared,
    chain: list[int],
    feeding: list[tuple[int, list[int]]],
    feeding_keys: list[str],
    in_arrays: tuple[_graph.IntArray, _graph.IntArray],
    in_ptr: list[int],
    in_pred: list[int],
) -> list[str | None]:
    """The buffer key each task feeds (see compute_critical_chain); never None in fact.
    ``feeding_keys``: the key of each feeding buffer, in the order of ``feeding``."""
    n = prep.n
    task_buffer: list[str | None] = [None] * n
    for task in chain:
        task_buffer[task] = PROJECT_BUFFER
    for key, (joining, _) in zip(feeding_keys, feeding, strict=True):
        task_buffer[joining] = key
    for key, (_, tasks) in zip(feeding_keys, feeding, strict=True):
        for task in tasks:
            if task_buffer[task] is None:
                task_buffer[task] = key
    # Multi-source breadth-first search upstream: the nearest assigned task downstream wins
    # (ties: the first in the queue, which starts with the assigned tasks in index order).
    sources = list(compress(range(n), task_buffer))  # keys are non-empty strings
    queue = deque(sources)
    if prep.levels is not None:  # a wide network: numpy layers, plain Python if it narrows
        keys: list[str | None] = [task_buffer[task] for task in sources]
        keys.append(PROJECT_BUFFER)  # origin -1 (nothing downstream) reads the last key
        origin = np.full(n, -1, dtype=np.int64)
        frontier = np.array(sources, dtype=np.int64)
        origin[frontier] = np.arange(frontier.size)
        left = _graph.nearest_origin(in_arrays[0], in_arrays[1], origin, frontier)
        if left is None:
            return list(map(keys.__getitem__, origin.tolist()))
        origin, frontier = left
        found = np.flatnonzero(origin >= 0)
        for task, assigned in zip(
            found.tolist(), map(keys.__getitem__, origin[found].tolist()), strict=True
        ):
            task_buffer[task] = assigned
        queue = deque(frontier.tolist())
    while queue:
        task = queue.popleft()
        downstream = task_buffer[task]
        for pred in in_pred[in_ptr[task] : in_ptr[task + 1]]:
            if task_buffer[pred] is None:
                task_buffer[pred] = downstream
                queue.append(pred)
    return [PROJECT_BUFFER if found is None else found for found in task_buffer]
