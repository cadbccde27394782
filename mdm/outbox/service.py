"""Writing events to the outbox and reading the change feed.

`emit` is called inside the transaction of the change it describes: the change and its events
commit together or not at all. It takes the ``outbox_head`` row lock, so concurrent writers
hand out sequence numbers one after the other and in commit order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from mdm.database import bulk_insert, table_of, utcnow
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


def emit(session: Session, events: Sequence[Event], ctx: ChangeContext) -> list[int]:
    """Write events in order and return their sequence numbers; never commits."""
    if not events:
        return []
    unknown = {e.event_type for e in events} - set(EVENT_TYPES)
    if unknown:
        raise ValueError(f"unknown event types: {sorted(unknown)}")
    n = len(events)
    last = session.execute(
        update(OutboxHead)
        .where(OutboxHead.id == 1)
        .values(last_seq=OutboxHead.last_seq + n)
        .returning(OutboxHead.last_seq)
    ).scalar_one()
    first = last - n + 1
    now = utcnow()
    bulk_insert(
        session,
        table_of(OutboxEvent),
        [
            {
                "seq": first + i,
                "event_type": e.event_type,
                "entity_type": e.entity_type,
                "golden_id": e.golden_id,
                "golden_version": e.golden_version,
                "payload": e.payload,
                "cause": ctx.cause[:100],
                "correlation_id": ctx.correlation_id,
                "occurred_at": now,
            }
            for i, e in enumerate(events)
        ],
    )
    return list(range(first, last + 1))


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
