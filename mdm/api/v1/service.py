"""What each v1 endpoint does, free of HTTP: one unit of work per call, schemas out.

Views call these functions and only shape the response. Writes run in one transaction
(`UnitOfWork.begin`), so a record, its match, the golden records it changes, their audit
entries and outbox events commit together or not at all; reads use a plain session.

Changes that state a version check it here first and raise `VersionMismatchError` (412) when
it is stale; the steward services then compare-and-set that version as their first write, so
a change that loses a race with another one still gets a `ConflictError` (409), never a
half-applied change.

Reads take the caller's ``partner`` source (None for clients bound to no source): a partner
sees only the golden records that carry one of its own records, and anything else answers
exactly as a golden record or source record that does not exist.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread
import orjson
from sqlalchemy import BigInteger, bindparam, literal, or_, select, union_all
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mdm.api.coalesce import Coalescer
from mdm.api.metrics import ApiMetrics
from mdm.api.v1.schemas import (
    BatchItemRead,
    BatchRead,
    EventRead,
    FeedPage,
    FieldErrorRead,
    GoldenPage,
    GoldenRead,
    GoldenSummaryRead,
    RecordRead,
    ReviewDecisionRead,
    ReviewPage,
    ReviewRecordRead,
    ReviewTaskRead,
    TokenRead,
    UnmergeRead,
    XrefEntryRead,
    XrefRead,
)
from mdm.audit import service as audit
from mdm.canonical.models import MAX_SOURCE_ID, EntityType
from mdm.canonical.storable import unstorable_fields
from mdm.clients.scopes import split_scopes
from mdm.clients.service import authenticate_client, grant_scopes, mint_token, shared_with
from mdm.database import Prebuilt, UnitOfWork, hold_deferred, id_in, run
from mdm.errors import (
    BatchTooLargeError,
    ConflictError,
    InvalidClientError,
    InvalidInputError,
    NotFoundError,
    OAuthError,
    PreconditionRequiredError,
    VersionMismatchError,
)
from mdm.golden.lookup import GoldenView, golden_by_id, golden_by_source
from mdm.golden.models import GoldenMember, GoldenRecord
from mdm.golden.service import golden_ids_of
from mdm.ingest.service import (
    Candidate,
    RecordOutcome,
    Rejection,
    SentOne,
    StoredOne,
    ingest_batch,
    ingest_many,
    ingest_one,
)
from mdm.linkage.service import MatchSummary, match_pending
from mdm.mapping.service import validate_canonical
from mdm.outbox import service as outbox
from mdm.outbox.service import (
    EVENT_TYPES,
    ChangeContext,
    Event,
    event_as_dict,
    newest_seq,
    read_feed,
)
from mdm.settings import Settings
from mdm.sources.models import SourceRecord, SourceSystem
from mdm.sources.service import get_source_system
from mdm.stewardship import service as stewardship
from mdm.stewardship.models import MatchCandidate

FEED_POLL_SECONDS = 0.5
# What `encode_cursor` encodes: "g" and a golden ID (ASCII digits, no more than a BIGINT has).
_CURSOR = re.compile(r"g([0-9]{1,18})")


def _too_long(source_id: str) -> list[dict[str, str]]:
    if len(source_id) <= MAX_SOURCE_ID:
        return []
    return [{"field": "source_id", "message": f"at most {MAX_SOURCE_ID} characters"}]


def _check_record(entity: EntityType, source_id: str, body: Mapping[str, Any]) -> None:
    """`InvalidInputError` for a record the database cannot hold (the URL's ID, or its body)."""
    if errors := _too_long(source_id) + unstorable_fields(body):
        raise InvalidInputError(f"the {entity.value} record is invalid", errors)


# --- source records -----------------------------------------------------------------------


@contextmanager
def _ingesting(uow: UnitOfWork) -> Iterator[Session]:
    """A write transaction for source records; a concurrent write of the same key is a 409."""
    try:
        with uow.begin() as session:
            yield session
    except IntegrityError as exc:
        # Two requests created the same (source, entity, source ID) at once: the loser's
        # whole transaction rolled back, and sending it again finds the record.
        raise ConflictError(
            "another request wrote the same record at the same time; send it again"
        ) from exc


def _origin(ctx: ChangeContext) -> str:
    return f"api:{ctx.correlation_id or 'untraced'}"


def _place_statement(record: Any) -> Any:
    """The record's golden record ("golden") and its open review tasks ("task"), in one read."""
    return union_all(
        select(literal("golden").label("kind"), GoldenMember.golden_id.label("id")).where(
            GoldenMember.source_record_id == record
        ),
        select(literal("task"), MatchCandidate.id).where(
            MatchCandidate.status == "open",
            or_(MatchCandidate.left_record_id == record, MatchCandidate.right_record_id == record),
        ),
    )


_PLACE = Prebuilt(lambda _: _place_statement(bindparam("record", type_=BigInteger())))


def _record_read(
    session: Session, source: str, entity: EntityType, outcome: RecordOutcome
) -> RecordRead:
    record_id = outcome.record_id
    golden_id: int | None = None
    tasks: list[int] = []
    if record_id is not None:
        for kind, found in run(session, _PLACE, {"record": record_id}):
            if kind == "golden":
                golden_id = int(found)
            else:
                tasks.append(int(found))
    return _record_answer(source, entity, outcome, golden_id, sorted(tasks))


def _record_answer(
    source: str, entity: EntityType, outcome: RecordOutcome, golden_id: int | None, tasks: list[int]
) -> RecordRead:
    return RecordRead(
        source=source,
        entity_type=entity.value,
        source_id=outcome.source_id or "",
        status=outcome.status,
        version=outcome.version,
        golden_id=golden_id,
        in_review=bool(tasks),
        review_task_ids=tasks,
    )


@dataclass(frozen=True, slots=True)
class RecordPut:
    """A valid ``PUT`` of one record (`check_put`), to be stored and matched (`put_records`)."""

    ctx: ChangeContext
    source: str
    source_id: str
    canonical: Any
    raw: dict[str, Any]


def check_put(
    uow: UnitOfWork,
    ctx: ChangeContext,
    source: str,
    entity: EntityType,
    source_id: str,
    body: Mapping[str, Any],
) -> RecordPut:
    """The ``PUT`` of a record, validated; `InvalidInputError` names every failing field.

    The body may omit ``source_id``; when present it must equal the one in the URL. An
    unknown source answers 404 before the body's errors.
    """
    _check_record(entity, source_id, body)
    given = body.get("source_id")
    if given is not None and str(given) != source_id:
        raise InvalidInputError(
            "the body's source_id differs from the URL's",
            [{"field": "source_id", "message": f"must be '{source_id}' (as in the URL) or absent"}],
        )
    # The URL's source ID is part of what was sent: with or without it in the body, the same
    # record hashes the same, so a repeated PUT is idempotent.
    raw = {**body, "source_id": source_id}
    mapped = validate_canonical(entity, raw)
    if not mapped.ok:
        with uow.session() as session:
            get_source_system(session, source)  # an unknown source is the first error
        raise InvalidInputError(
            f"the {entity.value} record is invalid", [e.as_dict() for e in mapped.errors]
        )
    return RecordPut(ctx, source, source_id, mapped.canonical, raw)


def put_record(
    uow: UnitOfWork,
    ctx: ChangeContext,
    source: str,
    entity: EntityType,
    source_id: str,
    body: Mapping[str, Any],
    *,
    writes: Coalescer[RecordPut, RecordRead],
) -> RecordRead:
    """Store one canonical record (idempotently) and match it, in one transaction.

    The transaction is shared with the other records sent to this process at the same time
    (``writes`` runs `put_records`); the answer is the one the record would have had alone.
    """
    put = check_put(uow, ctx, source, entity, source_id, body)
    return writes.submit(entity, (source, source_id), put)


def put_records(
    uow: UnitOfWork, entity: EntityType, puts: Sequence[RecordPut], *, metrics: ApiMetrics
) -> list[RecordRead | Exception]:
    """Store and match the ``PUT``s of several different records (of any sources) together.

    In one transaction. Each gets the answer, or the error, it would have had alone: the
    records are stored one after the other, as if sent one after the other, then matched
    together (among each other too). When the transaction fails, each record is sent again
    in a transaction of its own, so one record's error (an unknown source, a conflict) is only
    its own. Audit entries and events are stamped with the request whose record the changed
    golden record holds, or held before (`_attribute`); one that holds several requests'
    records, with the first's.
    """
    try:
        with _ingesting(uow) as session:
            hold_deferred(session)
            sent = [
                SentOne(
                    put.source,
                    Candidate(put.source_id, put.canonical, put.raw),
                    _origin(put.ctx),
                    put.ctx.actor,
                )
                for put in puts
            ]
            stored = ingest_many(session, entity, sent, matched=True)
            together = len(puts) > 1
            # Where the records were: as `ingest_many` read them (PostgreSQL), or read now.
            known = {o.waiting.id: o.waiting.golden_id for o in stored if o.waiting is not None}
            before = _placements(session, stored, known) if together else {}
            claimed, looked_for = _match_stored(session, entity, puts[0].ctx, stored)
            answers = [
                _answer_from_match(put.source, entity, one, claimed)
                or _record_read(session, put.source, entity, one.outcome)
                for put, one in zip(puts, stored, strict=True)
            ]
            if together:
                after = _placements(session, stored, (claimed and claimed.placed) or {})
                _attribute(session, puts, stored, before, after)
    except Exception as exc:
        if len(puts) == 1:
            return [exc]
        return [
            answer for put in puts for answer in put_records(uow, entity, [put], metrics=metrics)
        ]
    for i, (put, one) in enumerate(zip(puts, stored, strict=True)):
        # The match runs are the batch's: counted once, with the first record.
        _observe(
            metrics, put.source, entity, [one.outcome], (claimed, looked_for) if i == 0 else ()
        )
    return list(answers)


_PLACEMENTS = Prebuilt(
    lambda ids_in: select(GoldenMember.source_record_id, GoldenMember.golden_id).where(
        ids_in(GoldenMember.source_record_id, "ids")
    )
)


def _placements(
    session: Session, stored: Sequence[StoredOne], known: Mapping[int, int | None]
) -> dict[int, int]:
    """The golden record each stored record belongs to: as ``known`` says, else as read."""
    placed = {record: golden for record, golden in known.items() if golden is not None}
    unknown = [
        record
        for one in stored
        if (record := one.outcome.record_id) is not None and record not in known
    ]
    if unknown:
        placed.update((int(r), int(g)) for r, g in run(session, _PLACEMENTS, {"ids": unknown}))
    return placed


def _attribute(
    session: Session,
    puts: Sequence[RecordPut],
    stored: Sequence[StoredOne],
    before: Mapping[int, int],
    after: Mapping[int, int],
) -> None:
    """Stamp each queued audit entry and event with the request whose change it records.

    An event that names a source record (a link, a review task) belongs to the request that
    sent it; a golden record's other entries and events to the first request whose record it
    holds now or held before this transaction. Anything else keeps the first request's
    context, which the whole transaction ran under.
    """
    by_golden: dict[int, ChangeContext] = {}
    by_record: dict[int, ChangeContext] = {}
    for put, one in zip(puts, stored, strict=True):
        record_id = one.outcome.record_id
        if record_id is None:
            continue
        by_record.setdefault(record_id, put.ctx)
        for placed in (after, before):
            if record_id in placed:
                by_golden.setdefault(placed[record_id], put.ctx)

    def of_event(event: Event) -> ChangeContext | None:
        for name in ("source_record_id", "left_record_id", "right_record_id"):
            record_id = event.payload.get(name)
            if record_id in by_record:
                return by_record[record_id]
        return by_golden.get(event.golden_id or 0)

    outbox.reattribute(session, of_event)
    audit.reattribute(session, lambda golden_id: by_golden.get(golden_id or 0))


def _answer_from_match(
    source: str, entity: EntityType, stored: StoredOne, matched: MatchSummary | None
) -> RecordRead | None:
    """The answer as the match left it, for a record in no open review task before (else None).

    A record never matched before, or one whose first read found it in no open task: its open
    tasks are those the match opened, and its golden record the one the match placed it in.
    """
    outcome, waiting = stored.outcome, stored.waiting
    if waiting is None or matched is None or matched.placed is None:
        return None
    if waiting.matched_version and waiting.in_review is not False:
        return None
    golden_id = matched.placed.get(waiting.id)
    if golden_id is None:
        return None
    tasks = sorted((matched.opened or {}).get(waiting.id, []))
    return _record_answer(source, entity, outcome, golden_id, tasks)


def _match_stored(
    session: Session, entity: EntityType, ctx: ChangeContext, stored: Sequence[StoredOne]
) -> tuple[MatchSummary | None, MatchSummary | None]:
    """Match the records `ingest_many` stored; what each of the two runs did (None: not run).

    The first run matches the records that came back as they are (`StoredOne.waiting`), the
    second looks for the others.
    """
    waiting = [one.waiting for one in stored if one.waiting is not None]
    others = _ids([one.outcome for one in stored if one.waiting is None])
    newest = next((one.newest_model for one in stored if one.newest_model is not None), None)
    claimed = (
        match_pending(session, entity.value, ctx, claimed=waiting, newest_model=newest)
        if waiting
        else None
    )
    looked_for = (
        match_pending(session, entity.value, ctx, record_ids=others, newest_model=newest)
        if others
        else None
    )
    return claimed, looked_for


def _observe(
    metrics: ApiMetrics,
    source: str,
    entity: EntityType,
    outcomes: Sequence[RecordOutcome],
    summaries: Sequence[MatchSummary | None],
) -> None:
    """Count a source's ingest outcomes and what the match runs did (None: not run).

    Called once the transaction has committed: a rolled-back request changed nothing.
    """
    metrics.observe_ingest(source, entity.value, [o.status for o in outcomes])
    for summary in summaries:
        if summary is not None:
            metrics.observe_match(summary)


def _ids(outcomes: Sequence[RecordOutcome]) -> list[int]:
    return [o.record_id for o in outcomes if o.record_id is not None]


def delete_record(
    uow: UnitOfWork,
    ctx: ChangeContext,
    source: str,
    entity: EntityType,
    source_id: str,
    *,
    metrics: ApiMetrics,
) -> RecordRead:
    """Tombstone a source record and match (it leaves its golden record) in one transaction."""
    with _ingesting(uow) as session:
        stored = ingest_one(
            session,
            source,
            entity,
            Candidate(source_id, None, None, deleted=True),
            origin=_origin(ctx),
            actor=ctx.actor,
            matched=True,
        )
        outcome = stored.outcome
        if outcome.record_id is None:
            raise NotFoundError(f"{source} has sent no {entity.value} '{source_id}'")
        summaries = _match_stored(session, entity, ctx, [stored])
        read = _record_read(session, source, entity, outcome)
    _observe(metrics, source, entity, [outcome], summaries)
    return read


def _batch_item(
    entity: EntityType, record: Mapping[str, Any], position: int
) -> Candidate | Rejection:
    """A record of a batch as the ingest takes it: valid, or rejected with every reason."""
    # Validation covers what the database cannot store too (mdm.canonical.storable).
    mapped = validate_canonical(entity, record)
    if mapped.ok:
        assert mapped.source_id is not None  # ok implies a source ID
        return Candidate(mapped.source_id, mapped.canonical, dict(record), position)
    errors = [e.as_dict() for e in mapped.errors]
    return Rejection(errors, _raw_text(record), position, _kept_source_id(record.get("source_id")))


def _raw_text(record: Mapping[str, Any]) -> str:
    try:
        return orjson.dumps(record).decode()
    except TypeError:  # orjson refuses integers beyond 64 bits; they are the reason
        return json.dumps(record, ensure_ascii=False)


def _kept_source_id(value: object) -> str | None:
    """A rejected record's source ID, kept with it when its column can hold it."""
    text = "" if value is None else str(value)
    if not text.strip() or len(text) > MAX_SOURCE_ID or "\x00" in text:
        return None
    return text


def ingest_records(
    uow: UnitOfWork,
    ctx: ChangeContext,
    source: str,
    entity: EntityType,
    records: Sequence[Mapping[str, Any]],
    max_records: int,
    *,
    metrics: ApiMetrics,
) -> BatchRead:
    """Store and match a batch: valid records land, invalid ones are kept with their reasons."""
    if len(records) > max_records:
        raise BatchTooLargeError(
            f"a batch holds at most {max_records} records, this one {len(records)}; split it",
            [{"field": "records", "message": f"at most {max_records} records"}],
        )
    if not records:
        raise InvalidInputError(
            "the batch is empty", [{"field": "records", "message": "at least one record"}]
        )
    items = [_batch_item(entity, record, position) for position, record in enumerate(records)]
    with _ingesting(uow) as session:
        system = get_source_system(session, source)
        batch_id, outcomes = ingest_batch(
            session, system, entity, items, origin=_origin(ctx), actor=ctx.actor
        )
        matched = match_pending(session, entity.value, ctx, record_ids=_ids(outcomes))
        goldens = golden_ids_of(session, [o.record_id for o in outcomes if o.record_id])
    _observe(metrics, source, entity, outcomes, [matched])
    results = [
        BatchItemRead(
            position=o.position if o.position is not None else i,
            source_id=o.source_id,
            status=o.status,
            version=o.version,
            golden_id=goldens.get(o.record_id) if o.record_id else None,
            errors=[FieldErrorRead(**e) for e in o.errors],
        )
        for i, o in enumerate(outcomes)
    ]
    return BatchRead(
        batch_id=batch_id,
        accepted=sum(r.status in {"new", "changed"} for r in results),
        unchanged=sum(r.status == "unchanged" for r in results),
        rejected=sum(r.status == "rejected" for r in results),
        results=results,
    )


# --- golden records and the cross-reference -----------------------------------------------


def _summary(golden: GoldenRecord) -> dict[str, Any]:
    return {
        "golden_id": golden.id,
        "entity_type": golden.entity_type,
        "status": golden.status,
        "version": golden.version,
        "merged_into": golden.merged_into_id,
        "attributes": golden.attributes or {},
        "updated_at": golden.updated_at,
    }


def _read_of(view: GoldenView) -> GoldenRead:
    return GoldenRead(
        golden_id=view.golden_id,
        entity_type=view.entity_type,
        status=view.status,
        version=view.version,
        merged_into=view.merged_into_id,
        attributes=view.attributes,
        updated_at=view.updated_at,
        provenance=view.provenance,
        xref=[
            XrefEntryRead(
                source=x.source,
                source_id=x.source_id,
                link_reason=x.link_reason,
                linked_at=x.linked_at,
            )
            for x in view.xref
        ],
        redirected_from=view.redirected_from,
    )


def _golden_read(session: Session, golden: GoldenRecord) -> GoldenRead:
    """A golden record the session has just changed, as the API answers it."""
    session.flush()
    view = golden_by_id(session.connection(), golden.id)
    assert view is not None  # the session holds it
    return _read_of(view)


def _is_shared(connection: Connection, golden_id: int, partner: str) -> bool:
    return (
        connection.scalar(
            select(GoldenRecord.id).where(GoldenRecord.id == golden_id, shared_with(partner))
        )
        is not None
    )


def read_golden(uow: UnitOfWork, golden_id: int, *, partner: str | None) -> GoldenRead:
    """A golden record with provenance and cross-reference, following merge redirects."""
    with uow.reading() as connection:
        view = golden_by_id(connection, golden_id)
        # A partner's miss reads word for word as an ID that does not exist.
        if view is None or (
            partner is not None and not _is_shared(connection, view.golden_id, partner)
        ):
            raise NotFoundError(f"golden record {golden_id} does not exist")
    return _read_of(view)


def encode_cursor(golden_id: int) -> str:
    """An opaque cursor for the page after a golden ID.

    >>> decode_cursor(encode_cursor(42))
    42
    """
    return base64.urlsafe_b64encode(f"g{golden_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The golden ID a cursor continues after; `InvalidInputError` for a foreign cursor."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except ValueError:  # not ASCII, not base64 (binascii.Error), not UTF-8 underneath
        text = ""
    if (issued := _CURSOR.fullmatch(text)) is not None:
        return int(issued.group(1))
    raise InvalidInputError(
        "the cursor is not one this API issued",
        [{"field": "after", "message": "pass the 'next' value of the previous page"}],
    )


def list_goldens(
    uow: UnitOfWork,
    *,
    entity_type: EntityType | None,
    status: str | None,
    after: str | None,
    limit: int,
    partner: str | None,
) -> GoldenPage:
    """A page of golden records in ID order (keyset pagination: stable under inserts)."""
    query = select(GoldenRecord).order_by(GoldenRecord.id).limit(limit + 1)
    if partner is not None:
        query = query.where(shared_with(partner))
    if after:
        query = query.where(GoldenRecord.id > decode_cursor(after))
    if entity_type is not None:
        query = query.where(GoldenRecord.entity_type == entity_type.value)
    if status is not None:
        query = query.where(GoldenRecord.status == status)
    with uow.session() as session:
        rows = list(session.scalars(query))
    page = rows[:limit]
    return GoldenPage(
        items=[GoldenSummaryRead(**_summary(g)) for g in page],
        next=encode_cursor(page[-1].id) if len(rows) > limit else None,
    )


def lookup_xref(
    uow: UnitOfWork, source: str, entity: EntityType, source_id: str, *, partner: str | None
) -> XrefRead:
    """A source record's golden record and every other system's ID for it.

    For a partner every miss reads alike (what `golden_of_source` says of an unknown record),
    whether the source, the record or the partner's share of its golden record is missing.
    """
    missing = NotFoundError(f"no golden {entity.value} for {source} record '{source_id}'")
    with uow.reading() as connection:
        view = golden_by_source(connection, source, entity.value, source_id)
        if (
            view is not None
            and partner is not None
            and not _is_shared(connection, view.golden_id, partner)
        ):
            raise missing
    if view is None:
        if partner is not None:
            raise missing
        with uow.session() as session:
            # Says which: an unknown source system (naming the known ones) or record.
            get_source_system(session, source)
        raise missing
    read = _read_of(view)
    return XrefRead(
        source=source,
        entity_type=entity.value,
        source_id=source_id,
        golden=read,
        other_ids=[x for x in read.xref if (x.source, x.source_id) != (source, source_id)],
    )


# --- change feed ----------------------------------------------------------------------------


def _check_event_types(event_types: Sequence[str] | None) -> None:
    unknown = sorted(set(event_types or ()) - set(EVENT_TYPES))
    if unknown:
        raise InvalidInputError(
            f"unknown event types {unknown}",
            [
                {"field": "event_type", "message": f"'{e}' is not one of {', '.join(EVENT_TYPES)}"}
                for e in unknown
            ],
        )


def read_feed_page(
    uow: UnitOfWork,
    *,
    after: int,
    limit: int,
    entity_type: EntityType | None,
    event_types: Sequence[str] | None,
) -> FeedPage:
    """Events after a sequence number, oldest first, with the cursor to resume from."""
    _check_event_types(event_types)
    with uow.session() as session:
        events = read_feed(
            session,
            after=after,
            limit=limit,
            entity_type=entity_type.value if entity_type else None,
            event_types=event_types,
        )
        newest = newest_seq(session)
        reads = [EventRead(**event_as_dict(e)) for e in events]
    return FeedPage(
        events=reads, next_after=reads[-1].seq if reads else after, newest_seq=max(newest, after)
    )


def _newest(uow: UnitOfWork) -> int:
    with uow.session() as session:
        return newest_seq(session)


async def wait_for_feed(
    uow: UnitOfWork,
    *,
    after: int,
    limit: int,
    entity_type: EntityType | None,
    event_types: Sequence[str] | None,
    wait: float,
    poll_seconds: float | None = None,
) -> FeedPage:
    """Like `read_feed_page`, but when nothing is new wait up to ``wait`` seconds for events.

    While waiting it polls the newest sequence number (one index look-up), not the feed,
    every ``poll_seconds`` (default `FEED_POLL_SECONDS`).
    """
    interval = FEED_POLL_SECONDS if poll_seconds is None else poll_seconds
    read = functools.partial(
        read_feed_page,
        uow,
        after=after,
        limit=limit,
        entity_type=entity_type,
        event_types=event_types,
    )
    deadline = anyio.current_time() + wait
    while True:
        page = await anyio.to_thread.run_sync(read)
        if page.events or anyio.current_time() >= deadline:
            return page
        seen = page.newest_seq
        while (left := deadline - anyio.current_time()) > 0:
            await anyio.sleep(min(interval, left))
            if await anyio.to_thread.run_sync(_newest, uow) > seen:
                break


# --- stewardship ----------------------------------------------------------------------------


def _review_records(session: Session, record_ids: Sequence[int]) -> dict[int, ReviewRecordRead]:
    rows = session.execute(
        select(SourceRecord.id, SourceSystem.code, SourceRecord.source_id, SourceRecord.canonical)
        .join(SourceSystem, SourceSystem.id == SourceRecord.source_system_id)
        .where(id_in(SourceRecord.id, record_ids, session))
    ).all()
    goldens = golden_ids_of(session, record_ids)
    return {
        rid: ReviewRecordRead(
            source_record_id=rid,
            source=code,
            source_id=sid,
            golden_id=goldens.get(rid),
            canonical=canonical,
        )
        for rid, code, sid, canonical in rows
    }


def _task_reads(session: Session, tasks: Sequence[MatchCandidate]) -> list[ReviewTaskRead]:
    records = _review_records(
        session, sorted({t.left_record_id for t in tasks} | {t.right_record_id for t in tasks})
    )
    return [
        ReviewTaskRead(
            task_id=t.id,
            entity_type=t.entity_type,
            status=t.status,
            version=t.version,
            probability=t.probability,
            match_weight=t.match_weight,
            priority=t.priority,
            reason=t.reason,
            explanation=t.explanation or {},
            left=records[t.left_record_id],
            right=records[t.right_record_id],
            created_at=t.created_at,
            resolved_at=t.resolved_at,
            resolved_by=t.resolved_by,
            resolution_note=t.resolution_note,
        )
        for t in tasks
    ]


def list_reviews(
    uow: UnitOfWork,
    *,
    status: str,
    entity_type: EntityType | None,
    limit: int,
    offset: int,
) -> ReviewPage:
    """A page of the review queue, most urgent first."""
    with uow.session() as session:
        tasks = stewardship.review_queue(
            session,
            entity_type=entity_type.value if entity_type else None,
            status=status,
            limit=limit,
            offset=offset,
        )
        return ReviewPage(items=_task_reads(session, tasks), limit=limit, offset=offset)


def read_review(uow: UnitOfWork, task_id: int) -> ReviewTaskRead:
    """One review task with both records."""
    with uow.session() as session:
        task = session.get(MatchCandidate, task_id)
        if task is None:
            raise NotFoundError(f"review task {task_id} does not exist")
        return _task_reads(session, [task])[0]


def decide_review(
    uow: UnitOfWork,
    ctx: ChangeContext,
    task_id: int,
    expected_version: int,
    *,
    same: bool,
    note: str,
) -> ReviewDecisionRead:
    """Accept (``same``) or reject a review task at the version the steward saw."""
    with uow.begin() as session:
        task = session.get(MatchCandidate, task_id)
        if task is None:
            raise NotFoundError(f"review task {task_id} does not exist")
        if task.status != "open":
            raise ConflictError(f"review task {task_id} is already {task.status}")
        if task.version != expected_version:
            raise VersionMismatchError(
                f"review task {task_id} is at version {task.version}, not {expected_version}"
            )
        golden_id: int | None = None
        if same:
            golden_id = stewardship.accept(session, task_id, expected_version, ctx, note)
        else:
            stewardship.reject(session, task_id, expected_version, ctx, note)
        session.refresh(task)
        return ReviewDecisionRead(
            task_id=task.id, status=task.status, version=task.version, golden_id=golden_id
        )


def _check_golden(session: Session, golden_id: int, expected_version: int) -> GoldenRecord:
    """The golden record a change names, if it is active and at the version stated."""
    golden = session.get(GoldenRecord, golden_id)
    if golden is None:
        raise NotFoundError(f"golden record {golden_id} does not exist")
    if golden.status == "merged":
        raise ConflictError(
            f"golden record {golden_id} was merged into {golden.merged_into_id}; act on that one"
        )
    if golden.status != "active":
        raise ConflictError(f"golden record {golden_id} is {golden.status}")
    if golden.version != expected_version:
        raise VersionMismatchError(
            f"golden record {golden_id} is at version {golden.version}, not {expected_version}"
        )
    return golden


def override_attribute(
    uow: UnitOfWork,
    ctx: ChangeContext,
    golden_id: int,
    expected_version: int,
    attribute: str,
    value: Any,
    reason: str,
) -> GoldenRead:
    """Pin an attribute of a golden record; it survives recomputation until unpinned."""
    if errors := unstorable_fields(value, "value"):
        raise InvalidInputError("the value cannot be stored", errors)
    with uow.begin() as session:
        _check_golden(session, golden_id, expected_version)
        golden = stewardship.override(
            session, golden_id, attribute, value, expected_version, ctx, reason
        )
        return _golden_read(session, golden)


def unpin_attribute(
    uow: UnitOfWork, ctx: ChangeContext, golden_id: int, expected_version: int, attribute: str
) -> GoldenRead:
    """Remove an override; the attribute goes back to its survivorship rule."""
    with uow.begin() as session:
        _check_golden(session, golden_id, expected_version)
        golden = stewardship.unpin(session, golden_id, attribute, expected_version, ctx)
        return _golden_read(session, golden)


def merge_goldens(
    uow: UnitOfWork,
    ctx: ChangeContext,
    golden_ids: Sequence[int],
    expected_versions: Sequence[int],
    reason: str,
) -> GoldenRead:
    """Merge golden records by hand (one version per ID, in order); returns the survivor."""
    if len(set(golden_ids)) != len(golden_ids):
        raise InvalidInputError(
            "a golden ID is named twice",
            [{"field": "golden_ids", "message": "IDs must be distinct"}],
        )
    if len(expected_versions) != len(golden_ids):
        raise PreconditionRequiredError(
            f"If-Match must list one version per golden ID, in order: "
            f"{len(golden_ids)} IDs, {len(expected_versions)} versions",
            [{"field": "If-Match", "message": f"expected {len(golden_ids)} versions"}],
        )
    versions = dict(zip(golden_ids, expected_versions, strict=True))
    with uow.begin() as session:
        for gid, version in versions.items():
            _check_golden(session, gid, version)
        survivor = stewardship.merge_goldens(session, versions, ctx, reason)
        golden = session.get_one(GoldenRecord, survivor)
        session.refresh(golden)
        return _golden_read(session, golden)


def unmerge_record(
    uow: UnitOfWork,
    ctx: ChangeContext,
    golden_id: int,
    expected_version: int,
    source: str,
    source_id: str,
    reason: str,
) -> UnmergeRead:
    """Split a source record off a golden record; it is never matched back into it."""
    with uow.begin() as session:
        golden = _check_golden(session, golden_id, expected_version)
        system = get_source_system(session, source)
        record_id = session.scalar(
            select(SourceRecord.id).where(
                SourceRecord.source_system_id == system.id,
                SourceRecord.entity_type == golden.entity_type,
                SourceRecord.source_id == source_id,
            )
        )
        if record_id is None:
            raise NotFoundError(f"{source} has sent no {golden.entity_type} '{source_id}'")
        if golden_ids_of(session, [record_id]).get(record_id) != golden_id:
            raise ConflictError(
                f"{source} record '{source_id}' is not in golden record {golden_id}"
            )
        target = stewardship.unmerge(session, record_id, expected_version, ctx, reason)
        session.refresh(golden)
        return UnmergeRead(golden_id=target, unmerged_from=golden_id, version=golden.version)


# --- access tokens --------------------------------------------------------------------------


def issue_token(
    uow: UnitOfWork,
    settings: Settings,
    *,
    grant_type: str | None,
    client_id: str | None,
    client_secret: str | None,
    scope: str | None,
) -> TokenRead:
    """An access token for a client that proves its credentials (OAuth2 client credentials).

    The token carries the requested scopes, or every scope of the client when none are asked
    for; asking for one the client does not hold is ``invalid_scope``.
    """
    if not grant_type:
        raise OAuthError("invalid_request", "grant_type is missing: use client_credentials")
    if grant_type != "client_credentials":
        raise OAuthError(
            "unsupported_grant_type", f"grant_type '{grant_type}': only client_credentials"
        )
    if not client_id or not client_secret:
        raise InvalidClientError(
            "send client_id and client_secret in the form or as HTTP Basic credentials"
        )
    with uow.session() as session:
        client = authenticate_client(session, client_id, client_secret)
        held = list(client.scopes)
    token = mint_token(client_id, grant_scopes(held, split_scopes([scope or ""])), settings)
    return TokenRead(
        access_token=token.token, expires_in=token.expires_in, scope=" ".join(token.scopes)
    )
