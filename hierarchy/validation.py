"""Validation of a whole hierarchy, and of one proposed change to it.

`validate` looks at everything and is what a batch load or a nightly check calls. The hub
calls `check_edge` before it inserts an edge, `check_move` before it re-parents one and
`check_removal` before it deletes one: they read only the part of the graph that the change
touches, so they stay cheap on a hierarchy of millions of nodes, and they trust the rest of it
to be valid already.
"""

from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from itertools import pairwise

import networkx as nx

from hierarchy.errors import UnknownEdgeError
from hierarchy.findings import Finding, FindingCode, ValidationReport
from hierarchy.graph import Edge, Hierarchy
from hierarchy.rules import DEFAULT_RULES, HierarchyRules


def validate(h: Hierarchy, rules: HierarchyRules = DEFAULT_RULES) -> ValidationReport:
    """Check a whole hierarchy against the rules and report every finding.

    Args:
        h: the hierarchy to check.
        rules: the roles and relation types allowed; the shipped distribution rules by default.

    Returns:
        Errors (cycles, several parents by one relation, role mismatches, chains too deep,
        unknown roles or relations) and warnings (orphans), ordered by code, then nodes.

    >>> from hierarchy.graph import Node
    >>> h = Hierarchy(
    ...     [Node("LE-1", "legal_entity"), Node("ST-1", "ship_to")],
    ...     [Edge("LE-1", "ST-1", "subsidiary_of")],
    ... )
    >>> report = validate(h)
    >>> report.ok
    False
    >>> for finding in report.findings:
    ...     print(finding.severity, finding.code, finding.nodes)
    warning orphan ('ST-1',)
    error role_mismatch ('LE-1', 'ST-1')
    """
    findings = [
        *_unknown_roles(h, rules),
        *_edge_roles(h, rules),
        *_multiple_parents(h),
        *_cycles(h),
        *_too_deep(h, rules),
        *_orphans(h, rules),
    ]
    findings.sort(key=lambda f: (f.code, f.nodes, f.edges))
    return ValidationReport(tuple(findings))


def check_edge(h: Hierarchy, edge: Edge, rules: HierarchyRules = DEFAULT_RULES) -> list[Finding]:
    """Check one edge the hub is about to insert, looking only at what it changes.

    It reads the child's existing parents, the ancestors of the new parent (to catch a
    cycle and measure depth) and, for the depth limit, the chain of the same relation below
    the child, which the new edge pushes down. It trusts the rest of the graph to be valid.
    An edge that is already there, identical, is no finding: inserting it again is a no-op.

    Args:
        h: the hierarchy as it is now.
        edge: the edge to insert.
        rules: the roles and relation types allowed.

    Returns:
        The errors that inserting the edge would cause; empty when it may be inserted.

    >>> from hierarchy.graph import Node
    >>> h = Hierarchy(
    ...     [Node("LE-1", "legal_entity"), Node("LE-2", "legal_entity")],
    ...     [Edge("LE-2", "LE-1", "subsidiary_of")],
    ... )
    >>> check_edge(h, Edge("LE-1", "LE-2", "subsidiary_of"))[0].message
    'LE-1 -subsidiary_of-> LE-2 would close a cycle: LE-1 -> LE-2 -> LE-1'
    >>> check_edge(h, Edge("LE-2", "LE-1", "subsidiary_of"))
    []
    """
    return _check_edge(h, edge, rules, replacing=())


def check_removal(h: Hierarchy, edge: Edge, rules: HierarchyRules = DEFAULT_RULES) -> list[Finding]:
    """Check one edge the hub is about to delete: the child may be left an orphan.

    Removing an edge cannot create a cycle, a second parent or a deeper chain, so the only
    possible findings are orphan warnings; the removal itself is always allowed.

    Args:
        h: the hierarchy as it is now.
        edge: the edge to delete.
        rules: the roles and relation types allowed.

    Returns:
        An orphan warning for the child if it loses its last required parent, else nothing.

    >>> from hierarchy.graph import Node
    >>> h = Hierarchy(
    ...     [Node("BT-1", "bill_to"), Node("ST-1", "ship_to")],
    ...     [Edge("ST-1", "BT-1", "ship_to_of")],
    ... )
    >>> [f.code for f in check_removal(h, Edge("ST-1", "BT-1", "ship_to_of"))]
    [<FindingCode.ORPHAN: 'orphan'>]

    Raises:
        UnknownEdgeError: the edge is not in the hierarchy.
    """
    if edge.child not in h or edge not in h.parents(edge.child, edge.relation):
        raise UnknownEdgeError(f"edge {edge} is not in the hierarchy")
    remaining = [p for p in h.parents(edge.child) if p != edge]
    orphan = _orphan_finding(
        edge.child, h.role(edge.child), [h.role(p.parent) for p in remaining], rules
    )
    return [orphan] if orphan else []


