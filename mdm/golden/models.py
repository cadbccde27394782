"""ORM models of golden records, their members (the cross-reference), history and overrides.

A golden record's ``id`` is its golden ID: drawn from a sequence, so never reused. A merged-away
golden record is kept with ``status = "merged"`` and ``merged_into_id`` pointing to its
survivor, so a look-up of a retired ID can redirect.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
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


class GoldenRecord(Base):
    """The master record of one real-world customer or product."""

    __tablename__ = "golden_record"
    __table_args__ = (Index("ix_golden_record_entity_type_status", "entity_type", "status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entity_type: Mapped[str] = mapped_column(String(16))
    # active | merged (redirects to merged_into_id) | retired (no source left)
    status: Mapped[str] = mapped_column(String(16), default="active")
    # Indexed: a merge repoints the records that were merged into the retired ones.
    merged_into_id: Mapped[int | None] = mapped_column(
        ForeignKey("golden_record.id"), nullable=True, index=True
    )
    version: Mapped[int] = mapped_column(Integer, default=1)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # Read whole, never queried inside: JSON text (``json``), not a parsed jsonb tree.
    provenance: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class GoldenMember(Base):
    """The current cross-reference: which golden record a source record belongs to."""

    __tablename__ = "golden_member"

    source_record_id: Mapped[int] = mapped_column(ForeignKey("source_record.id"), primary_key=True)
    golden_id: Mapped[int] = mapped_column(ForeignKey("golden_record.id"), index=True)
    # auto (matched above the threshold) | new (started a golden record) | steward
    link_reason: Mapped[str] = mapped_column(String(16))
    probability: Mapped[float | None] = mapped_column(Float, nullable=True)
    linked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class XrefHistory(Base):
    """Every link and unlink of a source record to a golden record, for history look-ups."""

    __tablename__ = "xref_history"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # Not foreign keys: history written with the membership it records, whose keys guard
    # the same IDs; neither records nor golden records are ever deleted (migration 0008).
    source_record_id: Mapped[int] = mapped_column(BigId, index=True)
    golden_id: Mapped[int] = mapped_column(BigId, index=True)
    linked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    unlinked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    reason: Mapped[str] = mapped_column(String(32))


class GoldenOverride(Base):
    """A steward's pinned attribute value; it survives recomputation until unpinned."""

    __tablename__ = "golden_override"
    __table_args__ = (UniqueConstraint("golden_id", "attribute"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    golden_id: Mapped[int] = mapped_column(ForeignKey("golden_record.id"))
    attribute: Mapped[str] = mapped_column(String(100))
    value: Mapped[Any] = mapped_column(JSONType, nullable=True)
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
