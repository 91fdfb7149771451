"""compute_cpm on published networks, checked against their published figures."""

from __future__ import annotations

from planwire.scheduling import CpmResult, LinkType, Network, compute_cpm

FS, SS, FF = LinkType.FS, LinkType.SS, LinkType.FF


def build(
    activities: dict[str, int], links: list[tuple[str, str, LinkType, int]]
) -> tuple[Network, list[str]]:
    names = list(activities)
    index = {name: i for i, name in enumerate(names)}
    network = Network(
        durations=list(activities.values()),
        link_pred=[index[p] for p, _, _, _ in links],
        link_succ=[index[s] for _, s, _, _ in links],
        link_type=[kind for _, _, kind, _ in links],
        link_lag=[lag for _, _, _, lag in links],
    )
    return network, names


def fs(*pairs: str) -> list[tuple[str, str, LinkType, int]]:
    """Finish-to-start links without lag from "AB" style pairs."""
    return [(pair[0], pair[1], FS, 0) for pair in pairs]


def table(result: CpmResult, names: list[str]) -> dict[str, tuple[int, int, int, int, int]]:
    return {
        name: (result.es[i], result.ef[i], result.ls[i], result.lf[i], result.total_float[i])
        for i, name in enumerate(names)
    }


def test_studylib_example_1_prototype_assembly() -> None:
    """ "Example 1: Draw the network for the events in Table 1", studylib.net/doc/8378728.

    A design prototype 6, B obtain materials 2 (A), C order parts 2 (A), D manufacture parts 3
    (B), F assembly 1 2 (C), E assembly 2 4 (D, F), G final assembly 1 (E). Published (Table 2):
    critical path A-B-D-E-G of 16 hours; C and F have one hour of slack.
    """
    network, names = build(
        {"A": 6, "B": 2, "C": 2, "D": 3, "E": 4, "F": 2, "G": 1},
        fs("AB", "AC", "BD", "CF", "DE", "FE", "EG"),
    )
    result = compute_cpm(network)
    assert table(result, names) == {
        "A": (0, 6, 0, 6, 0),
        "B": (6, 8, 6, 8, 0),
        "C": (6, 8, 7, 9, 1),
        "D": (8, 11, 8, 11, 0),
        "E": (11, 15, 11, 15, 0),
        "F": (8, 10, 9, 11, 1),
        "G": (15, 16, 15, 16, 0),
    }
    assert result.duration == 16
    assert [names[t] for t in result.critical_path] == ["A", "B", "D", "E", "G"]
    # Free float: C can slip 0 (F starts when C ends), F can slip 1 (E waits for D until 11).
    assert result.free_float[names.index("C")] == 0
    assert result.free_float[names.index("F")] == 1


def test_vanhoucke_measuring_time_fictitious_project() -> None:
    """Vanhoucke, "Measuring Time" (Springer, 2009), p. 18: the fictitious project of 12
    activities (a1 and a12 dummies), published duration 16, as reproduced in the test suite of
    the R package criticalpath (github.com/rubens2005/criticalpath, tests/testthat/test-examples.R).
    """
    durations = {f"a{i}": d for i, d in enumerate([0, 4, 9, 1, 4, 5, 1, 7, 8, 3, 3, 0], 1)}
    successors = {1: (2, 3, 4), 2: (5,), 3: (10,), 4: (6,), 5: (9,), 6: (7,), 7: (8, 11)}
    successors |= {8: (12,), 9: (12,), 10: (12,), 11: (12,)}
    links = [(f"a{p}", f"a{s}", FS, 0) for p, succs in successors.items() for s in succs]
    network, names = build(durations, links)
    result = compute_cpm(network)
    assert result.duration == 16
    assert [names[t] for t in result.critical_path] == ["a1", "a2", "a5", "a9", "a12"]


