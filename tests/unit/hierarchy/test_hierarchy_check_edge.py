"""`check_edge`, `check_move` and `check_removal`: one change, checked locally."""

from collections.abc import Callable

import pytest

from hierarchy import (
    DEFAULT_RULES,
    Edge,
    Finding,
    FindingCode,
    Hierarchy,
    Node,
    RelationRule,
    UnknownEdgeError,
    check_edge,
    check_move,
    check_removal,
)

Build = Callable[..., Hierarchy]

LE = "legal_entity"

SHALLOW = DEFAULT_RULES.model_copy(
    update={
        "relations": {
            **DEFAULT_RULES.relations,
            "subsidiary_of": RelationRule(
                child_roles=frozenset({LE}), parent_roles=frozenset({LE}), max_depth=2
            ),
        }
    }
)


class SpyHierarchy(Hierarchy):
    """Records every node whose role, parents or children are read."""

    def __init__(self, source: Hierarchy) -> None:
        super().__init__(source.nodes, source.edges)
        self.touched: set[str] = set()

    def role(self, node_id: str) -> str:
        self.touched.add(node_id)
        return super().role(node_id)

    def parents(self, node_id: str, relation: str | None = None) -> tuple[Edge, ...]:
        self.touched.add(node_id)
        return super().parents(node_id, relation)

    def children(self, node_id: str, relation: str | None = None) -> tuple[Edge, ...]:
        self.touched.add(node_id)
        return super().children(node_id, relation)


def codes(findings: list[Finding]) -> list[str]:
    return [f.code.value for f in findings]


def test_a_valid_edge_has_no_findings(acme: Hierarchy) -> None:
    h = acme.with_node(Node("ST-9", "ship_to"))
    assert check_edge(h, Edge("ST-9", "BT-3", "ship_to_of")) == []


def test_only_the_changed_part_of_the_graph_is_read(acme: Hierarchy) -> None:
    # Adding ST-9 under BT-3 may read ST-9, its (no) parents and children, and BT-3 with its
    # ancestors LE-B and GRP; never LE-A's side of the drawing.
    spy = SpyHierarchy(acme.with_node(Node("ST-9", "ship_to")))
    assert check_edge(spy, Edge("ST-9", "BT-3", "ship_to_of")) == []
    assert spy.touched <= {"ST-9", "BT-3", "LE-B", "GRP"}
    assert "BT-3" in spy.touched


def test_a_broken_part_elsewhere_does_not_block_a_local_edge(build: Build) -> None:
    # X <-> Y is a cycle and Z has two parents, far from LE <- BT where we add ST.
    h = build(
        {"X": LE, "Y": LE, "Z": "bill_to", "LE": LE, "BT": "bill_to", "ST": "ship_to"},
        [
            ("X", "Y", "subsidiary_of"),
            ("Y", "X", "subsidiary_of"),
            ("Z", "X", "bill_to_of"),
            ("Z", "Y", "bill_to_of"),
            ("BT", "LE", "bill_to_of"),
        ],
    )
    assert check_edge(h, Edge("ST", "BT", "ship_to_of")) == []


def test_an_edge_already_there_is_no_finding(acme: Hierarchy) -> None:
    assert check_edge(acme, Edge("ST-1", "BT-1", "ship_to_of")) == []


def test_a_second_parent_by_the_same_relation_is_refused(acme: Hierarchy) -> None:
    # ST-1 is already under BT-1; BT-3 would be a second ship_to_of parent.
    (finding,) = check_edge(acme, Edge("ST-1", "BT-3", "ship_to_of"))
    assert finding.code == FindingCode.MULTIPLE_PARENTS
    assert finding.nodes == ("ST-1", "BT-1", "BT-3")
    assert finding.edges == (Edge("ST-1", "BT-1", "ship_to_of"), Edge("ST-1", "BT-3", "ship_to_of"))


def test_a_role_mismatch_is_refused(acme: Hierarchy) -> None:
    # A legal entity cannot be a subsidiary of a ship-to.
    h = acme.with_node(Node("LE-N", LE))
    (finding,) = check_edge(h, Edge("LE-N", "ST-1", "subsidiary_of"))
    assert finding.code == FindingCode.ROLE_MISMATCH
    assert finding.message.endswith("the parent is a ship_to, subsidiary_of needs legal_entity")


def test_an_edge_closing_a_cycle_is_refused(acme: Hierarchy) -> None:
    #   GRP -subsidiary_of-> LE-A would close GRP -> LE-A -> GRP
    (finding,) = check_edge(acme, Edge("GRP", "LE-A", "subsidiary_of"))
    assert finding.code == FindingCode.CYCLE
    assert finding.nodes == ("GRP", "LE-A")
    assert finding.message == ("GRP -subsidiary_of-> LE-A would close a cycle: GRP -> LE-A -> GRP")


