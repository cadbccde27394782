"""Golden records on both databases: match on ingest, survivorship, provenance, merges,
unmerges, overrides, cannot-link memory, conflicts, audit and the outbox."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from mdm.audit.models import AuditEntry
from mdm.database import UnitOfWork, is_postgres
from mdm.errors import ConflictError
from mdm.golden.models import GoldenRecord, XrefHistory
from mdm.golden.service import golden_of_source, resolve, xref_history, xrefs_of
from mdm.linkage.models import BlockingKey, MatchFeatures
from mdm.linkage.service import match_pending
from mdm.outbox.models import OutboxEvent
from mdm.outbox.service import (
    ChangeContext,
    Event,
    emit,
    newest_seq,
    read_feed,
    write_pending,
)
from mdm.sources.models import SourceRecord
from mdm.stewardship.models import CannotLink, MatchCandidate
from mdm.stewardship.service import accept, override, reject, unmerge, unpin

Ingest = Callable[..., Any]

CTX = ChangeContext(actor="alice", cause="test", correlation_id="trace-1")

ACME_ERP = {
    "legal_name": "Acme Werkzeuge GmbH",
    "identifiers": [{"scheme": "vat", "value": "DE136695976", "country": "DE"}],
    "addresses": [
        {
            "type": "legal",
            "lines": ["Hauptstraße 12"],
            "city": "Köln",
            "postal_code": "50667",
            "country": "DE",
        }
    ],
    "phones": ["0221 1234567"],
}
ACME_CRM = {
    "legal_name": "ACME Werkzeuge Gesellschaft mit beschränkter Haftung",
    "identifiers": [{"scheme": "vat", "value": "DE 136 695 976", "country": "DE"}],
    "addresses": [
        {
            "type": "billing",
            "lines": ["Hauptstr. 12"],
            "city": "Koeln",
            "postal_code": "50667",
            "country": "DE",
        }
    ],
    "phones": ["+49 221 7654321"],
    "emails": ["einkauf@acme-werkzeuge.de"],
}
GLOBEX = {
    "legal_name": "Globex Industrial Supplies Ltd",
    "identifiers": [{"scheme": "vat", "value": "GB980780684", "country": "GB"}],
    "addresses": [
        {
            "type": "legal",
            "lines": ["1 Dock Road"],
            "city": "Leeds",
            "postal_code": "LS1 4AP",
            "country": "GB",
        }
    ],
}


def golden_id(session: Session, source: str, source_id: str) -> int:
    return golden_of_source(session, source, "customer", source_id).id


def events(session: Session, after: int = 0) -> list[OutboxEvent]:
    return read_feed(session, after=after, limit=10_000)


def test_match_on_ingest_links_the_same_company_and_keeps_others_apart(
    session: Session, hub: Ingest
) -> None:
    hub("erp", {"100": ACME_ERP, "200": GLOBEX})
    summary = hub("crm", {"0015A": ACME_CRM})
    assert summary.records == 1
    acme = golden_id(session, "erp", "100")
    assert golden_id(session, "crm", "0015A") == acme
    assert golden_id(session, "erp", "200") != acme
    xref = {(x.source, x.source_id) for x in xrefs_of(session, acme)}
    assert xref == {("erp", "100"), ("crm", "0015A")}
    active = session.scalar(
        select(func.count()).select_from(GoldenRecord).where(GoldenRecord.status == "active")
    )
    assert active == 2


def test_survivorship_and_provenance(session: Session, hub: Ingest) -> None:
    hub("erp", {"100": ACME_ERP})
    hub("crm", {"0015A": ACME_CRM})
    golden = golden_of_source(session, "erp", "customer", "100")
    attrs, prov = golden.attributes, golden.provenance
    # The ERP (trust rank 1) wins the legal name; phones and emails are the union.
    assert attrs["legal_name"] == "Acme Werkzeuge GmbH"
    assert prov["legal_name"]["source"] == "erp"
    assert prov["legal_name"]["source_id"] == "100"
    assert len(attrs["phones"]) == 2
    assert attrs["emails"] == ["einkauf@acme-werkzeuge.de"]
    assert prov["emails"]["source"] == "crm"


def test_event_per_change_in_order_with_snapshots(session: Session, hub: Ingest) -> None:
    hub("erp", {"100": ACME_ERP})
    hub("crm", {"0015A": ACME_CRM})
    feed = events(session)
    seqs = [e.seq for e in feed]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    # A golden record's own event comes before the links to it.
    kinds = [(e.event_type, e.golden_version) for e in feed]
    assert kinds == [
        ("golden.created", 1),
        ("xref.linked", None),
        ("golden.updated", 2),
        ("xref.linked", None),
    ]
    created, _, updated, linked = feed
    assert created.payload["snapshot"]["attributes"]["legal_name"] == "Acme Werkzeuge GmbH"
    assert created.cause == "test"
    assert "emails" in updated.payload["changed"]
    assert updated.payload["snapshot"]["attributes"]["emails"] == ["einkauf@acme-werkzeuge.de"]
    assert (linked.payload["source"], linked.payload["source_id"]) == ("crm", "0015A")
    assert linked.golden_id == created.golden_id
    audits = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert audits[0] == "create"
    assert "update" in audits


def test_changed_record_is_split_off_when_it_no_longer_matches(
    session: Session, hub: Ingest
) -> None:
    hub("erp", {"100": ACME_ERP})
    hub("crm", {"0015A": ACME_CRM})
    acme = golden_id(session, "erp", "100")
    moved = {**GLOBEX, "legal_name": "Globex Industrial Supplies Limited"}
    hub("crm", {"0015A": moved})
    assert golden_id(session, "crm", "0015A") != acme
    assert (
        next(h.golden_id for h in xref_history(session, _record_id(session, "crm", "0015A")))
        == acme
    )


def test_a_changed_record_keeps_only_its_new_features_and_blocking_keys(
    session: Session, hub: Ingest
) -> None:
    from mdm.linkage.models import BlockingKey, MatchFeatures

    def stored(source: str, source_id: str) -> tuple[list[str], list[dict[str, Any]]]:
        record_id = _record_id(session, source, source_id)
        keys = session.scalars(
            select(BlockingKey.key).where(BlockingKey.source_record_id == record_id)
        )
        features = session.scalars(
            select(MatchFeatures.features).where(MatchFeatures.source_record_id == record_id)
        )
        return sorted(keys), [{k: v for k, v in f.items() if k != "id"} for f in features]

    moved = {**GLOBEX, "legal_name": "Globex Industrial Supplies Limited"}
    hub("crm", {"0015A": ACME_CRM})
    before = stored("crm", "0015A")
    hub("crm", {"0015A": moved})
    # As a record that was sent that way first: the old keys and features are gone.
    hub("crm", {"fresh": moved})
    after = stored("crm", "0015A")
    assert after == stored("crm", "fresh")
    assert after != before
    assert set(before[0]) - set(after[0])


def test_change_that_makes_two_goldens_match_merges_them_with_a_redirect(
    session: Session, hub: Ingest
) -> None:
    hub("erp", {"100": ACME_ERP})
    hub(
        "crm",
        {
            "0015A": {
                **ACME_CRM,
                "identifiers": [],
                "legal_name": "Acme Tools Cologne",
                "addresses": [],
                "phones": [],
            }
        },
    )
    erp_golden, crm_golden = golden_id(session, "erp", "100"), golden_id(session, "crm", "0015A")
    assert erp_golden < crm_golden
    after = max(e.seq for e in events(session))
    hub("crm", {"0015A": ACME_CRM})
    # The older golden ID survives; the other one redirects to it.
    assert golden_id(session, "crm", "0015A") == erp_golden
    assert golden_id(session, "erp", "100") == erp_golden
    record, redirected = resolve(session, crm_golden)
    assert (record.id, redirected) == (erp_golden, crm_golden)
    merged = [e for e in events(session, after) if e.event_type == "golden.merged"]
    assert [(e.payload["survivor"], e.payload["retired"]) for e in merged] == [
        (erp_golden, [crm_golden])
    ]


def test_delete_retires_golden_record_when_no_source_is_left(session: Session, hub: Ingest) -> None:
    hub("erp", {"200": GLOBEX})
    gid = golden_id(session, "erp", "200")
    hub("erp", {"200": None})
    golden = session.get(GoldenRecord, gid)
    assert golden is not None
    assert golden.status == "retired"
    assert events(session)[-1].event_type == "golden.retired"


def _record_id(session: Session, source: str, source_id: str) -> int:
    from mdm.sources.models import SourceSystem

    rid = session.scalar(
        select(SourceRecord.id)
        .join(SourceSystem, SourceSystem.id == SourceRecord.source_system_id)
        .where(SourceSystem.code == source, SourceRecord.source_id == source_id)
    )
    assert rid is not None
    return rid


def _task(session: Session, left: int, right: int) -> MatchCandidate:
    """The pair's open review task: the one matching opened, else a new one."""
    a, b = sorted((left, right))
    opened = session.scalar(
        select(MatchCandidate).where(
            MatchCandidate.left_record_id == a,
            MatchCandidate.right_record_id == b,
            MatchCandidate.status == "open",
        )
    )
    if opened is not None:
        return opened
    task = MatchCandidate(
        entity_type="customer",
        left_record_id=a,
        right_record_id=b,
        match_weight=1.0,
        probability=0.7,
        priority=0.6,
        explanation={"text": "name similar"},
        status="open",
        version=1,
    )
    session.add(task)
    session.flush()
    return task


