"""ORM models of the reconciled customer hierarchy between golden records.

- `HierarchyEdge`: one edge from a child golden record up to its parent, effective-dated. A
  change never updates an edge in place: it closes the current row (``valid_to``) and opens a
  new one, so the hierarchy can be read as it was at any past moment. At most one row per
  (child, relation) is current (``valid_to IS NULL``), which a partial unique index enforces.
  A steward's removal is a current row without a parent (``status = "removed"``), so that
  derivation from the sources does not bring the edge back.
- `HierarchyClaim`: what each source record says its parent is, for each relation, and what
  that resolved to at the last derivation (``pending`` while the parent has not arrived).
- `HierarchyConflict`: a steward task: the sources disagree on a child's parent, or the
  parent they name would break the hierarchy's rules.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from mdm.database import Base, BigId, JSONType, utcnow

_CURRENT = text("valid_to IS NULL")


class HierarchyEdge(Base):
    """One child → parent edge between golden records, valid from one moment to another."""

    __tablename__ = "hierarchy_edge"
    __table_args__ = (
        # Downward reads (descendants, roll-ups): the recursive step probes the parent, and
        # the trailing columns make it an index-only scan.
        Index(
            "ix_hierarchy_edge_parent",
            "parent_golden_id",
            "valid_to",
            "relation",
            "child_golden_id",
        ),
        # Upward reads (ancestors, as of any moment) and the derivation's look-ups by child.
        Index(
            "ix_hierarchy_edge_child",
            "child_golden_id",
            "relation",
            "valid_to",
            "parent_golden_id",
        ),
        # One current edge (or steward removal) per child and relation.
        Index(
            "uq_hierarchy_edge_current",
            "child_golden_id",
            "relation",
            unique=True,
            postgresql_where=_CURRENT,
            sqlite_where=_CURRENT,
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    child_golden_id: Mapped[int] = mapped_column(ForeignKey("golden_record.id"))
    # NULL only on a steward's removal (status "removed").
    parent_golden_id: Mapped[int | None] = mapped_column(
        ForeignKey("golden_record.id"), nullable=True
    )
    relation: Mapped[str] = mapped_column(String(32))
    # active | removed (a steward said: no parent by this relation)
    status: Mapped[str] = mapped_column(String(16), default="active")
    # derived (from the sources' claims) | steward (wins over derived)
    origin: Mapped[str] = mapped_column(String(16))
    # The source system whose claim won (derived edges only).
    source_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # Counts the edges of one (child, relation) slot: what a steward states having seen.
    version: Mapped[int] = mapped_column(Integer, default=1)
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    valid_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    actor: Mapped[str] = mapped_column(String(200), default="system")
    reason: Mapped[str] = mapped_column(Text, default="")


class HierarchyClaim(Base):
    """What one source record says its parent is by one relation, and what that resolved to."""

    __tablename__ = "hierarchy_claim"
    __table_args__ = (
        UniqueConstraint("source_record_id", "relation"),
        # A parent that arrives late finds the children waiting for it by its source key.
        Index("ix_hierarchy_claim_parent_key", "parent_source", "parent_source_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # Not a foreign key: derived from the record's canonical document, which is never
    # deleted (migration 0008).
    source_record_id: Mapped[int] = mapped_column(BigId)
    source_code: Mapped[str] = mapped_column(String(40))
    relation: Mapped[str] = mapped_column(String(32))
    parent_source: Mapped[str] = mapped_column(String(40))
    parent_source_id: Mapped[str] = mapped_column(String(200))
    # resolved | pending (the parent record, or its golden record, is not known yet)
    status: Mapped[str] = mapped_column(String(16))
    parent_golden_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class HierarchyConflict(Base):
    """A steward task about one child's parent by one relation.

    ``kind`` is ``disagreement`` (sources name different parents; the most trusted one was
    applied) or ``invalid`` (the parent named would break a rule; nothing was applied).
    """

    __tablename__ = "hierarchy_conflict"
    __table_args__ = (
        Index("ix_hierarchy_conflict_child", "child_golden_id", "relation", "status"),
        Index("ix_hierarchy_conflict_status", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    child_golden_id: Mapped[int] = mapped_column(ForeignKey("golden_record.id"))
    relation: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    # open | resolved
    status: Mapped[str] = mapped_column(String(16), default="open")
    # Every source's claim: source, source_id, parent_source, parent_source_id, parent golden.
    claims: Mapped[list[Any]] = mapped_column(JSONType)
    applied_parent_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    message: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    resolution_note: Mapped[str | None] = mapped_column(Text, nullable=True)
