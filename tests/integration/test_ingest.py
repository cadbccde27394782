"""Ingestion on both databases: idempotency, versions, tombstones, rejects, encodings, restarts."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from mdm.canonical.models import EntityType
from mdm.database import UnitOfWork
from mdm.errors import NotFoundError
from mdm.ingest.models import IngestBatch, RejectedRecord
from mdm.ingest.service import (
    Candidate,
    SentOne,
    StoredOne,
    ingest_batch,
    ingest_file,
    ingest_many,
    ingest_one,
)
from mdm.linkage.models import MatchModelRecord
from mdm.mapping.service import parse_mapping
from mdm.sources.models import SourceRecord, SourceRecordVersion
from mdm.sources.service import get_source_system, sync_source_systems

MAPPING = parse_mapping(
    {
        "source": {"code": "dist", "name": "Distributor", "kind": "distributor", "trust_rank": 5},
        "customer": {
            "id": "acct",
            "deleted": {"path": "deleted", "values": ["Y"]},
            "fields": {
                "legal_name": "name",
                "addresses.billing.lines": {"paths": ["street"]},
                "addresses.billing.city": "city",
                "addresses.billing.country": "country",
                "phones": {"paths": ["phone"]},
            },
        },
    },
    "test",
)
HEADER = "acct,name,street,city,country,phone,deleted\n"


def write(tmp_path: Path, name: str, body: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(body.encode(encoding))
    return path


def load(uow: UnitOfWork, path: Path, chunk_size: int = 1000, progress=None, workers: int = 1):  # type: ignore[no-untyped-def]
    with uow.begin() as s:
        sync_source_systems(s, [MAPPING.source])
    return ingest_file(
        uow,
        MAPPING,
        EntityType.CUSTOMER,
        path,
        chunk_size=chunk_size,
        progress=progress,
        workers=workers,
    )


def versions(session: Session, source_id: str) -> list[tuple[int, bool]]:
    rows = session.execute(
        select(SourceRecordVersion.version, SourceRecordVersion.deleted)
        .join(SourceRecord, SourceRecord.id == SourceRecordVersion.source_record_id)
        .where(SourceRecord.source_id == source_id)
        .order_by(SourceRecordVersion.version)
    )
    return [(v, d) for v, d in rows]


def test_rerun_is_idempotent_and_changes_make_versions(uow: UnitOfWork, tmp_path: Path) -> None:
    first = write(
        tmp_path,
        "a.csv",
        HEADER + "1,Acme GmbH,Hauptstr. 1,Berlin,DE,+49 30 1234567,\n"
        "2,Globex Ltd,1 High St,London,GB,,\n"
        "3,Initech Inc,5 Main St,Austin,US,,\n",
    )
    result = load(uow, first)
    assert result.counts.as_dict() == {
        "read": 3,
        "new": 3,
        "changed": 0,
        "unchanged": 0,
        "deleted": 0,
        "rejected": 0,
    }
    again = load(uow, first)
    assert (again.counts.new, again.counts.unchanged) == (0, 3)

    second = write(
        tmp_path,
        "b.csv",
        HEADER + "1,Acme GmbH,Hauptstraße 1,Berlin,DE,+49 30 1234567,\n"
        "2,Globex Ltd,1 High St,London,GB,,Y\n"
        "3,Initech Inc,5 Main St,Austin,US,,\n",
    )
    changed = load(uow, second)
    assert (changed.counts.changed, changed.counts.deleted, changed.counts.unchanged) == (1, 1, 1)
    with uow.session() as s:
        assert versions(s, "1") == [(1, False), (2, False)]
        assert versions(s, "2") == [(1, False), (2, True)]
        assert versions(s, "3") == [(1, False)]
        head = s.scalars(select(SourceRecord).where(SourceRecord.source_id == "1")).one()
        assert head.version == 2
        assert head.canonical is not None
        assert head.canonical["addresses"][0]["lines"] == ["Hauptstraße 1"]
        deleted = s.scalars(select(SourceRecord).where(SourceRecord.source_id == "2")).one()
        assert deleted.deleted_at is not None
        # The tombstone arriving again changes nothing.
    assert load(uow, second).counts.unchanged == 3


# With worker processes, the file is read in blocks there: the same outcome, line for line.
@pytest.mark.parametrize("workers", [1, 2])
def test_bad_rows_are_rejected_with_reasons_and_valid_rows_land(
    uow: UnitOfWork, tmp_path: Path, workers: int
) -> None:
    body = (
        HEADER
        + "1,Acme GmbH,Hauptstr. 1,Berlin,DE,,\n"
        + "2,,No Name Street,Paris,FR,,\n"  # missing name
        + "3,Atlantis Trading,1 Sea Rd,Atlantis,XX,,\n"  # invalid country code
        + "4,Too,many,fields,DE,,,extra\n"  # malformed row
        + f"5,{'A' * 1500},1 Long Rd,Rome,IT,,\n"  # oversized value
        + ",Nameless Id Ltd,1 Rd,Oslo,NO,,\n"  # missing source ID
        + "7,Umbrella plc,2 Rd,Leeds,GB,,\n"
    )
    result = load(uow, write(tmp_path, "bad.csv", body), workers=workers)
    assert (result.counts.new, result.counts.rejected) == (2, 5)
    assert [r.position for r in result.rejections] == [3, 4, 5, 6, 7]
    with uow.session() as s:
        stored = dict(s.execute(select(RejectedRecord.position, RejectedRecord.errors)).all())
        raws = s.scalars(select(RejectedRecord.raw).order_by(RejectedRecord.position)).all()
        ids = set(s.scalars(select(SourceRecord.source_id)))
    assert ids == {"1", "7"}
    assert set(stored) == {3, 4, 5, 6, 7}
    assert stored[3][0]["field"] == "record"
    assert "customer needs a name" in stored[3][0]["message"]
    assert stored[4][0]["field"] == "addresses.0.country"
    assert "'XX'" in stored[4][0]["message"]
    assert "expected 7 fields, found 8" in stored[5][0]["message"]
    assert stored[6][0]["field"] == "legal_name"
    assert "at most 1000" in stored[6][0]["message"]
    assert stored[7][0]["field"] == "id"
    assert raws[0].startswith("2,,No Name Street")


@pytest.mark.parametrize("workers", [1, 2])
def test_latin1_and_bom_files_load(uow: UnitOfWork, tmp_path: Path, workers: int) -> None:
    latin = write(
        tmp_path, "latin.csv", HEADER + "1,Müller Präzision GmbH,Straße 1,Köln,DE,,\n", "latin-1"
    )
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + (HEADER + "2,Société Outils SARL,1 rue,Lyon,FR,,\n").encode())
    from_latin = load(uow, latin, workers=workers)
    assert from_latin.counts.new == 1
    assert from_latin.warnings == ["line 2 decoded as cp1252"]
    assert load(uow, bom, workers=workers).counts.new == 1
    with uow.session() as s:
        names = {
            r.source_id: r.canonical["legal_name"]  # type: ignore[index]
            for r in s.scalars(select(SourceRecord))
        }
    assert names == {"1": "Müller Präzision GmbH", "2": "Société Outils SARL"}


def test_killed_load_rerun_loses_and_duplicates_nothing(uow: UnitOfWork, tmp_path: Path) -> None:
    rows = "".join(f"{i},Company {i} Ltd,{i} Road,Leeds,GB,,\n" for i in range(1, 11))
    path = write(tmp_path, "ten.csv", HEADER + rows)
    seen = []

    def crash_after_two_chunks(n: int) -> None:
        seen.append(n)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        load(uow, path, chunk_size=3, progress=crash_after_two_chunks)
    with uow.session() as s:
        assert s.scalar(select(func.count()).select_from(SourceRecord)) == 6
        assert s.scalar(select(IngestBatch.status)) == "failed"
    rerun = load(uow, path, chunk_size=3)
    assert (rerun.counts.unchanged, rerun.counts.new) == (6, 4)
    with uow.session() as s:
        assert s.scalar(select(func.count()).select_from(SourceRecord)) == 10
        assert s.scalar(select(func.count()).select_from(SourceRecordVersion)) == 10


def test_repeated_key_in_one_file_makes_two_versions(uow: UnitOfWork, tmp_path: Path) -> None:
    body = HEADER + "1,Acme,1 Rd,Berlin,DE,,\n1,Acme GmbH,1 Rd,Berlin,DE,,\n"
    result = load(uow, write(tmp_path, "dup.csv", body))
    assert (result.counts.new, result.counts.changed) == (1, 1)
    with uow.session() as s:
        assert versions(s, "1") == [(1, False), (2, False)]


def test_a_first_load_writes_without_look_ups_until_a_key_repeats_across_chunks(
    uow: UnitOfWork, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mdm.ingest import service

    looked_up: list[int] = []
    existing = service._existing

    def counted(*args: Any) -> Any:
        looked_up.append(len(args[3]))
        return existing(*args)

    monkeypatch.setattr(service, "_existing", counted)
    rows = [f"{i},Firm {i},{i} Rd,Berlin,DE,,\n" for i in range(1, 7)]
    first = load(uow, write(tmp_path, "first.csv", HEADER + "".join(rows)), chunk_size=2)
    # The source's first load: three chunks of new keys, none looked up.
    assert (first.counts.new, looked_up) == (6, [])
    # Key 2 again, two chunks after its first row (the chunk runner only sees repeats
    # within a chunk): its chunk fails to insert, is written again with look-ups, and the
    # chunks after it look their keys up too.
    body = HEADER + "7,Firm 7,7 Rd,Berlin,DE,,\n8,Firm 8,8 Rd,Berlin,DE,,\n"
    body += "9,Firm 9,9 Rd,Berlin,DE,,\n10,Firm 10,10 Rd,Berlin,DE,,\n"
    body += "11,Firm 11,11 Rd,Berlin,DE,,\n7,Firm Seven,7 Rd,Berlin,DE,,\n"
    body += "12,Firm 12,12 Rd,Berlin,DE,,\n"
    with uow.begin() as s:
        s.execute(text("DELETE FROM source_record_version"))
        s.execute(text("DELETE FROM source_record"))
    looked_up.clear()
    repeated = load(uow, write(tmp_path, "repeat.csv", body), chunk_size=2)
    counts = repeated.counts.as_dict()
    assert (counts["new"], counts["changed"], counts["read"]) == (6, 1, 7)
    assert looked_up == [2, 1]  # the retried chunk (11, 7), then the last one (12)
    with uow.session() as s:
        assert versions(s, "7") == [(1, False), (2, False)]
        assert s.scalar(select(func.count()).select_from(SourceRecord)) == 6
        assert s.scalar(select(func.count()).select_from(SourceRecordVersion)) == 7
    # A later load of the source looks every chunk's keys up: the same file again changes
    # only key 7, which it sends twice (its first row differs from the last one stored).
    looked_up.clear()
    again = load(uow, write(tmp_path, "repeat.csv", body), chunk_size=2)
    assert (again.counts.unchanged, again.counts.changed) == (5, 2)
    assert looked_up == [2, 2, 2, 1]


def test_api_batch_reports_each_record(uow: UnitOfWork) -> None:
    with uow.begin() as s:
        sync_source_systems(s, [MAPPING.source])
        source = get_source_system(s, "dist")
        items = [
            Candidate("a", {"source_id": "a", "legal_name": "A"}, None),
            Candidate("b", {"source_id": "b", "legal_name": "B"}, None),
            Candidate("a", {"source_id": "a", "legal_name": "A2"}, None),
        ]
        _, outcomes = ingest_batch(s, source, "customer", items, origin="api", actor="t")
    assert [(o.source_id, o.status, o.version) for o in outcomes] == [
        ("a", "new", 1),
        ("b", "new", 1),
        ("a", "changed", 2),
    ]


def test_unknown_source_system_is_named(session: Session) -> None:
    with pytest.raises(NotFoundError, match="unknown source system 'nope'"):
        get_source_system(session, "nope")


def test_special_characters_round_trip(uow: UnitOfWork, tmp_path: Path) -> None:
    name = 'Back\\slash "Quoted"\tTabbed\nTwo\rlines'
    key = "K\\1\t2"  # a backslash and a tab in the source ID as well
    body = HEADER + f'"{key}","' + name.replace('"', '""') + '",1 Rd,Oslo,NO,,\n'
    result = load(uow, write(tmp_path, "special.csv", body))
    assert result.counts.new == 1
    with uow.session() as s:
        head = s.scalars(select(SourceRecord)).one()
        version = s.scalars(select(SourceRecordVersion)).one()
    assert (head.source_id, head.version, head.matched_version) == (key, 1, 0)
    assert head.canonical is not None
    assert head.canonical["legal_name"] == name
    assert head.canonical["source_id"] == key
    assert head.deleted_at is None
    assert head.last_batch_id == version.batch_id == result.batch_id
    assert (version.source_record_id, version.version, version.deleted) == (head.id, 1, False)
    assert version.content_hash == head.content_hash
    assert version.received_at == head.received_at
    assert version.canonical == head.canonical
    assert version.raw is not None
    assert version.raw["name"] == name
    assert version.raw["acct"] == key


def test_what_the_database_cannot_store_is_rejected_by_field(
    uow: UnitOfWork, tmp_path: Path
) -> None:
    long_id = "L" * 250
    body = (
        HEADER
        + "1,Acme\x00 GmbH,Hauptstr. 1,Berlin,DE,,\n"  # NUL: PostgreSQL text refuses it
        + f"{long_id},Globex Ltd,1 Rd,Leeds,GB,,\n"  # longer than the source ID column
        + "3,Umbrella plc,2 Rd,Leeds,GB,,\n"
    )
    result = load(uow, write(tmp_path, "unstorable.csv", body))
    assert (result.counts.new, result.counts.rejected) == (1, 2)
    with uow.session() as s:
        stored = dict(s.execute(select(RejectedRecord.position, RejectedRecord.errors)).all())
        ids = set(s.scalars(select(SourceRecord.source_id)))
    assert ids == {"3"}
    assert stored[2] == [{"field": "legal_name", "message": "text must not contain NUL (U+0000)"}]
    # The mapping's ID column is named as the source calls it.
    assert stored[3][0]["field"] == "id"
    assert "at most 200" in stored[3][0]["message"]


def test_opening_a_batch_finds_running_loads_by_index_not_by_scanning_every_batch(
    session: Session,
) -> None:
    # Every API write opens a batch; the look-up of loads left running must not grow with
    # the number of batches ever taken.
    statement = (
        "UPDATE ingest_batch SET status = 'interrupted' WHERE source_system_id = 1 "
        "AND entity_type = 'customer' AND origin = 'api:x' AND status = 'running'"
    )
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL enable_seqscan = off"))  # a tiny table: ask for the index
        plan = " ".join(str(r[0]) for r in session.execute(text(f"EXPLAIN {statement}")))
    else:
        plan = " ".join(
            str(r[-1]) for r in session.execute(text(f"EXPLAIN QUERY PLAN {statement}"))
        )
    assert "ix_ingest_batch_running" in plan


def test_a_bulk_load_refreshes_the_planners_statistics_on_postgresql(
    uow: UnitOfWork, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mdm.database import refresh_statistics
    from mdm.ingest import service as ingest_service

    refreshed: list[tuple[str, ...]] = []

    def spy(bind: Session, tables: tuple[str, ...]) -> bool:
        refreshed.append(tuple(tables))
        return refresh_statistics(bind, tables)

    monkeypatch.setattr(ingest_service, "refresh_statistics", spy)
    monkeypatch.setattr(ingest_service, "REFRESH_STATISTICS_FROM", 2)

    def rows(first: int, n: int) -> str:
        return "".join(
            f"{i},Firm {i} GmbH,Hauptstr. {i},Berlin,DE,,\n" for i in range(first, first + n)
        )

    load(uow, write(tmp_path, "c1.csv", HEADER + rows(1, 6)))
    # Source records, which the match stage reads by plans; the history is read by key.
    assert refreshed == [("source_record",)]
    with uow.session() as session:
        postgres = session.get_bind().dialect.name == "postgresql"
        assert refresh_statistics(session, ("source_record",)) is postgres
        if postgres:  # the planner now knows the table holds rows
            estimate = session.execute(
                text("SELECT reltuples FROM pg_class WHERE relname = 'source_record'")
            ).scalar_one()
            assert estimate == 6
    # 2 more records are a third of the 6 the planner knows of: no refresh on PostgreSQL
    # (a load of many files refreshes as the table grows, not after each); 4 more are enough.
    load(uow, write(tmp_path, "c2.csv", HEADER + rows(7, 2)))
    assert len(refreshed) == (1 if postgres else 2)
    load(uow, write(tmp_path, "c3.csv", HEADER + rows(9, 4)))
    assert len(refreshed) == (2 if postgres else 3)


def _stored_rows(session: Session, batch_id: int) -> tuple[Any, ...]:
    """A single record's batch, head and versions, as both ingest paths must leave them."""
    batch = session.execute(
        select(
            IngestBatch.status,
            IngestBatch.read_count,
            IngestBatch.new_count,
            IngestBatch.changed_count,
            IngestBatch.unchanged_count,
            IngestBatch.deleted_count,
            IngestBatch.finished_at.is_not(None),
        ).where(IngestBatch.id == batch_id)
    ).one()
    head = session.execute(
        select(
            SourceRecord.version,
            SourceRecord.canonical,
            SourceRecord.deleted_at.is_not(None),
            SourceRecord.last_batch_id == batch_id,
        ).where(SourceRecord.source_id == "one")
    ).one_or_none()
    kept = session.execute(
        select(
            SourceRecordVersion.version,
            SourceRecordVersion.deleted,
            SourceRecordVersion.canonical,
            SourceRecordVersion.raw,
        )
        .join(SourceRecord, SourceRecord.id == SourceRecordVersion.source_record_id)
        .where(SourceRecord.source_id == "one")
        .order_by(SourceRecordVersion.version)
    ).all()
    return tuple(batch), None if head is None else tuple(head), [tuple(v) for v in kept]