def test_accept_merges_and_reject_is_remembered(session: Session, hub: Ingest) -> None:
    hub("erp", {"100": ACME_ERP, "200": GLOBEX})
    a, b = _record_id(session, "erp", "100"), _record_id(session, "erp", "200")
    ga, gb = golden_id(session, "erp", "100"), golden_id(session, "erp", "200")
    task = _task(session, a, b)
    target = accept(session, task.id, 1, CTX, "same company after all")
    assert target == min(ga, gb)
    assert golden_id(session, "erp", "200") == target
    record, redirected = resolve(session, max(ga, gb))
    assert (record.id, redirected) == (target, max(ga, gb))
    with pytest.raises(ConflictError):
        accept(session, task.id, 1, CTX)


def _upsert_one(session: Session, source: str, body: dict[str, Any]) -> None:
    """Store and match one record as an API upsert does."""
    from mdm.ingest.service import Candidate, ingest_one

    candidate = Candidate(body["source_id"], body, None)
    stored = ingest_one(
        session, source, "customer", candidate, origin="api", actor="t", matched=True
    )
    if stored.waiting is not None:  # PostgreSQL: matched as it is, in hand
        match_pending(session, "customer", CTX, claimed=[stored.waiting])
    else:
        match_pending(session, "customer", CTX, record_ids=[stored.outcome.record_id])