def check_move(
    h: Hierarchy,
    node: str,
    new_parent: str,
    relation: str,
    rules: HierarchyRules = DEFAULT_RULES,
) -> list[Finding]:
    """Check re-parenting `node` to `new_parent` by `relation`, without copying the graph.

    The same checks as `check_edge`, as if the node's current parent edge by `relation` were
    already gone. `move_subtree` calls it; the hub can call it alone before it updates a row.

    Args:
        h: the hierarchy as it is now.
        node: the golden ID to move, with everything under it.
        new_parent: the golden ID to hang it under.
        relation: the relation type of the new edge.
        rules: the roles and relation types allowed.

    Returns:
        The errors that the move would cause; empty when it may be made.

    >>> from hierarchy.graph import Node
    >>> h = Hierarchy(
    ...     [Node("LE-1", "legal_entity"), Node("LE-2", "legal_entity"), Node("BT", "bill_to")],
    ...     [Edge("BT", "LE-1", "bill_to_of")],
    ... )
    >>> check_move(h, "BT", "LE-2", "bill_to_of")
    []
    >>> check_edge(h, Edge("BT", "LE-2", "bill_to_of"))[0].code.value
    'multiple_parents'
    """
    current = h.parents(node, relation) if node in h else ()
    return _check_edge(h, Edge(node, new_parent, relation), rules, replacing=current)


def _check_edge(
    h: Hierarchy, edge: Edge, rules: HierarchyRules, replacing: Collection[Edge]
) -> list[Finding]:
    """Check `edge` as if the edges in `replacing` (the child's old parents) were gone."""
    rule = rules.relations.get(edge.relation)
    if rule is None:
        return [_unknown_relation(edge)]
    missing = tuple(n for n in dict.fromkeys((edge.child, edge.parent)) if n not in h)
    if missing:
        return [
            Finding(
                FindingCode.UNKNOWN_NODE,
                f"{edge} names nodes that are not in the hierarchy: {', '.join(missing)}",
                missing,
                (edge,),
            )
        ]
    if edge in h.parents(edge.child, edge.relation):
        return []

    findings = list(_role_mismatches(edge, h.role(edge.child), h.role(edge.parent), rules))
    if edge.child == edge.parent:
        findings.append(_cycle_finding(f"{edge} links a node to itself", [edge]))
        return findings

    linked = h.graph.get_edge_data(edge.child, edge.parent)
    if linked is not None:
        findings.append(
            Finding(
                FindingCode.DUPLICATE_EDGE,
                f"{edge}: {edge.child} is already linked to {edge.parent} by {linked['relation']}",
                (edge.child, edge.parent),
                (Edge(edge.child, edge.parent, linked["relation"]), edge),
            )
        )

    others = [p for p in h.parents(edge.child, edge.relation) if p not in replacing]
    if others:
        findings.append(_multiple_parents_finding(edge.child, edge.relation, [*others, edge]))

    closing = _path_up(h, edge.parent, edge.child)
    if closing is not None:
        cycle = [edge, *closing]
        findings.append(_cycle_finding(f"{edge} would close a cycle: {_trail(cycle)}", cycle))
        # Depth along a cycle has no meaning; the cycle is the finding.
        return findings

    above = _longest_chain(edge.parent, lambda n: _parent_ids(h, n, edge.relation))
    below = _longest_chain(edge.child, lambda n: _child_ids(h, n, edge.relation))
    depth = len(above) + len(below) - 1
    if depth > rule.max_depth:
        chain = (*reversed(below), *above)
        findings.append(
            Finding(
                FindingCode.TOO_DEEP,
                f"{edge} would make a {edge.relation} chain of {depth} edges, "
                f"more than {rule.max_depth}: {' -> '.join(chain)}",
                chain,
                (edge,),
            )
        )
    return findings


def _unknown_roles(h: Hierarchy, rules: HierarchyRules) -> Iterator[Finding]:
    for node_id, role in h.graph.nodes(data="role"):
        if role not in rules.roles:
            yield Finding(
                FindingCode.UNKNOWN_ROLE,
                f"node {node_id} has the undeclared role {role!r}",
                (node_id,),
            )


