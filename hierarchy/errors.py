"""Errors raised by the hierarchy library.

A graph that breaks the rules is not an error here: validation returns findings. These errors
mean the caller asked something that has no answer, such as naming a node that is not in the
hierarchy or asking for the single path to the root of a node that has two parents.
"""


class HierarchyError(Exception):
    """Root of every error the hierarchy library raises."""


class UnknownNodeError(HierarchyError):
    """A node id that is not in the hierarchy."""

    def __init__(self, node_id: str) -> None:
        super().__init__(f"node {node_id!r} is not in the hierarchy")
        self.node_id = node_id


class UnknownEdgeError(HierarchyError):
    """An edge that is not in the hierarchy."""


class DuplicateError(HierarchyError):
    """A node given twice with two roles, or a child-parent pair linked by two relations."""


class PathError(HierarchyError):
    """A node has no single path to its root: it has several parents, or sits on a cycle."""
