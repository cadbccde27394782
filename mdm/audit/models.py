"""ORM model of audit entries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mdm.database import Base, BigId, utcnow


class AuditEntry(Base):
    """One audited change of a golden record, a cross-reference or a review task."""

    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_entry_golden_id", "golden_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(40))
    entity_type: Mapped[str] = mapped_column(String(16))
    golden_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # Read whole, never queried inside: JSON text (``json``), not a parsed jsonb tree.
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    correlation_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
