"""Writing events to the outbox and reading the change feed.

`emit` is called inside the transaction of the change it describes: the change and its events
commit together or not at all. The events wait in the session until just before it commits;
then `write_pending` takes the ``outbox_head`` row lock, numbers them and inserts them. So the
lock is held only from that moment to the commit, not through the whole change (a request
that matches a record for 20 ms does not hold every other writer up for 20 ms), and sequence
numbers follow commit order. Reading the feed through the same session writes its pending
events first, as a query flushes pending rows (`_write_before_reading`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import BigInteger, bindparam, event, func, select, update
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction

from mdm.database import (
    Prebuilt,
    bulk_insert,
    has_deferred,
    insert_rows,
    insert_rows_with,
    is_postgres,
    run,
    table_of,
    take_deferred,
    utcnow,
)
from mdm.outbox.models import OutboxEvent, OutboxHead

EVENT_TYPES = (
    "golden.created",
    "golden.updated",
    "golden.merged",
    "golden.unmerged",
    "golden.retired",
    "xref.linked",
    "xref.unlinked",
    "review.opened",
    "review.resolved",
    "hierarchy.changed",
)


@dataclass(slots=True)
class ChangeContext:
    """Who or what causes a change: stamped on audit entries and events."""

    actor: str = "system"
    cause: str = "system"
    correlation_id: str | None = None


@dataclass(slots=True)
class Event:
    """An event waiting to be written."""

    event_type: str
    entity_type: str
    golden_id: int | None
    golden_version: int | None
    payload: dict[str, Any] = field(default_factory=dict)


# Where a session keeps the events emitted in its transaction and not yet written.
_PENDING = "mdm.outbox.pending"


def emit(session: Session, events: Sequence[Event], ctx: ChangeContext) -> None:
    """Queue events, in order, to be written when the session's transaction commits.

    Never commits. A rolled-back transaction drops them. Call outside a savepoint that may
    roll back on its own (events emitted inside it would outlive it).
    """
    if not events:
        return
    unknown = {e.event_type for e in events} - set(EVENT_TYPES)
    if unknown:
        raise ValueError(f"unknown event types: {sorted(unknown)}")
    session.info.setdefault(_PENDING, []).extend((e, ctx) for e in events)


def reattribute(session: Session, pick: Callable[[Event], ChangeContext | None]) -> None:
    """Give the events queued in this transaction the context ``pick`` names (None: keep it).

    For a transaction that carries several callers' changes (`mdm.api.coalesce`): each event
    is stamped with the caller whose change it is, once the transaction knows which that is.
    """
    pending: list[tuple[Event, ChangeContext]] | None = session.info.get(_PENDING)
    if pending:
        pending[:] = [(event, pick(event) or ctx) for event, ctx in pending]


# Takes the head's row lock until the commit: sequence numbers follow commit order.
_ADVANCE = Prebuilt(
    lambda _: (
        update(OutboxHead)
        .where(OutboxHead.id == 1)
        .values(last_seq=OutboxHead.last_seq + bindparam("n", type_=BigInteger()))
        .returning(OutboxHead.last_seq)
    )
)


# Up to this many events (a request's), PostgreSQL advances the head and stores them in one
# statement; more are COPied after the head's update.
_FEW_EVENTS = 200
# The head's advance, and the events numbered from it (with rows `defer_rows` queued, as
# common table expressions before it: `insert_rows_with`).
_ADVANCE_CTE = (
    "h AS (UPDATE outbox_head SET last_seq = last_seq + :n WHERE id = 1 RETURNING last_seq)"
)
_APPEND = (
    "INSERT INTO outbox_event (seq, event_type, entity_type, golden_id, golden_version, "
    "payload, cause, correlation_id, occurred_at) "
    "SELECT h.last_seq - :n + e.i, e.event_type, e.entity_type, e.golden_id, "
    "e.golden_version, e.payload, e.cause, e.correlation_id, :now "
    "FROM h, json_to_recordset(CAST(:events AS json)) AS e(i bigint, event_type text, "
    "entity_type text, golden_id bigint, golden_version integer, payload json, cause text, "
    "correlation_id text) "
    "RETURNING seq"
)


def write_pending(session: Session) -> list[int]:
    """Write the session's queued events now and return their sequence numbers.

    Runs by itself just before a commit; call it directly only to read the events back in
    the same transaction.
    """
    pending: list[tuple[Event, ChangeContext]] = session.info.pop(_PENDING, [])
    # Rows queued to go in with this statement (audit entries).
    deferred = take_deferred(session)
    if not pending:
        insert_rows(session, *deferred)
        return []
    n = len(pending)
    now = utcnow()
    rows: list[dict[str, Any]] = [
        {
            "i": i,
            "event_type": e.event_type,
            "entity_type": e.entity_type,
            "golden_id": e.golden_id,
            "golden_version": e.golden_version,
            "payload": e.payload,
            "cause": ctx.cause[:100],
            "correlation_id": ctx.correlation_id,
        }
        for i, (e, ctx) in enumerate(pending, start=1)
    ]
    if n <= _FEW_EVENTS and is_postgres(session):
        params = {"n": n, "now": now, "events": orjson.dumps(rows).decode()}
        found = insert_rows_with(
            session, deferred, ctes=(_ADVANCE_CTE,), main=_APPEND, params=params
        )
        last = max(found.scalars())
        return list(range(last - n + 1, last + 1))
    insert_rows(session, *deferred)
    last = run(session, _ADVANCE, {"n": n}).scalar_one()
    first = last - n + 1
    for row in rows:
        row["seq"] = first + row.pop("i") - 1
        row["occurred_at"] = now
    bulk_insert(session, table_of(OutboxEvent), rows)
    return list(range(first, last + 1))


@event.listens_for(Session, "before_commit")
def _write_before_commit(session: Session) -> None:
    if session.info.get(_PENDING) or has_deferred(session):
        # Rows the ORM still holds go first, so that the lock is taken as late as it can be.
        session.flush()
        write_pending(session)


@event.listens_for(Session, "do_orm_execute")
def _write_before_reading(state: ORMExecuteState) -> None:
    # A session reads its own events, as it reads its own unflushed rows: queries whose
    # primary entity is the outbox (its statement's first mapper, a cheap look-up, unlike
    # every mapper of the statement) write the pending events first.
    if state.session.info.get(_PENDING) and state.is_select:
        mapper = state.bind_mapper
        if mapper is not None and mapper.class_ is OutboxEvent:
            write_pending(state.session)


@event.listens_for(Session, "after_transaction_end")
def _drop_on_end(session: Session, transaction: SessionTransaction) -> None:
    # After a commit nothing is pending; after a rollback the events die with the change.
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


def read_feed(
    session: Session,
    *,
    after: int = 0,
    limit: int = 100,
    entity_type: str | None = None,
    event_types: Sequence[str] | None = None,
) -> list[OutboxEvent]:
    """Events after a sequence number, oldest first: the change feed, resumable by cursor."""
    query = select(OutboxEvent).where(OutboxEvent.seq > after)
    if entity_type:
        query = query.where(OutboxEvent.entity_type == entity_type)
    if event_types:
        query = query.where(OutboxEvent.event_type.in_(list(event_types)))
    return list(session.scalars(query.order_by(OutboxEvent.seq).limit(limit)))


def newest_seq(session: Session) -> int:
    """The newest sequence number written (0 when the outbox is empty)."""
    return int(session.scalar(select(func.coalesce(func.max(OutboxEvent.seq), 0))) or 0)


def event_as_dict(event: OutboxEvent) -> dict[str, Any]:
    """An event as a JSON-ready mapping (what the feed API and publishers send)."""
    return {
        "seq": event.seq,
        "event_type": event.event_type,
        "entity_type": event.entity_type,
        "golden_id": event.golden_id,
        "golden_version": event.golden_version,
        "payload": event.payload,
        "cause": event.cause,
        "correlation_id": event.correlation_id,
        "occurred_at": event.occurred_at.isoformat(),
    }
