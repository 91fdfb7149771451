"""Geometry of the web UI's pictures: the Gantt chart, the buffer bars and the fever chart.

Pure functions from plain data to plain numbers (no markup, no database): the templates turn the
results into SVG elements, and the tests check positions without a browser.

Gantt conventions, matching the scheduling service: a task with work occupies its start date to
the end of its finish date, so its bar spans ``[x(start), x(finish + 1 day))``. A milestone sits at
the end of its date (the moment its predecessors finish), or at the start of the project's first
working day when it is at offset 0. Dependency arrows leave the predecessor's finish (FS, FF) or
start (SS, SF) and enter the successor's start (FS, SS) or finish (FF, SF) horizontally, with
right-angle bends only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

Point = tuple[float, float]

# Gantt layout, in SVG user units (pixels at 100 % zoom).
LABEL_WIDTH = 220.0
ROW_HEIGHT = 28.0
BAR_HEIGHT = 16.0
HEADER_HEIGHT = 40.0
FOOTER_HEIGHT = 18.0  # room for the status line's label under the rows
ARROW_GAP = 8.0
MILESTONE_RADIUS = 7.0
TIMELINE_TARGET = 900.0
MIN_DAY_WIDTH = 2.0
MAX_DAY_WIDTH = 36.0
RIGHT_PAD = 24.0
STATUS_LINE_REACH = timedelta(days=60)


# ---------------------------------------------------------------------------------------------
# Gantt chart
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GanttTask:
    """A task as the Gantt chart needs it (dates from the last schedule; None before one)."""

    id: str
    name: str
    start: date | None
    finish: date | None
    is_milestone: bool
    at_project_start: bool = False  # a milestone at offset 0 sits at the start of its day
    on_chain: bool = False
    is_critical: bool = False
    status: str = "NotStarted"
    percent_complete: float = 0.0
    zone: str = "green"


@dataclass(frozen=True, slots=True)
class GanttLink:
    predecessor_id: str
    successor_id: str
    type: str = "FS"
    lag: int = 0


@dataclass(frozen=True, slots=True)
class GanttBuffer:
    """A buffer drawn as a block from ``start`` to the end of ``finish`` (inclusive dates).

    ``after_task_id`` puts a feeding buffer on the row of the task it protects; the project
    buffer (``None``) gets a row of its own under the tasks.
    """

    key: str
    label: str
    start: date
    finish: date
    size: int
    consumption: float
    zone: str
    after_task_id: str | None = None


@dataclass(frozen=True, slots=True)
class Bar:
    task_id: str
    name: str
    row: int
    x: float
    y: float
    width: float
    height: float
    progress_width: float
    on_chain: bool
    is_critical: bool
    status: str
    zone: str
    start: date
    finish: date

    @property
    def right(self) -> float:
        return self.x + self.width

    @property
    def mid_y(self) -> float:
        return self.y + self.height / 2


@dataclass(frozen=True, slots=True)
class Milestone:
    task_id: str
    name: str
    row: int
    cx: float
    cy: float
    radius: float
    on_chain: bool
    is_critical: bool
    status: str
    day: date

    @property
    def points(self) -> str:
        """The diamond's polygon points (top, right, bottom, left)."""
        r = self.radius
        return " ".join(
            f"{x:g},{y:g}"
            for x, y in (
                (self.cx, self.cy - r),
                (self.cx + r, self.cy),
                (self.cx, self.cy + r),
                (self.cx - r, self.cy),
            )
        )


@dataclass(frozen=True, slots=True)
class Arrow:
    predecessor_id: str
    successor_id: str
    type: str
    points: tuple[Point, ...]
    on_chain: bool

    @property
    def path(self) -> str:
        return " ".join(f"{x:g},{y:g}" for x, y in self.points)


@dataclass(frozen=True, slots=True)
class BufferBlock:
    key: str
    label: str
    row: int
    x: float
    y: float
    width: float
    height: float
    consumed_width: float
    size: int
    consumption: float
    zone: str


@dataclass(frozen=True, slots=True)
class Tick:
    x: float
    label: str
    major: bool


@dataclass(frozen=True, slots=True)
class Band:
    """A vertical band (non-working days)."""

    x: float
    width: float


