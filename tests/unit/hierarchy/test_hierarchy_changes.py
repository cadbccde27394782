"""Moving a subtree and diffing two versions, on the `acme` drawing in conftest.py."""

from collections.abc import Callable

from hierarchy import (
    Edge,
    Hierarchy,
    HierarchyDiff,
    Node,
    Reparent,
    diff,
    move_subtree,
    rollup,
    validate,
)

Build = Callable[..., Hierarchy]


def test_move_a_bill_to_with_its_ship_tos(acme: Hierarchy) -> None:
    # BT-1 (with ST-1, ST-2) moves from LE-A to LE-B.
    moved = move_subtree(acme, "BT-1", "LE-B", "bill_to_of")
    assert isinstance(moved, Hierarchy)
    assert moved.parents("BT-1") == (Edge("BT-1", "LE-B", "bill_to_of"),)
    assert [e.child for e in moved.children("BT-1")] == ["ST-1", "ST-2"]
    assert rollup(moved, "LE-A").count == 2
    assert rollup(moved, "LE-B").count == 3
    assert validate(moved).findings == ()
    # The original is untouched.
    assert acme.parents("BT-1") == (Edge("BT-1", "LE-A", "bill_to_of"),)


def test_move_a_legal_entity_within_its_group(acme: Hierarchy) -> None:
    # LE-B from GRP to LE-A: the group becomes GRP <- LE-A <- LE-B, all 5 ship-tos stay.
    moved = move_subtree(acme, "LE-B", "LE-A", "subsidiary_of")
    assert isinstance(moved, Hierarchy)
    assert rollup(moved, "LE-A").count == 5
    assert rollup(moved, "GRP").count == 5


def test_a_move_under_its_own_subtree_is_refused(acme: Hierarchy) -> None:
    # GRP under LE-A, its own child: a cycle GRP -> LE-A -> GRP.
    findings = move_subtree(acme, "GRP", "LE-A", "subsidiary_of")
    assert isinstance(findings, list)
    assert [f.code.value for f in findings] == ["cycle"]


def test_a_move_to_a_parent_of_the_wrong_role_is_refused(acme: Hierarchy) -> None:
    # A bill-to cannot hang under another bill-to; and BT-1 -> BT-3 -> LE-B would also be a
    # chain of two bill_to_of edges where one is the limit.
    findings = move_subtree(acme, "BT-1", "BT-3", "bill_to_of")
    assert isinstance(findings, list)
    assert [f.code.value for f in findings] == ["role_mismatch", "too_deep"]


def test_moving_to_the_current_parent_changes_nothing(acme: Hierarchy) -> None:
    assert move_subtree(acme, "ST-1", "BT-1", "ship_to_of") is acme


def test_moving_an_orphan_attaches_it(acme: Hierarchy) -> None:
    h = acme.with_node(Node("ST-9", "ship_to"))
    moved = move_subtree(h, "ST-9", "BT-3", "ship_to_of")
    assert isinstance(moved, Hierarchy)
    assert rollup(moved, "BT-3").members == ("ST-5", "ST-9")


def test_moving_an_unknown_node_is_a_finding(acme: Hierarchy) -> None:
    findings = move_subtree(acme, "nope", "BT-3", "ship_to_of")
    assert isinstance(findings, list)
    assert [f.code.value for f in findings] == ["unknown_node"]


def test_diff_of_identical_versions_is_empty(acme: Hierarchy) -> None:
    assert diff(acme, acme) == HierarchyDiff((), (), ())
    assert diff(acme, acme).unchanged


def test_diff_after_a_move_is_one_reparent(acme: Hierarchy) -> None:
    moved = move_subtree(acme, "BT-1", "LE-B", "bill_to_of")
    assert isinstance(moved, Hierarchy)
    assert diff(acme, moved) == HierarchyDiff(
        added=(), removed=(), reparented=(Reparent("BT-1", "bill_to_of", "LE-A", "LE-B"),)
    )


def test_diff_sorts_added_removed_and_reparented(acme: Hierarchy) -> None:
    # From acme: ST-5 leaves BT-3 (removed), ST-9 joins BT-3 (added), ST-1 moves to BT-2.
    new = acme.with_node(Node("ST-9", "ship_to")).with_edges(
        remove=[Edge("ST-5", "BT-3", "ship_to_of"), Edge("ST-1", "BT-1", "ship_to_of")],
        add=[Edge("ST-9", "BT-3", "ship_to_of"), Edge("ST-1", "BT-2", "ship_to_of")],
    )
    change = diff(acme, new)
    assert change.added == (Edge("ST-9", "BT-3", "ship_to_of"),)
    assert change.removed == (Edge("ST-5", "BT-3", "ship_to_of"),)
    assert change.reparented == (Reparent("ST-1", "ship_to_of", "BT-1", "BT-2"),)
    # And back again, the other way round.
    back = diff(new, acme)
    assert back.added == change.removed
    assert back.removed == change.added
    assert back.reparented == (Reparent("ST-1", "ship_to_of", "BT-2", "BT-1"),)


def test_a_change_of_relation_is_a_removal_and_an_addition(build: Build) -> None:
    #   old: X -r1-> P        new: X -r2-> Q       (a re-parent keeps its relation)
    roles = {"X": "x", "P": "x", "Q": "x"}
    old = build(roles, [("X", "P", "r1")])
    new = build(roles, [("X", "Q", "r2")])
    assert diff(old, new) == HierarchyDiff(
        added=(Edge("X", "Q", "r2"),), removed=(Edge("X", "P", "r1"),), reparented=()
    )


def test_a_second_parent_added_is_not_a_reparent(build: Build) -> None:
    #   old: X -r-> P          new: X -r-> Q and X -r-> R     (one removed, two added)
    roles = {"X": "x", "P": "x", "Q": "x", "R": "x"}
    old = build(roles, [("X", "P", "r")])
    new = build(roles, [("X", "Q", "r"), ("X", "R", "r")])
    change = diff(old, new)
    assert change.reparented == ()
    assert change.added == (Edge("X", "Q", "r"), Edge("X", "R", "r"))
    assert change.removed == (Edge("X", "P", "r"),)
