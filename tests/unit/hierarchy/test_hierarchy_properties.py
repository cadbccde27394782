"""Properties over random small hierarchies: the local checks agree with full validation.

`check_edge` and `check_move` look at a few nodes only; `validate` looks at everything. On
any valid hierarchy, a change passes the local check exactly when the changed hierarchy
passes validation.
"""

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from hierarchy import (
    DEFAULT_RULES,
    DuplicateError,
    Edge,
    FindingCode,
    Hierarchy,
    Node,
    RelationRule,
    ancestors,
    check_edge,
    check_move,
    descendants,
    diff,
    move_subtree,
    validate,
)

# A depth limit of 2 on subsidiary_of so that small graphs reach it.
RULES = DEFAULT_RULES.model_copy(
    update={
        "relations": {
            **DEFAULT_RULES.relations,
            "subsidiary_of": RelationRule(
                child_roles=frozenset({"legal_entity"}),
                parent_roles=frozenset({"legal_entity"}),
                max_depth=2,
            ),
        }
    }
)
ROLES = sorted(RULES.roles)
RELATIONS = sorted(RULES.relations)
# Legal entities and subsidiary_of are drawn more often, so that long chains appear.
ROLE = st.sampled_from([*ROLES, "legal_entity", "legal_entity", "legal_entity"])
RELATION = st.sampled_from([*RELATIONS, "subsidiary_of", "subsidiary_of"])


@st.composite
def valid_hierarchies(draw: st.DrawFn) -> Hierarchy:
    """Nodes of random roles, and random edges kept only where `check_edge` accepts them."""
    size = draw(st.integers(min_value=2, max_value=9))
    h = Hierarchy([Node(f"n{i}", draw(ROLE)) for i in range(size)])
    index = st.integers(min_value=0, max_value=size - 1)
    for child, parent, relation in draw(st.lists(st.tuples(index, index, RELATION), max_size=25)):
        edge = Edge(f"n{child}", f"n{parent}", relation)
        if not check_edge(h, edge, RULES):
            h = h.with_edge(edge)
    return h


def node_ids(h: Hierarchy) -> st.SearchStrategy[str]:
    return st.sampled_from(sorted(h))


def proposed_edges(h: Hierarchy) -> st.SearchStrategy[Edge]:
    """Any edge, or often one that closes a cycle (a node under its own descendant)."""
    any_edge = st.builds(Edge, node_ids(h), node_ids(h), RELATION)
    closing = [(node, below) for node in sorted(h) for below in descendants(h, node)]
    if not closing:
        return any_edge
    return st.one_of(
        any_edge,
        st.builds(
            lambda pair, rel: Edge(pair[0], pair[1], rel), st.sampled_from(closing), RELATION
        ),
    )


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_check_edge_agrees_with_validate(data: st.DataObject) -> None:
    h = data.draw(valid_hierarchies())
    assert validate(h, RULES).ok
    edge = data.draw(proposed_edges(h))
    findings = check_edge(h, edge, RULES)
    if any(f.code == FindingCode.DUPLICATE_EDGE for f in findings):
        return  # the pair is already linked: the changed graph cannot be drawn at all
    after = validate(h.with_edge(edge), RULES)
    assert bool(findings) == (not after.ok)
    assert {f.code for f in findings} <= {f.code for f in after.errors}


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_move_subtree_agrees_with_validate(data: st.DataObject) -> None:
    h = data.draw(valid_hierarchies())
    moves = proposed_edges(h)
    if h.edges:
        # Often an existing child under a new parent by the same relation: a real move.
        moves |= st.builds(
            lambda e, new_parent: Edge(e.child, new_parent, e.relation),
            st.sampled_from(h.edges),
            node_ids(h),
        )
    node, new_parent, relation = dataclasses.astuple(data.draw(moves))
    result = move_subtree(h, node, new_parent, relation, RULES)
    if isinstance(result, Hierarchy):
        assert validate(result, RULES).ok
        change = diff(h, result)
        assert len(change.added) + len(change.reparented) <= 1
        assert change.removed == ()
        assert check_move(h, node, new_parent, relation, RULES) == []
        return
    assert result, "a refused move names at least one finding"
    current = h.parents(node, relation)
    try:
        after = h.with_edges(remove=current, add=[Edge(node, new_parent, relation)])
    except DuplicateError:
        return  # linked already by another relation: nothing to validate
    assert not validate(after, RULES).ok


def neighbourhood(h: Hierarchy, edge: Edge) -> Hierarchy:
    """What the hub loads for one change (docs/hierarchy.md): the two ends, the parent's
    ancestors, the child's parent edges and the child's subtree by the edge's relation."""
    keep = {edge.child, edge.parent}
    if edge.parent in h:
        keep |= set(ancestors(h, edge.parent))
    if edge.child in h:
        keep |= {e.parent for e in h.parents(edge.child)}
        keep |= set(descendants(h, edge.child, edge.relation))
    keep &= set(h)
    return Hierarchy(
        [h.node(n) for n in keep],
        [e for e in h.edges if e.child in keep and e.parent in keep],
    )


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_check_edge_needs_only_the_neighbourhood(data: st.DataObject) -> None:
    h = data.draw(valid_hierarchies())
    edge = data.draw(proposed_edges(h))
    local = neighbourhood(h, edge)
    assert check_edge(local, edge, RULES) == check_edge(h, edge, RULES)
    assert check_move(local, edge.child, edge.parent, edge.relation, RULES) == check_move(
        h, edge.child, edge.parent, edge.relation, RULES
    )
