"""Every rule of `validate`, each on a small hand-drawn graph."""

from collections.abc import Callable
from itertools import pairwise

from hierarchy import (
    DEFAULT_RULES,
    Edge,
    FindingCode,
    Hierarchy,
    HierarchyRules,
    RelationRule,
    Severity,
    validate,
)

Build = Callable[..., Hierarchy]

LE = "legal_entity"


def codes(h: Hierarchy, rules: HierarchyRules = DEFAULT_RULES) -> list[str]:
    return [f.code.value for f in validate(h, rules).findings]


def test_a_valid_hierarchy_has_no_findings(acme: Hierarchy) -> None:
    report = validate(acme)
    assert report.findings == ()
    assert report.ok


def test_a_cycle_of_one_relation_is_found(build: Build) -> None:
    #   A -subsidiary_of-> B -subsidiary_of-> C -subsidiary_of-> A
    h = build(
        {"A": LE, "B": LE, "C": LE},
        [("A", "B", "subsidiary_of"), ("B", "C", "subsidiary_of"), ("C", "A", "subsidiary_of")],
    )
    (finding,) = validate(h).findings
    assert finding.code == FindingCode.CYCLE
    assert finding.severity == Severity.ERROR
    assert finding.nodes == ("A", "B", "C")
    assert finding.edges == (
        Edge("A", "B", "subsidiary_of"),
        Edge("B", "C", "subsidiary_of"),
        Edge("C", "A", "subsidiary_of"),
    )
    assert finding.message == "subsidiary_of cycle: A -> B -> C -> A"


def test_a_node_that_is_its_own_parent_is_a_cycle(build: Build) -> None:
    #   A -subsidiary_of-> A
    h = build({"A": LE}, [("A", "A", "subsidiary_of")])
    (finding,) = validate(h).findings
    assert finding.code == FindingCode.CYCLE
    assert finding.nodes == ("A",)


def test_a_cycle_across_relations_is_found(build: Build) -> None:
    # Under the default rules a cross-relation cycle always breaks a role too, so these rules
    # allow one: a member may belong to a group, and a group may be run by a member.
    #   M -member_of-> G -run_by-> M
    rules = HierarchyRules(
        roles=frozenset({"group", "member"}),
        relations={
            "member_of": RelationRule(
                child_roles=frozenset({"member"}), parent_roles=frozenset({"group"})
            ),
            "run_by": RelationRule(
                child_roles=frozenset({"group"}), parent_roles=frozenset({"member"})
            ),
        },
    )
    h = build({"M": "member", "G": "group"}, [("M", "G", "member_of"), ("G", "M", "run_by")])
    (finding,) = validate(h, rules).findings
    assert finding.code == FindingCode.CYCLE
    assert finding.message.startswith("cycle across relations: ")
    assert set(finding.nodes) == {"M", "G"}


def test_two_separate_cycles_are_two_findings(build: Build) -> None:
    #   A <-> B        C <-> D       (all subsidiary_of)
    h = build(
        {"A": LE, "B": LE, "C": LE, "D": LE},
        [
            ("A", "B", "subsidiary_of"),
            ("B", "A", "subsidiary_of"),
            ("C", "D", "subsidiary_of"),
            ("D", "C", "subsidiary_of"),
        ],
    )
    assert codes(h) == ["cycle", "cycle"]


def test_two_parents_by_one_relation_are_a_conflict(build: Build) -> None:
    #   BT -bill_to_of-> LE-1
    #   BT -bill_to_of-> LE-2
    h = build(
        {"LE-1": LE, "LE-2": LE, "BT": "bill_to"},
        [("BT", "LE-1", "bill_to_of"), ("BT", "LE-2", "bill_to_of")],
    )
    (finding,) = validate(h).findings
    assert finding.code == FindingCode.MULTIPLE_PARENTS
    assert finding.nodes == ("BT", "LE-1", "LE-2")
    assert finding.message == "BT would have 2 bill_to_of parents: LE-1, LE-2"


