"""The database side of scheduling: load a project, run the pure engine, store the results.

A request marks the projects it changed (:func:`mark_for_recalculation`); the unit of work
recalculates each once, after all the request's changes and before the commit
(:func:`recalculate_marked`). Results are written with one bulk UPDATE of the tasks whose
computed fields changed. Transition events (``task.ready``, ``task.red``,
``project.early_warning``) fire when a stored state flips, never again while it holds.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from functools import lru_cache
from itertools import islice
from typing import Any

import numpy as np
from sqlalchemy import Connection, String, cast, inspect, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from planwire.db import utcnow
from planwire.errors import Conflict, Unprocessable
from planwire.events import payloads
from planwire.events import service as events
from planwire.projects.models import BufferHistoryPoint, Project
from planwire.scheduling.calendar import WorkCalendar
from planwire.scheduling.engine import (
    BufferBaseline,
    CycleError,
    Network,
    TaskProgress,
    buffer_status,
    compute_cpm,
    compute_critical_chain,
)
from planwire.tasks.models import Dependency, Task

_MARKED = "planwire.recalculate"
_BASELINE = "planwire.baseline"
#: Per marked project, the tasks whose own fields alone the transaction changed, or None when
#: it changed anything else (see :func:`mark_for_recalculation`).
_EDITED = "planwire.edited"

LINK_CODES = {"FS": 0, "SS": 1, "FF": 2, "SF": 3}
# Computed columns written back to tasks, in this order.
COMPUTED = (
    "es",
    "ef",
    "ls",
    "lf",
    "total_float",
    "free_float",
    "is_critical",
    "on_critical_chain",
    "start_date",
    "finish_date",
    "buffer_key",
    "buffer_consumption",
    "zone",
    "is_ready",
)
# Ids are read as text (SQLite: its 32 stored hex digits, PostgreSQL: the usual form): turning
# 1,000 task ids and a few thousand link ends into UUID objects, and hashing those, on every
# recalculation cost more than the CPM itself. They become UUIDs only where an id leaves this
# module (:func:`_id_text`, :func:`_id_uuid`; :func:`_raw_id` the other way).
_TASK_ID = cast(Task.id, String())
# The task columns a schedule depends on, in the order of _Inputs' task fields.
_TASK_INPUTS = (
    Task.duration,
    Task.remaining_duration,
    Task.status,
    Task.actual_start,
    Task.actual_finish,
    Task.start_no_earlier_than,
    Task.resource,
    Task.safe_duration,
)
#: The names of those columns in :class:`_Inputs`.
_TASK_FIELDS = (
    "duration",
    "remaining",
    "status",
    "actual_start",
    "actual_finish",
    "start_no_earlier_than",
    "resource",
    "safe_duration",
)


def mark_for_recalculation(
    session: Session, project: Project, *, edited: Task | None = None
) -> None:
    """Recalculate ``project`` before this transaction commits.

    ``edited`` says that the change was to fields of that one task, and nothing else in the
    project: no task added or removed, no link added or removed. When every change of the
    transaction says so, the recalculation takes the inputs it remembers from the last one and
    the edited tasks' new values, instead of reading every task and link again.
    """
    marked: dict[uuid.UUID, Project] = session.info.setdefault(_MARKED, {})
    edits: dict[uuid.UUID, set[Task] | None] = session.info.setdefault(_EDITED, {})
    known = edits.get(project.id) if project.id in marked else set()
    edits[project.id] = None if known is None or edited is None else {*known, edited}
    marked[project.id] = project


def mark_for_baseline(session: Session, project: Project) -> None:
    session.info.setdefault(_BASELINE, set()).add(project.id)
    mark_for_recalculation(session, project)


def forget_marked(session: Session) -> None:
    session.info.pop(_MARKED, None)
    session.info.pop(_BASELINE, None)
    session.info.pop(_EDITED, None)


def recalculate_marked(session: Session) -> None:
    marked: dict[uuid.UUID, Project] = session.info.pop(_MARKED, {})
    baselines: set[uuid.UUID] = session.info.pop(_BASELINE, set())
    edits: dict[uuid.UUID, set[Task] | None] = session.info.pop(_EDITED, {})
    for project in marked.values():
        state = inspect(project)
        if state.deleted or state.was_deleted:
            continue
        try:
            recalculate(
                session,
                project,
                record_baseline=project.id in baselines,
                edited=edits.get(project.id),
            )
        except (OverflowError, ValueError) as exc:
            if isinstance(exc, ValueError) and "out of range" not in str(exc):
                raise
            raise Unprocessable(
                "The schedule would end after 9999-12-31: shorten durations or lags, or move dates."
            ) from exc


def calendar_of(project: Project) -> WorkCalendar:
    calendar = project.calendar or {}
    return WorkCalendar(
        project.start_date,
        calendar.get("working_days", [0, 1, 2, 3, 4]),
        [date.fromisoformat(day) for day in calendar.get("holidays", [])],
    )


def recalculate(
    session: Session,
    project: Project,
    *,
    record_baseline: bool = False,
    edited: set[Task] | None = None,
) -> None:
    """Recalculate ``project`` and store the results (the caller owns the transaction).

    ``edited``: the tasks whose own fields alone changed since the last recalculation in this
    transaction (see :func:`mark_for_recalculation`); None when anything may have changed.
    """
    # The session's pending changes go first, as its autoflush would have sent them.
    session.flush()
    connection = session.connection()
    inputs, stored = _load(connection, project.id, edited)
    ids = inputs.ids
    calendar = calendar_of(project)
    status_day = project.status_date or utcnow().date()
    network = Network(
        durations=[
            left if status == "NotStarted" else days
            for days, left, status in zip(
                inputs.duration, inputs.remaining, inputs.status, strict=True
            )
        ],
        link_pred=inputs.link_pred,
        link_succ=inputs.link_succ,
        link_type=inputs.link_type,
        link_lag=inputs.link_lag,
        snet={
            i: calendar.offset_of(day)
            for i, day in enumerate(inputs.start_no_earlier_than)
            if day is not None
        },
        progress={
            i: _progress(calendar, inputs, i)
            for i, day in enumerate(inputs.actual_start)
            if day is not None
        },
        status_offset=None if project.status == "Planning" else calendar.offset_of(status_day),
    )
    try:
        cpm = compute_cpm(network)
    except CycleError as exc:
        raw_ids = inputs.raw_ids
        cycle = [ids[i] for i in exc.cycle]
        names = dict(  # only here: reading every task's name costs every recalculation
            connection.execute(
                select(_TASK_ID, Task.name).where(_TASK_ID.in_([raw_ids[i] for i in exc.cycle]))
            ).all()
        )
        shown = " -> ".join(names[raw_ids[i]] for i in [*exc.cycle, exc.cycle[0]])
        raise Conflict(
            f"These dependencies would close a cycle: {shown}", cycle=[*cycle, cycle[0]]
        ) from None
    chain = compute_critical_chain(
        network,
        inputs.resource,
        inputs.safe_duration,
        project.buffer_method,  # type: ignore[arg-type]  # validated on input
        cpm,
        # Feeding buffers named by their joining task's id, not its number in this run:
        # stored keys (baselines, Task.buffer_key) must survive new tasks.
        task_names=ids,
    )
    if record_baseline:
        project.baseline = _baseline(calendar, chain, ids)
    statuses = buffer_status(
        chain,
        _baseline_buffers(project.baseline),
        project.yellow_threshold,
        project.red_threshold,
    )
    task_status = inputs.status
    ready = _readiness(project, task_status, network)

    on_chain = [False] * len(ids)
    for i in chain.chain:
        on_chain[i] = True
    starts, finishes = task_days(calendar, cpm.es, cpm.ef)
    # Per buffer key (a few dozen), not per task: the rounded consumption and the zone.
    buffer_state: dict[str | None, tuple[float, str]] = {
        key: (round(item.consumption, 2), item.zone) for key, item in statuses.items()
    }
    state = [buffer_state.get(key, _NO_BUFFER) for key in chain.task_buffer]
    # Every task's COMPUTED values, one tuple each (built column-wise: zip makes the tuples).
    computed: list[tuple[Any, ...]] = list(
        zip(
            cpm.es,
            cpm.ef,
            cpm.ls,
            cpm.lf,
            cpm.total_float,
            cpm.free_float,
            cpm.is_critical,
            on_chain,
            starts,
            finishes,
            chain.task_buffer,
            [consumption for consumption, _ in state],
            [
                "green" if status == "Completed" else zone
                for status, (_, zone) in zip(task_status, state, strict=True)
            ],
            ready,
            strict=True,
        )
    )
    moved = [i for i, (new, old) in enumerate(zip(computed, stored, strict=True)) if new != old]
    changed = [(inputs.raw_ids[i], ids[i], computed[i]) for i in moved]  # (raw id, id, values)
    previous = [stored[i] for i in moved]  # what the changed tasks held
    for i in moved:
        _record_task_transitions(session, project, inputs.raw_ids[i], computed[i], stored[i])
    if changed:
        _store_computed(session, changed, previous)
    _update_project(session, project, calendar, cpm, chain, statuses, ids, changed)
    project.schedule_revision = uuid.uuid4().hex
    _remembered.put(project.id, _Remembered(project.schedule_revision, inputs, computed))


@dataclass(frozen=True, slots=True)
class _Inputs:
    """What a project's schedule is computed from, column by column, tasks in creation order
    (the engine's task numbers). Never changed in place: remembered inputs are shared."""

    #: Task ids as read (SQLite: the 32 stored hex digits; PostgreSQL: the usual text form).
    raw_ids: list[str]
    #: Task ids in their usual text form.
    ids: list[str]
    #: Raw id to task number.
    index: dict[str, int]
    duration: list[int]
    remaining: list[int]
    status: list[str]
    actual_start: list[date | None]
    actual_finish: list[date | None]
    start_no_earlier_than: list[date | None]
    resource: list[str | None]
    safe_duration: list[int | None]
    link_pred: list[int]
    link_succ: list[int]
    link_type: list[int]
    link_lag: list[int]

    @classmethod
    def read(
        cls, connection: Connection, project_id: uuid.UUID, *extra: Any
    ) -> tuple[_Inputs, list[tuple[Any, ...]]]:
        """The project's inputs, and per task the ``extra`` columns read with them."""
        # Plain Core reads on the session's connection: the ORM's row machinery is not needed
        # for columns, and it doubled the cost of reading 1,000 tasks and their links.
        rows = connection.execute(
            select(_TASK_ID, *_TASK_INPUTS, *extra)
            .where(Task.project_id == project_id)
            .order_by(Task.created_at, Task.id)
        ).all()
        links = connection.execute(
            select(
                cast(Dependency.predecessor_id, String()),
                cast(Dependency.successor_id, String()),
                Dependency.type,
                Dependency.lag,
            ).where(Dependency.project_id == project_id)
        ).all()
        # Columns, not rows: attribute access on 1,000 rows cost more than the network build.
        width = 1 + len(_TASK_INPUTS)
        raw_ids, *task_columns = _columns(rows, width)
        pred, succ, types, lags = _columns(links, 4)
        index = {raw: i for i, raw in enumerate(raw_ids)}
        task_fields: dict[str, Any] = dict(zip(_TASK_FIELDS, task_columns, strict=True))
        inputs = cls(
            raw_ids=raw_ids,
            ids=[_id_text(raw) for raw in raw_ids],
            index=index,
            **task_fields,
            link_pred=list(map(index.__getitem__, pred)),
            link_succ=list(map(index.__getitem__, succ)),
            link_type=list(map(LINK_CODES.__getitem__, types)),
            link_lag=lags,
        )
        return inputs, [tuple(row[width:]) for row in rows] if extra else []

    def with_edits(self, tasks: set[Task], dialect: str) -> _Inputs | None:
        """These inputs with the current fields of ``tasks``; None when one of them is not
        among these tasks."""
        columns: dict[str, Any] = {name: list(getattr(self, name)) for name in _TASK_FIELDS}
        for task in tasks:
            i = self.index.get(_raw_id(task.id, dialect))
            if i is None:
                return None
            for name, column in zip(_TASK_FIELDS, _TASK_INPUTS, strict=True):
                columns[name][i] = getattr(task, column.key)
        return replace(self, **columns)

    @property
    def size(self) -> int:
        """Tasks and links: what bounds the memory they hold."""
        return len(self.raw_ids) + len(self.link_pred)


@dataclass(frozen=True, slots=True)
class _Remembered:
    #: The ``Project.schedule_revision`` stored with these results.
    revision: str
    inputs: _Inputs
    #: Per task (in the order of ``inputs``), the computed values stored (``COMPUTED``).
    computed: list[tuple[Any, ...]]


class _RememberedSchedules:
    """What the last recalculation of each project in this process read and stored, under the
    revision token stored with it (``Project.schedule_revision``, a new random token per
    recalculation).

    A recalculation compares what it computes with what is stored, to write only the tasks
    that changed and to fire transition events. Reading those 14 columns of every task back
    was half of its reads; and when a transaction only edited tasks' own fields (see
    :func:`mark_for_recalculation`), reading every task and link again was most of the rest.
    While the stored token is the one remembered here, nothing else has recalculated the
    project since: other processes and rolled-back transactions leave another token, every
    change of a task or link recalculates, and only :func:`recalculate` writes computed
    columns, so the remembered inputs and values are the stored ones.

    Bounded by the tasks and links remembered (a 1,000-task project with 1,528 links holds
    0.9 MB, measured with tracemalloc: some 50 MB for the default 150,000), least recently
    used first out; thread-safe.
    """

    def __init__(self, max_items: int) -> None:
        self._max_items = max_items
        self._size = 0
        self._items: OrderedDict[uuid.UUID, _Remembered] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, project_id: uuid.UUID, revision: str | None) -> _Remembered | None:
        with self._lock:
            item = self._items.get(project_id)
            if item is None or revision is None or item.revision != revision:
                return None
            self._items.move_to_end(project_id)
            return item

    def put(self, project_id: uuid.UUID, item: _Remembered) -> None:
        with self._lock:
            old = self._items.pop(project_id, None)
            if old is not None:
                self._size -= old.inputs.size
            if item.inputs.size > self._max_items:
                return
            self._items[project_id] = item
            self._size += item.inputs.size
            while self._size > self._max_items:
                _, dropped = self._items.popitem(last=False)
                self._size -= dropped.inputs.size