def test_vanhoucke_integrated_project_management_projects_1_and_2() -> None:
    """Vanhoucke, "Integrated Project Management and Control" (Springer, 2014): project 1 "Cost
    Information System" (p. 6) lasts 11 periods and project 2 "Patient Transport System" (p. 9)
    25 periods, 31 with the revised durations, as reproduced in the criticalpath R package's
    tests (github.com/rubens2005/criticalpath, tests/testthat/test-examples.R).
    """
    project_1 = (
        [1, 2, 2, 4, 3, 3, 3, 2, 1, 1, 2, 1, 1, 1, 1, 2, 1],
        [1, 1, 2, 2, 2, 3, 3, 3, 3, 4, 5, 6, 7, 8, 9, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15],
        [*range(2, 11), 11, 11, 11, *range(12, 18), 16, 17, 16, 17, 16, 17, 16, 17],
    )
    project_2 = (
        [1, 1, 3, 2, 2, 2, 2, 1, 4, 5, 3, 3, 4, 5, 1, 5, 2],
        [1, 2, 3, 3, 4, 5, 6, 7, 8, 8, 8, 8, 8, 9, 10, 11, 12, 13, 13, 14, 14, 15, 15],
        [2, 3, 4, 6, 5, 8, 7, 8, 9, 10, 11, 12, 13, 14, 14, 14, 14, 14, 15, 16, 17, 16, 17],
    )
    revised = [1, 2, 5, 4, 3, 2, 1, 5, 3, 5, 5, 3, 4, 2, 1, 2, 4]
    for durations, preds, succs, expected in (
        (*project_1, 11),
        (*project_2, 25),
        (revised, project_2[1], project_2[2], 31),
    ):
        m = len(preds)
        network = Network(
            durations,
            [p - 1 for p in preds],
            [s - 1 for s in succs],
            [FS] * m,
            [0] * m,
        )
        assert compute_cpm(network).duration == expected


def test_lagged_relations_from_the_criticalpath_r_package() -> None:
    """Begin(1) -FS-> A -type+lag-> B -FS-> End(1), with the early and late dates published in
    the relation-type tests of the R package criticalpath
    (github.com/rubens2005/criticalpath, file
    tests/testthat/test-cpt-early_start_finish_by_relation_type.R):
    "FS | A == B | lag > 0", "FF | A == B | lag > 0", "FF | A > B | lag > 0",
    "SS | A == B | lag > 0", "SS | A < B | lag > 0". Every task is critical in each.
    """
    cases = [
        (3, 3, FS, 2, {"A": (1, 4), "B": (6, 9), "End": (9, 10)}),
        (3, 3, FF, 2, {"A": (1, 4), "B": (3, 6), "End": (6, 7)}),
        (5, 3, FF, 2, {"A": (1, 6), "B": (5, 8), "End": (8, 9)}),
        (3, 3, SS, 2, {"A": (1, 4), "B": (3, 6), "End": (6, 7)}),
        (3, 5, SS, 2, {"A": (1, 4), "B": (3, 8), "End": (8, 9)}),
    ]
    for a, b, kind, lag, published in cases:
        network, names = build(
            {"Begin": 1, "A": a, "B": b, "End": 1},
            [("Begin", "A", FS, 0), ("A", "B", kind, lag), ("B", "End", FS, 0)],
        )
        result = compute_cpm(network)
        got = table(result, names)
        assert got["Begin"] == (0, 1, 0, 1, 0)
        for name, (start, finish) in published.items():
            assert got[name] == (start, finish, start, finish, 0), (kind, name)
        assert result.duration == published["End"][1]


def test_precedence_diagram_method_network_with_start_to_start_links() -> None:
    """The 14-activity network of "Network Construction - Precedence Diagram Method" (a
    course module reproduced on slideserve.com and in the Nemotron-CC-Math corpus): B starts
    with A (SS), J needs C finished and G started (SS), K starts with I (SS).

    The excerpt available when this test was written gives the network but not the result
    table, so the figures below were computed by hand with that document's rules (forward pass
    with SS links, backward pass taking the smallest late start): 38 days, critical path
    A-D-H-M-N.
    """
    durations = {"A": 2, "B": 10, "C": 13, "D": 12, "E": 12, "F": 7, "G": 10, "H": 16}
    durations |= {"I": 6, "J": 12, "K": 5, "L": 8, "M": 5, "N": 3}
    links = [("A", "B", SS, 0), ("G", "J", SS, 0), ("I", "K", SS, 0)]
    links += fs("AC", "AD", "BE", "BF", "DG", "DH", "FI", "CJ", "EL", "IL", "KL", "HM")
    links += fs("GN", "JN", "LN", "MN")
    network, names = build(durations, links)
    result = compute_cpm(network)
    assert table(result, names) == {
        "A": (0, 2, 0, 2, 0),
        "B": (0, 10, 4, 14, 4),
        "C": (2, 15, 10, 23, 8),
        "D": (2, 14, 2, 14, 0),
        "E": (10, 22, 15, 27, 5),
        "F": (10, 17, 14, 21, 4),
        "G": (14, 24, 23, 33, 9),
        "H": (14, 30, 14, 30, 0),
        "I": (17, 23, 21, 27, 4),
        "J": (15, 27, 23, 35, 8),
        "K": (17, 22, 22, 27, 5),
        "L": (23, 31, 27, 35, 4),
        "M": (30, 35, 30, 35, 0),
        "N": (35, 38, 35, 38, 0),
    }
    assert [names[t] for t in result.critical_path] == ["A", "D", "H", "M", "N"]
