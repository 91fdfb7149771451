"""compute_cpm against the Bellman-Ford oracle on random networks (all link types, +/- lags)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings

from planwire.scheduling import CpmResult, TaskProgress, _graph, compute_cpm
from tests.scheduling.oracle import OracleCpm, forced_path, oracle_cpm
from tests.scheduling.strategies import Case, acyclic_cases, in_index_order

PATHS = ["levels", "lists"]
ALL_PATHS = ["levels", "lists", "ordered"]


def assert_matches(result: CpmResult, expected: OracleCpm) -> None:
    assert result.es == expected.es
    assert result.ef == expected.ef
    assert result.ls == expected.ls
    assert result.lf == expected.lf
    assert result.total_float == expected.total_float
    assert result.free_float == expected.free_float
    assert result.duration == expected.duration
    assert result.is_critical == [slack <= 0 for slack in expected.total_float]
    critical = [t for t in range(len(expected.es)) if expected.total_float[t] <= 0]
    assert result.critical_path == sorted(
        critical, key=lambda t: (expected.es[t], expected.ef[t], t)
    )


def run(case: Case, path: str) -> CpmResult:
    with forced_path(path):
        return compute_cpm(case.network())


@pytest.mark.parametrize("path", PATHS)
@settings(max_examples=300, deadline=None)
@given(case=acyclic_cases(with_constraints=False))
def test_plain_networks_match_the_oracle(path: str, case: Case) -> None:
    assert_matches(run(case, path), oracle_cpm(case.durations, case.links))


@pytest.mark.parametrize("path", PATHS)
@settings(max_examples=300, deadline=None)
@given(case=acyclic_cases())
def test_start_no_earlier_than_matches_the_oracle(path: str, case: Case) -> None:
    assert_matches(run(case, path), oracle_cpm(case.durations, case.links, snet=case.snet))


@pytest.mark.parametrize("path", PATHS)
@settings(max_examples=300, deadline=None)
@given(case=acyclic_cases(with_progress=True))
def test_progress_and_status_date_match_the_oracle(path: str, case: Case) -> None:
    expected = oracle_cpm(case.durations, case.links, case.snet, case.progress, case.status)
    assert_matches(run(case, path), expected)


@given(case=acyclic_cases(with_progress=True))
@settings(max_examples=200, deadline=None)
def test_forward_schedule_is_feasible_and_floats_are_consistent(case: Case) -> None:
    result = compute_cpm(case.network())
    for task, duration in enumerate(case.durations):
        if task not in case.progress:
            assert result.ef[task] - result.es[task] == duration
            assert result.es[task] >= max(0, case.snet.get(task, 0), case.status or 0)
        assert result.lf[task] <= result.duration
        assert result.total_float[task] == result.lf[task] - result.ef[task]
    if not case.progress:  # without out-of-sequence progress no float is negative
        assert min(result.total_float) >= 0
        assert all(ff <= tf for ff, tf in zip(result.free_float, result.total_float, strict=True))


@pytest.mark.parametrize("seed", range(6))
def test_larger_random_networks_agree_on_both_paths_and_with_the_oracle(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.choice([300, 600])
    order = list(range(n))
    rng.shuffle(order)
    durations = [rng.randint(0, 15) for _ in range(n)]
    links = []
    for _ in range(2 * n):
        succ = rng.randrange(1, n)
        pred = rng.randrange(max(0, succ - 40), succ)
        links.append((order[pred], order[succ], rng.randrange(4), rng.randint(-4, 6)))
    case = Case(durations, links, snet={order[5]: 30})
    expected = oracle_cpm(case.durations, case.links, snet=case.snet)
    assert_matches(run(case, "levels"), expected)
    assert_matches(run(case, "lists"), expected)
    assert_matches(compute_cpm(case.network()), expected)


def test_a_long_chain_falls_back_to_the_list_passes_with_the_same_result() -> None:
    n = 3000
    durations = [1 + t % 5 for t in range(n)]
    links = [(t, t + 1, t % 4, t % 3 - 1) for t in range(n - 1)]
    case = Case(durations, links)
    assert_matches(compute_cpm(case.network()), oracle_cpm(durations, links))


@pytest.mark.parametrize("path", ALL_PATHS)
@settings(max_examples=300, deadline=None)
@given(case=acyclic_cases(with_progress=True))
def test_networks_numbered_in_order_match_the_oracle_on_every_path(path: str, case: Case) -> None:
    ordered = in_index_order(case)
    assert _graph.prepare(ordered.network()).ordered
    expected = oracle_cpm(
        ordered.durations, ordered.links, ordered.snet, ordered.progress, ordered.status
    )
    assert_matches(run(ordered, path), expected)


@settings(max_examples=300, deadline=None)
@given(case=acyclic_cases(max_tasks=30, with_progress=True))
def test_the_ordered_path_and_the_kahn_paths_agree_field_by_field(case: Case) -> None:
    ordered = in_index_order(case)
    results = [run(ordered, path) for path in ALL_PATHS]
    # The plain-Python paths order a long critical path with numpy: force that on small ones.
    saved = _graph.NUMPY_SORT_ABOVE
    _graph.NUMPY_SORT_ABOVE = 0
    try:
        results += [run(ordered, path) for path in ("lists", "ordered")]
    finally:
        _graph.NUMPY_SORT_ABOVE = saved
    assert all(result == results[0] for result in results)


@settings(max_examples=100, deadline=None)
@given(case=acyclic_cases(with_progress=True))
def test_a_link_to_a_lower_index_rules_out_the_ordered_path(case: Case) -> None:
    network = case.network()
    ordered = all(
        pred < succ for pred, succ in zip(network.link_pred, network.link_succ, strict=True)
    )
    assert _graph.prepare(network).ordered == ordered


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("shape", ["wide", "narrow"])
def test_larger_networks_numbered_in_order_agree_on_all_paths(seed: int, shape: str) -> None:
    """Sizes on both sides of ORDERED_FIRST_BELOW; narrow networks make the levels give up."""
    rng = random.Random(seed)
    n = rng.choice([400, 1600, 2500])
    reach = 300 if shape == "wide" else 2
    durations = [rng.randint(0, 15) for _ in range(n)]
    links = []
    for succ in range(1, n):
        for _ in range(rng.randint(1, 2)):
            pred = rng.randrange(max(0, succ - reach), succ)
            links.append((pred, succ, rng.randrange(4), rng.randint(-4, 6)))
    progress = {
        task: TaskProgress(rng.randint(0, 40), rng.randint(0, 5))
        for task in rng.sample(range(n), 5)
    }
    case = Case(durations, links, snet={n // 2: 30}, progress=progress, status=7)
    expected = oracle_cpm(case.durations, case.links, case.snet, case.progress, case.status)
    default = compute_cpm(case.network())
    assert_matches(default, expected)
    for path in ALL_PATHS:
        assert run(case, path) == default