def test_rejected_pair_is_never_merged_again(session: Session, hub: Ingest) -> None:
    hub("erp", {"100": ACME_ERP})
    hub("crm", {"0015A": {**ACME_CRM, "identifiers": []}})
    a, b = _record_id(session, "erp", "100"), _record_id(session, "crm", "0015A")
    if golden_id(session, "erp", "100") == golden_id(session, "crm", "0015A"):
        gid = golden_id(session, "erp", "100")
        unmerge(session, b, session.get(GoldenRecord, gid).version, CTX, "different site")
    task = _task(session, a, b)
    reject(session, task.id, 1, CTX, "not the same")
    assert session.scalar(select(func.count()).select_from(CannotLink)) >= 1
    # The CRM record changes a little: it is matched again, but never merged with the ERP one.
    hub("crm", {"0015A": {**ACME_CRM, "identifiers": [], "phones": ["+49 221 999"]}})
    assert golden_id(session, "erp", "100") != golden_id(session, "crm", "0015A")
    open_tasks = session.scalars(
        select(MatchCandidate).where(MatchCandidate.status == "open")
    ).all()
    assert all({t.left_record_id, t.right_record_id} != {a, b} for t in open_tasks)
    # Changed again through a single record's path (an API upsert): still never merged.
    _upsert_one(
        session,
        "crm",
        {**ACME_CRM, "source_id": "0015A", "identifiers": [], "phones": ["+49 221 998"]},
    )
    assert session.scalar(select(SourceRecord.version).where(SourceRecord.id == b)) == 3
    assert golden_id(session, "erp", "100") != golden_id(session, "crm", "0015A")
    open_tasks = session.scalars(
        select(MatchCandidate).where(MatchCandidate.status == "open")
    ).all()
    assert all({t.left_record_id, t.right_record_id} != {a, b} for t in open_tasks)


def test_unmerge_gives_the_previous_id_back_and_sticks(session: Session, hub: Ingest) -> None:
    hub("erp", {"100": ACME_ERP})
    hub("crm", {"0015A": ACME_CRM})
    gid = golden_id(session, "erp", "100")
    crm = _record_id(session, "crm", "0015A")
    version = session.get(GoldenRecord, gid).version
    new_id = unmerge(session, crm, version, CTX, "a different legal entity")
    assert new_id != gid
    assert golden_id(session, "crm", "0015A") == new_id
    # Matching it again does not put it back.
    hub("crm", {"0015A": {**ACME_CRM, "emails": ["info@acme-werkzeuge.de"]}})
    assert golden_id(session, "crm", "0015A") != gid
    # Nor does a change through a single record's path (an API upsert, which on PostgreSQL
    # reads its candidates' cannot-links with their keys).
    _upsert_one(session, "crm", {**ACME_CRM, "source_id": "0015A", "emails": ["a@acme.example"]})
    assert session.scalar(select(SourceRecord.version).where(SourceRecord.id == crm)) == 3
    assert golden_id(session, "crm", "0015A") != gid
    assert any(e.event_type == "golden.unmerged" for e in events(session))
    with pytest.raises(ConflictError):
        unmerge(session, crm, 1, CTX)


def test_override_survives_recomputation_until_unpinned(session: Session, hub: Ingest) -> None:
    hub("erp", {"100": ACME_ERP})
    gid = golden_id(session, "erp", "100")
    golden = session.get(GoldenRecord, gid)
    golden = override(
        session,
        gid,
        "legal_name",
        "ACME Werkzeuge GmbH & Co.",
        golden.version,
        CTX,
        "registered name",
    )
    assert golden.attributes["legal_name"] == "ACME Werkzeuge GmbH & Co."
    assert golden.provenance["legal_name"]["rule"] == "override"
    hub("crm", {"0015A": ACME_CRM})
    golden = session.get(GoldenRecord, gid)
    assert golden.attributes["legal_name"] == "ACME Werkzeuge GmbH & Co."
    stale = golden.version - 1
    with pytest.raises(ConflictError):
        unpin(session, gid, "legal_name", stale, CTX)
    golden = unpin(session, gid, "legal_name", golden.version, CTX)
    assert golden.attributes["legal_name"] == "Acme Werkzeuge GmbH"
    actions = session.scalars(select(AuditEntry.action).where(AuditEntry.golden_id == gid)).all()
    assert actions.count("update") >= 2


def test_rolled_back_change_leaves_no_event(uow: UnitOfWork) -> None:
    with uow.session() as s:
        before = s.scalar(select(func.count()).select_from(OutboxEvent))

    def change_then_fail() -> None:
        with uow.begin() as s:
            emit(s, [Event("golden.created", "customer", 1, 1, {})], CTX)
            raise RuntimeError

    with pytest.raises(RuntimeError):
        change_then_fail()
    with uow.session() as s:
        assert s.scalar(select(func.count()).select_from(OutboxEvent)) == before


def test_events_are_numbered_in_commit_order_not_emit_order(uow: UnitOfWork) -> None:
    # The first change emits first but commits last: a reader that saw the second one's
    # number must never find the first one below it later.
    with uow.begin() as first:
        emit(first, [Event("golden.created", "customer", None, 1, {"n": "first"})], CTX)
        with uow.begin() as second:
            emit(second, [Event("golden.created", "customer", None, 1, {"n": "second"})], CTX)
    with uow.session() as s:
        newest = read_feed(s, after=newest_seq(s) - 2)
    assert [e.payload["n"] for e in newest] == ["second", "first"]
    assert newest[1].seq == newest[0].seq + 1


