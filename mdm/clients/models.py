"""ORM model of API clients: the identity, scopes and source binding of each caller.

A client's secret is never stored, only its scrypt hash. Revoking a client keeps its row (its
ID stays the actor of the audit entries it caused) and stamps ``revoked_at``; its tokens stop
working at once and it gets no new ones.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from mdm.database import Base, JSONType, utcnow


class ApiClient(Base):
    """A system or person that calls the HTTP API with OAuth2 client credentials."""

    __tablename__ = "api_client"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Public: the name given at creation and a random suffix, so audit entries read well and
    # a client created again under the same name is still another actor.
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(40))
    # "scrypt$<n>$<r>$<p>$<salt>$<hash>": the cost travels with the hash, so it can be raised
    # for new clients without breaking the old ones.
    secret_hash: Mapped[str] = mapped_column(String(200))
    scopes: Mapped[list[Any]] = mapped_column(JSONType)
    # Set for a partner: the one source system it writes and whose golden records it sees.
    source_code: Mapped[str | None] = mapped_column(
        String(40), ForeignKey("source_system.code"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