def test_parents_by_different_relations_are_not_a_conflict(build: Build) -> None:
    # Custom rules where a store is both supplied by a depot and owned by a company:
    #   S -supplied_by-> D       S -owned_by-> C
    rules = HierarchyRules(
        roles=frozenset({"store", "depot", "company"}),
        relations={
            "supplied_by": RelationRule(
                child_roles=frozenset({"store"}), parent_roles=frozenset({"depot"})
            ),
            "owned_by": RelationRule(
                child_roles=frozenset({"store"}), parent_roles=frozenset({"company"})
            ),
        },
    )
    h = build(
        {"S": "store", "D": "depot", "C": "company"},
        [("S", "D", "supplied_by"), ("S", "C", "owned_by")],
    )
    assert codes(h, rules) == []


def test_a_ship_to_cannot_parent_a_legal_entity(build: Build) -> None:
    #   LE -subsidiary_of-> ST       (the parent is a ship_to: wrong)
    #   ST -ship_to_of-> BT -bill_to_of-> TOP
    h = build(
        {"LE": LE, "ST": "ship_to", "BT": "bill_to", "TOP": LE},
        [("LE", "ST", "subsidiary_of"), ("ST", "BT", "ship_to_of"), ("BT", "TOP", "bill_to_of")],
    )
    (finding,) = validate(h).findings
    assert finding.code == FindingCode.ROLE_MISMATCH
    assert finding.edges == (Edge("LE", "ST", "subsidiary_of"),)
    assert finding.message == (
        "LE -subsidiary_of-> ST: the parent is a ship_to, subsidiary_of needs legal_entity"
    )


def test_both_ends_of_an_edge_can_mismatch(build: Build) -> None:
    #   BT -sold_to_of-> ST       (sold_to_of needs a sold_to child and a legal_entity parent)
    #   BT -bill_to_of-> LE,  ST -ship_to_of-> BT  keep both out of the orphan report
    h = build(
        {"BT": "bill_to", "ST": "ship_to", "LE": LE},
        [("BT", "ST", "sold_to_of"), ("BT", "LE", "bill_to_of"), ("ST", "BT", "ship_to_of")],
    )
    findings = validate(h).findings
    assert [f.code.value for f in findings] == ["cycle", "role_mismatch", "role_mismatch"]
    assert "the child is a bill_to" in findings[1].message
    assert "the parent is a ship_to" in findings[2].message


def test_a_chain_longer_than_the_limit_is_too_deep(build: Build) -> None:
    # The default limit of subsidiary_of is 10 edges. L0 <- L1 <- ... <- L11 is 11 edges.
    names = [f"L{i:02}" for i in range(12)]
    edges = [(child, parent, "subsidiary_of") for parent, child in pairwise(names)]
    too_deep = build(dict.fromkeys(names, LE), edges)
    just_fits = build(dict.fromkeys(names[:11], LE), edges[:10])

    assert codes(just_fits) == []
    (finding,) = validate(too_deep).findings
    assert finding.code == FindingCode.TOO_DEEP
    # Reported once, from the bottom of the chain up to the top.
    assert finding.nodes == tuple(reversed(names))
    assert len(finding.edges) == 11
    assert finding.message.startswith("subsidiary_of chain of 11 edges, more than 10: L11 -> L10")


def test_too_deep_reports_each_bottom_of_a_branching_chain(build: Build) -> None:
    # With a limit of 1:      A          two chains of 2 edges, from C and from D
    #                         |
    #                         B
    #                        / \
    #                       C   D
    rules = DEFAULT_RULES.model_copy(
        update={
            "relations": {
                **DEFAULT_RULES.relations,
                "subsidiary_of": RelationRule(
                    child_roles=frozenset({LE}), parent_roles=frozenset({LE}), max_depth=1
                ),
            }
        }
    )
    h = build(
        {"A": LE, "B": LE, "C": LE, "D": LE},
        [("B", "A", "subsidiary_of"), ("C", "B", "subsidiary_of"), ("D", "B", "subsidiary_of")],
    )
    assert [f.nodes for f in validate(h, rules).findings] == [("C", "B", "A"), ("D", "B", "A")]
    assert codes(h) == []


