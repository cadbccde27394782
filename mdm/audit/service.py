"""Writing audit entries, in bulk, inside the transaction of the change."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mdm.audit.models import AuditEntry
from mdm.database import defer_rows, deferred_rows, table_of, utcnow
from mdm.outbox.service import ChangeContext


@dataclass(slots=True)
class Audit:
    """An audit entry waiting to be written."""

    action: str
    entity_type: str
    golden_id: int | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str = ""


def record(session: Session, entries: Sequence[Audit], ctx: ChangeContext) -> None:
    """Write audit entries; never commits.

    On PostgreSQL they go in with the transaction's outbox statement (`defer_rows`); a query of
    the audit log through the session sees them before.
    """
    if not entries:
        return
    now = utcnow()
    defer_rows(
        session,
        table_of(AuditEntry),
        [
            {
                "at": now,
                "actor": ctx.actor[:200],
                "action": e.action,
                "entity_type": e.entity_type,
                "golden_id": e.golden_id,
                "before": e.before,
                "after": e.after,
                "reason": e.reason,
                "correlation_id": ctx.correlation_id,
            }
            for e in entries
        ],
    )


def reattribute(session: Session, pick: Callable[[int | None], ChangeContext | None]) -> None:
    """Give the entries queued in this transaction the actor and trace of ``pick(golden_id)``.

    Only entries still queued (`mdm.database.hold_deferred` keeps them so on SQLite too);
    None keeps an entry's context.
    """
    rows = deferred_rows(session, table_of(AuditEntry))
    for i, row in enumerate(rows):
        ctx = pick(row["golden_id"])
        if ctx is not None:
            rows[i] = {**row, "actor": ctx.actor[:200], "correlation_id": ctx.correlation_id}


def history(session: Session, golden_id: int, limit: int = 100) -> list[AuditEntry]:
    """The audit trail of a golden record, newest first."""
    return list(
        session.scalars(
            select(AuditEntry)
            .where(AuditEntry.golden_id == golden_id)
            .order_by(AuditEntry.id.desc())
            .limit(limit)
        )
    )
