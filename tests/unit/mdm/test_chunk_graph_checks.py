"""A derivation chunk's edge checks: an edge with nothing around it is judged by its roles alone.

`_ChunkGraph.check` answers an edge with no other edge around it from the two roles and the
relation, without drawing the neighbourhood; every answer must equal the full check's.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

import pytest

from hierarchy import DEFAULT_RULES
from mdm.hierarchies import service
from mdm.hierarchies.service import _checked, _ChunkGraph

ROLES = [*sorted(DEFAULT_RULES.roles), "distributor"]  # and one no rule declares
RELATIONS = [*sorted(DEFAULT_RULES.relations), "franchise_of"]


def _graph(roles: dict[int, str], edges: list[tuple[int, int, str]]) -> _ChunkGraph:
    graph = object.__new__(_ChunkGraph)
    graph._rules = DEFAULT_RULES
    graph._up = defaultdict(dict)
    graph._down = defaultdict(set)
    graph._roles = roles
    graph._lone = {}
    for child, parent, relation in edges:
        graph.apply(child, relation, parent)
    return graph


def _full(graph: _ChunkGraph, child: int, parent: int, relation: str) -> list[Any]:
    return _checked(
        lambda: graph._neighbourhood(child, parent, relation),
        child,
        parent,
        relation,
        DEFAULT_RULES,
    )


@pytest.mark.parametrize(("child_role", "parent_role"), list(itertools.product(ROLES, ROLES)))
def test_a_lone_edge_is_answered_as_the_full_check_answers_it(
    child_role: str, parent_role: str
) -> None:
    # Node 3 has no role stored: the default role.
    roles = {1: child_role, 2: parent_role, 4: child_role, 5: parent_role}
    for relation in RELATIONS:
        graph = _graph(roles, [])
        for child, parent in ((1, 2), (4, 5), (1, 3), (3, 2), (1, 1)):
            assert graph.check(child, parent, relation) == _full(graph, child, parent, relation)


def test_the_roles_are_judged_once_and_edges_around_are_drawn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    drawn: list[int] = []
    real = service.check_move

    def counted(*args: Any, **kwargs: Any) -> Any:
        drawn.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(service, "check_move", counted)
    roles = dict.fromkeys(range(1, 10), "bill_to") | {10: "legal_entity", 11: "legal_entity"}
    graph = _graph(roles, [])
    assert graph.check(1, 10, "bill_to_of") == []
    assert graph.check(2, 11, "bill_to_of") == []
    assert len(drawn) == 1  # the second lone bill-to under a legal entity: judged by its roles
    refused = graph.check(3, 4, "bill_to_of")  # a bill-to under a bill-to: refused, in full
    assert refused
    assert "3" in refused[0].message
    assert len(drawn) == 3  # judged by the roles (refused), then drawn for the findings
    # Edges around: the child already has a parent, or the parent has one, or the child has
    # children: drawn in full, and answered as the full check answers.
    graph.apply(5, "bill_to_of", 10)
    graph.apply(11, "subsidiary_of", 10)
    for child, parent, relation in ((5, 11, "bill_to_of"), (6, 11, "bill_to_of")):
        before = len(drawn)
        assert graph.check(child, parent, relation) == _full(graph, child, parent, relation)
        assert len(drawn) == before + 2  # drawn by check, and by the full check here
    ship_to = _graph({1: "ship_to", 2: "bill_to", 3: "legal_entity"}, [(1, 2, "ship_to_of")])
    assert ship_to.check(2, 3, "bill_to_of") == _full(ship_to, 2, 3, "bill_to_of")
    # A cycle is found through the edges around, never skipped.
    subsidiaries = _graph({1: "legal_entity", 2: "legal_entity"}, [(1, 2, "subsidiary_of")])
    cycle = subsidiaries.check(2, 1, "subsidiary_of")
    assert [f.code.value for f in cycle] == ["cycle"]
