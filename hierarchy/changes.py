"""Changing a hierarchy: moving a subtree, and the difference between two versions.

The hub stores edges, not graphs: after `move_subtree` it can take `diff(old, new)` to learn
exactly which rows to change and which change events to write to the outbox.
"""

from dataclasses import dataclass

from hierarchy.findings import Finding
from hierarchy.graph import Edge, Hierarchy
from hierarchy.rules import DEFAULT_RULES, HierarchyRules
from hierarchy.validation import check_move


def move_subtree(
    h: Hierarchy,
    node: str,
    new_parent: str,
    relation: str,
    rules: HierarchyRules = DEFAULT_RULES,
) -> Hierarchy | list[Finding]:
    """Re-parent `node`, with everything under it, to `new_parent` by `relation`.

    The node's current parent by `relation` (if any) is replaced; its parents by other
    relations and its own subtree stay as they are. The move is checked by `check_move`.

    Args:
        h: the hierarchy as it is now.
        node: the golden ID to move.
        new_parent: the golden ID to hang it under.
        relation: the relation type of the new edge.
        rules: the roles and relation types allowed.

    Returns:
        The changed copy of the hierarchy, or the findings that forbid the move.

    >>> from hierarchy.graph import Node
    >>> h = Hierarchy(
    ...     [Node("LE-1", "legal_entity"), Node("LE-2", "legal_entity")]
    ...     + [Node("BT", "bill_to"), Node("ST", "ship_to")],
    ...     [Edge("BT", "LE-1", "bill_to_of"), Edge("ST", "BT", "ship_to_of")],
    ... )
    >>> moved = move_subtree(h, "BT", "LE-2", "bill_to_of")
    >>> [str(e) for e in moved.edges]
    ['BT -bill_to_of-> LE-2', 'ST -ship_to_of-> BT']
    >>> [f.code.value for f in move_subtree(h, "LE-1", "ST", "subsidiary_of")]
    ['role_mismatch', 'cycle']
    """
    findings = check_move(h, node, new_parent, relation, rules)
    if findings:
        return findings
    edge = Edge(node, new_parent, relation)
    current = h.parents(node, relation)
    if current == (edge,):
        return h
    return h.with_edges(add=[edge], remove=current)


@dataclass(frozen=True, slots=True)
class Reparent:
    """A child that kept its relation but changed its parent.

    >>> print(Reparent("BT", "bill_to_of", "LE-1", "LE-2"))
    BT -bill_to_of-> LE-1 => LE-2
    """

    child: str
    relation: str
    old_parent: str
    new_parent: str

    def __str__(self) -> str:
        return f"{self.child} -{self.relation}-> {self.old_parent} => {self.new_parent}"


@dataclass(frozen=True, slots=True)
class HierarchyDiff:
    """What changed between two versions: edges added, removed, and children re-parented.

    A re-parented child appears only in `reparented`, never also as a removal and an addition.

    >>> HierarchyDiff((), (), ()).unchanged
    True
    """

    added: tuple[Edge, ...]
    removed: tuple[Edge, ...]
    reparented: tuple[Reparent, ...]

    @property
    def unchanged(self) -> bool:
        """True when the two versions have the same edges.

        >>> HierarchyDiff((Edge("BT", "LE", "bill_to_of"),), (), ()).unchanged
        False
        """
        return not (self.added or self.removed or self.reparented)


def diff(old: Hierarchy, new: Hierarchy) -> HierarchyDiff:
    """The edges added, removed and re-parented from `old` to `new`.

    A child whose one parent by a relation was replaced by one other parent by the same
    relation is re-parented; any other change is an addition or a removal.

    Args:
        old: the earlier version.
        new: the later version.

    >>> from hierarchy.graph import Node
    >>> nodes = [Node("LE-1", "legal_entity"), Node("LE-2", "legal_entity"), Node("BT", "bill_to")]
    >>> old = Hierarchy(nodes, [Edge("BT", "LE-1", "bill_to_of")])
    >>> new = Hierarchy(
    ...     nodes, [Edge("BT", "LE-2", "bill_to_of"), Edge("LE-2", "LE-1", "subsidiary_of")]
    ... )
    >>> change = diff(old, new)
    >>> [str(e) for e in change.added], [str(r) for r in change.reparented], change.removed
    (['LE-2 -subsidiary_of-> LE-1'], ['BT -bill_to_of-> LE-1 => LE-2'], ())
    """
    # Plain triples straight off the graphs: only the difference is turned into edges.
    old_edges = set(old.graph.edges(data="relation"))
    new_edges = set(new.graph.edges(data="relation"))
    gone = sorted(Edge(*triple) for triple in old_edges - new_edges)
    came = sorted(Edge(*triple) for triple in new_edges - old_edges)

    def by_slot(edges: list[Edge]) -> dict[tuple[str, str], list[Edge]]:
        slots: dict[tuple[str, str], list[Edge]] = {}
        for edge in edges:
            slots.setdefault((edge.child, edge.relation), []).append(edge)
        return slots

    gone_by_slot, came_by_slot = by_slot(gone), by_slot(came)
    reparented = [
        Reparent(child, relation, gone_by_slot[child, relation][0].parent, edges[0].parent)
        for (child, relation), edges in sorted(came_by_slot.items())
        if len(edges) == 1 and len(gone_by_slot.get((child, relation), [])) == 1
    ]
    moved = {(r.child, r.relation) for r in reparented}
    return HierarchyDiff(
        added=tuple(e for e in came if (e.child, e.relation) not in moved),
        removed=tuple(e for e in gone if (e.child, e.relation) not in moved),
        reparented=tuple(reparented),
    )
