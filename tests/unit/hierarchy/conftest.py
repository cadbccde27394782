"""Tiny hand-drawn hierarchies shared by the hierarchy unit tests."""

from collections.abc import Callable

import pytest

from hierarchy import Edge, Hierarchy, Node

Build = Callable[[dict[str, str], list[tuple[str, str, str]]], Hierarchy]


def build_hierarchy(roles: dict[str, str], edges: list[tuple[str, str, str]]) -> Hierarchy:
    """A hierarchy from {id: role} and (child, parent, relation) triples."""
    return Hierarchy(
        [Node(node_id, role) for node_id, role in roles.items()],
        [Edge(child, parent, relation) for child, parent, relation in edges],
    )


@pytest.fixture
def build() -> Build:
    return build_hierarchy


@pytest.fixture
def acme() -> Hierarchy:
    """A valid distribution hierarchy; every count in the tests is taken from this drawing.

                            GRP (legal_entity)
                 subsidiary_of /        \\ subsidiary_of
                  LE-A (legal_entity)    LE-B (legal_entity)
       bill_to_of /       \\ sold_to_of        | bill_to_of
         BT-1 (bill_to)    SO-1 (sold_to)      BT-3 (bill_to)
    ship_to_of /   \\           | bill_to_of      | ship_to_of
           ST-1   ST-2       BT-2 (bill_to)      ST-5
                   ship_to_of /   \\
                          ST-3   ST-4

    12 nodes, 11 edges: 3 legal entities, 1 sold-to, 3 bill-tos, 5 ship-tos.
    """
    return build_hierarchy(
        {
            "GRP": "legal_entity",
            "LE-A": "legal_entity",
            "LE-B": "legal_entity",
            "SO-1": "sold_to",
            "BT-1": "bill_to",
            "BT-2": "bill_to",
            "BT-3": "bill_to",
            "ST-1": "ship_to",
            "ST-2": "ship_to",
            "ST-3": "ship_to",
            "ST-4": "ship_to",
            "ST-5": "ship_to",
        },
        [
            ("LE-A", "GRP", "subsidiary_of"),
            ("LE-B", "GRP", "subsidiary_of"),
            ("BT-1", "LE-A", "bill_to_of"),
            ("SO-1", "LE-A", "sold_to_of"),
            ("BT-2", "SO-1", "bill_to_of"),
            ("BT-3", "LE-B", "bill_to_of"),
            ("ST-1", "BT-1", "ship_to_of"),
            ("ST-2", "BT-1", "ship_to_of"),
            ("ST-3", "BT-2", "ship_to_of"),
            ("ST-4", "BT-2", "ship_to_of"),
            ("ST-5", "BT-3", "ship_to_of"),
        ],
    )