def test_a_longer_cycle_is_named_in_full(build: Build) -> None:
    #   C -> B -> A already; A -> C would close A -> C -> B -> A
    h = build(
        {"A": LE, "B": LE, "C": LE},
        [("C", "B", "subsidiary_of"), ("B", "A", "subsidiary_of")],
    )
    (finding,) = check_edge(h, Edge("A", "C", "subsidiary_of"))
    assert finding.nodes == ("A", "C", "B")
    assert finding.edges == (
        Edge("A", "C", "subsidiary_of"),
        Edge("C", "B", "subsidiary_of"),
        Edge("B", "A", "subsidiary_of"),
    )


def test_a_self_loop_is_a_cycle(acme: Hierarchy) -> None:
    assert codes(check_edge(acme, Edge("GRP", "GRP", "subsidiary_of"))) == ["cycle"]


def test_depth_counts_the_chain_above_the_parent(build: Build) -> None:
    # Limit 2.  C -> B -> A exists (2 edges); D -> C would make 3.
    h = build(
        {"A": LE, "B": LE, "C": LE, "D": LE},
        [("C", "B", "subsidiary_of"), ("B", "A", "subsidiary_of")],
    )
    (finding,) = check_edge(h, Edge("D", "C", "subsidiary_of"), SHALLOW)
    assert finding.code == FindingCode.TOO_DEEP
    assert finding.nodes == ("D", "C", "B", "A")
    assert "chain of 3 edges, more than 2" in finding.message
    assert check_edge(h, Edge("D", "B", "subsidiary_of"), SHALLOW) == []


def test_depth_counts_the_chain_below_the_child(build: Build) -> None:
    # Limit 2.  B -> A and D -> C exist; C -> B would hang D -> C under B: D->C->B->A, 3 edges.
    h = build(
        {"A": LE, "B": LE, "C": LE, "D": LE},
        [("B", "A", "subsidiary_of"), ("D", "C", "subsidiary_of")],
    )
    (finding,) = check_edge(h, Edge("C", "B", "subsidiary_of"), SHALLOW)
    assert finding.code == FindingCode.TOO_DEEP
    assert finding.nodes == ("D", "C", "B", "A")
    assert check_edge(h, Edge("C", "A", "subsidiary_of"), SHALLOW) == []


def test_unknown_nodes_and_relations_are_findings(acme: Hierarchy) -> None:
    (unknown_node,) = check_edge(acme, Edge("ST-NEW", "BT-1", "ship_to_of"))
    assert unknown_node.code == FindingCode.UNKNOWN_NODE
    assert unknown_node.nodes == ("ST-NEW",)
    (unknown_relation,) = check_edge(acme, Edge("ST-1", "BT-1", "pays_for"))
    assert unknown_relation.code == FindingCode.UNKNOWN_RELATION


def test_a_pair_already_linked_by_another_relation_is_a_duplicate(build: Build) -> None:
    # Custom rules where a bill-to may also be a ship-to's "paid_by" parent.
    rules = DEFAULT_RULES.model_copy(
        update={
            "relations": {
                **DEFAULT_RULES.relations,
                "paid_by": RelationRule(
                    child_roles=frozenset({"ship_to"}), parent_roles=frozenset({"bill_to"})
                ),
            }
        }
    )
    h = build({"BT": "bill_to", "ST": "ship_to"}, [("ST", "BT", "ship_to_of")])
    (finding,) = check_edge(h, Edge("ST", "BT", "paid_by"), rules)
    assert finding.code == FindingCode.DUPLICATE_EDGE
    assert finding.edges == (Edge("ST", "BT", "ship_to_of"), Edge("ST", "BT", "paid_by"))


def test_check_move_ignores_the_edge_it_replaces(acme: Hierarchy) -> None:
    # ST-1 from BT-1 to BT-3: a second parent for check_edge, a valid move for check_move.
    assert codes(check_edge(acme, Edge("ST-1", "BT-3", "ship_to_of"))) == ["multiple_parents"]
    assert check_move(acme, "ST-1", "BT-3", "ship_to_of") == []


def test_check_move_under_its_own_descendant_is_a_cycle(acme: Hierarchy) -> None:
    # LE-A under BT-1, which is below LE-A: a role mismatch and a cycle.
    assert codes(check_move(acme, "LE-A", "BT-1", "subsidiary_of")) == ["role_mismatch", "cycle"]


def test_removing_the_last_required_parent_warns_of_an_orphan(acme: Hierarchy) -> None:
    (finding,) = check_removal(acme, Edge("ST-5", "BT-3", "ship_to_of"))
    assert finding.code == FindingCode.ORPHAN
    assert finding.nodes == ("ST-5",)
    # A legal entity may be a root: removing its group link leaves no orphan.
    assert check_removal(acme, Edge("LE-B", "GRP", "subsidiary_of")) == []


def test_removing_a_missing_edge_raises(acme: Hierarchy) -> None:
    with pytest.raises(UnknownEdgeError):
        check_removal(acme, Edge("ST-5", "BT-1", "ship_to_of"))
    with pytest.raises(UnknownEdgeError):
        check_removal(acme, Edge("nope", "BT-1", "ship_to_of"))