_remembered = _RememberedSchedules(max_items=150_000)


def _load(
    connection: Connection, project_id: uuid.UUID, edited: set[Task] | None
) -> tuple[_Inputs, list[Any]]:
    """The project's inputs and, per task, its stored computed values: remembered when
    possible (see :class:`_RememberedSchedules`), else read."""
    revision = connection.scalar(select(Project.schedule_revision).where(Project.id == project_id))
    remembered = _remembered.get(project_id, revision)
    if remembered is not None:
        if edited is not None:
            inputs = remembered.inputs.with_edits(edited, connection.dialect.name)
            if inputs is not None:
                return inputs, remembered.computed
        inputs, _ = _Inputs.read(connection, project_id)
        by_id = dict(zip(remembered.inputs.raw_ids, remembered.computed, strict=True))
        stored = list(map(by_id.get, inputs.raw_ids))
        if None not in stored:
            return inputs, stored
        # A task created since (in this transaction): read everything.
    return _Inputs.read(connection, project_id, *(getattr(Task, name) for name in COMPUTED))


def _store_computed(
    session: Session,
    changed: list[tuple[str, str, tuple[Any, ...]]],
    previous: list[tuple[Any, ...]],
) -> None:
    """Write the computed columns of the tasks that changed (``previous``: what each held) in
    statements written for the driver (the ORM's bulk update spent more on each row's
    parameters than the database did), then give task objects already in the session the
    values written.

    Only the columns in which some task changed are written: an edit usually moves dates and
    nothing else, 6 of the 14 columns (300 tasks on PostgreSQL: 2.0 -> 1.4 ms). SQLite: an
    executemany. PostgreSQL: one ``UPDATE … FROM unnest(…)`` over binary arrays, one column
    each (an executemany sent one statement per task: 2 ms for a few hundred)."""
    connection = session.connection()
    width = len(COMPUTED)
    columns = _columns([values for _, _, values in changed], width)
    before = _columns(previous, width)
    kept = [
        (name, column)
        for name, column, old in zip(COMPUTED, columns, before, strict=True)
        if column != old
    ]
    names = tuple(name for name, _ in kept)
    written = [column for _, column in kept]
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(
            _pg_store_computed(names),
            {"id": [raw for raw, _, _ in changed], **dict(zip(names, written, strict=True))},
        )
    else:  # SQLite: ids are stored as their hex digits, dates as ISO text, booleans as 0/1
        connection.exec_driver_sql(
            _sqlite_store_computed(names),
            [
                (*map(_sqlite_value, row), raw)
                for row, (raw, _, _) in zip(zip(*written, strict=True), changed, strict=True)
            ],
        )
    loaded = {  # identity keys: no attribute access, nothing loaded
        str(key[1][0]): key
        for key in session.identity_map.keys()  # noqa: SIM118 - IdentityMap is not iterable
        if key[0] is Task
    }
    for _, task_id, values in changed:
        key = loaded.get(task_id)
        task = session.identity_map.get(key) if key is not None else None
        if task is not None:
            for name, value in zip(COMPUTED, values, strict=True):
                set_committed_value(task, name, value)