@dataclass(frozen=True, slots=True)
class RowLabel:
    row: int
    y: float
    text: str
    on_chain: bool
    kind: str  # "task" or "buffer"


@dataclass(frozen=True, slots=True)
class DayLine:
    x: float
    label: str
    day: date


@dataclass(frozen=True, slots=True)
class Gantt:
    width: float
    height: float
    label_width: float
    header_height: float
    row_height: float
    origin: date
    day_width: float
    bars: tuple[Bar, ...]
    milestones: tuple[Milestone, ...]
    arrows: tuple[Arrow, ...]
    buffers: tuple[BufferBlock, ...]
    labels: tuple[RowLabel, ...]
    ticks: tuple[Tick, ...]
    months: tuple[Tick, ...]
    bands: tuple[Band, ...]
    status_line: DayLine | None
    rows: int

    def x_of(self, day: date) -> float:
        return x_of(self.origin, self.day_width, day)


@dataclass(frozen=True, slots=True)
class _Anchor:
    left: float
    right: float
    y: float
    row: int


def x_of(origin: date, day_width: float, day: date) -> float:
    """The x of the start (midnight) of ``day``."""
    return LABEL_WIDTH + (day - origin).days * day_width


def day_width_for(span_days: int, target: float = TIMELINE_TARGET) -> float:
    """Pixels per calendar day so that ``span_days`` fill about ``target`` pixels."""
    if span_days <= 0:
        return MAX_DAY_WIDTH
    return max(MIN_DAY_WIDTH, min(MAX_DAY_WIDTH, target / span_days))


def gantt(
    tasks: Sequence[GanttTask],
    links: Iterable[GanttLink] = (),
    buffers: Iterable[GanttBuffer] = (),
    *,
    project_start: date,
    status_date: date | None = None,
    status_label: str = "Status date",
    working_days: Iterable[int] = (0, 1, 2, 3, 4),
    holidays: Iterable[date] = (),
) -> Gantt:
    """Lay out a Gantt chart: one row per task (in the given order), then the project buffer.

    The time axis spans the bars and buffers (the project start when there is none yet) and the
    status date when it lies within :data:`STATUS_LINE_REACH` of them.
    """
    buffer_list = list(buffers)
    days: list[date] = []
    for task in tasks:
        if task.start is not None and task.finish is not None:
            days += [task.start, task.finish]
    for buffer in buffer_list:
        days += [buffer.start, buffer.finish]
    if not days:
        days = [project_start]
    first, last = min(days), max(days)
    # The status line is drawn when it is near the plan; far away it would squash the bars.
    if status_date is not None and not (
        first - STATUS_LINE_REACH <= status_date <= last + STATUS_LINE_REACH
    ):
        status_date = None
    if status_date is not None:
        first, last = min(first, status_date), max(last, status_date)
    origin = first - timedelta(days=1)
    end = last + timedelta(days=2)
    span = (end - origin).days
    dw = day_width_for(span)

    row_of: dict[str, int] = {}
    labels: list[RowLabel] = []
    bars: list[Bar] = []
    milestones: list[Milestone] = []
    anchors: dict[str, _Anchor] = {}
    for row, task in enumerate(tasks):
        row_of[task.id] = row
        top = HEADER_HEIGHT + row * ROW_HEIGHT
        mid = top + ROW_HEIGHT / 2
        labels.append(RowLabel(row, mid, task.name, task.on_chain, "task"))
        if task.start is None or task.finish is None:
            continue
        if task.is_milestone:
            day = task.start
            cx = x_of(origin, dw, day if task.at_project_start else day + timedelta(days=1))
            milestones.append(
                Milestone(
                    task.id,
                    task.name,
                    row,
                    cx,
                    mid,
                    MILESTONE_RADIUS,
                    task.on_chain,
                    task.is_critical,
                    task.status,
                    day,
                )
            )
            anchors[task.id] = _Anchor(cx - MILESTONE_RADIUS, cx + MILESTONE_RADIUS, mid, row)
            continue
        x = x_of(origin, dw, task.start)
        width = max(dw, x_of(origin, dw, task.finish + timedelta(days=1)) - x)
        done = min(100.0, max(0.0, task.percent_complete)) / 100.0
        bars.append(
            Bar(
                task.id,
                task.name,
                row,
                x,
                mid - BAR_HEIGHT / 2,
                width,
                BAR_HEIGHT,
                width * done,
                task.on_chain,
                task.is_critical,
                task.status,
                task.zone,
                task.start,
                task.finish,
            )
        )
        anchors[task.id] = _Anchor(x, x + width, mid, row)

    rows = len(tasks)
    blocks: list[BufferBlock] = []
    for buffer in buffer_list:
        if buffer.after_task_id is not None and buffer.after_task_id in row_of:
            row = row_of[buffer.after_task_id]
        else:
            row = rows
            rows += 1
            labels.append(
                RowLabel(
                    row,
                    HEADER_HEIGHT + row * ROW_HEIGHT + ROW_HEIGHT / 2,
                    buffer.label,
                    True,
                    "buffer",
                )
            )
        blocks.append(_buffer_block(buffer, row, origin, dw))

    chain = tasks_on_chain(tasks)
    arrow_list = [arrow for link in links if (arrow := _arrow(link, anchors, chain)) is not None]

    width = x_of(origin, dw, end) + RIGHT_PAD
    height = HEADER_HEIGHT + max(rows, 1) * ROW_HEIGHT + FOOTER_HEIGHT
    status_line = (
        DayLine(x_of(origin, dw, status_date), status_label, status_date)
        if status_date is not None
        else None
    )
    return Gantt(
        width=width,
        height=height,
        label_width=LABEL_WIDTH,
        header_height=HEADER_HEIGHT,
        row_height=ROW_HEIGHT,
        origin=origin,
        day_width=dw,
        bars=tuple(bars),
        milestones=tuple(milestones),
        arrows=tuple(arrow_list),
        buffers=tuple(blocks),
        labels=tuple(labels),
        ticks=tuple(_day_ticks(origin, end, dw)),
        months=tuple(_month_ticks(origin, end, dw)),
        bands=tuple(_non_working_bands(origin, end, dw, set(working_days), set(holidays))),
        status_line=status_line,
        rows=rows,
    )