def _edge_roles(h: Hierarchy, rules: HierarchyRules) -> Iterator[Finding]:
    # Straight off the graph: validate runs over every edge of hierarchies this large.
    roles = h.graph.nodes
    for child, parent, relation in h.graph.edges(data="relation"):
        edge = Edge(child, parent, relation)
        if relation not in rules.relations:
            yield _unknown_relation(edge)
        else:
            yield from _role_mismatches(edge, roles[child]["role"], roles[parent]["role"], rules)


def _unknown_relation(edge: Edge) -> Finding:
    return Finding(
        FindingCode.UNKNOWN_RELATION,
        f"{edge}: the relation {edge.relation!r} is not declared",
        (edge.child, edge.parent),
        (edge,),
    )


def _role_mismatches(
    edge: Edge, child_role: str, parent_role: str, rules: HierarchyRules
) -> Iterator[Finding]:
    rule = rules.relations[edge.relation]
    for end, role, allowed in (
        ("child", child_role, rule.child_roles),
        ("parent", parent_role, rule.parent_roles),
    ):
        if role not in allowed:
            yield Finding(
                FindingCode.ROLE_MISMATCH,
                f"{edge}: the {end} is a {role}, {edge.relation} needs "
                f"{' or '.join(sorted(allowed))}",
                (edge.child, edge.parent),
                (edge,),
            )


def _multiple_parents(h: Hierarchy) -> Iterator[Finding]:
    for node_id, parents in h.graph.succ.items():
        if len(parents) < 2:
            continue
        by_relation: dict[str, list[Edge]] = {}
        for edge in h.parents(node_id):
            by_relation.setdefault(edge.relation, []).append(edge)
        for relation, edges in sorted(by_relation.items()):
            if len(edges) > 1:
                yield _multiple_parents_finding(node_id, relation, edges)


def _multiple_parents_finding(child: str, relation: str, edges: list[Edge]) -> Finding:
    parents = [e.parent for e in edges]
    return Finding(
        FindingCode.MULTIPLE_PARENTS,
        f"{child} would have {len(parents)} {relation} parents: {', '.join(parents)}",
        (child, *parents),
        tuple(edges),
    )


def _cycles(h: Hierarchy) -> Iterator[Finding]:
    graph = h.graph
    # Every node on a cycle is among those that never settle; most hierarchies have none,
    # and the components are looked for only among the few that do.
    settled, _ = _heights(graph, graph.succ, graph.pred)
    unsettled = graph.subgraph(n for n in graph if n not in settled)
    # One finding per strongly connected component rather than per cycle: the number of
    # simple cycles can explode, and breaking the one shown lets the next check show the rest.
    for component in nx.strongly_connected_components(unsettled):
        start = min(component)
        if len(component) == 1 and not graph.has_edge(start, start):
            continue
        found = nx.find_cycle(graph.subgraph(component), source=start)
        cycle = [Edge(c, p, graph.edges[c, p]["relation"]) for c, p in found]
        relations = sorted({e.relation for e in cycle})
        kind = f"{relations[0]} cycle" if len(relations) == 1 else "cycle across relations"
        yield _cycle_finding(f"{kind}: {_trail(cycle)}", cycle)


def _cycle_finding(message: str, cycle: list[Edge]) -> Finding:
    return Finding(FindingCode.CYCLE, message, tuple(e.child for e in cycle), tuple(cycle))


def _trail(cycle: list[Edge]) -> str:
    return " -> ".join([*(e.child for e in cycle), cycle[-1].parent])


def _too_deep(h: Hierarchy, rules: HierarchyRules) -> Iterator[Finding]:
    parents: dict[str, dict[str, list[str]]] = {relation: {} for relation in rules.relations}
    children: dict[str, dict[str, list[str]]] = {relation: {} for relation in rules.relations}
    for child, parent, relation in h.graph.edges(data="relation"):
        if relation in parents:
            parents[relation].setdefault(child, []).append(parent)
            children[relation].setdefault(parent, []).append(child)
    for relation, rule in sorted(rules.relations.items()):
        up, down = parents[relation], children[relation]
        # A chain through a cycle has no depth: nodes on or under a cycle never settle and
        # are left out (the cycle is reported on its own); the acyclic rest is exact.
        height, next_up = _heights(up.keys() | down.keys(), up, down)
        # One finding per chain, reported from its lowest node.
        bottoms = (
            n
            for n, depth in height.items()
            if depth > rule.max_depth and not any(c in height for c in down.get(n, ()))
        )
        for node_id in sorted(bottoms):
            chain = [node_id]
            while chain[-1] in next_up:
                chain.append(next_up[chain[-1]])
            yield Finding(
                FindingCode.TOO_DEEP,
                f"{relation} chain of {height[node_id]} edges, more than "
                f"{rule.max_depth}: {' -> '.join(chain)}",
                tuple(chain),
                tuple(Edge(c, p, relation) for c, p in pairwise(chain)),
            )


