"""The Hierarchy container: construction, what it refuses, and that it never changes."""

from collections.abc import Callable

import networkx as nx
import pytest

from hierarchy import (
    DuplicateError,
    Edge,
    Hierarchy,
    Node,
    UnknownEdgeError,
    UnknownNodeError,
)

Build = Callable[..., Hierarchy]


def test_nodes_and_edges_come_back_sorted(acme: Hierarchy) -> None:
    assert len(acme) == 12
    assert len(acme.edges) == 11
    assert acme.nodes[0] == Node("BT-1", "bill_to")
    assert acme.edges[0] == Edge("BT-1", "LE-A", "bill_to_of")
    assert list(acme.edges) == sorted(acme.edges)


def test_parents_and_children_filter_by_relation(acme: Hierarchy) -> None:
    # LE-A has BT-1 by bill_to_of and SO-1 by sold_to_of under it, and GRP above it.
    assert [e.child for e in acme.children("LE-A")] == ["BT-1", "SO-1"]
    assert [e.child for e in acme.children("LE-A", "sold_to_of")] == ["SO-1"]
    assert acme.parents("LE-A") == (Edge("LE-A", "GRP", "subsidiary_of"),)
    assert acme.parents("GRP") == ()
    assert acme.children("ST-1") == ()


def test_the_same_edge_twice_is_kept_once(build: Build) -> None:
    h = build(
        {"LE": "legal_entity", "BT": "bill_to"},
        [("BT", "LE", "bill_to_of"), ("BT", "LE", "bill_to_of")],
    )
    assert h.edges == (Edge("BT", "LE", "bill_to_of"),)


def test_a_pair_linked_by_two_relations_is_refused(build: Build) -> None:
    with pytest.raises(DuplicateError, match="linked by 'bill_to_of' and by 'ship_to_of'"):
        build(
            {"LE": "legal_entity", "BT": "bill_to"},
            [("BT", "LE", "bill_to_of"), ("BT", "LE", "ship_to_of")],
        )


def test_a_node_with_two_roles_is_refused() -> None:
    with pytest.raises(DuplicateError, match="'bill_to' and as 'ship_to'"):
        Hierarchy([Node("X", "bill_to"), Node("X", "ship_to")])


def test_an_edge_to_a_missing_node_is_refused(build: Build) -> None:
    with pytest.raises(UnknownNodeError, match="'LE'"):
        build({"BT": "bill_to"}, [("BT", "LE", "bill_to_of")])


def test_asking_about_a_missing_node_raises(acme: Hierarchy) -> None:
    with pytest.raises(UnknownNodeError):
        acme.role("nope")
    with pytest.raises(UnknownNodeError):
        acme.parents("nope")
    with pytest.raises(UnknownNodeError):
        acme.children("nope")


def test_the_graph_is_frozen(acme: Hierarchy) -> None:
    with pytest.raises(nx.NetworkXError, match="Frozen"):
        acme.graph.add_edge("ST-1", "GRP")


def test_with_edge_and_without_edge_leave_the_original_alone(acme: Hierarchy) -> None:
    acme = acme.with_node(Node("ST-9", "ship_to"))
    added = acme.with_edge(Edge("ST-9", "BT-3", "ship_to_of"))
    removed = acme.without_edge(Edge("ST-5", "BT-3", "ship_to_of"))

    assert len(acme.edges) == 11
    assert len(added.edges) == 12
    assert len(removed.edges) == 10
    assert acme.parents("ST-5") == (Edge("ST-5", "BT-3", "ship_to_of"),)
    assert removed.parents("ST-5") == ()
    # The copies are frozen too.
    with pytest.raises(nx.NetworkXError):
        added.graph.remove_node("GRP")


def test_without_edge_needs_the_exact_edge(acme: Hierarchy) -> None:
    with pytest.raises(UnknownEdgeError):
        acme.without_edge(Edge("ST-5", "BT-1", "ship_to_of"))
    with pytest.raises(UnknownEdgeError):
        # Right pair, wrong relation.
        acme.without_edge(Edge("ST-5", "BT-3", "bill_to_of"))


def test_with_node_refuses_a_second_role_and_accepts_the_same_node(acme: Hierarchy) -> None:
    assert len(acme.with_node(Node("GRP", "legal_entity"))) == 12
    with pytest.raises(DuplicateError):
        acme.with_node(Node("GRP", "ship_to"))