def test_one_record_is_stored_as_a_batch_of_one_would_be(session: Session) -> None:
    sync_source_systems(session, [MAPPING.source])
    acme = {"source_id": "one", "legal_name": "Acme"}
    steps = [
        Candidate("one", None, None, deleted=True),  # never received: changes nothing
        Candidate("one", acme, {"raw": 1}),
        Candidate("one", acme, {"raw": 1}),  # the same again
        Candidate("one", {**acme, "legal_name": "Acme Ltd"}, {"raw": 2}),
        Candidate("one", None, None, deleted=True),
    ]
    expected = ["unchanged", "new", "unchanged", "changed", "deleted"]
    for candidate, status in zip(steps, expected, strict=True):
        stored = ingest_one(session, "dist", "customer", candidate, origin="api", actor="t")
        assert stored.outcome.status == status
        batch, head, kept = _stored_rows(session, stored.batch_id)
        # The tallies of a completed batch of one record.
        tallies = tuple(int(status == s) for s in ("new", "changed", "unchanged", "deleted"))
        assert batch == ("completed", 1, *tallies, True)
        if head is None:
            assert status == "unchanged"
            assert stored.outcome.record_id is None
            continue
        assert head[0] == stored.outcome.version == len(kept)
        assert head[3] == (status != "unchanged")
    assert kept == [
        (1, False, acme, {"raw": 1}),
        (2, False, {**acme, "legal_name": "Acme Ltd"}, {"raw": 2}),
        (3, True, None, None),
    ]
    assert head == (3, {**acme, "legal_name": "Acme Ltd"}, True, True)
    with pytest.raises(NotFoundError, match="unknown source system 'nope'"):
        ingest_one(session, "nope", "customer", steps[1], origin="api", actor="t")