def _heights(
    nodes: Iterable[str],
    parents: Mapping[str, Collection[str]],
    children: Mapping[str, Iterable[str]],
) -> tuple[dict[str, int], dict[str, str]]:
    """The longest way up from each node, in edges, and the parent it goes through.

    Kahn's algorithm from the roots down: a node settles once all its parents have, so the
    nodes on a cycle, and every node under one, never do and are left out. One pass over
    plain dicts, because networkx's own DAG helpers cost several times more on large graphs.
    """
    waiting = {n: len(parents.get(n, ())) for n in nodes}
    queue = deque(n for n, count in waiting.items() if count == 0)
    height = dict.fromkeys(queue, 0)
    best: dict[str, int] = {}
    next_up: dict[str, str] = {}
    while queue:
        node_id = queue.popleft()
        for child in children.get(node_id, ()):
            reach = height[node_id] + 1
            # Ties go to the smaller ID, so that the reported chain does not depend on order.
            if reach > best.get(child, -1) or (reach == best[child] and node_id < next_up[child]):
                best[child] = reach
                next_up[child] = node_id
            waiting[child] -= 1
            if waiting[child] == 0:
                height[child] = best[child]
                queue.append(child)
    return height, next_up


def _orphans(h: Hierarchy, rules: HierarchyRules) -> Iterator[Finding]:
    roles = h.graph.nodes
    for node_id, role in h.graph.nodes(data="role"):
        if role in rules.required_parent_roles:
            parent_roles = [roles[p]["role"] for p in h.graph.succ[node_id]]
            orphan = _orphan_finding(node_id, role, parent_roles, rules)
            if orphan:
                yield orphan


def _orphan_finding(
    node_id: str, role: str, parent_roles: Iterable[str], rules: HierarchyRules
) -> Finding | None:
    required = rules.required_parent_roles.get(role)
    if required is None or not required.isdisjoint(parent_roles):
        return None
    return Finding(
        FindingCode.ORPHAN,
        f"{role} {node_id} has no {' or '.join(sorted(required))} parent",
        (node_id,),
    )


def _parent_ids(h: Hierarchy, node_id: str, relation: str | None) -> list[str]:
    return [e.parent for e in h.parents(node_id, relation)]


def _child_ids(h: Hierarchy, node_id: str, relation: str | None) -> list[str]:
    return [e.child for e in h.children(node_id, relation)]


def _path_up(h: Hierarchy, start: str, target: str) -> list[Edge] | None:
    """The edges of a shortest upward path from `start` to `target`, over every relation."""
    came_by: dict[str, Edge | None] = {start: None}
    queue = deque([start])
    while queue:
        node_id = queue.popleft()
        if node_id == target:
            path: list[Edge] = []
            step = came_by[node_id]
            while step is not None:
                path.append(step)
                step = came_by[step.child]
            return path[::-1]
        for edge in h.parents(node_id):
            if edge.parent not in came_by:
                came_by[edge.parent] = edge
                queue.append(edge.parent)
    return None


def _longest_chain(start: str, step: Callable[[str], list[str]]) -> list[str]:
    """The longest chain of nodes from `start` following `step`, `start` first.

    Exact where the area is acyclic, which a valid hierarchy is; where it is not, it stops
    at the cycle rather than loop, and the cycle is reported on its own. Iterative, because
    a broken hierarchy can be deeper than Python's recursion limit.
    """
    longest: dict[str, list[str]] = {}
    on_stack = {start}
    stack = [(start, iter(step(start)))]
    while stack:
        node_id, pending = stack[-1]
        following = next(pending, None)
        if following is None:
            stack.pop()
            on_stack.discard(node_id)
            tails = [longest[n] for n in step(node_id) if n in longest]
            longest[node_id] = [node_id, *max(tails, key=len, default=[])]
        elif following not in longest and following not in on_stack:
            on_stack.add(following)
            stack.append((following, iter(step(following))))
    return longest[start]
