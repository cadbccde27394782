"""Reading a hierarchy: ancestors, descendants, subtrees, paths to the root and roll-ups.

Every function takes an optional `relation` to follow one relation type only (for example
`subsidiary_of` for the corporate tree of legal entities), or all of them by default. Results
are in a stable order: nearest first, and by golden ID among equals.
"""

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from hierarchy.errors import PathError
from hierarchy.graph import Edge, Hierarchy, Node
from hierarchy.rules import Role


def ancestors(h: Hierarchy, node: str, relation: str | None = None) -> list[str]:
    """Every node above `node`, nearest first.

    Args:
        h: the hierarchy.
        node: the golden ID to start from (not included in the result).
        relation: follow only edges of this relation type; all of them when None.

    >>> from hierarchy.graph import Edge, Node
    >>> h = Hierarchy(
    ...     [Node("GRP", "legal_entity"), Node("LE", "legal_entity"), Node("BT", "bill_to")],
    ...     [Edge("LE", "GRP", "subsidiary_of"), Edge("BT", "LE", "bill_to_of")],
    ... )
    >>> ancestors(h, "BT")
    ['LE', 'GRP']
    >>> ancestors(h, "BT", relation="subsidiary_of")
    []

    Raises:
        UnknownNodeError: no such node.
    """
    return _breadth_first(node, lambda n: [e.parent for e in h.parents(n, relation)])


def descendants(h: Hierarchy, node: str, relation: str | None = None) -> list[str]:
    """Every node below `node`, nearest first.

    Args:
        h: the hierarchy.
        node: the golden ID to start from (not included in the result).
        relation: follow only edges of this relation type; all of them when None.

    >>> from hierarchy.graph import Edge, Node
    >>> h = Hierarchy(
    ...     [Node("LE", "legal_entity"), Node("BT", "bill_to"), Node("ST", "ship_to")],
    ...     [Edge("BT", "LE", "bill_to_of"), Edge("ST", "BT", "ship_to_of")],
    ... )
    >>> descendants(h, "LE")
    ['BT', 'ST']

    Raises:
        UnknownNodeError: no such node.
    """
    return _breadth_first(node, lambda n: [e.child for e in h.children(n, relation)])


def path_to_root(h: Hierarchy, node: str, relation: str | None = None) -> list[str]:
    """The chain from `node` up to its ultimate parent, both included.

    Args:
        h: the hierarchy.
        node: the golden ID to start from.
        relation: follow only edges of this relation type; all of them when None.

    >>> from hierarchy.graph import Edge, Node
    >>> h = Hierarchy(
    ...     [Node("GRP", "legal_entity"), Node("LE", "legal_entity"), Node("BT", "bill_to")],
    ...     [Edge("LE", "GRP", "subsidiary_of"), Edge("BT", "LE", "bill_to_of")],
    ... )
    >>> path_to_root(h, "BT")
    ['BT', 'LE', 'GRP']

    Raises:
        UnknownNodeError: no such node.
        PathError: a node on the way has several parents (by `relation`), or the way loops;
            neither happens in a hierarchy that `validate` passed under the default rules.
    """
    path = [node]
    seen = {node}
    while parents := h.parents(path[-1], relation):
        if len(parents) > 1:
            listed = ", ".join(str(e) for e in parents)
            raise PathError(f"{path[-1]} has {len(parents)} parents: {listed}")
        parent = parents[0].parent
        if parent in seen:
            raise PathError(f"the path up from {node} loops: {' -> '.join([*path, parent])}")
        path.append(parent)
        seen.add(parent)
    return path


@dataclass(frozen=True, slots=True)
class Tree:
    """A node with the subtrees of its children; `relation` links it to its parent here.

    `dataclasses.asdict(tree)` gives the nested dicts that an API returns.

    >>> Tree(Node("LE", "legal_entity"), None, ()).size
    1
    """

    node: Node
    relation: str | None
    children: tuple["Tree", ...]

    @property
    def size(self) -> int:
        """How many nodes the tree holds, its root included.

        >>> leaf = Tree(Node("ST", "ship_to"), "ship_to_of", ())
        >>> Tree(Node("BT", "bill_to"), None, (leaf,)).size
        2
        """
        count = 0
        pending = [self]
        while pending:
            tree = pending.pop()
            count += 1
            pending.extend(tree.children)
        return count