def tasks_on_chain(tasks: Iterable[GanttTask]) -> frozenset[str]:
    return frozenset(t.id for t in tasks if t.on_chain)


def _buffer_block(buffer: GanttBuffer, row: int, origin: date, dw: float) -> BufferBlock:
    x = x_of(origin, dw, buffer.start)
    width = max(dw, x_of(origin, dw, buffer.finish + timedelta(days=1)) - x)
    consumed = width * min(100.0, max(0.0, buffer.consumption)) / 100.0
    top = HEADER_HEIGHT + row * ROW_HEIGHT + (ROW_HEIGHT - BAR_HEIGHT) / 2
    return BufferBlock(
        buffer.key,
        buffer.label,
        row,
        x,
        top,
        width,
        BAR_HEIGHT,
        consumed,
        buffer.size,
        buffer.consumption,
        buffer.zone,
    )


def _arrow(link: GanttLink, anchors: dict[str, _Anchor], chain: frozenset[str]) -> Arrow | None:
    source = anchors.get(link.predecessor_id)
    target = anchors.get(link.successor_id)
    if source is None or target is None:
        return None
    from_finish = link.type in ("FS", "FF")
    to_start = link.type in ("FS", "SS")
    points = arrow_points(
        (source.right if from_finish else source.left, source.y),
        leave_right=from_finish,
        target=(target.left if to_start else target.right, target.y),
        enter_from_left=to_start,
        row_height=ROW_HEIGHT,
    )
    on_chain = link.predecessor_id in chain and link.successor_id in chain
    return Arrow(link.predecessor_id, link.successor_id, link.type, points, on_chain)


def arrow_points(
    source: Point,
    *,
    leave_right: bool,
    target: Point,
    enter_from_left: bool,
    row_height: float = ROW_HEIGHT,
    gap: float = ARROW_GAP,
) -> tuple[Point, ...]:
    """An orthogonal route from ``source`` to ``target``.

    The route leaves ``source`` horizontally (rightwards when ``leave_right``), bends, and reaches
    ``target`` horizontally, moving rightwards when ``enter_from_left``. When the successor lies
    behind the stub, it detours along the row boundary just before the target row.
    """
    sx, sy = source
    tx, ty = target
    out_x = sx + gap if leave_right else sx - gap
    in_x = tx - gap if enter_from_left else tx + gap
    if (enter_from_left and out_x <= tx) or (not enter_from_left and out_x >= tx):
        points: list[Point] = [(sx, sy), (out_x, sy), (out_x, ty), (tx, ty)]
    else:
        lane = ty - row_height / 2 if ty >= sy else ty + row_height / 2
        points = [(sx, sy), (out_x, sy), (out_x, lane), (in_x, lane), (in_x, ty), (tx, ty)]
    route: list[Point] = []
    for point in points:
        if not route or route[-1] != point:
            route.append(point)
    return tuple(route)