def test_records_sent_together_are_stored_as_each_alone_would_be(session: Session) -> None:
    sync_source_systems(session, [MAPPING.source])

    def sent(source_id: str, name: str | None, who: str) -> SentOne:
        body = None if name is None else {"source_id": source_id, "legal_name": name}
        candidate = Candidate(source_id, body, body and {"raw": name}, deleted=body is None)
        return SentOne("dist", candidate, f"api:{who}", who)

    ingest_many(session, "customer", [sent(k, "Acme", "first") for k in ("a", "b", "c")])
    together = ingest_many(
        session,
        "customer",
        [
            sent("a", "Acme Ltd", "t1"),  # changed
            sent("b", "Acme", "t2"),  # the same again
            sent("c", None, "t3"),  # deleted
            sent("d", "Globex", "t4"),  # new
            sent("e", None, "t5"),  # never received: changes nothing
        ],
    )
    assert [(s.outcome.status, s.outcome.version) for s in together] == [
        ("changed", 2),
        ("unchanged", 1),
        ("deleted", 2),
        ("new", 1),
        ("unchanged", None),
    ]
    # Each its own batch of one, with its own origin, submitter and tallies.
    batches = {
        b.id: (b.origin, b.submitted_by, b.new_count, b.changed_count, b.unchanged_count)
        for b in session.scalars(select(IngestBatch))
    }
    assert [batches[s.batch_id] for s in together] == [
        ("api:t1", "t1", 0, 1, 0),
        ("api:t2", "t2", 0, 0, 1),
        ("api:t3", "t3", 0, 0, 0),
        ("api:t4", "t4", 1, 0, 0),
        ("api:t5", "t5", 0, 0, 1),
    ]
    heads = {
        r.source_id: (r.id, r.version, r.canonical, r.deleted_at is not None, r.last_batch_id)
        for r in session.scalars(select(SourceRecord))
    }
    a, b, c, d, _ = together
    assert heads["a"][1:4] == (2, {"source_id": "a", "legal_name": "Acme Ltd"}, False)
    assert heads["c"][1:4] == (2, {"source_id": "c", "legal_name": "Acme"}, True)
    assert heads["d"][0] == d.outcome.record_id
    assert [heads[k][4] for k in "acd"] == [a.batch_id, c.batch_id, d.batch_id]
    assert heads["b"][4] != b.batch_id  # unchanged: the head keeps its batch
    assert "e" not in heads
    versions = session.execute(
        select(SourceRecord.source_id, SourceRecordVersion.version, SourceRecordVersion.deleted)
        .join(SourceRecord, SourceRecord.id == SourceRecordVersion.source_record_id)
        .order_by(SourceRecord.source_id, SourceRecordVersion.version)
    ).all()
    assert [tuple(v) for v in versions] == [
        ("a", 1, False),
        ("a", 2, False),
        ("b", 1, False),
        ("c", 1, False),
        ("c", 2, True),
        ("d", 1, False),
    ]
    unknown = dataclasses.replace(sent("g", "G", "t7"), source="nope")
    with pytest.raises(NotFoundError, match="unknown source system 'nope'"):
        ingest_many(session, "customer", [sent("f", "F", "t6"), unknown])