def _sqlite_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


# The statements writing some of the COMPUTED columns, by their names (constants: only the
# values are parameters). A recalculation writes one of a few sets.
@lru_cache(maxsize=256)
def _sqlite_store_computed(names: tuple[str, ...]) -> str:
    return f"UPDATE tasks SET {', '.join(f'{name} = ?' for name in names)} WHERE id = ?"  # noqa: S608


_POSTGRESQL = postgresql.psycopg.dialect()  # type: ignore[no-untyped-call]  # not annotated


@lru_cache(maxsize=256)
def _pg_store_computed(names: tuple[str, ...]) -> str:
    arrays = ", ".join(
        # Each column's array parameter cast to the column's own type.
        f"%({name})b::{inspect(Task).columns[name].type.compile(dialect=_POSTGRESQL)}[]"
        for name in names
    )
    return (
        f"UPDATE tasks AS t SET {', '.join(f'{name} = v.{name}' for name in names)} "  # noqa: S608
        f"FROM unnest(%(id)b::uuid[], {arrays}) AS v(id, {', '.join(names)}) WHERE t.id = v.id"
    )


def _columns(rows: Sequence[Any], width: int) -> list[list[Any]]:
    """The first ``width`` columns of ``rows``, each as a list."""
    if not rows:
        return [[] for _ in range(width)]
    return [list(column) for column in islice(zip(*rows, strict=True), width)]


