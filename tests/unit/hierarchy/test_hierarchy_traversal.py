"""Reading a hierarchy: ancestors, descendants, subtree, path to the root, roll-ups.

Expected values are counted by hand from the `acme` drawing in conftest.py.
"""

import dataclasses
from collections.abc import Callable

import pytest

from hierarchy import (
    Hierarchy,
    Node,
    PathError,
    Tree,
    UnknownNodeError,
    ancestors,
    descendants,
    path_to_root,
    rollup,
    subtree,
)

Build = Callable[..., Hierarchy]

LE = "legal_entity"


def shape(tree: Tree) -> tuple[str, list[object]]:
    """The tree as (id, [children]) for a readable comparison."""
    return (tree.node.id, [shape(child) for child in tree.children])


def test_ancestors_nearest_first(acme: Hierarchy) -> None:
    assert ancestors(acme, "ST-3") == ["BT-2", "SO-1", "LE-A", "GRP"]
    assert ancestors(acme, "GRP") == []


def test_ancestors_by_one_relation(acme: Hierarchy) -> None:
    assert ancestors(acme, "ST-3", relation="ship_to_of") == ["BT-2"]
    assert ancestors(acme, "LE-A", relation="subsidiary_of") == ["GRP"]
    assert ancestors(acme, "BT-1", relation="subsidiary_of") == []


def test_descendants_nearest_first_and_by_id(acme: Hierarchy) -> None:
    assert descendants(acme, "LE-A") == ["BT-1", "SO-1", "ST-1", "ST-2", "BT-2", "ST-3", "ST-4"]
    assert descendants(acme, "ST-1") == []
    assert len(descendants(acme, "GRP")) == 11


def test_descendants_by_one_relation(acme: Hierarchy) -> None:
    assert descendants(acme, "GRP", relation="subsidiary_of") == ["LE-A", "LE-B"]
    assert descendants(acme, "LE-A", relation="bill_to_of") == ["BT-1"]


def test_traversals_stop_on_a_cycle(build: Build) -> None:
    #   A -> B -> C -> A
    h = build(
        {"A": LE, "B": LE, "C": LE},
        [("A", "B", "subsidiary_of"), ("B", "C", "subsidiary_of"), ("C", "A", "subsidiary_of")],
    )
    assert ancestors(h, "A") == ["B", "C"]
    assert descendants(h, "A") == ["C", "B"]


def test_path_to_root(acme: Hierarchy) -> None:
    assert path_to_root(acme, "ST-4") == ["ST-4", "BT-2", "SO-1", "LE-A", "GRP"]
    assert path_to_root(acme, "GRP") == ["GRP"]
    assert path_to_root(acme, "ST-4", relation="ship_to_of") == ["ST-4", "BT-2"]


def test_path_to_root_refuses_two_parents(build: Build) -> None:
    #   BT -bill_to_of-> LE-1,  BT -bill_to_of-> LE-2
    h = build(
        {"LE-1": LE, "LE-2": LE, "BT": "bill_to"},
        [("BT", "LE-1", "bill_to_of"), ("BT", "LE-2", "bill_to_of")],
    )
    with pytest.raises(PathError, match="BT has 2 parents"):
        path_to_root(h, "BT")


def test_path_to_root_refuses_a_loop(build: Build) -> None:
    #   X -> A -> B -> A
    h = build(
        {"X": LE, "A": LE, "B": LE},
        [("X", "A", "subsidiary_of"), ("A", "B", "subsidiary_of"), ("B", "A", "subsidiary_of")],
    )
    with pytest.raises(PathError, match="loops: X -> A -> B -> A"):
        path_to_root(h, "X")


def test_subtree_nests_children_by_id(acme: Hierarchy) -> None:
    tree = subtree(acme, "LE-A")
    assert shape(tree) == (
        "LE-A",
        [
            ("BT-1", [("ST-1", []), ("ST-2", [])]),
            ("SO-1", [("BT-2", [("ST-3", []), ("ST-4", [])])]),
        ],
    )
    assert tree.relation is None
    assert [c.relation for c in tree.children] == ["bill_to_of", "sold_to_of"]
    assert tree.size == 8
    assert subtree(acme, "GRP").size == 12


def test_subtree_by_one_relation(acme: Hierarchy) -> None:
    assert shape(subtree(acme, "GRP", relation="subsidiary_of")) == (
        "GRP",
        [("LE-A", []), ("LE-B", [])],
    )


def test_subtree_of_a_leaf(acme: Hierarchy) -> None:
    assert subtree(acme, "ST-5") == Tree(Node("ST-5", "ship_to"), None, ())


def test_subtree_shows_each_node_once_and_cuts_cycles(build: Build) -> None:
    # Custom-rule shape where S has two parents, A and B, both under R; and B -> S -> B loops.
    #        R
    #       / \
    #      A   B
    #       \ / ^
    #        S--'      (S -> A, S -> B, B -> S)
    h = build(
        {"R": "x", "A": "x", "B": "x", "S": "x"},
        [
            ("A", "R", "r1"),
            ("B", "R", "r1"),
            ("S", "A", "r2"),
            ("S", "B", "r3"),
            ("B", "S", "r4"),
        ],
    )
    # Breadth-first from R: A and B, then S first reached from A; B is not repeated under S.
    assert shape(subtree(h, "R")) == ("R", [("A", [("S", [])]), ("B", [])])


def test_subtree_as_dicts_for_an_api(acme: Hierarchy) -> None:
    as_dict = dataclasses.asdict(subtree(acme, "BT-3"))
    assert as_dict == {
        "node": {"id": "BT-3", "role": "bill_to"},
        "relation": None,
        # Tuples, which JSON encoders write as arrays.
        "children": (
            {"node": {"id": "ST-5", "role": "ship_to"}, "relation": "ship_to_of", "children": ()},
        ),
    }


def test_rollup_of_ship_tos(acme: Hierarchy) -> None:
    assert rollup(acme, "GRP").members == ("ST-1", "ST-2", "ST-3", "ST-4", "ST-5")
    assert rollup(acme, "GRP").count == 5
    assert rollup(acme, "LE-A").count == 4
    assert rollup(acme, "LE-B").count == 1
    assert rollup(acme, "BT-2").members == ("ST-3", "ST-4")
    assert rollup(acme, "ST-1").count == 0


def test_rollup_of_any_role(acme: Hierarchy) -> None:
    assert rollup(acme, "GRP", role="bill_to").members == ("BT-1", "BT-2", "BT-3")
    assert rollup(acme, "GRP", role="legal_entity").count == 2
    assert rollup(acme, "LE-A", role="sold_to").members == ("SO-1",)


def test_rollup_by_one_relation(acme: Hierarchy) -> None:
    # Only direct bill_to_of children: BT-2 hangs under SO-1, not under LE-A.
    assert rollup(acme, "LE-A", role="bill_to", relation="bill_to_of").members == ("BT-1",)


@pytest.mark.parametrize(
    "read",
    [ancestors, descendants, path_to_root, subtree, rollup],
    ids=["ancestors", "descendants", "path_to_root", "subtree", "rollup"],
)
def test_an_unknown_node_raises(acme: Hierarchy, read: Callable[[Hierarchy, str], object]) -> None:
    with pytest.raises(UnknownNodeError):
        read(acme, "nope")