@pytest.mark.parametrize("count", [3, 250])
def test_a_requests_few_events_and_a_bulk_runs_many_are_stored_alike(
    session: Session, count: int
) -> None:
    # PostgreSQL stores a request's few events in one statement and COPies a bulk run's
    # many: either way in order, numbered without gaps, each as emitted.
    other = ChangeContext(actor="a", cause="api", correlation_id=None)
    events = [
        Event(
            "golden.updated" if i % 2 else "xref.linked",
            "customer" if i % 3 else "product",
            i if i % 4 else None,
            i % 5 or None,
            {"i": i, "name": f"Émile \t {i}", "tags": ["a", None], "nested": {"k": i / 2}},
        )
        for i in range(count)
    ]
    emit(session, events[:-1], CTX)
    emit(session, events[-1:], other)
    seqs = write_pending(session)
    assert seqs == list(range(seqs[0], seqs[0] + count))
    stored = read_feed(session, after=seqs[0] - 1, limit=count + 10)
    assert [
        (e.seq, e.event_type, e.entity_type, e.golden_id, e.golden_version, e.payload)
        for e in stored
    ] == [
        (seq, e.event_type, e.entity_type, e.golden_id, e.golden_version, e.payload)
        for seq, e in zip(seqs, events, strict=True)
    ]
    assert [(e.cause, e.correlation_id) for e in stored[-2:]] == [
        ("test", "trace-1"),
        ("api", None),
    ]
    assert len({e.occurred_at for e in stored}) == 1


def test_audit_entries_are_seen_before_commit_land_with_the_commit_and_die_with_a_rollback(
    uow: UnitOfWork,
) -> None:
    from mdm.audit.service import Audit, record

    def entries(s: Session) -> list[str]:
        return list(
            s.scalars(
                select(AuditEntry.reason)
                .where(AuditEntry.actor == "auditor")
                .order_by(AuditEntry.id)
            )
        )

    ctx = ChangeContext(actor="auditor", cause="test")
    with uow.begin() as s:
        record(s, [Audit("update", "customer", None, None, {"a": 1}, "first")], ctx)
        # The session's own query sees it (on PostgreSQL it is written for the query).
        assert entries(s) == ["first"]
        record(s, [Audit("update", "customer", None, None, {"a": 2}, "second")], ctx)
        counted = select(func.count()).select_from(AuditEntry).where(AuditEntry.actor == "auditor")
        assert s.scalar(counted) == 2
        record(s, [Audit("update", "customer", None, None, None, "third")], ctx)
        emit(s, [Event("golden.updated", "customer", None, 1, {"n": 3})], ctx)
    with uow.session() as s:
        assert entries(s) == ["first", "second", "third"]

    def change_then_fail() -> None:
        with uow.begin() as s:
            record(s, [Audit("update", "customer", None, None, None, "rolled back")], ctx)
            raise RuntimeError

    with pytest.raises(RuntimeError):
        change_then_fail()
    with uow.begin() as s:  # an audit entry alone (no event) lands too
        record(s, [Audit("update", "customer", None, None, None, "alone")], ctx)
    with uow.session() as s:
        assert entries(s) == ["first", "second", "third", "alone"]
    # A bulk run's many entries are written as they come, not held until its commit.
    from mdm.database import FEW_ROWS

    with uow.begin() as s:
        many = [Audit("update", "customer", None, None, None, "bulk") for _ in range(FEW_ROWS)]
        record(s, [*many, Audit("update", "customer", None, None, None, "bulk")], ctx)
        written = text("SELECT count(*) FROM audit_entry WHERE reason = 'bulk'")
        assert s.execute(written).scalar() == FEW_ROWS + 1


def test_events_carry_cause_and_correlation(session: Session) -> None:
    emit(
        session,
        [
            Event("golden.created", "customer", None, 1, {"a": 1}),
            Event("golden.updated", "customer", None, 2, {"a": 2}),
        ],
        CTX,
    )
    seqs = write_pending(session)
    assert seqs[1] == seqs[0] + 1
    stored = read_feed(session, after=seqs[0] - 1)
    assert [(e.seq, e.cause, e.correlation_id) for e in stored] == [
        (seqs[0], "test", "trace-1"),
        (seqs[1], "test", "trace-1"),
    ]
    assert read_feed(session, after=seqs[0], event_types=["golden.created"]) == []


def test_changed_record_that_stays_only_updates_its_golden_record(
    session: Session, hub: Ingest
) -> None:
    hub("erp", {"100": ACME_ERP})
    hub("crm", {"0015A": ACME_CRM})
    after = max(e.seq for e in events(session))
    record = _record_id(session, "crm", "0015A")

    def history() -> list[tuple[int, int, Any, Any]]:
        session.expire_all()
        return [
            (h.id, h.golden_id, h.linked_at, h.unlinked_at) for h in xref_history(session, record)
        ]

    before = history()
    assert len(before) == 1
    hub("crm", {"0015A": {**ACME_CRM, "phones": ["+49 221 555000"]}})
    news = events(session, after)
    assert [e.event_type for e in news] == ["golden.updated"]
    assert news[0].payload["changed"] == ["phones"]
    # It never left: the same open cross-reference entry, not a closed one and a new one.
    assert history() == before


# Another company at Acme's address: a candidate of Acme's records, not a match.
NEIGHBOUR = {
    "legal_name": "Rheinische Druckerei Becker KG",
    "identifiers": [{"scheme": "vat", "value": "DE811128135", "country": "DE"}],
    "addresses": ACME_ERP["addresses"],
}


