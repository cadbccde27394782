"""Steward actions: the review queue, accept, reject, merge, unmerge and override.

Every action names its actor and reason, runs in one transaction (the caller's), is audited
with the state before and after, and emits its events. Concurrency is optimistic: an action
states the version it saw, and a compare-and-set on that version is the action's first write,
so of two stewards acting on the same task or golden record one wins and the other gets a
`ConflictError`, never a half-applied change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from mdm.audit.service import Audit
from mdm.audit.service import record as write_audit
from mdm.database import bulk_insert, table_of, utcnow
from mdm.errors import ConflictError, InvalidInputError, NotFoundError
from mdm.golden.models import GoldenMember, GoldenOverride, GoldenRecord, XrefHistory
from mdm.golden.service import Link, create_goldens, link, merge, recompute, snapshot, unlink
from mdm.hierarchies.service import sync_hierarchy
from mdm.outbox.service import ChangeContext, Event, emit
from mdm.sources.models import SourceRecord
from mdm.stewardship.models import CannotLink, MatchCandidate


def _cas(session: Session, statement: Any, what: str) -> None:
    try:
        result = session.execute(statement)
    except OperationalError as exc:  # SQLite: another writer changed what we read
        raise ConflictError(f"{what} was changed by someone else; reload and retry") from exc
    if getattr(result, "rowcount", 0) != 1:
        raise ConflictError(f"{what} was changed by someone else; reload and retry")


def claim_golden(session: Session, golden_id: int, expected_version: int) -> GoldenRecord:
    """Lock in a golden record at the version the steward saw, or raise `ConflictError`."""
    golden = session.get(GoldenRecord, golden_id)
    if golden is None:
        raise NotFoundError(f"golden record {golden_id} does not exist")
    _cas(
        session,
        update(GoldenRecord)
        .where(
            GoldenRecord.id == golden_id,
            GoldenRecord.version == expected_version,
            GoldenRecord.status == "active",
        )
        .values(updated_at=utcnow())
        .execution_options(synchronize_session=False),
        f"golden record {golden_id} (version {expected_version})",
    )
    session.refresh(golden)
    return golden


def _claim_task(
    session: Session,
    task_id: int,
    expected_version: int,
    status: str,
    ctx: ChangeContext,
    note: str,
) -> MatchCandidate:
    task = session.get(MatchCandidate, task_id)
    if task is None:
        raise NotFoundError(f"review task {task_id} does not exist")
    _cas(
        session,
        update(MatchCandidate)
        .where(
            MatchCandidate.id == task_id,
            MatchCandidate.version == expected_version,
            MatchCandidate.status == "open",
        )
        .values(
            status=status,
            version=MatchCandidate.version + 1,
            resolved_at=utcnow(),
            resolved_by=ctx.actor,
            resolution_note=note,
        )
        .execution_options(synchronize_session=False),
        f"review task {task_id} (version {expected_version})",
    )
    session.refresh(task)
    return task


def review_queue(
    session: Session,
    *,
    entity_type: str | None = None,
    status: str = "open",
    limit: int = 50,
    offset: int = 0,
) -> list[MatchCandidate]:
    """Review tasks, most urgent first."""
    query = select(MatchCandidate).where(MatchCandidate.status == status)
    if entity_type:
        query = query.where(MatchCandidate.entity_type == entity_type)
    return list(
        session.scalars(
            query.order_by(MatchCandidate.priority.desc(), MatchCandidate.id)
            .limit(limit)
            .offset(offset)
        )
    )


def _golden_of(session: Session, record_id: int) -> int | None:
    return session.scalar(
        select(GoldenMember.golden_id).where(GoldenMember.source_record_id == record_id)
    )


def _pin_members(session: Session, golden_id: int) -> None:
    # Records a steward put together stay together when one of them changes later.
    session.execute(
        update(GoldenMember)
        .where(GoldenMember.golden_id == golden_id)
        .values(link_reason="steward")
    )


def accept(
    session: Session, task_id: int, expected_version: int, ctx: ChangeContext, note: str = ""
) -> int:
    """Accept a review task: the two records are the same; returns the golden ID they share."""
    task = _claim_task(session, task_id, expected_version, "accepted", ctx, note)
    left, right = (
        _golden_of(session, task.left_record_id),
        _golden_of(session, task.right_record_id),
    )
    if left is None or right is None:
        raise ConflictError(f"review task {task_id}: a record of the pair has no golden record")
    target = (
        left
        if left == right
        else merge(
            session, task.entity_type, [left, right], ctx, reason=f"review task {task_id} accepted"
        )
    )
    _pin_members(session, target)
    write_audit(
        session,
        [
            Audit(
                "review.accept",
                task.entity_type,
                target,
                {"task_id": task_id, "status": "open"},
                {"task_id": task_id, "status": "accepted"},
                note,
            )
        ],
        ctx,
    )
    emit(
        session,
        [
            Event(
                "review.resolved",
                task.entity_type,
                target,
                None,
                {"task_id": task_id, "status": "accepted"},
            )
        ],
        ctx,
    )
    return target


def remember_cannot_link(
    session: Session, pairs: Sequence[tuple[int, int]], ctx: ChangeContext, reason: str
) -> None:
    """Store cannot-link pairs of source records (skipping those already known)."""
    wanted = {(min(a, b), max(a, b)) for a, b in pairs if a != b}
    if not wanted:
        return
    known = {
        (a, b)
        for a, b in session.execute(
            select(CannotLink.left_record_id, CannotLink.right_record_id).where(
                CannotLink.left_record_id.in_([p[0] for p in wanted])
            )
        )
    }
    now = utcnow()
    bulk_insert(
        session,
        table_of(CannotLink),
        [
            {
                "left_record_id": a,
                "right_record_id": b,
                "actor": ctx.actor,
                "reason": reason,
                "created_at": now,
            }
            for a, b in sorted(wanted - known)
        ],
    )


def reject(
    session: Session, task_id: int, expected_version: int, ctx: ChangeContext, note: str = ""
) -> None:
    """Reject a review task: the records differ, and are never proposed or merged again."""
    task = _claim_task(session, task_id, expected_version, "rejected", ctx, note)
    remember_cannot_link(
        session,
        [(task.left_record_id, task.right_record_id)],
        ctx,
        note or f"review task {task_id} rejected",
    )
    write_audit(
        session,
        [
            Audit(
                "review.reject",
                task.entity_type,
                None,
                {"task_id": task_id, "status": "open"},
                {"task_id": task_id, "status": "rejected"},
                note,
            )
        ],
        ctx,
    )
    emit(
        session,
        [
            Event(
                "review.resolved",
                task.entity_type,
                None,
                None,
                {"task_id": task_id, "status": "rejected"},
            )
        ],
        ctx,
    )


def merge_goldens(
    session: Session, versions: dict[int, int], ctx: ChangeContext, reason: str = ""
) -> int:
    """Merge golden records by hand; ``versions`` maps each golden ID to the version seen."""
    if len(versions) < 2:
        raise InvalidInputError("a merge needs at least two golden records")
    goldens = [claim_golden(session, gid, v) for gid, v in sorted(versions.items())]
    entity_types = {g.entity_type for g in goldens}
    if len(entity_types) != 1:
        raise InvalidInputError("cannot merge a customer with a product")
    entity_type = entity_types.pop()
    survivor = merge(session, entity_type, list(versions), ctx, reason=reason or "steward merge")
    _pin_members(session, survivor)
    return survivor


def unmerge(
    session: Session,
    source_record_id: int,
    expected_version: int,
    ctx: ChangeContext,
    reason: str = "",
) -> int:
    """Split a source record off its golden record; returns the golden ID it now has.

    The record gets back the golden ID it had before a merge when that one is free, else a new
    one; it is remembered as different from the records it leaves, so matching will not put it
    back.
    """
    golden_id = _golden_of(session, source_record_id)
    if golden_id is None:
        raise NotFoundError(f"source record {source_record_id} belongs to no golden record")
    golden = claim_golden(session, golden_id, expected_version)
    others = list(
        session.scalars(
            select(GoldenMember.source_record_id).where(
                GoldenMember.golden_id == golden_id,
                GoldenMember.source_record_id != source_record_id,
            )
        )
    )
    if not others:
        raise ConflictError(f"golden record {golden_id} has no other record to split from")
    entity_type = golden.entity_type
    before = snapshot(golden)
    unlink(session, entity_type, [source_record_id], ctx, reason="unmerge")
    previous = session.scalars(
        select(XrefHistory.golden_id)
        .join(GoldenRecord, GoldenRecord.id == XrefHistory.golden_id)
        .where(
            XrefHistory.source_record_id == source_record_id,
            XrefHistory.golden_id != golden_id,
            GoldenRecord.status.in_(["merged", "retired"]),
        )
        .order_by(XrefHistory.id.desc())
    ).first()
    if previous is not None and not session.scalar(
        select(GoldenMember.source_record_id).where(GoldenMember.golden_id == previous).limit(1)
    ):
        session.execute(
            update(GoldenRecord)
            .where(GoldenRecord.id == previous)
            .values(status="active", merged_into_id=None)
        )
        target = previous
    else:
        target = create_goldens(session, entity_type, 1)[0]
    link(session, entity_type, [Link(source_record_id, target, "steward")], ctx)
    remember_cannot_link(
        session, [(source_record_id, o) for o in others], ctx, reason or "unmerged by a steward"
    )
    recompute(session, entity_type, [golden_id, target], ctx)
    if entity_type == "customer":
        sync_hierarchy(session, [golden_id, target], ctx)
    session.refresh(golden)
    write_audit(
        session, [Audit("unmerge", entity_type, golden_id, before, snapshot(golden), reason)], ctx
    )
    emit(
        session,
        [
            Event(
                "golden.unmerged",
                entity_type,
                golden_id,
                golden.version,
                {
                    "source_record_id": source_record_id,
                    "from": golden_id,
                    "to": target,
                    "reason": reason,
                },
            )
        ],
        ctx,
    )
    return target


def override(
    session: Session,
    golden_id: int,
    attribute: str,
    value: Any,
    expected_version: int,
    ctx: ChangeContext,
    reason: str = "",
) -> GoldenRecord:
    """Pin an attribute of a golden record to a value; it survives recomputation."""
    golden = claim_golden(session, golden_id, expected_version)
    if not attribute or len(attribute) > 100:
        raise InvalidInputError(
            "name the attribute to override",
            [{"field": "attribute", "message": "required, 1-100 characters"}],
        )
    session.execute(
        delete(GoldenOverride).where(
            GoldenOverride.golden_id == golden_id, GoldenOverride.attribute == attribute
        )
    )
    session.add(
        GoldenOverride(
            golden_id=golden_id, attribute=attribute, value=value, actor=ctx.actor, reason=reason
        )
    )
    session.flush()
    recompute(session, golden.entity_type, [golden_id], ctx)
    session.refresh(golden)
    return golden


def unpin(
    session: Session,
    golden_id: int,
    attribute: str,
    expected_version: int,
    ctx: ChangeContext,
) -> GoldenRecord:
    """Remove a steward's override; the attribute goes back to its survivorship rule."""
    golden = claim_golden(session, golden_id, expected_version)
    result = session.execute(
        delete(GoldenOverride).where(
            GoldenOverride.golden_id == golden_id, GoldenOverride.attribute == attribute
        )
    )
    if not getattr(result, "rowcount", 0):
        raise NotFoundError(f"golden record {golden_id} has no override of '{attribute}'")
    recompute(session, golden.entity_type, [golden_id], ctx)
    session.refresh(golden)
    return golden


@dataclass(slots=True)
class Label:
    """A steward decision as a training label."""

    left: str
    right: str
    same: bool


def export_labels(session: Session, entity_type: str) -> list[Label]:
    """Steward decisions on review tasks, for re-training the matching engine."""
    rows = session.execute(
        select(MatchCandidate.left_record_id, MatchCandidate.right_record_id, MatchCandidate.status)
        .where(
            MatchCandidate.entity_type == entity_type,
            MatchCandidate.status.in_(["accepted", "rejected"]),
        )
        .order_by(MatchCandidate.id)
    )
    labels = [Label(str(a), str(b), s == "accepted") for a, b, s in rows]
    for a, b in session.execute(
        select(CannotLink.left_record_id, CannotLink.right_record_id)
        .join(SourceRecord, SourceRecord.id == CannotLink.left_record_id)
        .where(SourceRecord.entity_type == entity_type)
    ):
        label = Label(str(a), str(b), same=False)
        if label not in labels:
            labels.append(label)
    return labels
