"""ORM models the match stage keeps: blocking keys, standardised features, trained models."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from mdm.database import Base, BigId, JSONType, utcnow


class BlockingKey(Base):
    """A blocking key of a source record: records sharing a key are compared."""

    __tablename__ = "blocking_key"
    __table_args__ = (Index("ix_blocking_key_source_record_id", "source_record_id"),)

    entity_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    # Not a foreign key: derived from the record in the transaction that read it, and records
    # are never deleted (migration 0008).
    source_record_id: Mapped[int] = mapped_column(BigId, primary_key=True)


class MatchFeatures(Base):
    """The standardised features of a source record's current version."""

    __tablename__ = "match_features"

    source_record_id: Mapped[int] = mapped_column(BigId, primary_key=True)  # as above
    entity_type: Mapped[str] = mapped_column(String(16))
    # Read whole, by record: JSON text, not a parsed jsonb tree.
    features: Mapped[dict[str, Any]] = mapped_column(JSON)


class MatchModelRecord(Base):
    """A trained match model (its versioned JSON document); the newest active one is used."""

    __tablename__ = "match_model"
    __table_args__ = (Index("ix_match_model_entity_type_active", "entity_type", "active"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entity_type: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    document: Mapped[dict[str, Any]] = mapped_column(JSONType)
    trained_on: Mapped[int] = mapped_column(BigInteger, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