def _id_text(raw: str) -> str:
    """A task id as read by :func:`recalculate`, in its usual text form."""
    if len(raw) == 32:  # SQLite stores the 32 hex digits
        return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"
    return raw


def _raw_id(task_id: uuid.UUID, dialect: str) -> str:
    """A task id as :func:`recalculate` reads it from ``dialect``'s database."""
    return task_id.hex if dialect == "sqlite" else str(task_id)


def _id_uuid(raw: str) -> uuid.UUID:
    return uuid.UUID(raw)


_NO_BUFFER = (0.0, "green")


def task_days(
    calendar: WorkCalendar, es: Sequence[int], ef: Sequence[int]
) -> tuple[list[date], list[date]]:
    """Calendar start and finish of every task scheduled over offsets ``es[i]``..``ef[i]``.

    A task with work starts on working day ``es`` and finishes at the end of day ``ef - 1``. A
    milestone sits at the end of the working day before ``es``, the moment its predecessors
    finish (as MS Project shows it), or on the project's first working day at offset 0. The
    days are converted all at once (:meth:`WorkCalendar.dates_of`).
    """
    start, end = np.asarray(es, dtype=np.int64), np.asarray(ef, dtype=np.int64)
    if start.shape != end.shape:
        raise ValueError(f"es and ef differ in length: {start.size} and {end.size}")
    work = end > start
    first = np.where(work, start, np.where(start > 0, start - 1, 0))
    last = np.where(work, end - 1, first)
    return calendar.dates_of(first), calendar.dates_of(last)


