"""Critical chain: resource levelling, the chain, buffer sizing, feeding buffers, zones."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planwire.scheduling import (
    Buffer,
    BufferBaseline,
    ChainResult,
    LinkType,
    Network,
    TaskProgress,
    _graph,
    baseline_of,
    buffer_status,
    compute_cpm,
    compute_critical_chain,
    engine,
)
from tests.scheduling.oracle import forced_path
from tests.scheduling.strategies import Case, acyclic_cases, in_index_order


def fs_network(durations: list[int], links: list[tuple[int, int]], **kwargs: object) -> Network:
    return Network(
        durations,
        [p for p, _ in links],
        [s for _, s in links],
        [LinkType.FS] * len(links),
        [0] * len(links),
        **kwargs,  # type: ignore[arg-type]
    )


def test_tasks_sharing_a_resource_are_serialised_and_the_chain_follows_the_resource() -> None:
    """A (4 days, X) precedes C (2); B (3 days, X) is independent. CPM runs A and B together;
    levelling gives X to A first (lower late finish), so B waits for A and the chain is A-B."""
    network = fs_network([4, 3, 2], [(0, 2)])
    chain = compute_critical_chain(network, ["X", "X", None], [None] * 3, "cut_and_paste")
    assert (chain.start, chain.finish) == ([0, 4, 4], [4, 7, 6])
    assert chain.chain == [0, 1]
    assert chain.chain_finish == 7
    project = chain.buffers["project"]
    assert (project.size, project.tasks, project.projected_finish) == (4, [0, 1], 7)  # 3.5 -> 4
    assert chain.task_buffer == ["project", "project", "project"]


def test_empty_resource_names_do_not_level() -> None:
    network = fs_network([4, 3], [])
    chain = compute_critical_chain(network, ["", None], [None, None], "cut_and_paste")
    assert chain.start == [0, 0]


def test_milestones_take_no_resource_time() -> None:
    network = fs_network([4, 0], [])
    chain = compute_critical_chain(network, ["X", "X"], [None, None], "cut_and_paste")
    assert chain.start == [0, 0]


def test_started_tasks_keep_their_dates_and_block_their_resource() -> None:
    """A is in progress on X (started at 1, 2 days left from the status date 3); B (X) waits."""
    network = fs_network([4, 2], [], progress={0: TaskProgress(1, 2, None)}, status_offset=3)
    chain = compute_critical_chain(network, ["X", "X"], [None, None], "cut_and_paste")
    assert (chain.start, chain.finish) == ([1, 5], [5, 7])
    assert chain.chain == [0, 1]
    assert chain.buffers["project"].remaining == 2 + 2


FEEDING = fs_network(
    # 0-2: the chain T0 -> T1 -> T2; G -> F1 -> F2 feeds T2; H feeds T1; K feeds G; L is alone.
    [5, 5, 5, 2, 3, 1, 4, 2, 1],
    [(0, 1), (1, 2), (3, 4), (4, 2), (5, 3), (6, 1), (7, 5)],
)
SAFE = [None, None, None, 4, 7, None, 4, None, None]


def test_feeding_buffers_protect_each_non_chain_task_that_joins_the_chain() -> None:
    chain = compute_critical_chain(FEEDING, [None] * 9, SAFE, "cut_and_paste")
    assert chain.chain == [0, 1, 2]
    assert chain.chain_finish == 15
    assert list(chain.buffers) == ["project", "feeding:4", "feeding:6"]
    feeding_4, feeding_6 = chain.buffers["feeding:4"], chain.buffers["feeding:6"]
    assert (feeding_4.tasks, feeding_4.size, feeding_4.projected_finish) == ([7, 5, 3, 4], 4, 8)
    assert (feeding_6.tasks, feeding_6.size, feeding_6.projected_finish) == ([6], 2, 4)
    assert chain.buffers["project"].size == 8  # 15 / 2 = 7.5, rounded half up
    assert chain.task_buffer == [
        "project",
        "project",
        "project",
        "feeding:4",
        "feeding:4",
        "feeding:4",
        "feeding:6",
        "feeding:4",
        "project",
    ]


def test_rse_buffers_are_the_root_of_the_summed_squared_safety_rounded_up() -> None:
    chain = compute_critical_chain(FEEDING, [None] * 9, SAFE, "rse")
    assert chain.buffers["feeding:4"].size == 5  # sqrt((4-2)^2 + (7-3)^2) = sqrt(20) = 4.47
    assert chain.buffers["feeding:6"].size == 0  # safe 4 == duration 4
    assert chain.buffers["project"].size == 0  # no safe durations on the chain
    safe = [7, 9, 5, None, None, None, None, None, None]  # 2, 4, 0 -> sqrt(20) -> 5
    assert compute_critical_chain(FEEDING, [None] * 9, safe, "rse").buffers["project"].size == 5
    exact = [8, 9, None, None, None, None, None, None, None]  # 3, 4 -> sqrt(25) = 5 exactly
    assert compute_critical_chain(FEEDING, [None] * 9, exact, "rse").buffers["project"].size == 5


def test_the_precomputed_cpm_gives_the_same_result() -> None:
    cpm = compute_cpm(FEEDING)
    assert compute_critical_chain(FEEDING, [None] * 9, SAFE, "rse", cpm) == (
        compute_critical_chain(FEEDING, [None] * 9, SAFE, "rse")
    )


def test_a_cpm_of_another_network_object_is_used_for_its_dates_only() -> None:
    """The CPM result carries the network's internal form for reuse, but only for the very
    Network object it was computed from: an equal copy is prepared afresh, same result."""
    copy = Network(
        list(FEEDING.durations),
        list(FEEDING.link_pred),
        list(FEEDING.link_succ),
        list(FEEDING.link_type),
        list(FEEDING.link_lag),
    )
    cpm = compute_cpm(copy)
    assert cpm == compute_cpm(FEEDING)
    assert "_source" not in repr(cpm)
    resources = ["X", None, "X", "Y", "Y", None, "X", None, "Y"]
    assert compute_critical_chain(FEEDING, resources, SAFE, "rse", cpm) == (
        compute_critical_chain(FEEDING, resources, SAFE, "rse")
    )


@pytest.mark.parametrize(
    ("resources", "safe", "method", "message"),
    [
        (["X"], [None] * 9, "rse", "resources must have one entry per task"),
        ([None] * 9, [None], "rse", "safe_durations must have one entry per task"),
        ([None] * 9, [-1] + [None] * 8, "rse", "safe_durations must be >= 0: task 0 has -1"),
        ([None] * 9, [None] * 9, "fifty", "method must be 'cut_and_paste' or 'rse'"),
    ],
)
def test_bad_chain_input_is_refused(
    resources: list[str | None], safe: list[int | None], method: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        compute_critical_chain(FEEDING, resources, safe, method)  # type: ignore[arg-type]


def one_buffer(finish: int, duration: int = 30, remaining: int = 30) -> ChainResult:
    buffer = Buffer("project", 10, [0], finish, duration, remaining)
    return ChainResult([0], [finish], [0], finish, {"project": buffer}, ["project"])


BASELINE = {"project": BufferBaseline(size=10, finish=20, chain_duration=30)}


@pytest.mark.parametrize(
    ("finish", "consumption", "zone"),
    [
        (18, 0.0, "green"),  # ahead of the baseline consumes nothing
        (20, 0.0, "green"),
        (24, 40.0, "green"),
        (25, 50.0, "yellow"),  # yellow starts at the threshold
        (29, 90.0, "yellow"),  # and includes the red threshold
        (30, 100.0, "red"),
        (35, 150.0, "red"),  # may pass 100
    ],
)
def test_consumption_and_zones_at_the_thresholds(
    finish: int, consumption: float, zone: str
) -> None:
    status = buffer_status(one_buffer(finish), BASELINE)["project"]
    assert (status.size, status.consumption, status.zone) == (10, consumption, zone)


def test_custom_thresholds() -> None:
    status = buffer_status(one_buffer(23), BASELINE, yellow=20.0, red=25.0)["project"]
    assert (status.consumption, status.zone) == (30.0, "red")
    with pytest.raises(ValueError, match="yellow <= red"):
        buffer_status(one_buffer(23), BASELINE, yellow=60.0, red=50.0)


def test_completion_is_the_share_of_the_baseline_chain_no_longer_remaining() -> None:
    assert buffer_status(one_buffer(20, remaining=30), BASELINE)["project"].completion == 0.0
    assert buffer_status(one_buffer(20, remaining=12), BASELINE)["project"].completion == 60.0
    assert buffer_status(one_buffer(20, remaining=0), BASELINE)["project"].completion == 100.0
    # More work than the baseline had: no negative completion.
    assert buffer_status(one_buffer(20, remaining=45), BASELINE)["project"].completion == 0.0


def test_without_a_baseline_nothing_is_consumed() -> None:
    status = buffer_status(one_buffer(99, remaining=15), None)["project"]
    assert (status.size, status.consumption, status.zone, status.completion) == (
        10,
        0.0,
        "green",
        50.0,
    )
    zero = {"project": BufferBaseline(size=0, finish=20, chain_duration=0)}
    status = buffer_status(one_buffer(99), zero)["project"]
    assert (status.consumption, status.completion, status.zone) == (0.0, 0.0, "green")


def test_baseline_then_delay_moves_the_buffer_into_red() -> None:
    """Record a baseline in planning, then the first chain task runs 5 days late."""
    network = fs_network([4, 4, 4], [(0, 1), (1, 2)])
    planned = compute_critical_chain(network, [None] * 3, [None] * 3, "cut_and_paste")
    baseline = baseline_of(planned)
    assert baseline["project"] == BufferBaseline(size=6, finish=12, chain_duration=12)
    late = fs_network(
        [4, 4, 4], [(0, 1), (1, 2)], progress={0: TaskProgress(0, 0, 9)}, status_offset=9
    )
    status = buffer_status(
        compute_critical_chain(late, [None] * 3, [None] * 3, "cut_and_paste"), baseline
    )["project"]
    assert status.consumption == pytest.approx(5 / 6 * 100)
    assert status.zone == "yellow"
    assert status.completion == pytest.approx(4 / 12 * 100)


def binding(case: Case, start: list[int], finish: list[int], pred: int, succ: int) -> bool:
    """Whether a link pred -> succ is tight in the levelled schedule."""
    for p, s, kind, lag in case.links:
        if (p, s) != (pred, succ):
            continue
        before = finish[p] if kind in (LinkType.FS, LinkType.FF) else start[p]
        after = start[s] if kind in (LinkType.FS, LinkType.SS) else finish[s]
        if after == before + lag:
            return True
    return False


@settings(max_examples=300, deadline=None)
@given(
    case=acyclic_cases(max_tasks=10, with_progress=True),
    data=st.data(),
    method=st.sampled_from(["cut_and_paste", "rse"]),
)
def test_levelled_schedule_is_feasible_and_the_chain_is_bound_link_by_link(
    case: Case, data: st.DataObject, method: str
) -> None:
    n = len(case.durations)
    resources = data.draw(st.lists(st.sampled_from([None, "", "X", "Y"]), min_size=n, max_size=n))
    safe = data.draw(st.lists(st.none() | st.integers(0, 12), min_size=n, max_size=n))
    network = case.network()
    cpm = compute_cpm(network)
    chain = compute_critical_chain(network, resources, safe, method, cpm)  # type: ignore[arg-type]
    start, finish = chain.start, chain.finish

    for task in range(n):
        if task in case.progress:
            assert (start[task], finish[task]) == (cpm.es[task], cpm.ef[task])
        else:
            assert finish[task] - start[task] == case.durations[task]
            assert start[task] >= max(0, case.snet.get(task, 0), case.status or 0)
            assert start[task] >= cpm.es[task]  # levelling only ever delays
    for pred, succ, kind, lag in case.links:
        if succ in case.progress:
            continue
        before = finish[pred] if kind in (LinkType.FS, LinkType.FF) else start[pred]
        after = start[succ] if kind in (LinkType.FS, LinkType.SS) else finish[succ]
        assert after >= before + lag
    for a in range(n):
        for b in range(a + 1, n):
            if (
                resources[a]
                and resources[a] == resources[b]
                and min(finish[a] - start[a], finish[b] - start[b]) > 0
                and not (a in case.progress and b in case.progress)
            ):
                assert finish[a] <= start[b] or finish[b] <= start[a], (a, b)
    if not any(resources):
        assert start == cpm.es

    assert chain.chain_finish == max(finish) == finish[chain.chain[-1]]
    assert len(set(chain.chain)) == len(chain.chain)
    for a, b in zip(chain.chain, chain.chain[1:], strict=False):
        by_resource = bool(resources[a]) and resources[a] == resources[b] and finish[a] == start[b]
        assert binding(case, start, finish, a, b) or by_resource
    assert set(chain.task_buffer) <= set(chain.buffers)
    for key, buffer in chain.buffers.items():
        planned = sum(case.durations[t] for t in buffer.tasks)
        assert buffer.chain_duration == planned
        if method == "cut_and_paste":
            assert buffer.size == (planned + 1) // 2
        else:
            squares = sum(
                (value - case.durations[t]) ** 2
                for t in buffer.tasks
                if (value := safe[t]) is not None
            )
            assert (buffer.size - 1) ** 2 < squares <= buffer.size**2 or buffer.size == squares == 0
        if key != "project":
            joining = int(key.split(":")[1])
            assert buffer.tasks[-1] == joining and joining not in chain.chain
            assert not set(buffer.tasks) & set(chain.chain)
            assert buffer.projected_finish == finish[joining]
    statuses = buffer_status(chain, baseline_of(chain))
    assert all(status.consumption == 0.0 for status in statuses.values())


def chains_on_every_path(
    network: Network, resources: list[str | None], safe: list[int | None], method: str
) -> list[ChainResult]:
    """The chain computed with numpy levels (and their numpy feeding-chain search and
    breadth-first search, also handed over to plain Python after 1, 2 or 3 layers), with
    Kahn's lists and with the ordered loops (the last two use the plain-Python kernels)."""
    results = []
    for path in ("levels", "lists", "ordered"):
        with forced_path(path):
            cpm = compute_cpm(network)
            assert cpm._source is not None
            assert (cpm._source[1].levels is not None) == (path == "levels")
            results.append(compute_critical_chain(network, resources, safe, method, cpm))  # type: ignore[arg-type]
    for layers in (1, 2, 3):
        with forced_path("levels"):
            cpm = compute_cpm(network)
        saved = (_graph.NARROW_AFTER_LEVELS, _graph.NARROW_TASKS_PER_LEVEL)
        _graph.NARROW_AFTER_LEVELS, _graph.NARROW_TASKS_PER_LEVEL = layers, 1 << 60
        try:
            results.append(compute_critical_chain(network, resources, safe, method, cpm))  # type: ignore[arg-type]
        finally:
            _graph.NARROW_AFTER_LEVELS, _graph.NARROW_TASKS_PER_LEVEL = saved
    return results


