"""ORM models of review tasks (match candidates) and remembered cannot-link decisions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from mdm.database import Base, BigId, JSONType, utcnow


class MatchCandidate(Base):
    """A pair of source records the engine could not decide: a steward's review task.

    The pair is stored with ``left_record_id < right_record_id`` so each pair has one task.
    """

    __tablename__ = "match_candidate"
    __table_args__ = (
        UniqueConstraint("left_record_id", "right_record_id"),
        CheckConstraint("left_record_id < right_record_id", name="ordered_pair"),
        Index("ix_match_candidate_status_priority", "status", "priority"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entity_type: Mapped[str] = mapped_column(String(16))
    left_record_id: Mapped[int] = mapped_column(ForeignKey("source_record.id"))
    # Indexed on its own (the left one leads the unique constraint): a record's open tasks
    # are looked up on either side.
    right_record_id: Mapped[int] = mapped_column(ForeignKey("source_record.id"), index=True)
    match_weight: Mapped[float] = mapped_column(Float)
    probability: Mapped[float] = mapped_column(Float)
    # Higher is more urgent: how close to a decision the pair is and how much hangs on it.
    priority: Mapped[float] = mapped_column(Float, default=0.0)
    explanation: Mapped[dict[str, Any]] = mapped_column(JSONType)
    reason: Mapped[str] = mapped_column(String(200), default="")
    # open | accepted | rejected | superseded
    status: Mapped[str] = mapped_column(String(16), default="open")
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    resolution_note: Mapped[str | None] = mapped_column(Text, nullable=True)


class CannotLink(Base):
    """Two source records a steward said are different: never proposed or merged again."""

    __tablename__ = "cannot_link"
    __table_args__ = (CheckConstraint("left_record_id < right_record_id", name="ordered_pair"),)

    left_record_id: Mapped[int] = mapped_column(ForeignKey("source_record.id"), primary_key=True)
    right_record_id: Mapped[int] = mapped_column(
        ForeignKey("source_record.id"), primary_key=True, index=True
    )
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