def _progress(calendar: WorkCalendar, inputs: _Inputs, i: int) -> TaskProgress:
    """The progress of task ``i``, which has started."""
    actual_start, actual_finish = inputs.actual_start[i], inputs.actual_finish[i]
    assert actual_start is not None
    start = calendar.offset_of(actual_start)
    if inputs.status[i] == "Completed" and actual_finish is not None:
        finish = calendar.offset_of(actual_finish) + (1 if inputs.duration[i] > 0 else 0)
        return TaskProgress(actual_start=start, remaining=0, actual_finish=max(start, finish))
    return TaskProgress(actual_start=start, remaining=inputs.remaining[i], actual_finish=None)


def _readiness(project: Project, task_status: list[str], network: Network) -> list[bool]:
    """A task is ready when the project is Active, it has not started and every predecessor
    is complete."""
    if project.status != "Active":
        return [False] * len(task_status)
    blocked = [status != "NotStarted" for status in task_status]
    for pred, succ in zip(network.link_pred, network.link_succ, strict=True):
        if task_status[pred] != "Completed":
            blocked[succ] = True
    return [not b for b in blocked]


_ZONE_AT = COMPUTED.index("zone")
_READY_AT = COMPUTED.index("is_ready")


def _record_task_transitions(
    session: Session,
    project: Project,
    raw_id: str,
    new: tuple[Any, ...],
    old: tuple[Any, ...],
) -> None:
    """``task.ready`` and ``task.red`` for a task whose computed values went from ``old`` to
    ``new``, when its readiness or its zone just flipped."""
    if new[_READY_AT] and not old[_READY_AT]:
        ready_id = _id_uuid(raw_id)
        _record(
            session,
            project,
            "task.ready",
            lambda: payloads.task_ready(session, project, _task(session, ready_id)),
        )
    if new[_ZONE_AT] == "red" and old[_ZONE_AT] != "red":
        previous, red_id = old[_ZONE_AT], _id_uuid(raw_id)
        _record(
            session,
            project,
            "task.red",
            lambda: payloads.task_red(session, project, _task(session, red_id), previous),
        )


