"""Golden records: creation, recomputation by survivorship, links, merges, unmerges, look-ups.

Every function here works inside the caller's transaction and never commits. Each change of a
golden record bumps its version, writes an audit entry with the state before and after, and
emits its outbox event, all in that same transaction.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import Any

import orjson
from sqlalchemy import bindparam, delete, exists, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from matching.parallel import fork_map, shared
from mdm.audit.service import Audit
from mdm.audit.service import record as write_audit
from mdm.database import (
    Prebuilt,
    bulk_insert,
    id_in,
    insert_returning_ids,
    insert_rows,
    run,
    table_of,
    utcnow,
)
from mdm.errors import NotFoundError
from mdm.golden.lookup import GOLDEN_STATE, XrefLink, golden_by_id
from mdm.golden.models import GoldenMember, GoldenOverride, GoldenRecord, XrefHistory
from mdm.golden.survivorship import (
    Member,
    SurvivorshipSpec,
    default_customer_survivorship,
    default_product_survivorship,
    survive,
)
from mdm.hierarchies.service import on_merge
from mdm.outbox.service import ChangeContext, Event, emit
from mdm.sources.models import SourceRecord, SourceSystem

CHUNK = 10_000


@functools.cache
def survivorship_for(entity_type: str) -> SurvivorshipSpec:
    """The survivorship rules of an entity type, built once per process (so compiled once)."""
    if entity_type == "customer":
        return default_customer_survivorship()
    return default_product_survivorship()


def snapshot(golden: GoldenRecord | _Golden) -> dict[str, Any]:
    """The JSON-ready state of a golden record, as events and audit entries carry it."""
    return {
        "golden_id": golden.id,
        "entity_type": golden.entity_type,
        "status": golden.status,
        "version": golden.version,
        "merged_into": golden.merged_into_id,
        "attributes": golden.attributes,
    }


def _chunks(values: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def create_goldens(session: Session, entity_type: str, count: int) -> list[int]:
    """Create empty golden records (version 0, filled by `recompute`) and return their IDs."""
    now = utcnow()
    rows: list[dict[str, Any]] = [
        {
            "entity_type": entity_type,
            "status": "active",
            "merged_into_id": None,
            "version": 0,
            "attributes": {},
            "provenance": {},
            "created_at": now,
            "updated_at": now,
        }
        for _ in range(count)
    ]
    return insert_returning_ids(session, table_of(GoldenRecord), rows)


# Below this many new golden records, forking survivorship workers costs more than it saves.
PARALLEL_SURVIVORSHIP_FROM = 5_000


def _survive_slice(bounds: tuple[int, int]) -> list[tuple[Any, Any]]:
    groups, overrides = shared("groups"), shared("overrides")
    spec, now = shared("spec"), shared("now")
    out = []
    for i in range(bounds[0], bounds[1]):
        view = survive(groups[i], spec, overrides[i], now)
        out.append((_jsonable(view.attributes), _jsonable(view.provenance)))
    return out


def _survive_many(
    groups: Sequence[Sequence[Member]],
    overrides: Sequence[Mapping[str, Any] | None],
    spec: SurvivorshipSpec,
    now: datetime,
    workers: int,
) -> list[tuple[Any, Any]]:
    """Survivorship of many golden records: (attributes, provenance) each, JSON-ready.

    With ``workers`` > 1 and many records, it runs in forked worker processes (pure Python),
    one slice each.
    """
    n_slices = workers if len(groups) >= PARALLEL_SURVIVORSHIP_FROM else 1
    bounds = [len(groups) * i // n_slices for i in range(n_slices + 1)]
    survived = fork_map(
        _survive_slice,
        list(pairwise(bounds)),
        workers=n_slices,
        shared={"groups": groups, "overrides": overrides, "spec": spec, "now": now},
    )
    return [pair for part in survived for pair in part]


def create_golden_records(
    session: Session,
    entity_type: str,
    groups: Sequence[Sequence[Member]],
    ctx: ChangeContext,
    *,
    workers: int = 1,
) -> list[int]:
    """Create golden records from the members they start with; returns their IDs in order.

    What `create_goldens` and then `recompute` after `link` would write for a new golden
    record (version 1, survivorship with provenance, a ``create`` audit entry and a
    ``golden.created`` event), computed from members already in memory instead of writing
    empty rows and reading them back: a bulk load creates most of its golden records so.
    The members still have to be linked (`link`). With ``workers`` > 1 and many records,
    survivorship (pure Python) runs in forked worker processes, one slice each.
    """
    if not groups:
        return []
    spec = survivorship_for(entity_type)
    now = utcnow()
    survived = _survive_many(groups, [None] * len(groups), spec, now, workers)
    rows: list[dict[str, Any]] = [
        {
            "entity_type": entity_type,
            "status": "active",
            "merged_into_id": None,
            "version": 1,
            "attributes": attributes,
            "provenance": provenance,
            "created_at": now,
            "updated_at": now,
        }
        for attributes, provenance in survived
    ]
    ids = insert_returning_ids(session, table_of(GoldenRecord), rows)
    snapshots = [
        {
            "golden_id": gid,
            "entity_type": entity_type,
            "status": "active",
            "version": 1,
            "merged_into": None,
            "attributes": row["attributes"],
        }
        for gid, row in zip(ids, rows, strict=True)
    ]
    write_audit(
        session,
        [Audit("create", entity_type, snap["golden_id"], None, snap) for snap in snapshots],
        ctx,
    )
    emit(
        session,
        [
            Event("golden.created", entity_type, snap["golden_id"], 1, {"snapshot": snap})
            for snap in snapshots
        ],
        ctx,
    )
    return ids


@dataclass(slots=True)
class Link:
    """A source record to attach to a golden record."""

    source_record_id: int
    golden_id: int
    reason: str
    probability: float | None = None


def link(
    session: Session,
    entity_type: str,
    links: Sequence[Link],
    ctx: ChangeContext,
    *,
    deferred: list[Event] | None = None,
    keys: Mapping[int, RecordKey] | None = None,
    unattached: bool = False,
) -> None:
    """Attach source records to golden records (moving them if linked elsewhere).

    With ``deferred``, the link events are appended there for the caller to emit later (after
    the golden records' own events, so a consumer never sees a link to an unknown record).
    ``keys``: the (source, source ID) of records the caller has in hand, not read again;
    ``unattached``: the caller has just read that no record is in a golden record.
    """
    if not links:
        return
    if not unattached:
        unlink(session, entity_type, [lk.source_record_id for lk in links], ctx, reason="relink")
    now = utcnow()
    # The membership and its cross-reference history together (one round trip for a few).
    insert_rows(
        session,
        (
            table_of(GoldenMember),
            [
                {
                    "source_record_id": lk.source_record_id,
                    "golden_id": lk.golden_id,
                    "link_reason": lk.reason,
                    "probability": lk.probability,
                    "linked_at": now,
                }
                for lk in links
            ],
        ),
        (
            table_of(XrefHistory),
            [
                {
                    "source_record_id": lk.source_record_id,
                    "golden_id": lk.golden_id,
                    "linked_at": now,
                    "unlinked_at": None,
                    "reason": lk.reason,
                }
                for lk in links
            ],
        ),
    )
    known = _keys_of(session, [lk.source_record_id for lk in links], keys)
    linked = [
        Event(
            "xref.linked",
            entity_type,
            lk.golden_id,
            None,
            {
                "source_record_id": lk.source_record_id,
                **known[lk.source_record_id],
                "reason": lk.reason,
                "probability": lk.probability,
            },
        )
        for lk in links
    ]
    if deferred is None:
        emit(session, linked, ctx)
    else:
        deferred.extend(linked)


# A source record's key in events: {"source": system code, "source_id": its ID there}.
RecordKey = dict[str, str]


def _keys_of(
    session: Session, record_ids: Sequence[int], known: Mapping[int, RecordKey] | None
) -> dict[int, RecordKey]:
    """The records' keys: those ``known`` as given, the others read."""
    keys = {rid: known[rid] for rid in record_ids if rid in known} if known else {}
    missing = [rid for rid in record_ids if rid not in keys]
    for chunk in _chunks(missing):
        rows = session.execute(
            select(SourceRecord.id, SourceSystem.code, SourceRecord.source_id)
            .join(SourceSystem, SourceSystem.id == SourceRecord.source_system_id)
            .where(id_in(SourceRecord.id, chunk, session))
        )
        keys.update({r[0]: {"source": r[1], "source_id": r[2]} for r in rows})
    return keys


_MEMBERS_OF_RECORDS = Prebuilt(
    lambda ids_in: select(GoldenMember.source_record_id, GoldenMember.golden_id).where(
        ids_in(GoldenMember.source_record_id, "ids")
    )
)


def golden_ids_of(session: Session, record_ids: Sequence[int]) -> dict[int, int]:
    """The golden record of each of these source records that is in one (record → golden)."""
    found: dict[int, int] = {}
    for chunk in _chunks(list(record_ids)):
        found.update((r, g) for r, g in run(session, _MEMBERS_OF_RECORDS, {"ids": list(chunk)}))
    return found


# Returns what it detached, (record, former golden record): no read of the memberships first.
_DETACH = Prebuilt(
    lambda ids_in: (
        delete(GoldenMember)
        .where(ids_in(GoldenMember.source_record_id, "ids"))
        .returning(GoldenMember.source_record_id, GoldenMember.golden_id)
    )
)
_CLOSE_XREF = Prebuilt(
    lambda ids_in: (
        update(XrefHistory)
        .where(ids_in(XrefHistory.source_record_id, "ids"), XrefHistory.unlinked_at.is_(None))
        .values(unlinked_at=bindparam("now", type_=XrefHistory.unlinked_at.type))
    )
)


def unlink(
    session: Session,
    entity_type: str,
    record_ids: Sequence[int],
    ctx: ChangeContext,
    *,
    reason: str = "unlink",
    deferred: list[Event] | None = None,
    keys: Mapping[int, RecordKey] | None = None,
) -> dict[int, int]:
    """Detach source records from their golden records; returns record → former golden.

    With ``deferred``, the unlink events are appended there for the caller to emit (or drop,
    when a record ends up back where it was) instead of being emitted now. ``keys`` as for
    `link`.
    """
    former: dict[int, int] = {}
    now = utcnow()
    for chunk in _chunks(list(record_ids)):
        # Core statements: no loaded objects of these tables to keep in step (none of the
        # session's bookkeeping).
        detached = {int(r): int(g) for r, g in run(session, _DETACH, {"ids": list(chunk)})}
        if detached:
            run(session, _CLOSE_XREF, {"ids": list(detached), "now": now})
            former.update(detached)
    if not former:
        return former
    former = dict(sorted(former.items()))
    if reason != "relink":
        known = _keys_of(session, list(former), keys)
        unlinked = [
            Event(
                "xref.unlinked",
                entity_type,
                golden_id,
                None,
                {"source_record_id": rid, **known.get(rid, {}), "reason": reason},
            )
            for rid, golden_id in former.items()
        ]
        if deferred is None:
            emit(session, unlinked, ctx)
        else:
            deferred.extend(unlinked)
    return former


def _jsonable(value: Any) -> Any:
    """Survivorship's output (dataclasses, datetimes, tuples) as plain JSON values.

    One orjson round trip: it encodes dataclasses and datetimes natively, many times faster
    than ``dataclasses.asdict`` with its deep copies, which dominated recomputation.
    """
    return orjson.loads(orjson.dumps(value, default=_json_default, option=orjson.OPT_NON_STR_KEYS))


def _json_default(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    raise TypeError(f"cannot store {type(value).__name__} in a golden record")


_OVERRIDES = Prebuilt(
    lambda ids_in: select(
        GoldenOverride.golden_id,
        GoldenOverride.attribute,
        GoldenOverride.value,
        GoldenOverride.created_at,
        GoldenOverride.actor,
    ).where(ids_in(GoldenOverride.golden_id, "ids"))
)


# Golden records with each of their members (a row per member, one with none for a golden
# record without), in one read; with whether a steward pinned any attribute: overrides are
# rare, and read only then.
_GOLDENS = Prebuilt(
    lambda ids_in: (
        select(
            *GOLDEN_STATE,
            exists().where(GoldenOverride.golden_id == GoldenRecord.id).label("pinned"),
            SourceRecord.id,
            SourceSystem.code,
            SourceRecord.source_id,
            SourceSystem.trust_rank,
            SourceRecord.received_at,
            SourceRecord.canonical,
        )
        .select_from(GoldenRecord)
        .outerjoin(GoldenMember, GoldenMember.golden_id == GoldenRecord.id)
        .outerjoin(SourceRecord, SourceRecord.id == GoldenMember.source_record_id)
        .outerjoin(SourceSystem, SourceSystem.id == SourceRecord.source_system_id)
        .where(ids_in(GoldenRecord.id, "ids"))
        .order_by(GoldenRecord.id, SourceRecord.id)
    )
)
_STATE = len(GOLDEN_STATE)
# Executed with one dictionary per golden record: ``b_id`` and the columns to set.
_WRITE_GOLDEN = Prebuilt(lambda _: update(GoldenRecord).where(GoldenRecord.id == bindparam("b_id")))


@dataclass(slots=True)
class _Golden:
    """A golden record as recomputation reads (`GOLDEN_STATE`) and changes it (no ORM object)."""

    id: int
    entity_type: str
    status: str
    version: int
    merged_into_id: int | None
    attributes: dict[str, Any]
    provenance: dict[str, Any]

    def row(self, now: datetime) -> dict[str, Any]:
        """Its new version, as `_WRITE_GOLDEN` sets it."""
        return {
            "b_id": self.id,
            "status": self.status,
            "version": self.version,
            "merged_into_id": self.merged_into_id,
            "attributes": self.attributes,
            "provenance": self.provenance,
            "updated_at": now,
        }


def _expire_loaded(session: Session, golden_ids: Iterable[int]) -> None:
    """Make the session reload golden records it holds whose rows were written as Core."""
    for gid in golden_ids:
        loaded = session.identity_map.get(identity_key(GoldenRecord, gid))
        if loaded is not None:
            session.expire(loaded)


def recompute(
    session: Session,
    entity_type: str,
    golden_ids: Iterable[int],
    ctx: ChangeContext,
    *,
    workers: int = 1,
    statuses: dict[int, tuple[str, int | None]] | None = None,
) -> dict[str, int]:
    """Recompute golden records from their members; retire those with no member left.

    Returns counts of created, updated, unchanged and retired golden records. With
    ``workers`` > 1, survivorship of many records runs in worker processes. ``statuses``, if
    given, gets each golden record's status and redirect as recomputation leaves them (what
    `mdm.hierarchies.service.sync_hierarchy` reads next).
    """
    ids = sorted(set(golden_ids))
    counts = {"created": 0, "updated": 0, "unchanged": 0, "retired": 0}
    if not ids:
        return counts
    spec = survivorship_for(entity_type)
    now = utcnow()
    events: list[Event] = []
    audits: list[Audit] = []
    written: list[dict[str, Any]] = []  # new versions
    updates: list[dict[str, Any]] = []  # the same version with its provenance refreshed
    for chunk in _chunks(ids):
        members: dict[int, list[Member]] = defaultdict(list)
        params = {"ids": list(chunk)}
        goldens: list[_Golden] = []
        with_overrides: list[int] = []
        for row in run(session, _GOLDENS, params):
            gid = row[0]
            if not goldens or goldens[-1].id != gid:  # rows come by golden record
                goldens.append(_Golden(*row[:_STATE]))
                if row[_STATE]:
                    with_overrides.append(gid)
            rid, code, sid, rank, received, canonical = row[_STATE + 1 :]
            if rid is not None:
                members[gid].append(Member(rid, code, sid, rank, received, canonical or {}))
        overrides: dict[int, dict[str, Any]] = defaultdict(dict)
        pinned: dict[int, dict[str, dict[str, str]]] = defaultdict(dict)
        if with_overrides:
            found = run(session, _OVERRIDES, {"ids": with_overrides})
            for gid, attribute, value, created_at, actor in found:
                overrides[gid][attribute] = value
                # An override's provenance is when and by whom it was set, stable across runs.
                pinned[gid][attribute] = {"at": created_at.isoformat(), "actor": actor}
        kept = [g.id for g in goldens if members.get(g.id)]
        survived = dict(
            zip(
                kept,
                _survive_many(
                    [members[g] for g in kept],
                    [overrides.get(g) for g in kept],
                    spec,
                    now,
                    workers,
                ),
                strict=True,
            )
        )
        for golden in goldens:
            before = snapshot(golden) if golden.version > 0 else None
            if not members.get(golden.id):
                if golden.status == "active" and golden.version > 0:
                    counts["retired"] += 1
                    golden.status = "retired"
                    golden.version += 1
                    written.append(golden.row(now))
                    audits.append(Audit("retire", entity_type, golden.id, before, snapshot(golden)))
                    events.append(
                        Event(
                            "golden.retired",
                            entity_type,
                            golden.id,
                            golden.version,
                            {"snapshot": snapshot(golden)},
                        )
                    )
                continue
            attributes, provenance = survived[golden.id]
            for attribute, origin in pinned.get(golden.id, {}).items():
                if isinstance(provenance.get(attribute), dict):
                    provenance[attribute].update(origin)
            if golden.version > 0 and attributes == golden.attributes and golden.status == "active":
                counts["unchanged"] += 1
                if provenance != golden.provenance:
                    updates.append({"b_id": golden.id, "provenance": provenance})
                continue
            created = golden.version == 0
            changed = sorted(
                k
                for k in set(attributes) | set(golden.attributes or {})
                if attributes.get(k) != (golden.attributes or {}).get(k)
            )
            golden.attributes = attributes
            golden.provenance = provenance
            golden.version += 1
            golden.status = "active"
            golden.merged_into_id = None
            written.append(golden.row(now))
            counts["created" if created else "updated"] += 1
            after = snapshot(golden)
            audits.append(
                Audit("create" if created else "update", entity_type, golden.id, before, after)
            )
            payload: dict[str, Any] = {"snapshot": after}
            if not created:
                payload["changed"] = changed
            events.append(
                Event(
                    "golden.created" if created else "golden.updated",
                    entity_type,
                    golden.id,
                    golden.version,
                    payload,
                )
            )
        if statuses is not None:
            statuses.update((g.id, (g.status, g.merged_into_id)) for g in goldens)
    for rows in (written, updates):
        if rows:
            run(session, _WRITE_GOLDEN, rows)  # one executemany
    _expire_loaded(session, [row["b_id"] for row in written + updates])
    write_audit(session, audits, ctx)
    emit(session, events, ctx)
    return counts


def merge(
    session: Session,
    entity_type: str,
    golden_ids: Sequence[int],
    ctx: ChangeContext,
    *,
    reason: str = "",
    recompute_survivor: bool = True,
) -> int:
    """Merge golden records into the oldest (lowest ID), which keeps its ID; returns it.

    The others are kept as ``merged`` with a redirect to the survivor (earlier redirects to
    them are moved on to the survivor too), and their members and overrides move across.
    """
    ids = sorted(set(golden_ids))
    survivor, retired = ids[0], ids[1:]
    if not retired:
        return survivor
    goldens = {
        g.id: g
        for g in session.scalars(select(GoldenRecord).where(id_in(GoldenRecord.id, ids, session)))
    }
    missing = set(ids) - set(goldens)
    if missing:
        raise NotFoundError(f"golden records {sorted(missing)} do not exist")
    now = utcnow()
    moved = (
        session.execute(
            select(GoldenMember.source_record_id).where(
                id_in(GoldenMember.golden_id, retired, session)
            )
        )
        .scalars()
        .all()
    )
    session.execute(
        update(GoldenMember)
        .where(id_in(GoldenMember.golden_id, retired, session))
        .values(golden_id=survivor)
    )
    session.execute(
        update(XrefHistory)
        .where(id_in(XrefHistory.golden_id, retired, session), XrefHistory.unlinked_at.is_(None))
        .values(unlinked_at=now)
    )
    bulk_insert(
        session,
        table_of(XrefHistory),
        [
            {
                "source_record_id": rid,
                "golden_id": survivor,
                "linked_at": now,
                "unlinked_at": None,
                "reason": "merge",
            }
            for rid in moved
        ],
    )
    # Overrides travel with the merge unless the survivor pinned the same attribute.
    pinned = set(
        session.scalars(
            select(GoldenOverride.attribute).where(GoldenOverride.golden_id == survivor)
        )
    )
    for override in session.scalars(
        select(GoldenOverride).where(id_in(GoldenOverride.golden_id, retired, session))
    ).all():
        if override.attribute in pinned:
            session.delete(override)
        else:
            override.golden_id = survivor
            pinned.add(override.attribute)
    session.execute(
        update(GoldenRecord)
        .where(id_in(GoldenRecord.merged_into_id, retired, session))
        .values(merged_into_id=survivor)
    )
    audits: list[Audit] = []
    events: list[Event] = []
    for gid in retired:
        golden = goldens[gid]
        before = snapshot(golden)
        golden.status = "merged"
        golden.merged_into_id = survivor
        golden.version += 1
        golden.updated_at = now
        audits.append(Audit("merge", entity_type, gid, before, snapshot(golden), reason))
    session.flush()
    events.append(
        Event(
            "golden.merged",
            entity_type,
            survivor,
            None,
            {
                "survivor": survivor,
                "retired": retired,
                "moved_records": list(moved),
                "reason": reason,
            },
        )
    )
    write_audit(session, audits, ctx)
    emit(session, events, ctx)
    if entity_type == "customer":
        on_merge(session, survivor, retired, ctx)
    if recompute_survivor:
        recompute(session, entity_type, [survivor], ctx)
    return survivor


def resolve(session: Session, golden_id: int) -> tuple[GoldenRecord, int | None]:
    """A golden record by ID, following merge redirects.

    Returns the record and, when the ID given was merged away, that retired ID.
    """
    golden = session.get(GoldenRecord, golden_id)
    if golden is None:
        raise NotFoundError(f"golden record {golden_id} does not exist")
    if golden.status == "merged" and golden.merged_into_id is not None:
        survivor = session.get(GoldenRecord, golden.merged_into_id)
        if survivor is None:  # pragma: no cover - the foreign key prevents it
            raise NotFoundError(f"golden record {golden_id} redirects nowhere")
        return survivor, golden_id
    return golden, None


def xrefs_of(session: Session, golden_id: int) -> list[XrefLink]:
    """Every source system's ID for a golden record (the ERP number, the CRM ID, …).

    The look-up the API answers with (`mdm.golden.lookup`), for this very record: a record
    merged away has none of its own.
    """
    session.flush()
    view = golden_by_id(session.connection(), golden_id)
    return view.xref if view is not None and view.golden_id == golden_id else []


def golden_of_source(
    session: Session, source: str, entity_type: str, source_id: str
) -> GoldenRecord:
    """The golden record a source system's record belongs to."""
    row = session.execute(
        select(GoldenMember.golden_id)
        .join(SourceRecord, SourceRecord.id == GoldenMember.source_record_id)
        .join(SourceSystem, SourceSystem.id == SourceRecord.source_system_id)
        .where(
            SourceSystem.code == source,
            SourceRecord.entity_type == entity_type,
            SourceRecord.source_id == source_id,
        )
    ).first()
    if row is None:
        raise NotFoundError(f"no golden {entity_type} for {source} record '{source_id}'")
    golden = session.get(GoldenRecord, row[0])
    assert golden is not None  # the foreign key guarantees it
    return golden


def xref_history(session: Session, source_record_id: int) -> list[XrefHistory]:
    """Every golden record a source record has belonged to, oldest first."""
    return list(
        session.scalars(
            select(XrefHistory)
            .where(XrefHistory.source_record_id == source_record_id)
            .order_by(XrefHistory.id)
        )
    )