def test_depth_counts_one_relation_at_a_time(build: Build) -> None:
    # A ship-to three edges under the top (subsidiary_of, bill_to_of, ship_to_of): each
    # relation has one edge on the chain, within every limit of 1 but subsidiary_of's 10.
    #   ST -ship_to_of-> BT -bill_to_of-> LE -subsidiary_of-> TOP
    h = build(
        {"ST": "ship_to", "BT": "bill_to", "LE": LE, "TOP": LE},
        [("ST", "BT", "ship_to_of"), ("BT", "LE", "bill_to_of"), ("LE", "TOP", "subsidiary_of")],
    )
    assert codes(h) == []


def test_depth_is_still_measured_beside_a_cycle(build: Build) -> None:
    # Limit 1. A <-> B is a cycle (no depth there); X -> Y -> Z beside it is 2 edges: too deep.
    rules = DEFAULT_RULES.model_copy(
        update={
            "relations": {
                "subsidiary_of": RelationRule(
                    child_roles=frozenset({LE}), parent_roles=frozenset({LE}), max_depth=1
                )
            }
        }
    )
    h = build(
        {"A": LE, "B": LE, "X": LE, "Y": LE, "Z": LE},
        [
            ("A", "B", "subsidiary_of"),
            ("B", "A", "subsidiary_of"),
            ("X", "Y", "subsidiary_of"),
            ("Y", "Z", "subsidiary_of"),
        ],
    )
    findings = validate(h, rules).findings
    assert [(f.code.value, f.nodes) for f in findings] == [
        ("cycle", ("A", "B")),
        ("too_deep", ("X", "Y", "Z")),
    ]


def test_orphans_are_warnings(build: Build) -> None:
    #   ST-1 (no parent)          orphan: a ship-to needs a bill-to or sold-to
    #   ST-2 -ship_to_of-> LE     orphan: allowed edge, but no bill-to or sold-to above it
    #   BT-1 (no parent)          orphan: a bill-to needs a legal entity or sold-to
    #   ST-3 -ship_to_of-> SO -sold_to_of-> LE      fine
    #   LE, SO-2 (no parent)      fine: legal entities are roots, sold-tos are not required
    h = build(
        {
            "ST-1": "ship_to",
            "ST-2": "ship_to",
            "ST-3": "ship_to",
            "BT-1": "bill_to",
            "SO": "sold_to",
            "SO-2": "sold_to",
            "LE": LE,
        },
        [("ST-2", "LE", "ship_to_of"), ("ST-3", "SO", "ship_to_of"), ("SO", "LE", "sold_to_of")],
    )
    report = validate(h)
    assert report.ok
    assert report.errors == ()
    assert [(f.code.value, f.nodes) for f in report.warnings] == [
        ("orphan", ("BT-1",)),
        ("orphan", ("ST-1",)),
        ("orphan", ("ST-2",)),
    ]
    assert report.warnings[0].severity == Severity.WARNING
    assert report.warnings[2].message == "ship_to ST-2 has no bill_to or sold_to parent"


def test_undeclared_roles_and_relations_are_reported(build: Build) -> None:
    #   P (payer) -pays_for-> LE
    h = build({"P": "payer", "LE": LE}, [("P", "LE", "pays_for")])
    report = validate(h)
    assert [(f.code.value, f.nodes) for f in report.findings] == [
        ("unknown_relation", ("P", "LE")),
        ("unknown_role", ("P",)),
    ]


def test_report_counts_and_order(build: Build) -> None:
    # An orphan ship-to and a two-node cycle: errors first by code, then the warning.
    h = build(
        {"ST": "ship_to", "A": LE, "B": LE},
        [("A", "B", "subsidiary_of"), ("B", "A", "subsidiary_of")],
    )
    report = validate(h)
    assert report.counts() == {"cycle": 1, "orphan": 1}
    assert not report.ok
    assert [f.code.value for f in report.errors] == ["cycle"]
