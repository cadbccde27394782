"""ORM models of ingestion batches and rejected records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from mdm.database import Base, BigId, JSONType, utcnow

_RUNNING = text("status = 'running'")


class IngestBatch(Base):
    """One load: a file or an API batch, who sent it, and what came of it."""

    __tablename__ = "ingest_batch"
    __table_args__ = (
        # Opening a batch marks loads of the same origin left running as interrupted: a look-up
        # on every API write, which scanned every batch ever taken (one per request) without
        # it. Only running batches are indexed, so the index stays a handful of rows.
        Index(
            "ix_ingest_batch_running",
            "source_system_id",
            "entity_type",
            "origin",
            postgresql_where=_RUNNING,
            sqlite_where=_RUNNING,
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source_system_id: Mapped[int] = mapped_column(ForeignKey("source_system.id"))
    entity_type: Mapped[str] = mapped_column(String(16))
    origin: Mapped[str] = mapped_column(String(500))
    submitted_by: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="running")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    read_count: Mapped[int] = mapped_column(Integer, default=0)
    new_count: Mapped[int] = mapped_column(Integer, default=0)
    changed_count: Mapped[int] = mapped_column(Integer, default=0)
    unchanged_count: Mapped[int] = mapped_column(Integer, default=0)
    deleted_count: Mapped[int] = mapped_column(Integer, default=0)
    rejected_count: Mapped[int] = mapped_column(Integer, default=0)


class RejectedRecord(Base):
    """A record that could not be accepted, kept with its reasons and its raw input."""

    __tablename__ = "rejected_record"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("ingest_batch.id"), index=True)
    position: Mapped[int | None] = mapped_column(Integer, nullable=True)
    source_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    errors: Mapped[list[Any]] = mapped_column(JSONType)
    raw: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
