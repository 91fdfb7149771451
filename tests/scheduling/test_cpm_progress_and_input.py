"""Progress, status date, start-no-earlier-than, cycles and input validation."""

from __future__ import annotations

import graphlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planwire.scheduling import (
    CycleError,
    LinkType,
    Network,
    TaskProgress,
    compute_cpm,
    find_cycle,
)


def chain(durations: list[int], **kwargs: object) -> Network:
    m = len(durations) - 1
    return Network(durations, list(range(m)), list(range(1, m + 1)), [0] * m, [0] * m, **kwargs)  # type: ignore[arg-type]


def test_planning_without_progress_starts_at_the_project_start() -> None:
    result = compute_cpm(chain([3, 2, 4]))
    assert (result.es, result.ef, result.duration) == ([0, 3, 5], [3, 5, 9], 9)


def test_negative_lag_never_starts_before_the_project_start() -> None:
    network = Network([2, 3], [0], [1], [LinkType.SS], [-5])
    result = compute_cpm(network)
    assert result.es == [0, 0]
    assert result.duration == 3
    assert result.total_float == [1, 0]


def test_start_no_earlier_than_delays_a_task_and_its_successors() -> None:
    result = compute_cpm(chain([3, 2, 4], snet={1: 10}))
    assert result.es == [0, 10, 12]
    assert result.total_float == [7, 0, 0]
    assert result.free_float == [7, 0, 0]


def test_completed_task_keeps_its_actual_dates() -> None:
    """A took 5 days instead of 3; B follows it; the status date is day 5."""
    network = chain([3, 2, 4], progress={0: TaskProgress(0, 0, 5)}, status_offset=5)
    result = compute_cpm(network)
    assert (result.es, result.ef) == ([0, 5, 7], [5, 7, 11])
    assert result.is_critical == [True, True, True]


def test_in_progress_task_finishes_its_remaining_work_from_the_status_date() -> None:
    network = chain([3, 2, 4], progress={0: TaskProgress(1, 4, None)}, status_offset=6)
    result = compute_cpm(network)
    assert (result.es[0], result.ef[0]) == (1, 10)
    assert result.es[1:] == [10, 12]
    assert result.duration == 16


def test_in_progress_task_with_a_status_date_before_its_start_resumes_at_its_start() -> None:
    network = chain([3], progress={0: TaskProgress(4, 2, None)}, status_offset=1)
    assert compute_cpm(network).ef == [6]


def test_not_started_tasks_never_start_before_the_status_date() -> None:
    network = Network([2, 3], [], [], [], [], status_offset=7)
    result = compute_cpm(network)
    assert result.es == [7, 7]
    assert result.duration == 10


def test_started_task_is_not_pushed_by_an_unfinished_predecessor() -> None:
    """B started out of sequence while A has not: B keeps its start, A gets negative float."""
    network = chain([4, 3], progress={1: TaskProgress(2, 3, None)}, status_offset=5)
    result = compute_cpm(network)
    assert (result.es, result.ef) == ([5, 2], [9, 8])
    assert result.total_float[0] < 0
    assert result.is_critical[0]
    assert result.free_float[0] == -7  # B started 7 days before A can finish


def test_empty_network() -> None:
    result = compute_cpm(Network([], [], [], [], []))
    assert result.duration == 0
    assert result.es == [] and result.critical_path == []


def test_only_milestones() -> None:
    result = compute_cpm(chain([0, 0]))
    assert result.duration == 0
    assert result.critical_path == [0, 1]


def test_cycle_is_refused_with_the_cycle() -> None:
    network = Network([1, 1, 1, 1], [0, 1, 2, 3], [1, 2, 3, 1], [0, 0, 0, 0], [0, 0, 0, 0])
    with pytest.raises(CycleError) as caught:
        compute_cpm(network)
    assert caught.value.cycle == [1, 2, 3]
    assert "1 -> 2 -> 3 -> 1" in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_self_loop_is_a_cycle() -> None:
    assert find_cycle(2, [0, 1], [1, 1]) == [1]


def test_acyclic_links_have_no_cycle() -> None:
    assert find_cycle(3, [0, 1, 0], [1, 2, 2]) is None
    assert find_cycle(0, [], []) is None