def _task(session: Session, task_id: uuid.UUID) -> Task:
    task = session.get(Task, task_id)
    assert task is not None
    return task


def _record(session: Session, project: Project, type: str, data: Any) -> None:
    events.record(
        session,
        organization_id=project.organization_id,
        project_id=project.id,
        type=type,
        data=data,
    )


def _baseline(calendar: WorkCalendar, chain: Any, ids: list[str]) -> dict[str, Any]:
    return {
        "recorded_at": utcnow().isoformat(),
        "finish_date": calendar.finish_date(0, chain.chain_finish).isoformat()
        if chain.chain_finish > 0
        else calendar.start_date(0).isoformat(),
        "buffers": {
            key: {
                "size": buffer.size,
                "finish": buffer.projected_finish,
                "chain_duration": buffer.chain_duration,
            }
            for key, buffer in chain.buffers.items()
        },
        "task_finish": {
            task_id: finish.isoformat()
            for task_id, finish in zip(
                ids, task_days(calendar, chain.start, chain.finish)[1], strict=True
            )
        },
    }


def _baseline_buffers(baseline: dict[str, Any] | None) -> dict[str, BufferBaseline] | None:
    if not baseline:
        return None
    return {
        key: BufferBaseline(
            size=item["size"], finish=item["finish"], chain_duration=item["chain_duration"]
        )
        for key, item in baseline.get("buffers", {}).items()
    }