ACME_ONE = {"source_id": "one", "legal_name": "Acme"}


def test_a_record_stored_for_matching_comes_back_as_matching_takes_it(session: Session) -> None:
    sync_source_systems(session, [MAPPING.source])

    def store(body: dict[str, Any] | None) -> StoredOne:
        candidate = Candidate("one", body, None, deleted=body is None)
        return ingest_one(
            session, "dist", "customer", candidate, origin="api", actor="t", matched=True
        )

    first = store(ACME_ONE)
    matched_version = session.scalar(
        select(SourceRecord.matched_version).where(SourceRecord.source_id == "one")
    )
    if first.waiting is None:  # SQLite: the caller looks for it, still waiting
        assert matched_version == 0
        return
    # PostgreSQL: marked matched as written, and handed back with what matching needs.
    assert matched_version == 1
    waiting = first.waiting
    assert (waiting.id, waiting.code, waiting.source_id) == (first.outcome.record_id, "dist", "one")
    assert waiting.canonical == ACME_ONE
    assert (waiting.deleted_at, waiting.trust_rank, waiting.has_features) == (None, 5, False)
    # Never matched before, in no golden record.
    assert (waiting.matched_version, waiting.golden_id, waiting.link_reason) == (0, None, None)
    assert waiting.shares_golden is False
    assert waiting.in_review is False  # in no open review task
    gone = store(None)
    assert gone.waiting is not None
    assert gone.waiting.deleted_at is not None
    assert gone.waiting.matched_version == 1  # as it was before this change
    assert (
        session.scalar(select(SourceRecord.matched_version).where(SourceRecord.source_id == "one"))
        == 2
    )
    # The active match model's row comes along (matching asks for it next): none yet, then
    # the newest active one.
    assert gone.newest_model is None
    for version, active in ((1, True), (2, True), (3, False)):
        session.add(
            MatchModelRecord(entity_type="customer", version=version, document={}, active=active)
        )
    session.flush()
    again = store(ACME_ONE)
    newest = session.execute(
        select(MatchModelRecord.id, MatchModelRecord.version, MatchModelRecord.created_at).where(
            MatchModelRecord.version == 2
        )
    ).one()
    assert again.newest_model == tuple(newest)
