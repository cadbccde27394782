"""ORM models of source systems and source records.

``source_record`` holds the current state of each (source system, entity type, source ID) and
is what matching and survivorship read; ``source_record_version`` keeps every version ever
received (raw payload and canonical form), so history is never lost. Both grow with the data
and are keyed so that they can be partitioned by source system.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from mdm.database import Base, BigId, JSONType, utcnow

# A record waits to be matched until its matched version reaches its version.
_WAITING = text("matched_version < version")


class SourceSystem(Base):
    """A system that sends records: an ERP, a CRM, a distributor, a marketplace."""

    __tablename__ = "source_system"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    trust_rank: Mapped[int] = mapped_column(Integer, default=10)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SourceRecord(Base):
    """The current version of one record of one source system."""

    __tablename__ = "source_record"
    __table_args__ = (
        UniqueConstraint("source_system_id", "entity_type", "source_id"),
        # The records waiting to be matched, by entity type in ID order; a matched record
        # has no entry (written matched, it never gets one).
        Index(
            "ix_source_record_waiting",
            "entity_type",
            "id",
            postgresql_where=_WAITING,
            sqlite_where=_WAITING,
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source_system_id: Mapped[int] = mapped_column(ForeignKey("source_system.id"))
    entity_type: Mapped[str] = mapped_column(String(16))
    source_id: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer, default=1)
    content_hash: Mapped[str] = mapped_column(String(64))
    canonical: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # Batch IDs on the two hot tables are plain numbers, not foreign keys: a key check per
    # row would double the cost of a bulk load for bookkeeping that nothing depends on.
    last_batch_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # The version matching last looked at; below ``version`` means the record waits to be
    # matched, which is how a load and the match stage hand work to each other.
    matched_version: Mapped[int] = mapped_column(Integer, default=0)


class SourceRecordVersion(Base):
    """One version of a source record, as received: never updated, never deleted.

    The history is written in bulk with its records and read back whole, by record: it is
    built for cheap writes. ``source_record_id`` is not a foreign key (the check, with the
    row lock it takes on the record, was a third of the cost of writing a version; each version
    is written in the transaction that writes its record, and records are never deleted); raw
    and canonical are kept as JSON text (``json``), not parsed into ``jsonb``, since nothing
    queries inside them.
    """

    __tablename__ = "source_record_version"
    __table_args__ = (UniqueConstraint("source_record_id", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source_record_id: Mapped[int] = mapped_column(BigId)
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    raw: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    canonical: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    deleted: Mapped[bool] = mapped_column(default=False)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    batch_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