@settings(max_examples=400, deadline=None)
@given(
    st.integers(1, 10).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=3 * n),
        )
    )
)
def test_find_cycle_returns_a_real_cycle_exactly_when_there_is_one(
    graph: tuple[int, list[tuple[int, int]]],
) -> None:
    n, links = graph
    preds, succs = [p for p, _ in links], [s for _, s in links]
    cycle = find_cycle(n, preds, succs)
    sorter: graphlib.TopologicalSorter[int] = graphlib.TopologicalSorter()
    for p, s in links:
        sorter.add(s, p)
    try:
        sorter.prepare()
        has_cycle = False
    except graphlib.CycleError:
        has_cycle = True
    assert (cycle is not None) == has_cycle
    if cycle is not None:
        assert len(set(cycle)) == len(cycle)
        edges = set(links)
        for a, b in zip(cycle, cycle[1:] + cycle[:1], strict=True):
            assert (a, b) in edges
        with pytest.raises(CycleError) as caught:
            compute_cpm(Network([1] * n, preds, succs, [0] * len(links), [0] * len(links)))
        assert caught.value.cycle == cycle


@pytest.mark.parametrize(
    ("network", "message"),
    [
        (Network([1, -2], [], [], [], []), "durations must be >= 0: task 1 has -2"),
        (Network([1, 1], [0], [2], [0], [0]), "link_succ holds task index 2 at link 0"),
        (Network([1, 1], [-1], [1], [0], [0]), "link_pred holds task index -1 at link 0"),
        (Network([1, 1], [0], [1, 0], [0], [0]), "link_pred has 1, link_succ has 2"),
        (Network([1, 1], [0], [1], [0, 1], [0]), "link_type has 2"),
        (Network([1, 1], [0], [1], [0], []), "link_lag has 0"),
        (Network([1, 1], [0], [1], [4], [0]), "link_type must be 0..3"),
        (Network([1, 1.5], [], [], [], []), "durations must hold integers"),  # type: ignore[list-item]
        (Network([1], [], [], [], [], snet={3: 1}), "snet names task index 3"),
        (Network([1], [], [], [], [], progress={0: TaskProgress(3, 0, 1)}), "is before"),
        (Network([1], [], [], [], [], progress={0: TaskProgress(3, -1, None)}), "remaining"),
        (Network([1], [0], [0], [0], [10**12]), "link_lag holds 1000000000000 at position 0"),
    ],
)
def test_bad_input_is_refused_with_a_message_naming_it(network: Network, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace(".", r"\.").replace("(", r"\(")):
        compute_cpm(network)


@pytest.mark.parametrize(
    "column",
    [
        tuple,
        np.array,
        lambda values: np.array(values, dtype=np.int32),
        lambda values: [np.int64(value) for value in values],
        lambda values: range(values[0], values[0] + 1) if len(values) == 1 else list(values),
    ],
)
def test_any_integer_sequence_gives_what_lists_give(column: Callable[[list[int]], Any]) -> None:
    """Lists take a fast conversion; other sequences numpy's: the results are the same."""
    durations, preds, succs, kinds, lags = (
        [3, 0, 2, 5],
        [0, 1, 0, 3],
        [1, 2, 2, 2],
        [0, 1, 2, 3],
        [1, 0, -1, 2],
    )
    expected = compute_cpm(Network(durations, preds, succs, kinds, lags))
    network = Network(column(durations), column(preds), column(succs), column(kinds), column(lags))
    assert compute_cpm(network) == expected


@pytest.mark.parametrize(
    ("durations", "message"),
    [
        ([1, 10**20], "durations must hold integers"),  # beyond 64 bits
        ([1, "2"], "durations must hold integers, found '2'"),
        ([1, None], "durations must hold integers, found None"),
        ([[1, 2]], "durations must be a flat sequence of integers"),
        ([True, 10**10], "durations holds 10000000000 at position 1"),
    ],
)
def test_columns_the_fast_conversion_refuses_are_worded_as_before(
    durations: list[Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        compute_cpm(Network(durations, [], [], [], []))
