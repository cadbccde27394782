"""Idempotent ingestion of source records, one record, an API batch, or a streamed file.

The key of a record is (source system, entity type, source ID). Each incoming record is
hashed over its raw payload and canonical form: the same content again changes nothing, new
content makes a new version (every version is kept), and a delete makes a tombstone version.
Writes are bulk statements per chunk (COPY on PostgreSQL for the append-only version table),
never one ORM object per record.

Transactions: `upsert_records` and `reject_records` never commit; the caller's unit of work
does. `ingest_file` is a batch runner that commits once per chunk, so a load killed midway
keeps its finished chunks, and running it again finds them unchanged: nothing is lost and
nothing is duplicated.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import queue
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from multiprocessing.pool import AsyncResult
from pathlib import Path
from typing import Any, Literal, NamedTuple

import orjson
from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mdm.canonical.models import MAX_SOURCE_ID, EntityType
from mdm.database import (
    JsonText,
    Prebuilt,
    UnitOfWork,
    bulk_insert,
    copy_escape,
    copy_lines,
    insert_returning_ids,
    is_postgres,
    planner_rows,
    refresh_statistics,
    reserve_ids,
    run,
    table_of,
    utcnow,
)
from mdm.ingest.models import IngestBatch, RejectedRecord
from mdm.ingest.readers import (
    RowBlock,
    SourceRow,
    detect_format,
    parse_block,
    read_blocks,
    read_file,
)
from mdm.mapping.models import SourceMapping
from mdm.mapping.service import CompiledEntityMapping, MappedRecord, compile_entity
from mdm.sources.models import SourceRecord, SourceRecordVersion, SourceSystem
from mdm.sources.service import get_source_system

Status = Literal["new", "changed", "unchanged", "deleted", "rejected"]
TOMBSTONE_HASH = hashlib.sha256(b"deleted").hexdigest()


def _encode(value: dict[str, Any] | None) -> JsonText | None:
    if value is None:
        return None
    text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    # The raw payload is kept as received, but jsonb refuses NUL: it becomes U+FFFD there (a
    # NUL in a mapped field rejects the record, see mdm.canonical.storable).
    return JsonText(text.replace("\\u0000", "\\ufffd") if "\\u0000" in text else text)


def _storable_text(text: str | None) -> str | None:
    # PostgreSQL text refuses NUL; a rejected row's raw input keeps everything else.
    return None if text is None else text.replace("\x00", "\ufffd")


@dataclass(slots=True)
class Candidate:
    """A valid record ready to upsert, or a tombstone.

    The raw and canonical forms are encoded to JSON once, here: that text is both what the
    content hash is taken over and what the database stores.
    """

    source_id: str
    canonical: dict[str, Any] | None
    raw: dict[str, Any] | None
    position: int | None = None
    deleted: bool = False
    content_hash: str = ""
    canonical_json: JsonText | None = None
    raw_json: JsonText | None = None

    def __post_init__(self) -> None:
        if self.canonical_json is None:
            self.canonical_json = _encode(self.canonical)
        if self.raw_json is None:
            self.raw_json = _encode(self.raw)
        if not self.content_hash:
            self.content_hash = (
                TOMBSTONE_HASH
                if self.deleted
                else hashlib.sha256(
                    f"{self.raw_json}\x00{self.canonical_json}".encode()
                ).hexdigest()
            )

    def lighten(self) -> Candidate:
        """Drop the decoded forms (the JSON text stays): cheaper to send between processes."""
        self.canonical = None
        self.raw = None
        return self

    def __reduce__(self) -> tuple[Callable[..., Candidate], tuple[Any, ...]]:
        # Sent between processes as its encoded fields: a slotted dataclass's default pickling
        # (a dict of slots, set one by one) cost a load's parent 12 us a record to receive.
        return _restore_candidate, (
            self.source_id,
            self.canonical,
            self.raw,
            self.position,
            self.deleted,
            self.content_hash,
            None if self.canonical_json is None else str(self.canonical_json),
            None if self.raw_json is None else str(self.raw_json),
        )


def _restore_candidate(
    source_id: str,
    canonical: dict[str, Any] | None,
    raw: dict[str, Any] | None,
    position: int | None,
    deleted: bool,
    content_hash: str,
    canonical_json: str | None,
    raw_json: str | None,
) -> Candidate:
    # Its fields as they were: nothing to encode or hash again, so no __init__.
    candidate = object.__new__(Candidate)
    candidate.source_id = source_id
    candidate.canonical = canonical
    candidate.raw = raw
    candidate.position = position
    candidate.deleted = deleted
    candidate.content_hash = content_hash
    candidate.canonical_json = None if canonical_json is None else JsonText(canonical_json)
    candidate.raw_json = None if raw_json is None else JsonText(raw_json)
    return candidate


@dataclass(slots=True)
class Rejection:
    """A record that cannot be accepted, with every reason and its raw input."""

    errors: list[dict[str, str]]
    raw: str
    position: int | None = None
    source_id: str | None = None


@dataclass(slots=True)
class RecordOutcome:
    """What happened to one record of a load."""

    source_id: str | None
    status: Status
    position: int | None = None
    record_id: int | None = None
    version: int | None = None
    errors: list[dict[str, str]] = field(default_factory=list)


@dataclass(slots=True)
class BatchCounts:
    """Tallies of a load."""

    read: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    deleted: int = 0
    rejected: int = 0

    def add(self, outcomes: Iterable[RecordOutcome]) -> None:
        """Count outcomes (each is also a record read)."""
        for outcome in outcomes:
            self.read += 1
            setattr(self, outcome.status, getattr(self, outcome.status) + 1)

    def as_dict(self) -> dict[str, int]:
        """The tallies by name."""
        return {
            "read": self.read,
            "new": self.new,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "rejected": self.rejected,
        }


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def candidate_from_mapped(
    mapped: MappedRecord, raw: dict[str, Any] | None, raw_text: str, position: int | None
) -> Candidate | Rejection:
    """Turn the outcome of a mapping into a candidate or a rejection."""
    if not mapped.ok:
        return Rejection(
            errors=[e.as_dict() for e in mapped.errors],
            raw=raw_text,
            position=position,
            source_id=mapped.source_id,
        )
    assert mapped.source_id is not None
    return Candidate(
        source_id=mapped.source_id,
        canonical=None,
        raw=raw,
        position=position,
        deleted=mapped.deleted,
        canonical_json=None if mapped.canonical_json is None else JsonText(mapped.canonical_json),
    )


def prepare_rows(
    compiled: CompiledEntityMapping, rows: Iterable[SourceRow]
) -> Iterator[Candidate | Rejection]:
    """Map and validate source rows into candidates and rejections, streaming."""
    for row in rows:
        if row.data is None:
            yield Rejection(
                errors=[{"field": "record", "message": row.error or "unreadable"}],
                raw=row.raw,
                position=row.position,
            )
            continue
        for record_row in compiled.rows(row.data):
            mapped = compiled.apply(record_row)
            raw = row.data if record_row is row.data else dict(record_row)
            yield candidate_from_mapped(mapped, raw, row.raw, row.position)


_EXISTING_PG = Prebuilt(
    lambda _: text(
        "SELECT r.source_id, r.id, r.version, r.content_hash, r.deleted_at "
        "FROM unnest(CAST(:ids AS text[])) AS k(source_id) "
        "JOIN source_record r ON r.source_system_id = :system "
        "AND r.entity_type = :entity AND r.source_id = k.source_id"
    )
)


def _existing(
    session: Session, source_system_id: int, entity_type: str, source_ids: Sequence[str]
) -> dict[str, tuple[int, int, str, datetime | None]]:
    if is_postgres(session):
        # Joining an array lets PostgreSQL probe the unique index once per key; a long IN
        # list is planned as a scan that compares every row with every key.
        pg_rows = run(
            session,
            _EXISTING_PG,
            {"ids": list(source_ids), "system": source_system_id, "entity": entity_type},
        )
        return {r[0]: (r[1], r[2], r[3], r[4]) for r in pg_rows}
    rows = session.execute(
        select(
            SourceRecord.source_id,
            SourceRecord.id,
            SourceRecord.version,
            SourceRecord.content_hash,
            SourceRecord.deleted_at,
        ).where(
            SourceRecord.source_system_id == source_system_id,
            SourceRecord.entity_type == entity_type,
            SourceRecord.source_id.in_(source_ids),
        )
    )
    return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}


def has_records(session: Session, source_system_id: int, entity_type: EntityType | str) -> bool:
    """Whether the source has sent any record of the entity type (deleted ones included)."""
    return (
        session.scalar(
            select(SourceRecord.id)
            .where(
                SourceRecord.source_system_id == source_system_id,
                SourceRecord.entity_type == EntityType(entity_type).value,
            )
            .limit(1)
        )
        is not None
    )


def _insert_versions(session: Session, rows: list[dict[str, Any]]) -> None:
    bulk_insert(session, table_of(SourceRecordVersion), rows)


_HEADS = table_of(SourceRecord)
_VERSIONS = table_of(SourceRecordVersion)
_HEAD_COLUMNS = (
    "id",
    "source_system_id",
    "entity_type",
    "source_id",
    "version",
    "content_hash",
    "canonical",
    "received_at",
    "last_batch_id",
    "matched_version",
)
_VERSION_COLUMNS = (
    "source_record_id",
    "version",
    "content_hash",
    "raw",
    "canonical",
    "deleted",
    "received_at",
    "batch_id",
)


def _copy_value(text: str | None) -> str:
    return "\\N" if text is None else copy_escape(text)


def _insert_new(
    session: Session,
    system_id: int,
    entity: str,
    candidates: Sequence[Candidate],
    now: datetime,
    batch_id: int | None,
) -> list[int]:
    """Insert new records, each a current row and its first version; their IDs, in order.

    On PostgreSQL each row is COPY text made in one f-string: a file load's hottest writing,
    at half the cost of `bulk_insert`'s dictionaries formatted column by column.
    """
    if not is_postgres(session):
        # The same columns as the COPY lines below, in `_HEAD_COLUMNS` order (the ID comes
        # from the insert).
        heads = [
            dict(
                zip(
                    _HEAD_COLUMNS[1:],
                    (
                        system_id,
                        entity,
                        c.source_id,
                        1,
                        c.content_hash,
                        c.canonical_json,
                        now,
                        batch_id,
                        0,
                    ),
                    strict=True,
                )
            )
            for c in candidates
        ]
        ids = insert_returning_ids(session, _HEADS, heads)
        _insert_versions(
            session,
            [
                _version_row(record_id, 1, cand, now, batch_id)
                for record_id, cand in zip(ids, candidates, strict=True)
            ],
        )
        return ids
    ids = reserve_ids(session, _HEADS, len(candidates))
    at = now.isoformat()
    batch = "\\N" if batch_id is None else str(batch_id)
    # Each record's canonical JSON, escaped once for both rows.
    rows = [(i, c, _copy_value(c.canonical_json)) for i, c in zip(ids, candidates, strict=True)]
    head_end = f"\t{at}\t{batch}\t0\n"
    copy_lines(
        session,
        _HEADS,
        _HEAD_COLUMNS,
        "".join(
            [
                f"{i}\t{system_id}\t{entity}\t{copy_escape(c.source_id)}\t1\t{c.content_hash}"
                f"\t{canonical}{head_end}"
                for i, c, canonical in rows
            ]
        ),
    )
    version_end = f"\t{at}\t{batch}\n"
    copy_lines(
        session,
        _VERSIONS,
        _VERSION_COLUMNS,
        "".join(
            [
                f"{i}\t1\t{c.content_hash}\t{_copy_value(c.raw_json)}"
                f"\t{canonical}\t{'t' if c.deleted else 'f'}{version_end}"
                for i, c, canonical in rows
            ]
        ),
    )
    return ids


def _outcome(cand: Candidate, head: tuple[int, int, str] | None) -> RecordOutcome:
    """What storing a candidate does, given its stored head (ID, version, content hash)."""
    if head is None:
        # Deleting what was never received changes nothing.
        if cand.deleted:
            return RecordOutcome(cand.source_id, "unchanged", cand.position)
        return RecordOutcome(cand.source_id, "new", cand.position, version=1)
    record_id, version, content_hash = head
    if content_hash == cand.content_hash:
        return RecordOutcome(cand.source_id, "unchanged", cand.position, record_id, version)
    status: Status = "deleted" if cand.deleted else "changed"
    return RecordOutcome(cand.source_id, status, cand.position, record_id, version + 1)


def upsert_records(
    session: Session,
    source: SourceSystem,
    entity_type: EntityType | str,
    candidates: Sequence[Candidate],
    *,
    batch_id: int | None = None,
    assume_new: bool = False,
) -> list[RecordOutcome]:
    """Upsert records of one source and entity type, idempotently; never commits.

    Source IDs must be unique within one call (a file runner flushes before a repeat).
    ``assume_new`` skips looking the keys up (a source's first load): a key that exists after
    all fails the insert with `IntegrityError`, and the caller writes the chunk again without.
    """
    entity = EntityType(entity_type).value
    if not candidates:
        return []
    now = utcnow()
    existing = (
        {}
        if assume_new
        else _existing(session, source.id, entity, [c.source_id for c in candidates])
    )
    outcomes: list[RecordOutcome] = []
    new_candidates: list[Candidate] = []
    new_outcomes: list[RecordOutcome] = []
    changed_heads: list[dict[str, Any]] = []
    versions: list[dict[str, Any]] = []
    for cand in candidates:
        head = existing.get(cand.source_id)
        outcome = _outcome(cand, None if head is None else head[:3])
        outcomes.append(outcome)
        if outcome.status == "new":
            new_candidates.append(cand)
            new_outcomes.append(outcome)
        if outcome.status not in {"changed", "deleted"}:
            continue
        record_id, version = outcome.record_id, outcome.version
        # A stored record's, changed: its ID and new version.
        assert record_id is not None
        assert version is not None
        head_update: dict[str, Any] = {
            "id": record_id,
            "version": version,
            "content_hash": cand.content_hash,
            "received_at": now,
            "last_batch_id": batch_id,
            "deleted_at": now if cand.deleted else None,
        }
        if not cand.deleted:
            head_update["canonical"] = cand.canonical_json
        changed_heads.append(head_update)
        versions.append(_version_row(record_id, version, cand, now, batch_id))
    if new_candidates:
        ids = _insert_new(session, source.id, entity, new_candidates, now, batch_id)
        for record_id, outcome in zip(ids, new_outcomes, strict=True):
            outcome.record_id = record_id
    if changed_heads:
        session.execute(update(SourceRecord), changed_heads)
    _insert_versions(session, versions)
    return outcomes


def _version_row(
    record_id: int, version: int, cand: Candidate, now: datetime, batch_id: int | None
) -> dict[str, Any]:
    return {
        "source_record_id": record_id,
        "version": version,
        "content_hash": cand.content_hash,
        "raw": cand.raw_json,
        "canonical": cand.canonical_json,
        "deleted": cand.deleted,
        "received_at": now,
        "batch_id": batch_id,
    }


def reject_records(
    session: Session, batch_id: int, rejections: Sequence[Rejection]
) -> list[RecordOutcome]:
    """Keep rejected records with their reasons and raw input; never commits."""
    if rejections:
        session.execute(
            insert(RejectedRecord),
            [
                {
                    "batch_id": batch_id,
                    "position": r.position,
                    # An ID too long for its column is kept in the raw input only.
                    "source_id": None
                    if r.source_id is not None and len(r.source_id) > MAX_SOURCE_ID
                    else _storable_text(r.source_id),
                    "errors": r.errors,
                    "raw": _storable_text(r.raw),
                }
                for r in rejections
            ],
        )
    return [RecordOutcome(r.source_id, "rejected", r.position, errors=r.errors) for r in rejections]


def open_batch(
    session: Session,
    source: SourceSystem,
    entity_type: EntityType | str,
    origin: str,
    actor: str,
    *,
    interrupt_running: bool = True,
) -> IngestBatch:
    """Start a batch record; loads of the same origin left running are marked interrupted.

    A batch that completes in the transaction that opens it (`ingest_batch`) is never seen
    running, so it has none to look for (``interrupt_running=False``).
    """
    entity = EntityType(entity_type).value
    if interrupt_running:
        session.execute(
            update(IngestBatch)
            .where(
                IngestBatch.source_system_id == source.id,
                IngestBatch.entity_type == entity,
                IngestBatch.origin == origin,
                IngestBatch.status == "running",
            )
            .values(status="interrupted")
        )
    batch = IngestBatch(
        source_system_id=source.id,
        entity_type=entity,
        origin=origin[:500],
        submitted_by=actor[:200],
        status="running",
        started_at=utcnow(),
    )
    session.add(batch)
    session.flush()
    return batch


_COUNTS = Prebuilt(lambda _: update(IngestBatch).where(IngestBatch.id == bindparam("batch")))
_INSERT_BATCH = Prebuilt(lambda _: insert(IngestBatch).returning(IngestBatch.id))


def record_counts(
    session: Session, batch_id: int, counts: BatchCounts, status: str | None = None
) -> None:
    """Store a batch's tallies (and, when given, its final status)."""
    values: dict[str, Any] = {
        "read_count": counts.read,
        "new_count": counts.new,
        "changed_count": counts.changed,
        "unchanged_count": counts.unchanged,
        "deleted_count": counts.deleted,
        "rejected_count": counts.rejected,
    }
    if status is not None:
        values["status"] = status
        values["finished_at"] = utcnow()
    # Core, on the columns given: no loaded batch to keep in step (callers hold its ID).
    run(session, _COUNTS, {"batch": batch_id, **values})


def ingest_batch(
    session: Session,
    source: SourceSystem,
    entity_type: EntityType | str,
    items: Sequence[Candidate | Rejection],
    *,
    origin: str,
    actor: str,
) -> tuple[int, list[RecordOutcome]]:
    """Ingest a small batch (the API's) in the caller's transaction; one outcome per item.

    A source ID repeated in the batch is applied in order, each occurrence on the last.
    Returns the batch's ID and the outcomes.
    """
    # The batch completes in the caller's transaction: no one sees it running, and it leaves
    # no load of its origin running for `open_batch` to look for. One insert; its tallies
    # follow below.
    now = utcnow()
    batch_id = run(
        session,
        _INSERT_BATCH,
        {
            "source_system_id": source.id,
            "entity_type": EntityType(entity_type).value,
            "origin": origin[:500],
            "submitted_by": actor[:200],
            "status": "running",
            "started_at": now,
        },
    ).scalar_one()
    outcomes: list[RecordOutcome | None] = [None] * len(items)
    pending: list[tuple[int, Candidate]] = []
    rejected: list[tuple[int, Rejection]] = []

    def flush() -> None:
        results = upsert_records(
            session, source, entity_type, [c for _, c in pending], batch_id=batch_id
        )
        for (index, _), result in zip(pending, results, strict=True):
            outcomes[index] = result
        pending.clear()

    seen: set[str] = set()
    for index, item in enumerate(items):
        if isinstance(item, Rejection):
            rejected.append((index, item))
            continue
        if item.source_id in seen:
            flush()
            seen.clear()
        seen.add(item.source_id)
        pending.append((index, item))
    flush()
    for (index, _), result in zip(
        rejected, reject_records(session, batch_id, [r for _, r in rejected]), strict=True
    ):
        outcomes[index] = result
    final = [o for o in outcomes if o is not None]
    counts = BatchCounts()
    counts.add(final)
    record_counts(session, batch_id, counts, status="completed")
    return batch_id, final


class WaitingRecord(NamedTuple):
    """A stored record as matching takes it (`mdm.linkage.service.match_pending`)."""

    id: int
    code: str
    canonical: dict[str, Any] | None
    deleted_at: datetime | None
    source_id: str
    trust_rank: int
    received_at: datetime
    # Matched before and not deleted since: it may have features to drop and a golden
    # record to leave.
    has_features: bool
    # Its matched version before this match (0: never matched, so in no review task).
    matched_version: int
    # The golden record it is in, and why (None: in none).
    golden_id: int | None
    link_reason: str | None
    # Whether another record is in that golden record too (None: not read).
    shares_golden: bool | None
    # Whether it is in an open review task (None: not read).
    in_review: bool | None = None
    # The version being matched (None: not read; a bulk run reads it, `Standardised`).
    version: int | None = None


class ModelIdentity(NamedTuple):
    """The row of an entity type's active match model, as `mdm.linkage.service` tells it apart."""

    id: int
    version: int
    created_at: datetime


@dataclass(slots=True)
class StoredOne:
    """What `ingest_one` did: the batch, the record's outcome, and the record to match.

    ``waiting`` is the record as matching takes it, already marked matched (the caller matches
    it in the same transaction); None when the caller must look for it (SQLite, or an
    unchanged record, which may still wait from an earlier load). ``newest_model``: the entity
    type's active match model, read in the same round trip (None: none, or not read).
    """

    batch_id: int
    outcome: RecordOutcome
    waiting: WaitingRecord | None
    newest_model: ModelIdentity | None = None


# PostgreSQL: the source systems and the records' current heads, in one read.
_START = Prebuilt(
    lambda _: text(
        "SELECT x.i, s.id AS source_system_id, s.trust_rank, r.id AS record_id, "
        "r.version, r.content_hash, "
        "EXISTS (SELECT 1 FROM match_features f WHERE f.source_record_id = r.id) "
        "AS has_features, r.matched_version, g.golden_id, g.link_reason, "
        "EXISTS (SELECT 1 FROM golden_member o WHERE o.golden_id = g.golden_id "
        "AND o.source_record_id <> r.id) AS shares_golden, "
        "(EXISTS (SELECT 1 FROM match_candidate t WHERE t.left_record_id = r.id "
        "AND t.status = 'open') OR EXISTS (SELECT 1 FROM match_candidate t "
        "WHERE t.right_record_id = r.id AND t.status = 'open')) AS in_review, "
        "m.id AS model_id, m.version AS model_version, m.created_at AS model_created_at "
        "FROM unnest(CAST(:codes AS text[]), CAST(:source_ids AS text[])) "
        "WITH ORDINALITY AS x(code, source_id, i) "
        "JOIN source_system s ON s.code = x.code "
        "LEFT JOIN source_record r ON r.source_system_id = s.id "
        "AND r.entity_type = :entity AND r.source_id = x.source_id "
        "LEFT JOIN golden_member g ON g.source_record_id = r.id "
        # What matching the records next asks first (`mdm.linkage.service.active_model`).
        "LEFT JOIN LATERAL (SELECT id, version, created_at FROM match_model "
        "WHERE entity_type = :entity AND active ORDER BY version DESC LIMIT 1) m ON true "
        "ORDER BY x.i"
    )
)
# Each record's batch (written once with its tallies, `record_counts`' columns: nobody sees it
# before the transaction commits, so it never needs to say it is running), a new record's head
# or a changed one's new state, and its new version, in one statement. The IDs of the batches
# and of new heads are drawn first, so that every row knows the others' (a head names its
# batch, a version its head).
_WRITE = Prebuilt(
    lambda _: text(
        "WITH x AS MATERIALIZED (SELECT x.*, nextval('ingest_batch_id_seq') AS batch_id, "
        "CASE WHEN x.status = 'new' THEN nextval('source_record_id_seq') ELSE x.record_id END "
        "AS rid FROM json_to_recordset(CAST(:rows AS json)) AS x(i integer, system integer, "
        "origin text, actor text, status text, record_id bigint, source_id text, "
        "version integer, hash text, canonical json, raw json)), "
        "b AS (INSERT INTO ingest_batch (id, source_system_id, entity_type, origin, "
        "submitted_by, status, started_at, finished_at, read_count, new_count, changed_count, "
        "unchanged_count, deleted_count, rejected_count) "
        "SELECT batch_id, system, :entity, origin, actor, 'completed', :now, :now, 1, "
        "CAST(status = 'new' AS integer), CAST(status = 'changed' AS integer), "
        "CAST(status = 'unchanged' AS integer), CAST(status = 'deleted' AS integer), 0 FROM x), "
        "h AS (INSERT INTO source_record (id, source_system_id, entity_type, source_id, "
        "version, content_hash, canonical, received_at, last_batch_id, matched_version) "
        "SELECT rid, system, :entity, source_id, 1, hash, CAST(canonical AS jsonb), :now, "
        "batch_id, CASE WHEN :matched THEN 1 ELSE 0 END FROM x WHERE status = 'new'), "
        "u AS (UPDATE source_record r SET version = x.version, content_hash = x.hash, "
        "canonical = CASE WHEN x.status = 'deleted' THEN r.canonical "
        "ELSE CAST(x.canonical AS jsonb) END, received_at = :now, last_batch_id = x.batch_id, "
        "deleted_at = CASE WHEN x.status = 'deleted' THEN CAST(:now AS timestamptz) END, "
        "matched_version = CASE WHEN :matched THEN x.version ELSE r.matched_version END "
        "FROM x WHERE x.status IN ('changed', 'deleted') AND r.id = x.rid), "
        "v AS (INSERT INTO source_record_version (source_record_id, version, content_hash, "
        "raw, canonical, deleted, received_at, batch_id) "
        "SELECT rid, version, hash, raw, canonical, status = 'deleted', :now, batch_id "
        "FROM x WHERE status <> 'unchanged') "
        "SELECT i, rid, batch_id FROM x ORDER BY i"
    )
)


@dataclass(frozen=True, slots=True)
class SentOne:
    """A record sent on its own (an API request's), for `ingest_many`."""

    source: str
    candidate: Candidate
    origin: str
    actor: str


def _fragment(value: JsonText | None) -> orjson.Fragment | None:
    """JSON text, to go into a JSON document as itself (not as a string holding it)."""
    return None if value is None else orjson.Fragment(str(value))


def ingest_one(
    session: Session,
    source: str,
    entity_type: EntityType | str,
    candidate: Candidate,
    *,
    origin: str,
    actor: str,
    matched: bool = False,
) -> StoredOne:
    """Ingest one record (an API request's) as a batch of one, in the caller's transaction.

    As `ingest_many` of that one record.

    Raises:
        NotFoundError: no source system has that code.
    """
    (stored,) = ingest_many(
        session, entity_type, [SentOne(source, candidate, origin, actor)], matched=matched
    )
    return stored


def ingest_many(
    session: Session,
    entity_type: EntityType | str,
    sent: Sequence[SentOne],
    *,
    matched: bool = False,
) -> list[StoredOne]:
    """Ingest records sent one by one (API requests'), each as a batch of one.

    In the caller's transaction, in order; the same rows as `ingest_batch` of each record on
    its own. On PostgreSQL in two round trips, whatever the number of records, instead of eight
    per record (looking up the source, opening the batch, reading the head, writing head,
    version and tallies): a request's upsert pays for every statement. The records must be
    different ones (no source and source ID twice). With ``matched`` the caller matches the
    records in this transaction (each is marked matched as it is written, and comes back as
    `StoredOne.waiting`).

    Raises:
        NotFoundError: no source system has the code of one of them.
    """
    entity = EntityType(entity_type).value
    if not is_postgres(session):
        stored = []
        for one in sent:
            system = get_source_system(session, one.source)
            batch_id, (outcome,) = ingest_batch(
                session, system, entity, [one.candidate], origin=one.origin, actor=one.actor
            )
            stored.append(StoredOne(batch_id, outcome, None))
        return stored
    now = utcnow()
    heads = run(
        session,
        _START,
        {
            "codes": [one.source for one in sent],
            "source_ids": [one.candidate.source_id for one in sent],
            "entity": entity,
        },
    ).all()
    if len(heads) < len(sent):
        known = {head.i for head in heads}
        for i, one in enumerate(sent, start=1):
            if i not in known:
                get_source_system(session, one.source)  # names the known ones
        raise AssertionError("unreachable: the source systems exist")  # pragma: no cover
    outcomes = [
        _outcome(
            one.candidate,
            None if head.record_id is None else (head.record_id, head.version, head.content_hash),
        )
        for one, head in zip(sent, heads, strict=True)
    ]
    rows = [
        {
            "i": i,
            "system": head.source_system_id,
            "origin": one.origin[:500],
            "actor": one.actor[:200],
            "status": outcome.status,
            "record_id": head.record_id,
            "source_id": one.candidate.source_id,
            "version": outcome.version,
            "hash": one.candidate.content_hash,
            "canonical": _fragment(one.candidate.canonical_json),
            "raw": _fragment(one.candidate.raw_json),
        }
        for i, (one, head, outcome) in enumerate(zip(sent, heads, outcomes, strict=True), start=1)
    ]
    written = run(
        session,
        _WRITE,
        {"rows": orjson.dumps(rows).decode(), "entity": entity, "now": now, "matched": matched},
    ).all()
    first = heads[0]
    model = (
        None
        if first.model_id is None
        else ModelIdentity(first.model_id, first.model_version, first.model_created_at)
    )
    stored = []
    for one, head, outcome, row in zip(sent, heads, outcomes, written, strict=True):
        if outcome.status == "new":
            outcome.record_id = row.rid
        waiting = (
            WaitingRecord(
                outcome.record_id,  # type: ignore[arg-type]  # stored: not unchanged
                one.source,
                # As stored and read back (the same JSON), not the dictionary it was encoded
                # from.
                None
                if one.candidate.canonical_json is None
                else orjson.loads(str(one.candidate.canonical_json)),
                now if one.candidate.deleted else None,
                one.candidate.source_id,
                head.trust_rank,
                now,
                bool(head.has_features),
                head.matched_version or 0,
                head.golden_id,
                head.link_reason,
                bool(head.shares_golden),
                bool(head.in_review),
            )
            if matched and outcome.status != "unchanged"
            else None
        )
        stored.append(StoredOne(row.batch_id, outcome, waiting, model))
    return stored


ProgressCallback = Callable[[int], object]

# Reading, mapping and validating are the CPU-bound part of a load; worker processes do them
# in parallel while the parent cuts the file into blocks of whole records (undecoded lines,
# cheap to send) and writes to the database. Each worker compiles the mapping once; results
# come back with their JSON already encoded.
_WORKER_MAPPING: CompiledEntityMapping | None = None
_WORKER_FORMAT: tuple[str, str] = (",", "utf-8")
WORKER_BATCH = 1000


def _init_worker(mapping: SourceMapping, entity: EntityType) -> None:
    global _WORKER_MAPPING, _WORKER_FORMAT  # noqa: PLW0603 - one compiled mapping per worker
    _WORKER_MAPPING = compile_entity(mapping, entity)
    spec = mapping.entities[entity]
    _WORKER_FORMAT = (spec.delimiter, spec.encoding)


def _prepare_block(block: RowBlock) -> tuple[list[Candidate | Rejection], list[str]]:
    assert _WORKER_MAPPING is not None  # set by _init_worker
    rows = parse_block(block, *_WORKER_FORMAT)
    warnings = [w for row in rows for w in row.warnings]
    prepared = prepare_rows(_WORKER_MAPPING, rows)
    return [item.lighten() if isinstance(item, Candidate) else item for item in prepared], warnings


def prepare_in_workers(
    mapping: SourceMapping,
    entity: EntityType,
    blocks: Iterable[RowBlock],
    workers: int,
    note: Callable[[list[str]], object],
) -> Iterator[Candidate | Rejection]:
    """Read, map and validate blocks in worker processes, yielding results in file order.

    ``note`` is given each block's decoding warnings.
    """
    context = multiprocessing.get_context("fork" if sys.platform != "win32" else "spawn")
    in_flight: deque[AsyncResult[tuple[list[Candidate | Rejection], list[str]]]] = deque()

    def done() -> list[Candidate | Rejection]:
        items, noted = in_flight.popleft().get()
        if noted:
            note(noted)
        return items

    with context.Pool(workers, initializer=_init_worker, initargs=(mapping, entity)) as pool:
        for block in blocks:
            in_flight.append(pool.apply_async(_prepare_block, (block,)))
            # A bounded pipeline keeps memory flat however large the file is.
            while len(in_flight) > workers * 3:
                yield from done()
        while in_flight:
            yield from done()


class _ChunkWriter:
    """Writes a file load's chunks in a thread of its own, one at a time and in order.

    The caller reads and prepares the next chunk meanwhile: the database's work (and the
    driver's waits, which release the interpreter lock) overlaps the parent's. At most one
    chunk waits, so memory stays bounded. The first error stops the writing; `submit` and
    `close` raise it in the caller's thread.
    """

    def __init__(self, write: Callable[[list[Candidate], list[Rejection]], None]) -> None:
        self._write = write
        self._queue: queue.Queue[tuple[list[Candidate], list[Rejection]] | None] = queue.Queue(
            maxsize=1
        )
        self._error: BaseException | None = None
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="ingest-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (job := self._queue.get()) is not None:
            if self._error is None and not self._stopped:
                try:
                    self._write(*job)
                except BaseException as exc:  # raised again in the caller
                    self._error = exc

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def submit(self, candidates: list[Candidate], rejections: list[Rejection]) -> None:
        """Queue a chunk (waits while one is queued); raises the writer's error, if any."""
        self._raise()
        self._queue.put((candidates, rejections))

    def close(self) -> None:
        """Wait until every queued chunk is written; raises the writer's error, if any."""
        self._queue.put(None)
        self._thread.join()
        self._raise()

    def stop(self) -> None:
        """Write nothing more (a chunk being written finishes, a queued one is dropped)."""
        self._stopped = True
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()


# A file load that wrote this many records, and grew the table by at least GROWTH_TO_REFRESH
# of what the planner thought it held, refreshes the planner's statistics of source records.
REFRESH_STATISTICS_FROM = 10_000
GROWTH_TO_REFRESH = 0.5


@dataclass(slots=True)
class FileIngestResult:
    """The outcome of loading a file."""

    batch_id: int
    counts: BatchCounts
    rejections: list[RecordOutcome]
    warnings: list[str]


def ingest_file(
    uow: UnitOfWork,
    mapping: SourceMapping,
    entity_type: EntityType | str,
    path: Path,
    *,
    actor: str = "cli",
    chunk_size: int = 5000,
    progress: ProgressCallback | None = None,
    keep_rejections: int = 100,
    workers: int = 1,
) -> FileIngestResult:
    """Stream a CSV or JSON-lines file into the hub, committing once per chunk.

    Memory stays flat: only one chunk (and, with ``workers`` > 1, a bounded number of row
    batches in flight) is held at a time. The first ``keep_rejections`` rejections are
    returned for display; all are stored in ``rejected_record``.
    """
    entity = EntityType(entity_type)
    compiled = compile_entity(mapping, entity)
    spec = mapping.entities[entity]
    fmt = detect_format(path, spec.format)
    with uow.begin() as session:
        source = get_source_system(session, mapping.source.code)
        batch = open_batch(session, source, entity, str(path), actor)
        batch_id, source_id = batch.id, source.id
        planned_for = planner_rows(session, "source_record")
        # The source's first load (nothing of it stored yet): each key is new unless the
        # file repeats it, so chunks are written without looking their keys up first.
        first_load = not has_records(session, source.id, entity)
    counts = BatchCounts()
    shown: list[RecordOutcome] = []
    warnings: list[str] = []

    def note(noted: list[str]) -> None:
        warnings.extend(noted[: keep_rejections - len(warnings)])

    def tracked_rows() -> Iterator[SourceRow]:
        for row in read_file(path, fmt, spec.delimiter, spec.encoding):
            if row.warnings:
                note(row.warnings)
            yield row

    def blocks() -> Iterator[RowBlock]:
        with path.open("rb") as handle:
            yield from read_blocks(
                handle, fmt, spec.delimiter, spec.encoding, lines_per_block=WORKER_BATCH
            )

    candidates: list[Candidate] = []
    rejections: list[Rejection] = []
    seen: set[str] = set()

    def write_chunk(
        chunk: list[Candidate], rejected: list[Rejection], assume_new: bool
    ) -> list[RecordOutcome]:
        with uow.begin() as session:
            system = session.get_one(SourceSystem, source_id)
            outcomes = upsert_records(
                session, system, entity, chunk, batch_id=batch_id, assume_new=assume_new
            )
            outcomes += reject_records(session, batch_id, rejected)
            tally = replace(counts)
            tally.add(outcomes)
            record_counts(session, batch_id, tally)
        counts.add(outcomes)
        return outcomes

    def write(chunk: list[Candidate], rejected: list[Rejection]) -> None:
        nonlocal first_load
        try:
            outcomes = write_chunk(chunk, rejected, first_load)
        except IntegrityError:
            if not first_load:
                raise
            # A key of this chunk exists after all: repeated from an earlier chunk of the
            # file, or written by another load meanwhile. Look keys up from here on.
            first_load = False
            outcomes = write_chunk(chunk, rejected, first_load)
        room = keep_rejections - len(shown)
        if room > 0:
            shown.extend([o for o in outcomes if o.status == "rejected"][:room])
        if progress is not None:
            progress(len(outcomes))

    writer = _ChunkWriter(write)

    def flush() -> None:
        nonlocal candidates, rejections
        writer.submit(candidates, rejections)
        candidates, rejections = [], []
        seen.clear()

    items = (
        prepare_in_workers(mapping, entity, blocks(), workers, note)
        if workers > 1
        else prepare_rows(compiled, tracked_rows())
    )
    try:
        for item in items:
            if isinstance(item, Rejection):
                rejections.append(item)
            else:
                if item.source_id in seen:
                    # A repeat of a key within the chunk becomes its next version (the writer
                    # writes the chunks one after the other, in order).
                    flush()
                seen.add(item.source_id)
                candidates.append(item)
            if len(candidates) + len(rejections) >= chunk_size:
                flush()
        flush()
        writer.close()
    except BaseException:
        writer.stop()
        with uow.begin() as session:
            record_counts(session, batch_id, counts, status="failed")
        raise
    with uow.begin() as session:
        record_counts(session, batch_id, counts, status="completed")
        written = counts.new + counts.changed
        if written >= max(REFRESH_STATISTICS_FROM, GROWTH_TO_REFRESH * planned_for):
            # The match stage that follows reads source records by plans made from their
            # statistics. Each refresh reads a sample of the table (0.4 s at 200,000 rows), so
            # a load of many files refreshes as the table grows, not after every file; the
            # history of versions is only ever read by key, whatever the statistics say.
            refresh_statistics(session, ("source_record",))
    return FileIngestResult(batch_id, counts, shown, warnings)