def _update_project(
    session: Session,
    project: Project,
    calendar: WorkCalendar,
    cpm: Any,
    chain: Any,
    statuses: dict[str, Any],
    ids: list[str],
    changed: list[tuple[str, str, tuple[Any, ...]]],
) -> None:
    project_status = statuses.get("project")
    consumption = round(project_status.consumption, 2) if project_status else 0.0
    completion = round(project_status.completion, 2) if project_status else 0.0
    zone = project_status.zone if project_status else "green"
    previous_zone = project.buffer_zone
    now = utcnow()
    finish = calendar.finish_date(0, cpm.duration) if cpm.duration > 0 else project.start_date
    chain_end = calendar.finish_date(0, chain.chain_finish) if chain.chain_finish > 0 else finish
    project.schedule = {
        "project_id": str(project.id),
        "calculated_at": now.isoformat().replace("+00:00", "Z"),
        "duration": cpm.duration,
        "finish_date": finish.isoformat(),
        "critical_path": [ids[i] for i in cpm.critical_path],
        "critical_chain": [ids[i] for i in chain.chain],
        "critical_chain_length": chain.chain_finish,
        "projected_completion": calendar.date_of(
            max(0, chain.chain_finish + _buffer_size(chain, "project") - 1)
        ).isoformat()
        if ids
        else finish.isoformat(),
        "chain_finish_date": chain_end.isoformat(),
        "buffers": {
            key: {
                "key": key,
                "kind": "project" if key == "project" else "feeding",
                "size": buffer.size,
                "tasks": [ids[i] for i in buffer.tasks],
                "projected_finish": buffer.projected_finish,
                "consumption": round(statuses[key].consumption, 2) if key in statuses else 0.0,
                "chain_completion": round(statuses[key].completion, 2) if key in statuses else 0.0,
                "zone": statuses[key].zone if key in statuses else "green",
            }
            for key, buffer in chain.buffers.items()
        },
        "changed_tasks": [task_id for _, task_id, _ in changed],
    }
    project.scheduled_at = now
    status_changed = (
        consumption != project.buffer_consumption
        or completion != project.chain_completion
        or zone != previous_zone
    )
    project.buffer_consumption = consumption
    project.chain_completion = completion
    project.buffer_zone = zone
    if status_changed and project.baseline is not None:
        session.add(
            BufferHistoryPoint(
                project_id=project.id,
                recorded_at=now,
                chain_completion=completion,
                buffer_consumption=consumption,
                zone=zone,
            )
        )
    summary = {key: value for key, value in project.schedule.items() if key != "calculated_at"}
    summary["calculated_at"] = project.schedule["calculated_at"]
    _record(session, project, "schedule.recalculated", summary)
    if previous_zone == "green" and zone in ("yellow", "red"):
        _record(
            session,
            project,
            "project.early_warning",
            lambda: payloads.early_warning(session, project),
        )


def _buffer_size(chain: Any, key: str) -> int:
    buffer = chain.buffers.get(key)
    return int(buffer.size) if buffer is not None else 0


def schedule_view(session: Session, project: Project) -> dict[str, Any]:
    """The last schedule with every task's computed fields (``GET …/schedule/``)."""
    tasks = session.scalars(
        select(Task).where(Task.project_id == project.id).order_by(Task.es, Task.created_at)
    ).all()
    schedule = dict(project.schedule or {})
    schedule["project_buffer"] = {
        "size": _buffer_size_from(schedule),
        "consumption": project.buffer_consumption,
        "chain_completion": project.chain_completion,
        "zone": project.buffer_zone,
    }
    schedule["baseline"] = (
        {k: v for k, v in project.baseline.items() if k != "task_finish"}
        if project.baseline
        else None
    )
    schedule["tasks"] = [
        {
            "id": str(task.id),
            "name": task.name,
            "duration": task.duration,
            "status": task.status,
            **{
                name: getattr(task, name)
                for name in COMPUTED
                if name not in ("buffer_key", "is_ready")
            },
            "buffer": task.buffer_key,
        }
        for task in tasks
    ]
    return schedule


def _buffer_size_from(schedule: dict[str, Any]) -> int:
    return int(((schedule.get("buffers") or {}).get("project") or {}).get("size", 0))