def _day_ticks(origin: date, end: date, dw: float) -> Iterable[Tick]:
    """Labelled ticks: every day when there is room, else Mondays, else none (months only)."""
    if dw >= 18:
        step = 1
    elif dw * 7 >= 34:
        step = 7
    else:
        return
    day = origin
    while day <= end:
        if step == 1 or day.weekday() == 0:
            yield Tick(x_of(origin, dw, day), str(day.day), day.weekday() == 0)
        day += timedelta(days=1)


def _month_ticks(origin: date, end: date, dw: float) -> Iterable[Tick]:
    """The first day of each month in range (and the origin), labelled when there is room."""
    first = date(origin.year, origin.month, 1)
    day = first
    while day <= end:
        x = x_of(origin, dw, max(day, origin))
        room = 30 * dw >= 44
        label = day.strftime("%b %Y") if room or day.month == 1 or day == first else ""
        yield Tick(x, label, True)
        day = date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def _non_working_bands(
    origin: date, end: date, dw: float, working_days: set[int], holidays: set[date]
) -> Iterable[Band]:
    """Runs of non-working days, merged; none when the days are too thin to see."""
    if dw < 3:
        return
    run_start: date | None = None
    day = origin
    while day <= end:
        off = day.weekday() not in working_days or day in holidays
        if off and run_start is None:
            run_start = day
        if not off and run_start is not None:
            yield Band(x_of(origin, dw, run_start), (day - run_start).days * dw)
            run_start = None
        day += timedelta(days=1)
    if run_start is not None:
        yield Band(x_of(origin, dw, run_start), ((end - run_start).days + 1) * dw)


# ---------------------------------------------------------------------------------------------
# Buffer bars
# ---------------------------------------------------------------------------------------------

BUFFER_BAR_WIDTH = 420.0
BUFFER_MIN_WIDTH = 60.0


@dataclass(frozen=True, slots=True)
class BufferInput:
    key: str
    label: str
    size: int
    consumption: float
    chain_completion: float
    zone: str


@dataclass(frozen=True, slots=True)
class BufferBar:
    """A buffer's size as the bar's length and its consumption as the filled part."""

    key: str
    label: str
    size: int
    consumption: float
    chain_completion: float
    zone: str
    width: float
    fill_width: float
    yellow_x: float
    red_x: float
    overrun: bool


def buffer_bars(
    buffers: Sequence[BufferInput],
    *,
    yellow: float,
    red: float,
    max_width: float = BUFFER_BAR_WIDTH,
) -> list[BufferBar]:
    """Bars whose lengths are proportional to the buffers' sizes (the largest is ``max_width``,
    none shorter than a readable minimum) and whose fill is the consumption, capped at the bar.
    """
    largest = max((b.size for b in buffers), default=0)
    bars: list[BufferBar] = []
    for buffer in buffers:
        share = buffer.size / largest if largest > 0 else 0.0
        width = max(BUFFER_MIN_WIDTH, max_width * share)
        used = min(100.0, max(0.0, buffer.consumption)) / 100.0
        bars.append(
            BufferBar(
                key=buffer.key,
                label=buffer.label,
                size=buffer.size,
                consumption=buffer.consumption,
                chain_completion=buffer.chain_completion,
                zone=buffer.zone,
                width=width,
                fill_width=width * used,
                yellow_x=width * min(100.0, yellow) / 100.0,
                red_x=width * min(100.0, red) / 100.0,
                overrun=buffer.consumption > 100.0,
            )
        )
    return bars


# ---------------------------------------------------------------------------------------------
# Fever chart
# ---------------------------------------------------------------------------------------------

