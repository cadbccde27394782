"""Customer hierarchies as graphs: legal entities, sold-to, bill-to and ship-to accounts.

A pure library over networkx: no database, no HTTP. The hub persists the edges between
golden records and calls this package to validate a change before it writes it, and to read
the hierarchy (ancestors, subtrees, roll-ups) when it serves it.

>>> from hierarchy import Edge, Hierarchy, Node, check_edge, rollup
>>> h = Hierarchy(
...     [Node("LE", "legal_entity"), Node("BT", "bill_to"), Node("ST", "ship_to")],
...     [Edge("BT", "LE", "bill_to_of")],
... )
>>> check_edge(h, Edge("ST", "BT", "ship_to_of"))
[]
>>> rollup(h.with_edge(Edge("ST", "BT", "ship_to_of")), "LE").members
('ST',)
"""

from hierarchy.changes import HierarchyDiff, Reparent, diff, move_subtree
from hierarchy.errors import (
    DuplicateError,
    HierarchyError,
    PathError,
    UnknownEdgeError,
    UnknownNodeError,
)
from hierarchy.findings import Finding, FindingCode, Severity, ValidationReport
from hierarchy.graph import Edge, Hierarchy, Node
from hierarchy.rules import DEFAULT_RULES, HierarchyRules, Relation, RelationRule, Role
from hierarchy.traversal import (
    Rollup,
    Tree,
    ancestors,
    descendants,
    path_to_root,
    rollup,
    subtree,
)
from hierarchy.validation import check_edge, check_move, check_removal, validate

__all__ = [
    "DEFAULT_RULES",
    "DuplicateError",
    "Edge",
    "Finding",
    "FindingCode",
    "Hierarchy",
    "HierarchyDiff",
    "HierarchyError",
    "HierarchyRules",
    "Node",
    "PathError",
    "Relation",
    "RelationRule",
    "Reparent",
    "Role",
    "Rollup",
    "Severity",
    "Tree",
    "UnknownEdgeError",
    "UnknownNodeError",
    "ValidationReport",
    "ancestors",
    "check_edge",
    "check_move",
    "check_removal",
    "descendants",
    "diff",
    "move_subtree",
    "path_to_root",
    "rollup",
    "subtree",
    "validate",
]