@settings(max_examples=300, deadline=None)
@given(
    case=acyclic_cases(max_tasks=30, with_progress=True),
    data=st.data(),
    method=st.sampled_from(["cut_and_paste", "rse"]),
    renumber=st.booleans(),
)
def test_numpy_and_plain_python_kernels_give_the_same_chain(
    case: Case, data: st.DataObject, method: str, renumber: bool
) -> None:
    if renumber:  # so that the ordered loops run too
        case = in_index_order(case)
    n = len(case.durations)
    resources = data.draw(st.lists(st.sampled_from([None, "", "X", "Y"]), min_size=n, max_size=n))
    safe = data.draw(st.lists(st.none() | st.integers(0, 12), min_size=n, max_size=n))
    first, *others = chains_on_every_path(case.network(), resources, safe, method)
    for other in others:
        assert other == first


@pytest.mark.parametrize("seed", range(3))
def test_larger_networks_give_the_same_chain_on_every_path(seed: int) -> None:
    rng = random.Random(seed)
    n = 1500
    order = list(range(n))
    rng.shuffle(order)
    links = []
    for _ in range(2 * n):
        succ = rng.randrange(1, n)
        pred = rng.randrange(max(0, succ - 100), succ)
        links.append((order[pred], order[succ], rng.randrange(4), rng.randint(-3, 5)))
    progress = {task: TaskProgress(rng.randint(0, 30), rng.randint(0, 5)) for task in order[:20]}
    case = Case([rng.randint(0, 12) for _ in range(n)], links, progress=progress, status=4)
    resources: list[str | None] = [rng.choice([None, *"ABCDEFGH"]) for _ in range(n)]
    safe: list[int | None] = [rng.choice([None, rng.randint(0, 20)]) for _ in range(n)]
    for network in (case.network(), in_index_order(case).network()):
        first, *others = chains_on_every_path(network, resources, safe, "rse")
        assert len(first.buffers) > 1  # feeding buffers exist, so their kernels ran
        for other in others:
            assert other == first


