"""ORM models of the outbox.

Sequence numbers are handed out under a row lock on ``outbox_head``, so they are gap-free and
in commit order: a reader that has seen sequence N never later finds an event below N
committed behind its back (which a plain database sequence cannot promise).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from mdm.database import Base, utcnow


class OutboxHead(Base):
    """One row holding the last sequence number handed out."""

    __tablename__ = "outbox_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)


class OutboxEvent(Base):
    """One change, as downstream consumers see it."""

    __tablename__ = "outbox_event"
    __table_args__ = (Index("ix_outbox_event_golden_id", "golden_id"),)

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    event_type: Mapped[str] = mapped_column(String(40))
    entity_type: Mapped[str] = mapped_column(String(16))
    golden_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    golden_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Read whole, never queried inside: JSON text (``json``), not a parsed jsonb tree.
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    cause: Mapped[str] = mapped_column(String(100))
    correlation_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