def test_a_candidates_golden_record_that_gains_nothing_is_not_recomputed(
    session: Session, hub: Ingest
) -> None:
    hub("erp", {"100": ACME_ERP, "300": NEIGHBOUR})
    neighbour = golden_id(session, "erp", "300")
    version = session.get_one(GoldenRecord, neighbour).version
    summary = hub("crm", {"0015A": ACME_CRM})
    # The neighbour at the same address was a candidate (two pairs: Acme's and its own)...
    assert summary.candidate_pairs == 2
    assert golden_id(session, "crm", "0015A") == golden_id(session, "erp", "100")
    # ...but only Acme's golden record changed: one recomputed, none merely re-read.
    assert summary.goldens == {"created": 0, "updated": 1, "unchanged": 0, "retired": 0}
    assert session.get_one(GoldenRecord, neighbour).version == version


def test_rematching_everything_keeps_golden_records_features_and_feed(
    session: Session, hub: Ingest
) -> None:
    # `mdm match --rematch` marks every record unmatched: records that hold features and a
    # golden record, unlike new ones. Each is judged afresh and, matching as before, stays.
    hub("erp", {"100": ACME_ERP, "200": GLOBEX})
    hub("crm", {"0015A": ACME_CRM})
    before = {
        (s, i): golden_id(session, s, i)
        for s, i in [("erp", "100"), ("erp", "200"), ("crm", "0015A")]
    }
    keys_before = session.scalar(select(func.count()).select_from(BlockingKey))
    last = newest_seq(session)
    session.execute(update(SourceRecord).values(matched_version=0))
    summary = match_pending(session, "customer", CTX)
    assert summary.records == 3
    assert {k: golden_id(session, *k) for k in before} == before
    # The features and keys were replaced, not added to.
    assert session.scalar(select(func.count()).select_from(MatchFeatures)) == 3
    assert session.scalar(select(func.count()).select_from(BlockingKey)) == keys_before
    # Nothing moved: no link or unlink event, and the unchanged golden records say nothing.
    assert [e.event_type for e in events(session, after=last)] == []
    # Nor did the cross-reference's history: one open entry per record, as before.
    assert session.scalar(select(func.count()).select_from(XrefHistory)) == 3


def test_a_changed_record_alone_in_its_golden_record_keeps_it(
    session: Session, hub: Ingest
) -> None:
    # Before: the record left its golden record, got a new one, and the old one was merged
    # into it: a new ID and a redirect for a mere phone change.
    hub("erp", {"100": ACME_ERP})
    gid = golden_id(session, "erp", "100")
    after = max(e.seq for e in events(session))
    hub("erp", {"100": {**ACME_ERP, "phones": ["+49 30 999000"]}})
    assert golden_id(session, "erp", "100") == gid
    golden = session.get(GoldenRecord, gid)
    assert (golden.status, golden.version) == ("active", 2)
    assert "+4930999000" in golden.attributes["phones"]
    assert [e.event_type for e in events(session, after)] == ["golden.updated"]
    assert session.scalar(select(func.count()).select_from(GoldenRecord)) == 1