@settings(max_examples=300, deadline=None)
@given(
    case=acyclic_cases(max_tasks=30, with_progress=True),
    method=st.sampled_from(["cut_and_paste", "rse"]),
    renumber=st.booleans(),
    path=st.sampled_from(["levels", "lists", "ordered"]),
)
def test_without_resources_the_chain_is_the_levelled_one(
    case: Case, method: str, renumber: bool, path: str
) -> None:
    """Without resources the levelling is skipped (every task starts at its CPM early start);
    a resource of its own for every task makes the levelling run and move nothing, so both
    must give the same chain, buffers and all."""
    if renumber:  # so that the index order serves as the feeding-chain search's order
        case = in_index_order(case)
    n = len(case.durations)
    network = case.network()
    safe: list[int | None] = [duration + 2 for duration in case.durations]
    with forced_path(path):
        cpm = compute_cpm(network)
        skipped = compute_critical_chain(network, [None] * n, safe, method, cpm)  # type: ignore[arg-type]
        levelled = compute_critical_chain(
            network,
            [f"own {task}" for task in range(n)],
            safe,
            method,  # type: ignore[arg-type]
            cpm,
        )
    assert skipped == levelled
    assert skipped.start == cpm.es


@pytest.mark.parametrize(
    ("path", "network"),
    [
        ("levels", FEEDING),
        # Numbered in order (every link to a higher index): the index order serves the
        # feeding-chain search, which needs no levelling either.
        ("ordered", fs_network([5, 5, 2, 3, 5], [(0, 1), (1, 4), (2, 3), (3, 4)])),
    ],
)
def test_without_resources_nothing_is_levelled(
    path: str, network: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    def level(*args: object, **kwargs: object) -> None:
        raise AssertionError("levelled a network without resources")

    monkeypatch.setattr(engine, "_level", level)
    n = len(network.durations)
    with forced_path(path):
        cpm = compute_cpm(network)
        chain = compute_critical_chain(network, [None] * n, [None] * n, "rse", cpm)
    assert chain.start == cpm.es
    assert len(chain.buffers) > 1  # the feeding-chain search ran
    with pytest.raises(AssertionError, match="levelled"):  # resources: levelled
        compute_critical_chain(network, ["X"] * n, [None] * n, "rse", cpm)


def test_feeding_buffers_are_named_after_their_joining_task() -> None:
    names = [f"task {letter}" for letter in "ABCDEFGHI"]
    plain = compute_critical_chain(FEEDING, [None] * 9, SAFE, "rse")
    named = compute_critical_chain(FEEDING, [None] * 9, SAFE, "rse", task_names=names)
    renamed = {
        key: key if key == "project" else f"feeding:{names[int(key.split(':')[1])]}"
        for key in plain.buffers
    }
    assert len(plain.buffers) > 1
    assert list(named.buffers) == [renamed[key] for key in plain.buffers]
    for key, buffer in plain.buffers.items():
        assert named.buffers[renamed[key]] == replace(buffer, key=renamed[key])
    assert named.task_buffer == [renamed[key] for key in plain.task_buffer]
    with pytest.raises(ValueError, match="task_names must have one entry per task"):
        compute_critical_chain(FEEDING, [None] * 9, SAFE, "rse", task_names=names[:3])
