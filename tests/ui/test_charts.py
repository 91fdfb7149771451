"""Geometry of the UI's charts, without a browser."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise

import pytest

from planwire.ui import charts
from planwire.ui.charts import (
    ARROW_GAP,
    HEADER_HEIGHT,
    LABEL_WIDTH,
    MILESTONE_RADIUS,
    ROW_HEIGHT,
    GanttBuffer,
    GanttLink,
    GanttTask,
)

MON = date(2026, 3, 2)  # a Monday


def day(n: int) -> date:
    return MON + timedelta(days=n)


def plan() -> list[GanttTask]:
    return [
        GanttTask("a", "Design", day(0), day(4), False, on_chain=True, percent_complete=40),
        GanttTask("b", "Build", day(7), day(11), False, on_chain=True),
        GanttTask("c", "Docs", day(7), day(8), False),
        GanttTask("m", "Ship", day(11), day(11), True, on_chain=True),
    ]


def orthogonal(points: tuple[tuple[float, float], ...]) -> bool:
    return all(x1 == x2 or y1 == y2 for (x1, y1), (x2, y2) in pairwise(points))


def test_bars_are_placed_by_their_dates() -> None:
    g = charts.gantt(plan(), project_start=MON)
    assert g.origin == day(-1)
    dw = g.day_width
    design, build, docs = g.bars
    assert design.x == pytest.approx(LABEL_WIDTH + 1 * dw)
    assert design.width == pytest.approx(5 * dw)  # Monday to the end of Friday
    assert design.progress_width == pytest.approx(0.4 * design.width)
    assert build.x == pytest.approx(LABEL_WIDTH + 8 * dw)
    assert docs.width == pytest.approx(2 * dw)
    assert [bar.row for bar in g.bars] == [0, 1, 2]
    assert design.mid_y == HEADER_HEIGHT + ROW_HEIGHT / 2
    assert docs.mid_y == HEADER_HEIGHT + 2.5 * ROW_HEIGHT
    assert [bar.on_chain for bar in g.bars] == [True, True, False]
    assert g.x_of(day(0)) == design.x


def test_the_time_axis_covers_every_bar_with_a_margin() -> None:
    g = charts.gantt(plan(), project_start=MON)
    last = max(bar.right for bar in g.bars)
    assert g.width >= last + g.day_width
    assert g.height == HEADER_HEIGHT + 4 * ROW_HEIGHT + charts.FOOTER_HEIGHT
    assert charts.day_width_for(10) == charts.MAX_DAY_WIDTH
    assert charts.day_width_for(100_000) == charts.MIN_DAY_WIDTH
    assert charts.day_width_for(90) == pytest.approx(10.0)


def test_the_axis_follows_the_bars_and_a_nearby_status_date() -> None:
    later = [GanttTask("a", "A", day(100), day(104), False)]
    g = charts.gantt(later, project_start=MON, status_date=day(90))
    assert g.origin == day(89)  # the project start is far before: left out
    assert g.status_line is not None and g.status_line.day == day(90)
    far = charts.gantt(later, project_start=MON, status_date=day(300))
    assert far.status_line is None and far.origin == day(99)
    empty = charts.gantt([], project_start=MON, status_date=day(2))
    assert empty.origin == day(-1) and empty.rows == 0


def test_a_milestone_is_a_diamond_at_the_end_of_its_day() -> None:
    g = charts.gantt(plan(), project_start=MON)
    (ship,) = g.milestones
    assert ship.cx == pytest.approx(g.x_of(day(12)))
    assert ship.cy == HEADER_HEIGHT + 3.5 * ROW_HEIGHT
    r = MILESTONE_RADIUS
    top, right, bottom, left = (tuple(map(float, p.split(","))) for p in ship.points.split())
    assert top == (ship.cx, ship.cy - r) and bottom == (ship.cx, ship.cy + r)
    assert left == (ship.cx - r, ship.cy) and right == (ship.cx + r, ship.cy)


def test_a_milestone_at_the_project_start_sits_at_the_start_of_the_day() -> None:
    kickoff = GanttTask("k", "Kick-off", MON, MON, True, at_project_start=True)
    g = charts.gantt([kickoff], project_start=MON)
    assert g.milestones[0].cx == pytest.approx(g.x_of(MON))


def test_finish_to_start_arrows_run_from_the_finish_to_the_start() -> None:
    g = charts.gantt(plan(), [GanttLink("a", "b"), GanttLink("a", "c")], project_start=MON)
    design, build, docs = g.bars
    to_build, to_docs = g.arrows
    assert to_build.points[0] == (design.right, design.mid_y)
    assert to_build.points[-1] == (build.x, build.mid_y)
    assert to_build.points[1] == (design.right + ARROW_GAP, design.mid_y)
    assert orthogonal(to_build.points)
    assert to_build.on_chain and not to_docs.on_chain  # Docs is off the chain
    assert to_docs.points[-1] == (docs.x, docs.mid_y)


def test_an_arrow_to_a_task_that_starts_too_early_detours_between_the_rows() -> None:
    tasks = [
        GanttTask("a", "A", day(0), day(4), False),
        GanttTask("b", "B", day(2), day(5), False),  # overlaps A (negative lag)
    ]
    g = charts.gantt(tasks, [GanttLink("a", "b", "FS", -3)], project_start=MON)
    a, b = g.bars
    (arrow,) = g.arrows
    lane = b.mid_y - ROW_HEIGHT / 2
    assert arrow.points == (
        (a.right, a.mid_y),
        (a.right + ARROW_GAP, a.mid_y),
        (a.right + ARROW_GAP, lane),
        (b.x - ARROW_GAP, lane),
        (b.x - ARROW_GAP, b.mid_y),
        (b.x, b.mid_y),
    )
    assert orthogonal(arrow.points)


@pytest.mark.parametrize(
    ("type", "leaves", "enters"),
    [("SS", "start", "start"), ("FF", "finish", "finish"), ("SF", "start", "finish")],
)
def test_other_link_types_attach_to_their_ends(type: str, leaves: str, enters: str) -> None:
    tasks = [
        GanttTask("a", "A", day(0), day(4), False),
        GanttTask("b", "B", day(2), day(9), False),
    ]
    g = charts.gantt(tasks, [GanttLink("a", "b", type)], project_start=MON)
    a, b = g.bars
    (arrow,) = g.arrows
    assert arrow.points[0] == ((a.x if leaves == "start" else a.right), a.mid_y)
    assert arrow.points[-1] == ((b.x if enters == "start" else b.right), b.mid_y)
    # the last segment is horizontal and points into the bar
    (x1, y1), (x2, y2) = arrow.points[-2:]
    assert y1 == y2
    assert (x2 > x1) if enters == "start" else (x2 < x1)
    assert orthogonal(arrow.points)


def test_arrows_to_milestones_end_at_the_diamond() -> None:
    g = charts.gantt(plan(), [GanttLink("b", "m")], project_start=MON)
    (ship,) = g.milestones
    (arrow,) = g.arrows
    assert arrow.points[-1] == (ship.cx - MILESTONE_RADIUS, ship.cy)
    assert arrow.on_chain


def test_links_to_undated_tasks_are_not_drawn() -> None:
    tasks = [*plan(), GanttTask("u", "Unscheduled", None, None, False)]
    g = charts.gantt(tasks, [GanttLink("a", "u")], project_start=MON)
    assert g.arrows == ()
    assert len(g.labels) == 5


def test_buffers_project_buffer_below_feeding_buffer_after_its_task() -> None:
    buffers = [
        GanttBuffer("project", "Project buffer", day(14), day(16), 3, 50.0, "yellow"),
        GanttBuffer("feeding:2", "Feeding", day(9), day(9), 1, 0.0, "green", after_task_id="c"),
    ]
    g = charts.gantt(plan(), buffers=buffers, project_start=MON)
    project, feeding = g.buffers
    assert project.row == 4 and g.rows == 5
    assert g.labels[-1].text == "Project buffer" and g.labels[-1].kind == "buffer"
    assert project.x == pytest.approx(g.x_of(day(14)))
    assert project.width == pytest.approx(3 * g.day_width)
    assert project.consumed_width == pytest.approx(project.width / 2)
    assert feeding.row == 2  # on the row of Docs
    assert feeding.x == pytest.approx(g.x_of(day(9)))
    assert feeding.consumed_width == 0


def test_buffer_consumption_above_100_fills_the_block() -> None:
    buffer = GanttBuffer("project", "Project buffer", day(5), day(6), 2, 180.0, "red")
    g = charts.gantt(plan(), buffers=[buffer], project_start=MON)
    assert g.buffers[0].consumed_width == pytest.approx(g.buffers[0].width)


def test_status_line_and_non_working_bands() -> None:
    g = charts.gantt(
        plan(),
        project_start=MON,
        status_date=day(3),
        status_label="Today",
        holidays=[day(9)],
    )
    assert g.status_line is not None
    assert g.status_line.x == pytest.approx(g.x_of(day(3)))
    assert g.status_line.label == "Today"
    weekend = charts.Band(g.x_of(day(5)), 2 * g.day_width)
    assert weekend in g.bands  # Saturday and Sunday as one band
    assert charts.Band(g.x_of(day(9)), g.day_width) in g.bands  # the holiday
    sunday_before = charts.Band(g.x_of(day(-1)), g.day_width)
    assert sunday_before in g.bands


def test_ticks_label_days_or_mondays_and_months() -> None:
    g = charts.gantt(plan(), project_start=MON)
    assert g.day_width >= 18
    assert [t.label for t in g.ticks[:3]] == ["1", "2", "3"]  # Sunday 1 March, then daily
    assert g.months[0].label == "Mar 2026"
    long = [GanttTask("x", "Long", MON, day(200), False)]
    wide = charts.gantt(long, project_start=MON)
    assert wide.ticks == ()  # too narrow for day labels
    assert {t.label for t in wide.months if t.label} >= {"Apr 2026", "Sep 2026"}


def test_fever_zones_follow_the_thresholds() -> None:
    f = charts.fever_chart([], (0.0, 0.0), yellow=40, red=80)
    assert f.y_max == 100
    green, yellow, red = f.zones
    plot = f.plot

    def y(v: float) -> float:
        return plot.bottom - v / 100 * plot.height

    assert green.name == "green"
    assert green.points == (
        (plot.left, y(0)),
        (plot.right, y(0)),
        (plot.right, y(40)),
        (plot.left, y(40)),
    )
    assert yellow.points[0][1] == pytest.approx(y(40)) and yellow.points[2][1] == pytest.approx(
        y(80)
    )
    assert red.points[2][1] == pytest.approx(y(100)) == plot.top
    assert [t.label for t in f.thresholds] == ["40%", "80%"]


def test_fever_y_axis_grows_with_the_points() -> None:
    assert charts.fever_y_max(50, 90, []) == 100
    assert charts.fever_y_max(50, 95, []) == 125  # room above the red line
    assert charts.fever_y_max(50, 90, [130]) == 150
    assert charts.fever_y_max(50, 90, [900]) == 200  # clipped beyond 200 %
    f = charts.fever_chart([(10, 900)], None, yellow=50, red=90)
    assert f.history[0].clipped and f.history[0].y == f.plot.top
    assert f.current is None


def test_fever_history_is_a_polyline_and_the_current_point_has_its_zone() -> None:
    history = [(0.0, 0.0), (25.0, 10.0), (50.0, 60.0)]
    f = charts.fever_chart(history, (60.0, 95.0), yellow=50, red=90)
    plot = f.plot
    xs = [p.x for p in f.history]
    assert xs == [plot.left, plot.left + plot.width / 4, plot.left + plot.width / 2]
    assert f.history[2].y == pytest.approx(plot.bottom - 0.6 * plot.height)
    assert f.polyline == " ".join(f"{p.x:g},{p.y:g}" for p in f.history)
    assert [p.zone for p in f.history] == ["green", "green", "yellow"]
    assert f.current is not None and f.current.zone == "red"
    assert f.current.x == pytest.approx(plot.left + 0.6 * plot.width)
    assert [t.label for t in f.x_ticks] == ["0%", "25%", "50%", "75%", "100%"]
    assert f.y_ticks[0].label == "0%" and f.y_ticks[-1].label == "100%"


def test_fever_zone_boundaries_match_the_engine() -> None:
    f = charts.fever_chart([(10, 50.0), (20, 90.0), (30, 90.01)], None, yellow=50, red=90)
    assert [p.zone for p in f.history] == ["yellow", "yellow", "red"]


def test_buffer_bars_show_size_as_length_and_consumption_as_fill() -> None:
    bars = charts.buffer_bars(
        [
            charts.BufferInput("project", "Project buffer", 10, 45.0, 30.0, "green"),
            charts.BufferInput("feeding:1", "Feeding", 5, 120.0, 80.0, "red"),
            charts.BufferInput("feeding:2", "Tiny", 0, 0.0, 0.0, "green"),
        ],
        yellow=50,
        red=90,
        max_width=300,
    )
    project, feeding, tiny = bars
    assert project.width == 300 and feeding.width == 150
    assert tiny.width == charts.BUFFER_MIN_WIDTH
    assert project.fill_width == pytest.approx(135)
    assert feeding.fill_width == feeding.width and feeding.overrun
    assert not project.overrun
    assert project.yellow_x == 150 and project.red_x == 270
    assert charts.buffer_bars([], yellow=50, red=90) == []


def test_arrow_points_drop_repeated_points() -> None:
    points = charts.arrow_points((10, 5), leave_right=True, target=(18, 5), enter_from_left=True)
    assert points == ((10, 5), (18, 5))