def test_golden_records_created_in_worker_processes_equal_those_created_in_one(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    from mdm.golden import service as golden_service
    from mdm.golden.survivorship import Member

    at = datetime(2026, 11, 1, tzinfo=UTC)
    groups = [
        [
            Member(1, "erp", "100", 1, at, ACME_ERP),
            Member(2, "crm", "0015A", 2, at, ACME_CRM),
        ],
        [Member(3, "crm", "0042", 2, at, {"legal_name": "Globex Ltd", "phones": ["+44 20 1"]})],
        [Member(4, "erp", "300", 1, at, {"legal_name": "Initech", "emails": ["a@initech.com"]})],
    ]
    serial = golden_service.create_golden_records(session, "customer", groups, CTX)
    monkeypatch.setattr(golden_service, "PARALLEL_SURVIVORSHIP_FROM", 1)
    forked = golden_service.create_golden_records(session, "customer", groups, CTX, workers=2)
    # The transaction's connection outlived the fork: the session still works.
    stored = {
        g.id: g
        for g in session.scalars(select(GoldenRecord).where(GoldenRecord.id.in_(serial + forked)))
    }
    assert len(stored) == 6
    for one, other in zip(serial, forked, strict=True):
        assert stored[one].attributes == stored[other].attributes
        assert stored[one].provenance == stored[other].provenance
        assert stored[one].version == stored[other].version == 1
    # The ERP wins the legal name (source priority), in both.
    assert stored[forked[0]].attributes["legal_name"] == "Acme Werkzeuge GmbH"
    assert stored[forked[0]].provenance["legal_name"]["source"] == "erp"
    created = session.scalars(
        select(OutboxEvent.golden_id).where(OutboxEvent.event_type == "golden.created")
    ).all()
    assert set(serial + forked) <= set(created)


def test_recomputing_in_worker_processes_equals_recomputing_in_one(
    session: Session, hub: Ingest, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mdm.golden import service as golden_service

    hub("erp", {"100": ACME_ERP, "200": GLOBEX})
    hub("crm", {"0015A": ACME_CRM})
    acme, globex = golden_id(session, "erp", "100"), golden_id(session, "erp", "200")
    version = session.get_one(GoldenRecord, acme).version
    override(session, acme, "website", "acme-tools.example", version, CTX, "brand site")
    ids = [acme, globex]

    def recomputed(workers: int) -> dict[int, tuple[Any, Any]]:
        # Stale attributes, so that each run has to recompute and store them afresh.
        session.execute(update(GoldenRecord).where(GoldenRecord.id.in_(ids)).values(attributes={}))
        session.expire_all()
        counts = golden_service.recompute(session, "customer", ids, CTX, workers=workers)
        assert counts["updated"] == 2
        session.expire_all()
        return {
            g.id: (g.attributes, g.provenance)
            for g in session.scalars(select(GoldenRecord).where(GoldenRecord.id.in_(ids)))
        }

    serial = recomputed(1)
    monkeypatch.setattr(golden_service, "PARALLEL_SURVIVORSHIP_FROM", 1)
    assert recomputed(2) == serial
    # The override holds in both, with its provenance; the members' values in the other.
    assert serial[acme][0]["website"] == "acme-tools.example"
    assert serial[acme][1]["website"]["rule"] == "override"
    assert serial[acme][0]["legal_name"] == "Acme Werkzeuge GmbH"
    assert serial[globex][0]["legal_name"] == GLOBEX["legal_name"]


def test_candidates_of_a_few_records_pair_as_those_of_a_whole_chunk(
    session: Session, hub: Ingest, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mdm.linkage import service as linkage

    hub("erp", {"100": ACME_ERP, "101": ACME_ERP, "200": GLOBEX})
    hub("crm", {"0015A": ACME_CRM, "0016B": {**ACME_CRM, "legal_name": "Acme Tools"}})
    ids = list(session.scalars(select(SourceRecord.id).order_by(SourceRecord.id)))
    spec = linkage.spec_for("customer")
    # Caps of two holders: the keys the four Acme records share are left out as too common.
    tight = spec.model_copy(
        update={
            "blocking_rules": [
                r.model_copy(update={"max_block_size": 2}) for r in spec.blocking_rules
            ]
        }
    )
    stored = [
        (key, rid)
        for key, rid in session.execute(select(BlockingKey.key, BlockingKey.source_record_id))
        if rid in ids
    ]
    for rules in (spec, tight):
        few = linkage._candidates(session, "customer", stored, rules)
        monkeypatch.setattr(linkage, "LIMITED_KEYS", 0)  # the whole-chunk path (a frame join)
        whole = linkage._candidates(session, "customer", stored, rules)
        # A chunk's keys with the other records' holders read before they were stored.
        chunk = set(ids[3:])
        others = pd.DataFrame(
            [(k, r) for k, r in stored if r not in chunk], columns=["key", "other"]
        )
        mine = [(k, r) for k, r in stored if r in chunk]
        read_before = linkage._candidates(session, "customer", mine, rules, others)
        monkeypatch.undo()
        assert few[0] == whole[0]
        assert read_before[0] == linkage._candidates(session, "customer", mine, rules)[0]
        assert read_before[0] == [p for p in whole[0] if chunk & set(p)]
        assert [k for k, _ in read_before[1]] == [
            k for k, _ in whole[1] if any(k == key for key, _ in mine)
        ]
        # The same keys are left out; a few records' look-up stops counting past the cap.
        assert [k for k, _ in few[1]] == [k for k, _ in whole[1]]
        assert all(2 < n <= m for (_, n), (_, m) in zip(few[1], whole[1], strict=True))
    assert few[1]  # with tight caps some keys were left out
    assert linkage._candidates(session, "customer", stored, spec)[0]  # and Acme's records pair


def test_a_first_bulk_match_trains_on_every_source_not_on_its_first_chunk(
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
    samples_dir: Path,
    sample_customers: list[tuple[str, Any]],
) -> None:
    from mdm.ingest.service import Candidate, ingest_batch
    from mdm.linkage import service as linkage
    from mdm.mapping.service import load_mappings
    from mdm.sources.service import get_source_system, sync_source_systems

    mappings = load_mappings([samples_dir / "mappings"])
    sync_source_systems(session, [m.source for m in mappings.values()])
    by_source: dict[str, list[Candidate]] = {}
    for source, rec in sample_customers:
        by_source.setdefault(source, []).append(Candidate(rec.source_id, rec.canonical, None))
    per_source: dict[str, int] = {}
    for source, items in by_source.items():
        system = get_source_system(session, source)
        ingest_batch(session, system, "customer", items, origin="test", actor="test")
        per_source[source] = len(items)
    first = next(iter(per_source))
    live = session.scalar(
        select(func.count())
        .select_from(SourceRecord)
        .where(SourceRecord.entity_type == "customer", SourceRecord.deleted_at.is_(None))
    )
    assert len(per_source) >= 3
    assert live is not None

    # The first chunk holds the first source's records only; the model it matches with was
    # trained on every source's. The chunk takes its records as training standardised them:
    # every record is standardised once.
    standardised: list[int] = []
    real = linkage.standardise

    def counted(rows: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
        standardised.append(len(rows))
        return real(rows, *args, **kwargs)

    linkage._feature_columns("customer")  # known before counting (a one-row standardise)
    monkeypatch.setattr(linkage, "standardise", counted)
    reuse = linkage.Standardised()
    linkage.match_pending(
        session, "customer", CTX, chunk_size=per_source[first], max_chunks=1, reuse=reuse
    )
    assert standardised == [live]
    assert len(reuse.at) == live
    model = linkage.active_model(session, "customer")
    assert model is not None
    assert model.training_counts["records"] == live
    # A later chunk takes its records too.
    linkage.match_pending(session, "customer", CTX, max_chunks=1, reuse=reuse)
    assert standardised == [live]
    monkeypatch.undo()

    # A larger hub trains on a sample of it, spread by a hash of the record ID; the two records
    # of a steward's decision join it even when the hash left them out.
    monkeypatch.setattr(linkage, "TRAINING_SAMPLE", 50)
    sampled = linkage.train_model(session, "customer")
    assert sampled is not None
    assert sampled.training_counts["records"] == 50
    ids = session.scalars(
        select(SourceRecord.id).where(
            SourceRecord.entity_type == "customer", SourceRecord.deleted_at.is_(None)
        )
    ).all()
    spread, modulus = linkage._SPREAD
    left_out = sorted(ids, key=lambda i: (i * spread) % modulus)[50:52]
    session.add(CannotLink(left_record_id=min(left_out), right_record_id=max(left_out), actor="t"))
    session.flush()
    labelled = linkage.train_model(session, "customer")
    assert labelled is not None
    assert labelled.training_counts["records"] == 52


def test_a_bulk_match_run_keeps_its_value_caches_bounded(
    uow: UnitOfWork, session: Session, hub: Ingest, monkeypatch: pytest.MonkeyPatch
) -> None:
    from matching.standardisation import company_name
    from mdm.ingest.service import Candidate, ingest_batch
    from mdm.linkage import service as linkage
    from mdm.linkage.service import run_matching
    from mdm.sources.service import get_source_system

    # `hub` has set up the source systems and a model; the records wait to be matched.
    items = [
        Candidate(f"{i}", {"source_id": f"{i}", "legal_name": f"Firma Nummer {i} GmbH"}, None)
        for i in range(12)
    ]
    ingest_batch(
        session, get_source_system(session, "erp"), "customer", items, origin="t", actor="t"
    )
    session.flush()
    company_name.cache_clear()
    # Chunks of 5: each chunk's names are standardised, and between chunks a cache past its
    # bound starts afresh; after the run none holds more than the bound.
    monkeypatch.setattr(linkage, "BULK_VALUE_CACHE", 3)
    summary = run_matching(uow, "customer", CTX, chunk_size=5, hierarchies=False)
    assert summary.records == 12
    assert company_name.cache_info().currsize <= 3


def test_a_bulk_match_run_plans_its_statements_for_their_values(
    uow: UnitOfWork, session: Session, hub: Ingest, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mdm.database import is_postgres
    from mdm.ingest.service import Candidate, ingest_batch
    from mdm.linkage import service as linkage
    from mdm.linkage.service import run_matching
    from mdm.sources.service import get_source_system

    # `hub` has set up the source systems and a model; the record waits to be matched.
    item = Candidate("1", {"source_id": "1", "legal_name": "Acme GmbH"}, None)
    ingest_batch(
        session, get_source_system(session, "erp"), "customer", [item], origin="t", actor="t"
    )
    session.flush()
    seen: list[tuple[str, ...]] = []
    real = linkage.match_pending
    settings = ("plan_cache_mode", "max_parallel_workers_per_gather", "jit")

    def shown(bind: Session) -> tuple[str, ...]:
        return tuple(str(bind.execute(text(f"SHOW {name}")).scalar()) for name in settings)

    def spy(chunk: Session, *args: Any, **kwargs: Any) -> Any:
        if is_postgres(chunk):
            seen.append(shown(chunk))
        return real(chunk, *args, **kwargs)

    before = shown(session) if is_postgres(session) else None
    monkeypatch.setattr(linkage, "match_pending", spy)
    # On SQLite, which has no plan cache, the run shows that the setting is left out there.
    assert run_matching(uow, "customer", CTX, hierarchies=False).records == 1
    if is_postgres(session):
        # Each statement planned for its values, by one backend, without JIT compilation.
        assert seen
        assert set(seen) == {("force_custom_plan", "0", "off")}
        assert before is not None
        assert before != ("force_custom_plan", "0", "off")


def test_a_bulk_match_run_takes_records_that_share_a_postal_code_together(
    uow: UnitOfWork, session: Session, hub: Ingest
) -> None:
    from mdm.ingest.service import Candidate, ingest_batch
    from mdm.linkage.service import processing_order, run_matching
    from mdm.sources.service import get_source_system

    globex_crm = {**GLOBEX, "legal_name": "GLOBEX Industrial Supplies Limited"}
    # `hub` has set up the source systems and a model; the records wait to be matched. In ID
    # order (file by file) a chunk of two holds both ERP records, the next both CRM records.
    for source, records in [
        ("erp", {"100": ACME_ERP, "200": GLOBEX}),
        ("crm", {"0015B": globex_crm, "0015A": ACME_CRM}),
    ]:
        items = [Candidate(sid, {"source_id": sid, **body}, None) for sid, body in records.items()]
        ingest_batch(
            session, get_source_system(session, source), "customer", items, origin="t", actor="t"
        )
    session.flush()
    ids = {
        (s, i): session.scalar(select(SourceRecord.id).where(SourceRecord.source_id == i))
        for s, i in [("erp", "100"), ("erp", "200"), ("crm", "0015B"), ("crm", "0015A")]
    }
    # By postal code ("50667" before "LS1 4AP"), then ID: each company's records together.
    assert processing_order(session, "customer", chunk_size=2) == [
        ids["erp", "100"],
        ids["crm", "0015A"],
        ids["erp", "200"],
        ids["crm", "0015B"],
    ]
    # One chunk holds the whole backlog: nothing to order.
    assert processing_order(session, "customer", chunk_size=4) == []
    last = newest_seq(session)

    summary = run_matching(uow, "customer", CTX, chunk_size=2, hierarchies=False)
    assert summary.records == 4
    acme, globex = golden_id(session, "erp", "100"), golden_id(session, "erp", "200")
    assert golden_id(session, "crm", "0015A") == acme
    assert golden_id(session, "crm", "0015B") == globex
    assert acme != globex
    # Each golden record was built once, from both its records in one chunk: created, never
    # created from one record and then updated by a later chunk with the other.
    kinds = [e.event_type for e in events(session, after=last) if e.event_type.startswith("golden")]
    assert sorted(kinds) == ["golden.created", "golden.created"]
    assert summary.new_goldens == 2


def test_a_bulk_match_run_goes_past_an_ordered_chunk_taken_elsewhere_and_matches_the_rest(
    uow: UnitOfWork, session: Session, hub: Ingest, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mdm.ingest.service import Candidate, ingest_batch
    from mdm.linkage import service as linkage
    from mdm.linkage.service import run_matching
    from mdm.sources.service import get_source_system

    records = {"100": ACME_ERP, "200": GLOBEX, "300": ACME_CRM, "400": GLOBEX}
    items = [Candidate(sid, {"source_id": sid, **body}, None) for sid, body in records.items()]
    ingest_batch(
        session, get_source_system(session, "erp"), "customer", items, origin="t", actor="t"
    )
    session.flush()
    ids = dict(session.execute(select(SourceRecord.source_id, SourceRecord.id)).all())
    # Another worker matched record 100 after this run read its order, which also misses
    # records that arrived later (300 and 400 stand for them).
    session.execute(
        update(SourceRecord)
        .where(SourceRecord.id == ids["100"])
        .values(matched_version=SourceRecord.version)
    )
    monkeypatch.setattr(linkage, "processing_order", lambda *_: [ids["100"], ids["200"]])
    summary = run_matching(uow, "customer", CTX, chunk_size=1, hierarchies=False)
    # The first ordered chunk found nothing left to claim and the run went on: 200 from the
    # order, then 300 and 400 in ID order.
    assert summary.records == 3
    waiting = session.scalar(
        select(func.count())
        .select_from(SourceRecord)
        .where(SourceRecord.matched_version < SourceRecord.version)
    )
    assert waiting == 0
    assert golden_id(session, "erp", "400") == golden_id(session, "erp", "200")


def _company(name: str, city: str, postcode: str) -> dict[str, Any]:
    return {
        "legal_name": name,
        "addresses": [{"type": "legal", "city": city, "postal_code": postcode, "country": "DE"}],
        "phones": ["+49 30 5550100"],  # the one value the three share: a switchboard, say
    }


def test_a_key_held_by_as_many_records_as_its_cap_pairs_nothing(
    session: Session, hub: Ingest, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Three unrelated companies share a phone number; the phone rule may pair up two records.
    from mdm.linkage import service as linkage

    spec = linkage.spec_for("customer")
    rules = tuple(
        r.model_copy(update={"max_block_size": 2}) if r.name == "phone" else r
        for r in spec.blocking_rules
    )
    capped_spec = spec.model_copy(update={"blocking_rules": rules})
    monkeypatch.setattr(linkage, "spec_for", lambda entity_type: capped_spec)
    phone_key = "phone:+49305550100"

    first = hub("erp", {"1": _company("Adler Logistik AG", "Berlin", "10115")})
    assert (first.candidate_pairs, first.capped_keys) == (0, [])
    second = hub("erp", {"2": _company("Birkenhof Bäckerei KG", "Hamburg", "20095")})
    # One other holder, under the cap: a pair.
    assert (second.candidate_pairs, second.capped_keys) == (1, [])
    ids = dict(session.execute(select(SourceRecord.source_id, SourceRecord.id)).all())

    def read_with_holders() -> set[int]:
        """The candidates a single upsert of record 2 (unchanged) reads with its holders."""
        stored = session.scalar(
            select(MatchFeatures.features).where(MatchFeatures.source_record_id == ids["2"])
        )
        found = linkage._store_one_and_find(session, "customer", ids["2"], stored, capped_spec)
        # Read: the other record of each pair.
        assert set(found[3].features) == {x for pair in found[1] for x in pair} - {ids["2"]}
        return set(found[3].features)

    if is_postgres(session):
        assert read_with_holders() == {ids["1"]}
    third = hub("erp", {"3": _company("Cordes Maschinenbau GmbH", "München", "80331")})
    # Two others: with the record itself three holders, more than the cap: no pair.
    assert (third.candidate_pairs, third.capped_keys) == (0, [(phone_key, 3)])
    if is_postgres(session):
        ids = dict(session.execute(select(SourceRecord.source_id, SourceRecord.id)).all())
        assert read_with_holders() == set()  # the key's holders are not read as candidates
    # A change that keeps the key counts the same holders (the record's own key among them).
    changed = {**_company("Birkenhof Bäckerei KG", "Hamburg", "20095"), "emails": ["a@b.de"]}
    again = hub("erp", {"2": changed})
    assert (again.candidate_pairs, again.capped_keys) == (0, [(phone_key, 3)])
    keys = session.scalars(select(BlockingKey.key).where(BlockingKey.key == phone_key)).all()
    assert len(keys) == 3