FEVER_WIDTH = 460.0
FEVER_HEIGHT = 320.0
FEVER_MARGIN = (16.0, 16.0, 44.0, 52.0)  # top, right, bottom, left


@dataclass(frozen=True, slots=True)
class Plot:
    left: float
    top: float
    width: float
    height: float

    @property
    def right(self) -> float:
        return self.left + self.width

    @property
    def bottom(self) -> float:
        return self.top + self.height


@dataclass(frozen=True, slots=True)
class Zone:
    name: str
    points: tuple[Point, ...]

    @property
    def path(self) -> str:
        return " ".join(f"{x:g},{y:g}" for x, y in self.points)


@dataclass(frozen=True, slots=True)
class FeverPoint:
    x: float
    y: float
    completion: float
    consumption: float
    zone: str
    clipped: bool  # the consumption is above the chart's top and drawn at the top


@dataclass(frozen=True, slots=True)
class FeverChart:
    width: float
    height: float
    plot: Plot
    y_max: float
    zones: tuple[Zone, ...]
    history: tuple[FeverPoint, ...]
    current: FeverPoint | None
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    thresholds: tuple[Tick, ...] = field(default=())

    @property
    def polyline(self) -> str:
        return " ".join(f"{p.x:g},{p.y:g}" for p in self.history)


def fever_y_max(yellow: float, red: float, consumptions: Iterable[float]) -> float:
    """The top of the y axis: at least 100 % and the red line plus a margin, enough for every
    point up to 200 %; higher points are drawn clipped at the top."""
    highest = max([100.0, red + 10.0, *(min(200.0, c) for c in consumptions)])
    return float(math.ceil(highest / 25.0) * 25)


def fever_chart(
    history: Sequence[tuple[float, float]],
    current: tuple[float, float] | None,
    *,
    yellow: float,
    red: float,
    width: float = FEVER_WIDTH,
    height: float = FEVER_HEIGHT,
) -> FeverChart:
    """A fever chart: x chain completion %, y buffer consumption %.

    ``history`` are ``(completion, consumption)`` points oldest first; ``current`` is the
    project's present status. The zones are the project's thresholds: green below ``yellow``,
    yellow up to ``red``, red above, as the scheduling engine classifies them.
    """
    top, right, bottom, left = FEVER_MARGIN
    plot = Plot(left, top, width - left - right, height - top - bottom)
    consumptions = [c for _, c in history] + ([current[1]] if current else [])
    y_max = fever_y_max(yellow, red, consumptions)

    def y(value: float) -> float:
        return plot.bottom - min(value, y_max) / y_max * plot.height

    def x(value: float) -> float:
        return plot.left + min(100.0, max(0.0, value)) / 100.0 * plot.width

    def band(name: str, low: float, high: float) -> Zone:
        y_low, y_high = y(low), y(high)
        return Zone(
            name,
            ((plot.left, y_low), (plot.right, y_low), (plot.right, y_high), (plot.left, y_high)),
        )

    yellow_c = min(yellow, y_max)
    red_c = min(red, y_max)
    zones = tuple(
        band(name, low, high)
        for name, low, high in (
            ("green", 0.0, yellow_c),
            ("yellow", yellow_c, red_c),
            ("red", red_c, y_max),
        )
        if high > low
    )

    def point(completion: float, consumption: float) -> FeverPoint:
        zone = "green" if consumption < yellow else "yellow" if consumption <= red else "red"
        return FeverPoint(
            x(completion), y(consumption), completion, consumption, zone, consumption > y_max
        )

    return FeverChart(
        width=width,
        height=height,
        plot=plot,
        y_max=y_max,
        zones=zones,
        history=tuple(point(c, b) for c, b in history),
        current=point(*current) if current is not None else None,
        x_ticks=tuple(Tick(x(v), f"{v:g}%", v in (0, 100)) for v in (0, 25, 50, 75, 100)),
        y_ticks=tuple(
            Tick(y(v), f"{v:g}%", False) for v in _steps(y_max, 25.0 if y_max <= 150 else 50.0)
        ),
        thresholds=(Tick(y(yellow_c), f"{yellow:g}%", False), Tick(y(red_c), f"{red:g}%", True)),
    )


def _steps(top: float, step: float) -> list[float]:
    count = int(top // step)
    return [i * step for i in range(count + 1)]
