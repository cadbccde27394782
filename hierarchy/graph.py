"""Nodes, edges and the `Hierarchy` that holds them.

A `Hierarchy` wraps a frozen `networkx.DiGraph`: nodes are golden record IDs carrying a
`role`, edges point from the child to the parent and carry a `relation`. It is immutable, so a
hierarchy that was validated stays valid; the `with_...` methods return a changed copy. It
accepts graphs that break the rules (cycles, two parents), because validation has to be able
to see and report them; it only refuses data that cannot be drawn at all.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import networkx as nx

from hierarchy.errors import DuplicateError, UnknownEdgeError, UnknownNodeError


@dataclass(frozen=True, slots=True, order=True)
class Node:
    """A golden record in the hierarchy, by its golden ID and its role.

    >>> Node("LE-1", "legal_entity")
    Node(id='LE-1', role='legal_entity')
    """

    id: str
    role: str


@dataclass(frozen=True, slots=True, order=True)
class Edge:
    """A link from a child to its parent, of one relation type.

    >>> print(Edge("ST-1", "BT-1", "ship_to_of"))
    ST-1 -ship_to_of-> BT-1
    """

    child: str
    parent: str
    relation: str

    def __str__(self) -> str:
        return f"{self.child} -{self.relation}-> {self.parent}"


class Hierarchy:
    """An immutable graph of golden records (nodes) and child-to-parent edges.

    >>> h = Hierarchy(
    ...     nodes=[Node("LE-1", "legal_entity"), Node("BT-1", "bill_to")],
    ...     edges=[Edge("BT-1", "LE-1", "bill_to_of")],
    ... )
    >>> len(h), "BT-1" in h, h.edges
    (2, True, (Edge(child='BT-1', parent='LE-1', relation='bill_to_of'),))

    Raises:
        DuplicateError: a node is given twice with two roles, or a child-parent pair is
            linked by two relation types (the same edge given twice is kept once).
        UnknownNodeError: an edge names a node that is not among the nodes.
    """

    __slots__ = ("_graph",)

    def __init__(self, nodes: Iterable[Node] = (), edges: Iterable[Edge] = ()) -> None:
        # Checked in plain dicts first, then handed to networkx in bulk, which is several
        # times faster than one call per node on a whole customer base.
        roles: dict[str, str] = {}
        for node in nodes:
            known = roles.setdefault(node.id, node.role)
            if known != node.role:
                raise DuplicateError(f"node {node.id!r} is given as {known!r} and as {node.role!r}")
        relations: dict[tuple[str, str], str] = {}
        for edge in edges:
            for end in (edge.child, edge.parent):
                if end not in roles:
                    raise UnknownNodeError(end)
            known = relations.setdefault((edge.child, edge.parent), edge.relation)
            if known != edge.relation:
                raise _linked_twice(edge, known)
        graph = nx.DiGraph()
        graph.add_nodes_from((node_id, {"role": role}) for node_id, role in roles.items())
        graph.add_edges_from(
            (child, parent, {"relation": relation})
            for (child, parent), relation in relations.items()
        )
        self._graph = nx.freeze(graph)

    @classmethod
    def _wrap(cls, graph: nx.DiGraph) -> "Hierarchy":
        hierarchy = cls.__new__(cls)
        # The alternate constructor of the class itself, skipping the checks of __init__.
        hierarchy._graph = nx.freeze(graph)  # noqa: SLF001
        return hierarchy

    @property
    def graph(self) -> nx.DiGraph:
        """The underlying frozen `networkx.DiGraph`, for algorithms this library lacks.

        Node attribute `role`, edge attribute `relation`; edges point child to parent, so
        networkx's `descendants` are this library's ancestors.

        >>> Hierarchy([Node("LE-1", "legal_entity")]).graph.nodes["LE-1"]
        {'role': 'legal_entity'}
        """
        return self._graph

    @property
    def nodes(self) -> tuple[Node, ...]:
        """Every node, ordered by ID.

        >>> Hierarchy([Node("b", "bill_to"), Node("a", "legal_entity")]).nodes
        (Node(id='a', role='legal_entity'), Node(id='b', role='bill_to'))
        """
        return tuple(sorted(Node(n, role) for n, role in self._graph.nodes(data="role")))

    @property
    def edges(self) -> tuple[Edge, ...]:
        """Every edge, ordered by child, then parent.

        >>> h = Hierarchy(
        ...     [Node("a", "legal_entity"), Node("b", "legal_entity")],
        ...     [Edge("b", "a", "subsidiary_of")],
        ... )
        >>> h.edges
        (Edge(child='b', parent='a', relation='subsidiary_of'),)
        """
        return tuple(sorted(Edge(c, p, rel) for c, p, rel in self._graph.edges(data="relation")))

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._graph

    def __len__(self) -> int:
        return len(self._graph)

    def __iter__(self) -> Iterator[str]:
        return iter(self._graph)

    def __repr__(self) -> str:
        return f"Hierarchy(nodes={len(self)}, edges={self._graph.number_of_edges()})"

    def node(self, node_id: str) -> Node:
        """The node with this ID.

        >>> Hierarchy([Node("LE-1", "legal_entity")]).node("LE-1")
        Node(id='LE-1', role='legal_entity')

        Raises:
            UnknownNodeError: no such node.
        """
        return Node(node_id, self.role(node_id))

    def role(self, node_id: str) -> str:
        """The role of the node with this ID.

        >>> Hierarchy([Node("LE-1", "legal_entity")]).role("LE-1")
        'legal_entity'

        Raises:
            UnknownNodeError: no such node.
        """
        try:
            role: str = self._graph.nodes[node_id]["role"]
        except KeyError:
            raise UnknownNodeError(node_id) from None
        return role

    def parents(self, node_id: str, relation: str | None = None) -> tuple[Edge, ...]:
        """The edges from this node up to its parents, of one relation or of all.

        >>> h = Hierarchy(
        ...     [Node("LE-1", "legal_entity"), Node("BT-1", "bill_to")],
        ...     [Edge("BT-1", "LE-1", "bill_to_of")],
        ... )
        >>> h.parents("BT-1")
        (Edge(child='BT-1', parent='LE-1', relation='bill_to_of'),)
        >>> h.parents("BT-1", relation="ship_to_of")
        ()

        Raises:
            UnknownNodeError: no such node.
        """
        if node_id not in self._graph:
            raise UnknownNodeError(node_id)
        return tuple(
            sorted(
                Edge(node_id, parent, rel)
                for parent, rel in (
                    (p, d["relation"]) for p, d in self._graph.succ[node_id].items()
                )
                if relation is None or rel == relation
            )
        )

    def children(self, node_id: str, relation: str | None = None) -> tuple[Edge, ...]:
        """The edges from this node's children up to it, of one relation or of all.

        >>> h = Hierarchy(
        ...     [Node("LE-1", "legal_entity"), Node("BT-1", "bill_to")],
        ...     [Edge("BT-1", "LE-1", "bill_to_of")],
        ... )
        >>> h.children("LE-1")
        (Edge(child='BT-1', parent='LE-1', relation='bill_to_of'),)

        Raises:
            UnknownNodeError: no such node.
        """
        if node_id not in self._graph:
            raise UnknownNodeError(node_id)
        return tuple(
            sorted(
                Edge(child, node_id, rel)
                for child, rel in ((c, d["relation"]) for c, d in self._graph.pred[node_id].items())
                if relation is None or rel == relation
            )
        )

    def with_node(self, node: Node) -> "Hierarchy":
        """A copy with one more node (the same node again changes nothing).

        >>> Hierarchy().with_node(Node("LE-1", "legal_entity")).nodes
        (Node(id='LE-1', role='legal_entity'),)

        Raises:
            DuplicateError: the ID is already there with another role.
        """
        graph = self._graph.copy()
        _add_node(graph, node)
        return Hierarchy._wrap(graph)

    def with_edge(self, edge: Edge) -> "Hierarchy":
        """A copy with one more edge, not validated: call `check_edge` first.

        >>> h = Hierarchy([Node("LE-1", "legal_entity"), Node("BT-1", "bill_to")])
        >>> h.with_edge(Edge("BT-1", "LE-1", "bill_to_of")).parents("BT-1")
        (Edge(child='BT-1', parent='LE-1', relation='bill_to_of'),)

        Raises:
            UnknownNodeError: the edge names a node that is not in the hierarchy.
            DuplicateError: the pair is already linked by another relation.
        """
        return self.with_edges(add=[edge])

    def without_edge(self, edge: Edge) -> "Hierarchy":
        """A copy without this edge; call `check_removal` first to hear of orphans.

        >>> h = Hierarchy(
        ...     [Node("LE-1", "legal_entity"), Node("BT-1", "bill_to")],
        ...     [Edge("BT-1", "LE-1", "bill_to_of")],
        ... )
        >>> h.without_edge(Edge("BT-1", "LE-1", "bill_to_of")).edges
        ()

        Raises:
            UnknownEdgeError: the edge is not in the hierarchy.
        """
        return self.with_edges(remove=[edge])

    def with_edges(self, add: Iterable[Edge] = (), remove: Iterable[Edge] = ()) -> "Hierarchy":
        """A copy with edges removed, then edges added, in one copy of the graph.

        >>> h = Hierarchy(
        ...     [Node("LE-1", "legal_entity"), Node("LE-2", "legal_entity"), Node("BT", "bill_to")],
        ...     [Edge("BT", "LE-1", "bill_to_of")],
        ... )
        >>> h.with_edges(
        ...     remove=[Edge("BT", "LE-1", "bill_to_of")], add=[Edge("BT", "LE-2", "bill_to_of")]
        ... ).edges
        (Edge(child='BT', parent='LE-2', relation='bill_to_of'),)

        Raises:
            UnknownEdgeError: an edge to remove is not in the hierarchy.
            UnknownNodeError: an edge to add names a node that is not in the hierarchy.
            DuplicateError: an edge to add links a pair already linked by another relation.
        """
        graph = self._graph.copy()
        for edge in remove:
            if graph.get_edge_data(edge.child, edge.parent) != {"relation": edge.relation}:
                raise UnknownEdgeError(f"edge {edge} is not in the hierarchy")
            graph.remove_edge(edge.child, edge.parent)
        for edge in add:
            _add_edge(graph, edge)
        return Hierarchy._wrap(graph)


def _add_node(graph: nx.DiGraph, node: Node) -> None:
    known = graph.nodes.get(node.id)
    if known is not None and known["role"] != node.role:
        raise DuplicateError(f"node {node.id!r} is given as {known['role']!r} and as {node.role!r}")
    graph.add_node(node.id, role=node.role)


def _add_edge(graph: nx.DiGraph, edge: Edge) -> None:
    for end in (edge.child, edge.parent):
        # networkx would quietly create the node without a role.
        if end not in graph:
            raise UnknownNodeError(end)
    known = graph.get_edge_data(edge.child, edge.parent)
    if known is not None and known["relation"] != edge.relation:
        raise _linked_twice(edge, known["relation"])
    graph.add_edge(edge.child, edge.parent, relation=edge.relation)


def _linked_twice(edge: Edge, known_relation: str) -> DuplicateError:
    return DuplicateError(
        f"{edge.child!r} and {edge.parent!r} are linked by {known_relation!r} "
        f"and by {edge.relation!r}"
    )
