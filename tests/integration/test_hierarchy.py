"""The hub's customer hierarchy on both databases: derivation from the sources' parent
references, late-arriving parents, disagreements, refused edges, steward edits, merges and
unmerges, as-of reads, roll-ups, audit and the outbox, and the real samples."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hierarchy import DEFAULT_RULES
from matching import MatchModel
from mdm.audit.models import AuditEntry
from mdm.canonical.models import EntityType
from mdm.database import UnitOfWork, utcnow
from mdm.errors import ConflictError, InvalidInputError
from mdm.golden.models import GoldenMember, GoldenRecord
from mdm.golden.service import golden_of_source
from mdm.hierarchies.models import HierarchyClaim, HierarchyConflict, HierarchyEdge
from mdm.hierarchies.service import (
    ancestors,
    conflicts,
    descendants,
    on_merge,
    parents_of,
    release_parent,
    remove_parent,
    resolve_conflict,
    rollup,
    set_parent,
    sync_hierarchy,
    tree,
)
from mdm.ingest.service import ingest_file
from mdm.linkage.service import match_pending, save_model
from mdm.mapping.service import load_mappings
from mdm.outbox.models import OutboxEvent
from mdm.outbox.service import ChangeContext, read_feed
from mdm.sources.models import SourceRecord
from mdm.sources.service import sync_source_systems
from mdm.stewardship.service import merge_goldens, unmerge

Ingest = Callable[..., Any]

CTX = ChangeContext(actor="alice", cause="test", correlation_id="trace-h")


def party(
    name: str,
    vat: str,
    street: str,
    city: str,
    postal_code: str,
    *,
    role: str = "legal_entity",
    parents: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """A canonical customer; parents as {relation, source_id[, source]}."""
    address_type = {"bill_to": "billing", "ship_to": "shipping"}.get(role, "legal")
    return {
        "legal_name": name,
        "account_role": role,
        "identifiers": [{"scheme": "vat", "value": vat, "country": "DE"}],
        "addresses": [
            {
                "type": address_type,
                "lines": [street],
                "city": city,
                "postal_code": postal_code,
                "country": "DE",
            }
        ],
        "parents": parents or [],
    }


def under(relation: str, source_id: str, source: str | None = None) -> list[dict[str, str]]:
    ref = {"relation": relation, "source_id": source_id}
    if source:
        ref["source"] = source
    return [ref]


# A small group, as the ERP knows it:
#
#   H1 Keller Holding AG (legal entity, Hamburg)
#    └─ S1 Keller Antriebstechnik GmbH (legal entity, Bremen)      subsidiary_of
#        └─ B1 Keller Antriebstechnik, Rechnungswesen (bill-to)    bill_to_of
#            ├─ W1 Keller Antriebstechnik, Werk Achim (ship-to)     ship_to_of
#            └─ W2 Keller Antriebstechnik, Lager Verden (ship-to)   ship_to_of
HOLDING = party("Keller Holding AG", "DE187951345", "Ballindamm 7", "Hamburg", "20095")
SUB = party(
    "Keller Antriebstechnik GmbH",
    "DE117673772",
    "Hafenstraße 30",
    "Bremen",
    "28217",
    parents=under("subsidiary_of", "H1"),
)
BILL_TO = party(
    "Keller Antriebstechnik GmbH Rechnungswesen",
    "DE117673772",
    "Ballindamm 9",
    "Hamburg",
    "20095",
    role="bill_to",
    parents=under("bill_to_of", "S1"),
)
SHIP_ACHIM = party(
    "Keller Antriebstechnik Werk Achim",
    "DE117673772",
    "Industriestraße 4",
    "Achim",
    "28832",
    role="ship_to",
    parents=under("ship_to_of", "B1"),
)
SHIP_VERDEN = party(
    "Keller Antriebstechnik Lager Verden",
    "DE117673772",
    "Lindhooper Straße 88",
    "Verden",
    "27283",
    role="ship_to",
    parents=under("ship_to_of", "B1"),
)
OTHER = party("Brandt Maschinenbau GmbH", "DE120329604", "Ringstraße 2", "Kassel", "34117")


def gid(session: Session, source: str, source_id: str) -> int:
    return golden_of_source(session, source, "customer", source_id).id


def current_edges(session: Session) -> set[tuple[int, int, str]]:
    rows = session.execute(
        select(
            HierarchyEdge.child_golden_id, HierarchyEdge.parent_golden_id, HierarchyEdge.relation
        ).where(HierarchyEdge.valid_to.is_(None), HierarchyEdge.status == "active")
    )
    return {(int(c), int(p), str(r)) for c, p, r in rows}


def all_goldens(session: Session) -> list[int]:
    return list(session.scalars(select(GoldenRecord.id).where(GoldenRecord.status == "active")))


def load_group(session: Session, hub: Ingest) -> dict[str, int]:
    hub(
        "erp",
        {"H1": HOLDING, "S1": SUB, "B1": BILL_TO, "W1": SHIP_ACHIM, "W2": SHIP_VERDEN},
    )
    sync_hierarchy(session, all_goldens(session), CTX)
    return {k: gid(session, "erp", k) for k in ("H1", "S1", "B1", "W1", "W2")}


def test_edges_are_derived_from_the_sources_and_read_by_recursive_queries(
    session: Session, hub: Ingest
) -> None:
    g = load_group(session, hub)
    assert len(set(g.values())) == 5  # five different golden records
    assert current_edges(session) == {
        (g["S1"], g["H1"], "subsidiary_of"),
        (g["B1"], g["S1"], "bill_to_of"),
        (g["W1"], g["B1"], "ship_to_of"),
        (g["W2"], g["B1"], "ship_to_of"),
    }
    edge = parents_of(session, g["B1"])[0]
    assert (edge.origin, edge.source, edge.version) == ("derived", "erp", 1)

    path = ancestors(session, g["W1"], names=True)
    assert [(n.golden_id, n.relation, n.depth) for n in path] == [
        (g["B1"], "ship_to_of", 1),
        (g["S1"], "bill_to_of", 2),
        (g["H1"], "subsidiary_of", 3),
    ]
    assert path[-1].role == "legal_entity"
    assert path[-1].name == "Keller Holding AG"

    below = descendants(session, g["H1"])
    assert [(n.golden_id, n.depth) for n in below] == sorted(
        [(g["S1"], 1), (g["B1"], 2), (g["W1"], 3), (g["W2"], 3)], key=lambda x: (x[1], x[0])
    )
    assert rollup(session, g["H1"]).members == tuple(sorted([g["W1"], g["W2"]]))
    assert rollup(session, g["S1"], role="bill_to").count == 1
    assert rollup(session, g["W1"]).count == 0

    nested = tree(session, g["H1"])
    sub = nested["children"][0]
    assert sub["golden_id"] == g["S1"]
    assert [c["golden_id"] for c in sub["children"][0]["children"]] == sorted([g["W1"], g["W2"]])

    # Syncing again changes nothing.
    again = sync_hierarchy(session, all_goldens(session), CTX)
    assert (again.added, again.removed, again.reparented, again.unchanged) == (0, 0, 0, 4)


def test_a_parent_that_arrives_after_its_child_is_linked_when_it_arrives(
    session: Session, hub: Ingest
) -> None:
    hub("erp", {"B1": BILL_TO})
    first = sync_hierarchy(session, all_goldens(session), CTX)
    assert (first.claims, first.pending_claims, first.added) == (1, 1, 0)
    assert current_edges(session) == set()
    assert session.scalar(select(HierarchyClaim.status)) == "pending"

    # S1 arrives in a later run; only its golden record is handed to the sync.
    hub("erp", {"S1": SUB})
    s1 = gid(session, "erp", "S1")
    sync_hierarchy(session, [s1], CTX)
    assert current_edges(session) == {(gid(session, "erp", "B1"), s1, "bill_to_of")}
    # S1's own parent (H1) has not arrived: pending until it does.
    statuses = {
        r[0]: r[1] for r in session.execute(select(HierarchyClaim.relation, HierarchyClaim.status))
    }
    assert statuses == {"bill_to_of": "resolved", "subsidiary_of": "pending"}


def test_sources_that_disagree_give_the_more_trusted_parent_and_a_steward_task(
    session: Session, hub: Ingest
) -> None:
    g = load_group(session, hub)
    # The CRM knows the same three accounts but hangs the bill-to under the holding.
    hub(
        "crm",
        {
            "CH1": HOLDING,
            "CS1": {**SUB, "parents": under("subsidiary_of", "CH1")},
            "CB1": {**BILL_TO, "parents": under("bill_to_of", "CH1")},
        },
    )
    assert gid(session, "crm", "CB1") == g["B1"]  # matched to the ERP's bill-to
    assert gid(session, "crm", "CH1") == g["H1"]
    sync_hierarchy(session, all_goldens(session), CTX)

    # The ERP (trust rank 1) beats the CRM (rank 2).
    assert (g["B1"], g["S1"], "bill_to_of") in current_edges(session)
    [task] = conflicts(session)
    assert (task.child_golden_id, task.relation, task.kind) == (
        g["B1"],
        "bill_to_of",
        "disagreement",
    )
    assert task.applied_parent_id == g["S1"]
    assert sorted((c["source"], c["parent_golden_id"]) for c in task.claims) == [
        ("crm", g["H1"]),
        ("erp", g["S1"]),
    ]
    # The subsidiary edge is agreed by both, so it raises no task.
    claims = {
        r[0]: r[1]
        for r in session.execute(
            select(HierarchyClaim.source_code, HierarchyClaim.parent_golden_id).where(
                HierarchyClaim.relation == "subsidiary_of"
            )
        )
    }
    assert claims == {"erp": g["H1"], "crm": g["H1"]}

    # Another sync does not open a second task for the same (child, relation).
    sync_hierarchy(session, all_goldens(session), CTX)
    assert len(conflicts(session)) == 1

    # The steward sides with the CRM: the choice becomes a steward edge.
    with pytest.raises(ConflictError):
        resolve_conflict(session, task.id, task.version + 1, CTX, parent=g["H1"])
    resolve_conflict(session, task.id, task.version, CTX, parent=g["H1"], note="CRM is right")
    assert (g["B1"], g["H1"], "bill_to_of") in current_edges(session)
    assert parents_of(session, g["B1"])[0].origin == "steward"
    # Derivation keeps the steward's edge and does not reopen the task.
    sync_hierarchy(session, all_goldens(session), CTX)
    assert (g["B1"], g["H1"], "bill_to_of") in current_edges(session)
    assert conflicts(session) == []
    assert session.scalar(select(func.count()).select_from(HierarchyConflict)) == 1


def test_an_edge_that_breaks_the_rules_is_refused_and_raised_as_a_task(
    session: Session, hub: Ingest
) -> None:
    # A1 and A2 each claim the other as their group parent (a cycle), and a bill-to claims a
    # ship-to as its parent (a role mismatch).
    hub(
        "erp",
        {
            "A1": {**HOLDING, "parents": under("subsidiary_of", "A2")},
            "A2": {**OTHER, "parents": under("subsidiary_of", "A1")},
            "W1": {**SHIP_ACHIM, "parents": []},
            "B1": {**BILL_TO, "parents": under("bill_to_of", "W1")},
        },
    )
    a1, a2, w1, b1 = (gid(session, "erp", k) for k in ("A1", "A2", "W1", "B1"))
    summary = sync_hierarchy(session, all_goldens(session), CTX)
    assert summary.refused == 2
    # Goldens are synced in ID order: A1's edge goes in first, A2's would close the loop.
    assert current_edges(session) == {(a1, a2, "subsidiary_of")}
    tasks = {(t.child_golden_id, t.relation): t for t in conflicts(session)}
    assert set(tasks) == {(a2, "subsidiary_of"), (b1, "bill_to_of")}
    assert all(t.kind == "invalid" for t in tasks.values())
    assert "cycle" in tasks[a2, "subsidiary_of"].message
    assert "the parent is a ship_to" in tasks[b1, "bill_to_of"].message

    # A steward cannot force it either.
    with pytest.raises(InvalidInputError) as refused:
        set_parent(session, b1, w1, "bill_to_of", CTX)
    assert "ship_to" in refused.value.errors[0]["message"]


def test_steward_edits_win_over_the_sources_and_check_the_version_seen(
    session: Session, hub: Ingest
) -> None:
    g = load_group(session, hub)
    hub("erp", {"O1": OTHER})
    other = gid(session, "erp", "O1")
    with pytest.raises(ConflictError):
        set_parent(session, g["B1"], other, "bill_to_of", CTX, expected_version=7)
    moved = set_parent(session, g["B1"], other, "bill_to_of", CTX, expected_version=1)
    assert (moved.parent, moved.origin, moved.version) == (other, "steward", 2)
    sync_hierarchy(session, all_goldens(session), CTX)
    assert (g["B1"], other, "bill_to_of") in current_edges(session)

    removed = remove_parent(session, g["W2"], "ship_to_of", CTX, expected_version=1)
    assert (removed.parent, removed.status) == (None, "removed")
    sync_hierarchy(session, all_goldens(session), CTX)
    assert all(c != g["W2"] for c, _, _ in current_edges(session))
    assert rollup(session, g["H1"]).members == ()  # both ship-tos now hang elsewhere or nowhere
    assert rollup(session, other).members == (g["W1"],)

    # Handed back to the sources, the ship-to is derived again from the ERP's parent.
    release_parent(session, g["W2"], "ship_to_of", CTX, expected_version=2)
    assert (g["W2"], g["B1"], "ship_to_of") in current_edges(session)
    assert parents_of(session, g["W2"])[0].origin == "derived"


def test_merges_carry_edges_and_unmerges_give_them_back(session: Session, hub: Ingest) -> None:
    g = load_group(session, hub)
    # The distributor's record of the bill-to went its own way: a separate golden record
    # with its own ship-to under it.
    hub(
        "dist",
        {
            "D-B": party(
                "Antriebstechnik Keller Buchhaltung",
                "DE185941542",
                "Am Wall 1",
                "Oldenburg",
                "26122",
                role="bill_to",
            ),
            "D-W": party(
                "Antriebstechnik Keller Depot Oldenburg",
                "DE185941542",
                "Am Hafen 12",
                "Oldenburg",
                "26135",
                role="ship_to",
                parents=under("ship_to_of", "D-B"),
            ),
        },
    )
    d_b, d_w = gid(session, "dist", "D-B"), gid(session, "dist", "D-W")
    assert d_b not in g.values()
    sync_hierarchy(session, all_goldens(session), CTX)
    assert (d_w, d_b, "ship_to_of") in current_edges(session)

    # A steward merges the two bill-tos; the lower ID survives.
    versions = {gid_: session.get_one(GoldenRecord, gid_).version for gid_ in (g["B1"], d_b)}
    survivor = merge_goldens(session, versions, CTX, reason="same bill-to")
    retired = d_b if survivor == g["B1"] else g["B1"]
    on_merge(session, survivor, [retired], CTX)
    edges = current_edges(session)
    assert (d_w, survivor, "ship_to_of") in edges
    assert (g["W1"], survivor, "ship_to_of") in edges
    assert (survivor, g["S1"], "bill_to_of") in edges
    assert all(retired not in (c, p) for c, p, _ in edges)
    # A merged ID is read through its survivor.
    assert rollup(session, retired).members == tuple(sorted([g["W1"], g["W2"], d_w]))
    assert on_merge(session, survivor, [retired], CTX) == 0  # idempotent

    # Unmerging the distributor's record gives it a golden record again, and the
    # distributor's ship-to, whose claim names it, follows it.
    d_record = session.scalar(select(SourceRecord.id).where(SourceRecord.source_id == "D-B"))
    assert d_record is not None
    back = unmerge(session, d_record, session.get_one(GoldenRecord, survivor).version, CTX)
    sync_hierarchy(session, [survivor, back], CTX)
    edges = current_edges(session)
    assert (d_w, back, "ship_to_of") in edges
    assert (g["W1"], survivor, "ship_to_of") in edges
    assert (survivor, g["S1"], "bill_to_of") in edges


def test_the_hierarchy_can_be_read_as_of_a_past_moment(session: Session, hub: Ingest) -> None:
    g = load_group(session, hub)
    hub("erp", {"O1": OTHER})
    other = gid(session, "erp", "O1")
    before = utcnow()
    # The ERP moves the bill-to to another legal entity.
    hub("erp", {"B1": {**BILL_TO, "parents": under("bill_to_of", "O1")}})
    sync_hierarchy(session, [g["B1"]], CTX)

    assert [n.golden_id for n in ancestors(session, g["W1"])] == [g["B1"], other]
    assert [n.golden_id for n in ancestors(session, g["W1"], as_of=before)] == [
        g["B1"],
        g["S1"],
        g["H1"],
    ]
    assert rollup(session, g["H1"], as_of=before).count == 2
    assert rollup(session, g["H1"]).count == 0
    assert rollup(session, g["H1"], as_of=before - timedelta(days=1)).count == 0
    [old] = parents_of(session, g["B1"], as_of=before)
    assert (old.parent, old.version, old.valid_to is not None) == (g["S1"], 1, True)


def test_every_change_is_audited_and_emitted_in_the_outbox(session: Session, hub: Ingest) -> None:
    g = load_group(session, hub)
    hub("erp", {"O1": OTHER})
    other = gid(session, "erp", "O1")
    seen = max(e.seq for e in read_feed(session, limit=100_000))
    hub("erp", {"B1": {**BILL_TO, "parents": under("bill_to_of", "O1")}})
    sync_hierarchy(session, [g["B1"]], CTX)
    changed = [
        e
        for e in read_feed(session, after=seen, limit=10_000)
        if e.event_type == "hierarchy.changed"
    ]
    assert [(e.golden_id, e.payload["change"]) for e in changed] == [(g["B1"], "reparented")]
    payload = changed[0].payload
    assert payload["edge"]["parent"] == other
    assert payload["edge"]["relation"] == "bill_to_of"
    assert payload["previous_parent"] == g["S1"]

    added = session.scalar(
        select(func.count())
        .select_from(OutboxEvent)
        .where(OutboxEvent.event_type == "hierarchy.changed")
    )
    assert added == 5  # four edges added, one re-parented
    audit = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.golden_id == g["B1"], AuditEntry.action.like("hierarchy.%"))
        .order_by(AuditEntry.id)
    ).all()
    assert [a.action for a in audit] == ["hierarchy.added", "hierarchy.reparented"]
    before, after = audit[1].before, audit[1].after
    assert before is not None
    assert before["parent"] == g["S1"]
    assert after is not None
    assert after["parent"] == other

    # A steward's edit carries the steward's context into the audit trail and the feed.
    last = max(e.seq for e in read_feed(session, after=seen, limit=10_000))
    set_parent(session, g["W1"], other, "ship_to_of", CTX, reason="delivered via the new owner")
    [event] = read_feed(session, after=last, limit=10)
    assert (event.event_type, event.golden_id, event.correlation_id) == (
        "hierarchy.changed",
        g["W1"],
        "trace-h",
    )
    assert event.payload["change"] == "reparented"
    assert event.payload["edge"]["origin"] == "steward"
    entry = session.scalars(
        select(AuditEntry).where(AuditEntry.golden_id == g["W1"]).order_by(AuditEntry.id.desc())
    ).first()
    assert entry is not None
    assert (entry.action, entry.actor, entry.reason) == (
        "hierarchy.reparented",
        "alice",
        "delivered via the new owner",
    )


SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def test_the_samples_erp_and_crm_hierarchy_comes_out_reconciled(
    session: Session, uow: UnitOfWork, customer_model: MatchModel
) -> None:
    mappings = load_mappings([SAMPLES / "mappings"])
    sync_source_systems(session, [m.source for m in mappings.values()])
    save_model(session, "customer", customer_model, trained_on=0)
    session.flush()
    manifest = tomllib.loads((SAMPLES / "manifest.toml").read_text(encoding="utf-8"))
    for f in manifest["files"]:
        if f["entity"] == "customer":
            ingest_file(uow, mappings[f["source"]], EntityType.CUSTOMER, SAMPLES / f["path"])
    match_pending(session, "customer", CTX)
    summary = sync_hierarchy(session, all_goldens(session), CTX)
    assert summary.refused == 0
    assert len(current_edges(session)) > 50

    def keller(source: str, source_id: str) -> int:
        return gid(session, source, source_id)

    holding, sub = keller("erp", "0000900008"), keller("erp", "0000900009")
    bill_to = keller("erp", "0000900010")
    assert keller("crm", "0015J00000HkNBzQAN") == holding
    assert keller("crm", "0015J00000HkNDHQA3") == bill_to
    edges = current_edges(session)
    # Both sources agree on the subsidiary; on the bill-to the ERP (rank 1) wins.
    assert (sub, holding, "subsidiary_of") in edges
    assert (bill_to, sub, "bill_to_of") in edges
    open_tasks = conflicts(session, limit=1000)
    keller_task = [t for t in open_tasks if t.child_golden_id == bill_to]
    assert len(keller_task) == 1
    assert keller_task[0].kind == "disagreement"
    assert {c["source"] for c in keller_task[0].claims} == {"erp", "crm"}
    assert all(t.kind == "disagreement" for t in open_tasks)
    # Every ship-to known to the ERP hangs somewhere, and the group roll-up sees them.
    erp_ship_tos = session.scalars(
        select(GoldenMember.golden_id)
        .join(SourceRecord, SourceRecord.id == GoldenMember.source_record_id)
        .where(SourceRecord.canonical["account_role"].as_string() == "ship_to")
    ).all()
    parented = {c for c, _, r in edges if r == "ship_to_of"}
    assert set(erp_ship_tos) <= parented
    assert ancestors(session, bill_to)[-1].golden_id == holding


def test_a_derivation_chunk_checks_edges_in_memory_as_the_database_checks_them(
    session: Session,
) -> None:
    """`_ChunkGraph` reads a chunk's neighbourhoods at once and follows the chunk's own writes:
    for every proposed edge it must find what `check_parent` finds in the database, also
    after the edges written before it (cycles, depth, roles, two parents)."""
    import random

    from mdm.hierarchies.service import _Changes, _ChunkGraph, _current, _replace, check_parent

    roles = ["legal_entity"] * 16 + ["sold_to"] * 3 + ["bill_to"] * 4 + ["ship_to"] * 5
    goldens = [
        GoldenRecord(
            entity_type="customer",
            attributes={"account_role": role, "legal_name": f"N{i}"},
            provenance={},
        )
        for i, role in enumerate(roles)
    ]
    session.add_all(goldens)
    session.flush()
    ids = [g.id for g in goldens]
    now = utcnow()

    def write(child: int, parent: int | None, relation: str) -> None:
        _replace(
            session,
            _Changes(),
            _current(session, child, relation),
            child=child,
            parent=parent,
            relation=relation,
            origin="derived",
            source=None,
            now=now,
            ctx=CTX,
            reason="test",
        )

    # A chain of eleven legal entities (the subsidiary limit is ten levels) and a bill-to and
    # ship-to under its middle.
    for child, parent in zip(ids[1:11], ids[0:10], strict=True):
        write(child, parent, "subsidiary_of")
    write(ids[19], ids[5], "bill_to_of")
    write(ids[23], ids[19], "ship_to_of")
    rng = random.Random(11)
    relations = ["subsidiary_of", "sold_to_of", "bill_to_of", "ship_to_of"]
    proposals = [
        (ids[0], ids[10], "subsidiary_of"),  # a cycle through the chain
        (ids[12], ids[10], "subsidiary_of"),  # the chain grows too deep
        (ids[24], ids[19], "ship_to_of"),
    ] + [(rng.choice(ids), rng.choice(ids), rng.choice(relations)) for _ in range(120)]
    proposals = [(c, p, r) for c, p, r in proposals if c != p]
    graph = _ChunkGraph(
        session, sorted({c for c, _, _ in proposals}), {p for _, p, _ in proposals}, DEFAULT_RULES
    )
    verdicts = {"refused": 0, "written": 0, "removed": 0}
    for n, (child, parent, relation) in enumerate(proposals):
        expected = check_parent(session, child, parent, relation)
        assert graph.check(child, parent, relation) == expected, (child, parent, relation)
        if expected:
            verdicts["refused"] += 1
        elif n % 7 == 6:  # now and then a slot loses its parent instead
            write(child, None, relation)
            graph.apply(child, relation, None)
            verdicts["removed"] += 1
        else:
            write(child, parent, relation)
            graph.apply(child, relation, parent)
            verdicts["written"] += 1
    assert verdicts["refused"] > 20
    assert verdicts["written"] > 5
    assert verdicts["removed"] > 0


def test_a_sync_in_several_chunks_reads_only_its_dependents_members_again(
    session: Session, hub: Ingest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The members of the golden records asked about come with the read of their dependents;
    a derivation chunk reads only the members of dependents it was not asked about."""
    from mdm.hierarchies import service as hierarchies

    hub("erp", {"B1": BILL_TO, "W1": SHIP_ACHIM, "W2": SHIP_VERDEN})
    sync_hierarchy(session, all_goldens(session), CTX)
    # The bill-to's parent and its parent arrive; the bill-to waits for the first.
    hub("erp", {"S1": SUB, "H1": HOLDING})
    g = {k: gid(session, "erp", k) for k in ("H1", "S1", "B1", "W1", "W2")}
    read: list[set[int]] = []
    real_run = hierarchies.run

    def spy(bind: Any, statement: Any, params: Any) -> Any:
        if statement is hierarchies._MEMBER_PARENTS:
            read.append(set(params["ids"]))
        return real_run(bind, statement, params)

    monkeypatch.setattr(hierarchies, "run", spy)
    monkeypatch.setattr(hierarchies, "CHUNK", 2)  # S1 and H1, then B1: two chunks
    summary = sync_hierarchy(session, [g["S1"], g["H1"]], CTX)
    assert summary.goldens == 3
    assert read == [{g["B1"]}]
    assert current_edges(session) == {
        (g["S1"], g["H1"], "subsidiary_of"),
        (g["B1"], g["S1"], "bill_to_of"),
        (g["W1"], g["B1"], "ship_to_of"),
        (g["W2"], g["B1"], "ship_to_of"),
    }
    statuses = set(session.scalars(select(HierarchyClaim.status)))
    assert statuses == {"resolved"}