def subtree(h: Hierarchy, node: str, relation: str | None = None) -> Tree:
    """The tree under `node`, as nested `Tree`s, children ordered by golden ID.

    Each node appears once. Where a node has two parents inside the subtree (possible only
    with custom rules, or in an invalid graph) it sits under the one reached first,
    breadth-first; a cycle is cut where it closes.

    Args:
        h: the hierarchy.
        node: the golden ID at the root of the subtree.
        relation: follow only edges of this relation type; all of them when None.

    >>> from hierarchy.graph import Edge, Node
    >>> h = Hierarchy(
    ...     [Node("LE", "legal_entity"), Node("BT", "bill_to"), Node("ST", "ship_to")],
    ...     [Edge("BT", "LE", "bill_to_of"), Edge("ST", "BT", "ship_to_of")],
    ... )
    >>> tree = subtree(h, "LE")
    >>> tree.children[0].node.id, tree.children[0].children[0].node.id
    ('BT', 'ST')

    Raises:
        UnknownNodeError: no such node.
    """
    came_by: dict[str, Edge | None] = {node: None}
    order = [node]
    queue = deque([node])
    while queue:
        for edge in h.children(queue.popleft(), relation):
            if edge.child not in came_by:
                came_by[edge.child] = edge
                order.append(edge.child)
                queue.append(edge.child)
    # Built bottom-up so that a deep hierarchy cannot exhaust the recursion limit.
    trees: dict[str, Tree] = {}
    for node_id in reversed(order):
        edge_up = came_by[node_id]
        trees[node_id] = Tree(
            h.node(node_id),
            edge_up.relation if edge_up else None,
            tuple(trees[e.child] for e in h.children(node_id, relation) if came_by[e.child] == e),
        )
    return trees[node]


@dataclass(frozen=True, slots=True)
class Rollup:
    """The nodes of one role under a node, for example every ship-to of a legal entity.

    >>> Rollup("LE", "ship_to", ("ST-1", "ST-2")).count
    2
    """

    node: str
    role: str
    members: tuple[str, ...]

    @property
    def count(self) -> int:
        """How many members.

        >>> Rollup("LE", "ship_to", ()).count
        0
        """
        return len(self.members)


def rollup(
    h: Hierarchy, node: str, role: str = Role.SHIP_TO, relation: str | None = None
) -> Rollup:
    """The nodes of `role` anywhere under `node`, ordered by golden ID.

    Args:
        h: the hierarchy.
        node: the golden ID to roll up to (never counted itself).
        role: the role to collect; ship-tos by default.
        relation: follow only edges of this relation type; all of them when None.

    >>> from hierarchy.graph import Edge, Node
    >>> h = Hierarchy(
    ...     [Node("LE", "legal_entity"), Node("BT", "bill_to")]
    ...     + [Node("ST-1", "ship_to"), Node("ST-2", "ship_to")],
    ...     [Edge("BT", "LE", "bill_to_of")]
    ...     + [Edge("ST-1", "BT", "ship_to_of"), Edge("ST-2", "BT", "ship_to_of")],
    ... )
    >>> rollup(h, "LE")
    Rollup(node='LE', role='ship_to', members=('ST-1', 'ST-2'))
    >>> rollup(h, "LE", role="bill_to").count
    1

    Raises:
        UnknownNodeError: no such node.
    """
    members = sorted(n for n in descendants(h, node, relation) if h.role(n) == role)
    return Rollup(node, str(role), tuple(members))


def _breadth_first(start: str, step: Callable[[str], list[str]]) -> list[str]:
    seen = {start}
    found: list[str] = []
    queue = deque([start])
    while queue:
        for next_id in step(queue.popleft()):
            if next_id not in seen:
                seen.add(next_id)
                found.append(next_id)
                queue.append(next_id)
    return found
