"""The reconciled customer hierarchy between golden records: derive, edit, carry, read.

Derivation (`sync_hierarchy`) reads what each member source record of a golden record says
about its parents (``canonical.parents``), resolves every reference through the
cross-reference (source system + source ID → source record → golden record), keeps one edge
per (child, relation) by source priority, and opens a steward task when the sources disagree
or when the edge they name would break the rules. A reference to a parent that has not arrived
is kept as a pending claim and resolved when the parent's golden record is synced.

Every change closes the current edge and opens a new one (effective dating), is audited and
is emitted as ``hierarchy.changed``, all in the caller's transaction; nothing here commits.

Reads are recursive queries (``WITH RECURSIVE``) on the edge table, so serving a subtree costs
the subtree, not the customer base. Before an edge is written, `hierarchy.check_move` checks it
against the part of the graph it touches, loaded by three small queries.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cache
from itertools import chain
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    CompoundSelect,
    DateTime,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    delete,
    exists,
    func,
    literal,
    null,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hierarchy import DEFAULT_RULES, Edge, Finding, Hierarchy, HierarchyRules, Node, check_move
from hierarchy.errors import HierarchyError
from mdm.audit.service import Audit
from mdm.audit.service import record as write_audit
from mdm.database import (
    IdsIn,
    Prebuilt,
    bulk_insert,
    id_in,
    ids_parameter,
    run,
    run_scalars,
    table_of,
    utcnow,
)
from mdm.errors import ConflictError, InvalidInputError, NotFoundError
from mdm.golden.lookup import members_with
from mdm.golden.models import GoldenMember, GoldenRecord
from mdm.hierarchies.models import HierarchyClaim, HierarchyConflict, HierarchyEdge
from mdm.outbox.service import ChangeContext, Event, emit
from mdm.sources.models import SourceRecord, SourceSystem

ENTITY_TYPE = "customer"
DEFAULT_ROLE = "legal_entity"
# A guard against loops in the stored graph (which validation keeps out): the default rules
# allow at most ten subsidiary levels plus one sold-to, bill-to and ship-to level.
MAX_DEPTH = 32
CHUNK = 5_000

EDGES = table_of(HierarchyEdge)


# ---------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True, slots=True)
class EdgeView:
    """One edge as callers see it."""

    child: int
    parent: int | None
    relation: str
    status: str
    origin: str
    source: str | None
    version: int
    valid_from: str
    valid_to: str | None

    def as_dict(self) -> dict[str, Any]:
        """The edge as a JSON-ready mapping."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class HierarchyNode:
    """A golden record reached by a hierarchy read, with how it was reached.

    For descendants, ``parent`` is the node it hangs under; for ancestors, ``child`` is the
    node below it on the path. ``depth`` counts edges from the node the read started at.
    ``name`` is filled only when the read was asked for names.
    """

    golden_id: int
    role: str
    name: str | None
    relation: str
    depth: int
    parent: int | None = None
    child: int | None = None


@dataclass(frozen=True, slots=True)
class RollupView:
    """The members of one role under a node, and how many there are."""

    golden_id: int
    role: str
    count: int
    members: tuple[int, ...]


@dataclass(slots=True)
class SyncSummary:
    """What one derivation run did."""

    goldens: int = 0
    claims: int = 0
    pending_claims: int = 0
    added: int = 0
    removed: int = 0
    reparented: int = 0
    unchanged: int = 0
    refused: int = 0
    conflicts_opened: int = 0
    conflicts_resolved: int = 0

    def as_dict(self) -> dict[str, int]:
        """The summary as a JSON-ready mapping."""
        return asdict(self)


@dataclass(slots=True)
class _NewEdge:
    """An edge a derivation opens: written with the chunk's others in one insert."""

    child_golden_id: int
    parent_golden_id: int | None
    relation: str
    status: str
    origin: str
    source_code: str | None
    version: int
    valid_from: datetime
    valid_to: datetime | None
    actor: str
    reason: str

    def row(self) -> dict[str, Any]:
        """The edge's columns, as `HierarchyEdge` takes them and `bulk_insert` writes them."""
        return {name: getattr(self, name) for name in self.__slots__}


# The edge a change is shown with: a stored one, or one a derivation opened.
_AnyEdge = HierarchyEdge | _NewEdge


@dataclass(slots=True)
class _Changes:
    """Audit entries, events and new derived edges gathered during one call, written together."""

    audits: list[Audit] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    edges: list[_NewEdge] = field(default_factory=list)

    def write_edges(self, session: Session) -> None:
        """Insert the edges opened so far, after the closing of their predecessors."""
        if not self.edges:
            return
        # The partial unique index allows one current edge a slot: the closed ones go first.
        session.flush()
        bulk_insert(session, EDGES, [e.row() for e in self.edges])
        self.edges.clear()

    def write(self, session: Session, ctx: ChangeContext) -> None:
        self.write_edges(session)
        write_audit(session, self.audits, ctx)
        emit(session, self.events, ctx)
        self.audits.clear()
        self.events.clear()


@dataclass(frozen=True, slots=True)
class _Claim:
    """One member source record's word on its golden record's parent by one relation."""

    child: int
    source_record_id: int
    source: str
    source_id: str
    trust_rank: int
    relation: str
    parent_source: str
    parent_source_id: str
    parent: int | None

    @property
    def priority(self) -> tuple[int, str, int]:
        return (self.trust_rank, self.source, self.source_record_id)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "source_id": self.source_id,
            "parent_source": self.parent_source,
            "parent_source_id": self.parent_source_id,
            "parent_golden_id": self.parent,
        }


# ---------------------------------------------------------------------------------------------
# Small helpers


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else _utc(value).isoformat()  # type: ignore[union-attr]


def _view(edge: HierarchyEdge) -> EdgeView:
    return EdgeView(
        child=edge.child_golden_id,
        parent=edge.parent_golden_id,
        relation=edge.relation,
        status=edge.status,
        origin=edge.origin,
        source=edge.source_code,
        version=edge.version,
        valid_from=_iso(edge.valid_from) or "",
        valid_to=_iso(edge.valid_to),
    )


def _edge_payload(edge: _AnyEdge) -> dict[str, Any]:
    return {
        "child": edge.child_golden_id,
        "parent": edge.parent_golden_id,
        "relation": edge.relation,
        "origin": edge.origin,
        "source": edge.source_code,
        "version": edge.version,
    }


def _visible(edges: Any, dated: bool) -> ColumnElement[bool]:
    """Edges with a parent that are current, or that were current at ``:as_of`` (dated).

    Only a steward's removal marker lacks a parent; testing the parent rather than the
    status keeps the current reads inside the two covering indexes (index-only scans).
    """
    if not dated:
        return and_(edges.c.valid_to.is_(None), edges.c.parent_golden_id.is_not(None))
    as_of = bindparam("as_of", type_=DateTime(timezone=True))
    return and_(
        edges.c.valid_from <= as_of,
        or_(edges.c.valid_to.is_(None), edges.c.valid_to > as_of),
        edges.c.parent_golden_id.is_not(None),
    )


def _role_column() -> ColumnElement[str]:
    return func.coalesce(GoldenRecord.attributes["account_role"].as_string(), DEFAULT_ROLE)


def _name_column() -> ColumnElement[str]:
    return func.coalesce(
        GoldenRecord.attributes["legal_name"].as_string(),
        GoldenRecord.attributes["trading_name"].as_string(),
    )


def _roles(session: Session, golden_ids: Iterable[int]) -> dict[int, str]:
    ids = sorted(set(golden_ids))
    roles: dict[int, str] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        roles.update(
            {
                int(gid): str(role)
                for gid, role in session.execute(
                    select(GoldenRecord.id, _role_column()).where(
                        id_in(GoldenRecord.id, chunk, session)
                    )
                )
            }
        )
    return roles


def _resolve(session: Session, golden_id: int) -> GoldenRecord:
    """A golden record by ID, following a merge redirect to the survivor.

    The same as `mdm.golden.service.resolve`, kept here so that the golden service can call
    `on_merge` without a circular import.
    """
    golden = session.get(GoldenRecord, golden_id)
    if golden is None:
        raise NotFoundError(f"golden record {golden_id} does not exist")
    if golden.status == "merged" and golden.merged_into_id is not None:
        survivor = session.get(GoldenRecord, golden.merged_into_id)
        if survivor is not None:
            return survivor
    return golden


def _survivor(session: Session, golden_id: int) -> int:
    golden = _resolve(session, golden_id)
    if golden.entity_type != ENTITY_TYPE:
        raise InvalidInputError(f"golden record {golden_id} is not a customer")
    if golden.status != "active":
        raise InvalidInputError(f"golden record {golden_id} is {golden.status}")
    return golden.id


def _current(session: Session, child: int, relation: str) -> HierarchyEdge | None:
    return session.scalar(
        select(HierarchyEdge).where(
            HierarchyEdge.child_golden_id == child,
            HierarchyEdge.relation == relation,
            HierarchyEdge.valid_to.is_(None),
        )
    )


# ---------------------------------------------------------------------------------------------
# Writing edges


def _close(edge: HierarchyEdge, now: datetime) -> None:
    edge.valid_to = now


def _open(
    session: Session,
    *,
    child: int,
    parent: int | None,
    relation: str,
    origin: str,
    source: str | None,
    version: int,
    now: datetime,
    ctx: ChangeContext,
    reason: str,
    deferred: list[_NewEdge] | None = None,
) -> _AnyEdge:
    """A new current edge: added to the session, or with ``deferred`` appended to it."""
    new = _NewEdge(
        child_golden_id=child,
        parent_golden_id=parent,
        relation=relation,
        status="active" if parent is not None else "removed",
        origin=origin,
        source_code=source,
        version=version,
        valid_from=now,
        valid_to=None,
        actor=ctx.actor[:200],
        reason=reason,
    )
    if deferred is not None:
        deferred.append(new)
        return new
    edge = HierarchyEdge(**new.row())
    session.add(edge)
    return edge


def _record(
    changes: _Changes,
    change: str,
    before: _AnyEdge | None,
    after: _AnyEdge | None,
    reason: str,
) -> None:
    """Audit and announce one change of a child's parent."""
    shown = after if after is not None and after.parent_golden_id is not None else before
    assert shown is not None  # a change has an edge on one side at least
    child = shown.child_golden_id
    changes.audits.append(
        Audit(
            f"hierarchy.{change}",
            ENTITY_TYPE,
            child,
            None if before is None else _edge_payload(before),
            None if after is None else _edge_payload(after),
            reason,
        )
    )
    payload: dict[str, Any] = {"edge": _edge_payload(shown), "change": change, "reason": reason}
    if change == "reparented" and before is not None:
        payload["previous_parent"] = before.parent_golden_id
    changes.events.append(Event("hierarchy.changed", ENTITY_TYPE, child, None, payload))


def _replace(
    session: Session,
    changes: _Changes,
    current: HierarchyEdge | None,
    *,
    child: int,
    parent: int | None,
    relation: str,
    origin: str,
    source: str | None,
    now: datetime,
    ctx: ChangeContext,
    reason: str,
    flush: bool = True,
) -> _AnyEdge | None:
    """Close the current edge of a slot and open the next one; audit and announce it.

    ``parent=None`` with origin ``derived`` only closes; with origin ``steward`` it opens a
    removal marker, so that the sources do not bring the edge back. ``flush=False`` leaves the
    new edge to ``changes`` (a derivation chunk inserts its edges together, `write_edges`).
    """
    version = 1
    if current is not None:
        _close(current, now)
        version = current.version + 1
        # The partial unique index allows one current row: the closed one must reach the
        # database before its successor does.
        session.flush()
    new: _AnyEdge | None = None
    if parent is not None or origin == "steward":
        new = _open(
            session,
            child=child,
            parent=parent,
            relation=relation,
            origin=origin,
            source=source,
            version=version,
            now=now,
            ctx=ctx,
            reason=reason,
            deferred=None if flush else changes.edges,
        )
        if flush:
            session.flush()
    had = current is not None and current.parent_golden_id is not None
    has = parent is not None
    if had and has:
        _record(changes, "reparented", current, new, reason)
    elif has:
        _record(changes, "added", None, new, reason)
    elif had:
        _record(changes, "removed", current, new, reason)
    return new


# ---------------------------------------------------------------------------------------------
# Validation against the neighbourhood of one change


def _neighbourhood(
    session: Session, child: int, parent: int, relation: str, rules: HierarchyRules
) -> Hierarchy:
    """The part of the hierarchy that `check_move` reads for one proposed edge.

    The parent's ancestors (every relation, for cycles and depth), the child's own parent
    edges, and the chain of the same relation below the child (for the depth limit).
    """
    edges: set[tuple[int, int, str]] = set()
    edges.update(_walk(session, parent, up=True))
    for e in session.execute(
        select(HierarchyEdge.parent_golden_id, HierarchyEdge.relation).where(
            HierarchyEdge.child_golden_id == child,
            HierarchyEdge.valid_to.is_(None),
            HierarchyEdge.status == "active",
        )
    ):
        assert e[0] is not None  # active edges have a parent
        edges.add((child, e[0], e[1]))
    edges.update(
        _walk(session, child, up=False, relation=relation, max_depth=_down_depth(relation, rules))
    )
    node_ids = {child, parent} | {n for c, p, _ in edges for n in (c, p)}
    return _drawn(node_ids, edges, _roles(session, node_ids))


def _down_depth(relation: str, rules: HierarchyRules) -> int:
    """How far below a child `check_move` looks along its relation (for the depth limit)."""
    rule = rules.relations.get(relation)
    return rule.max_depth + 1 if rule is not None else 1


def _drawn(
    node_ids: set[int], edges: Iterable[tuple[int, int, str]], roles: Mapping[int, str]
) -> Hierarchy:
    nodes = [Node(str(n), roles.get(n, DEFAULT_ROLE)) for n in node_ids]
    # A pair linked by two relations cannot be drawn; keep one (validation reports the rest).
    pairs: dict[tuple[int, int], str] = {}
    for c, p, rel in sorted(edges):
        pairs.setdefault((c, p), rel)
    return Hierarchy(nodes, [Edge(str(c), str(p), rel) for (c, p), rel in pairs.items()])


def _walk(
    session: Session,
    start: int,
    *,
    up: bool,
    relation: str | None = None,
    max_depth: int = MAX_DEPTH,
) -> list[tuple[int, int, str]]:
    """The current edges above or below a node, as (child, parent, relation)."""
    walk = _walk_cte(up=up, by_relation=relation is not None, dated=False)
    rows = session.connection().execute(
        _select_walk(walk), _params(start, relation=relation, max_depth=max_depth)
    )
    return [(int(c), int(p), str(rel)) for c, p, rel, _ in rows]


@cache
def _select_walk(walk: Any) -> Any:
    return select(walk.c.child, walk.c.parent, walk.c.relation, walk.c.depth).select_from(walk)


def _params(
    start: int,
    *,
    relation: str | None = None,
    as_of: datetime | None = None,
    max_depth: int = MAX_DEPTH,
) -> dict[str, Any]:
    params: dict[str, Any] = {"start": start, "max_depth": max_depth}
    if relation is not None:
        params["relation"] = relation
    if as_of is not None:
        params["as_of"] = _utc(as_of)
    return params


@cache
def _walk_cte(*, up: bool, by_relation: bool, dated: bool) -> Any:
    """A recursive CTE of (child, parent, relation, depth) from ``:start``, up or down.

    Built once per shape, with bound parameters (``start``, ``max_depth``, and ``relation``
    and ``as_of`` when asked for), so that a read neither rebuilds nor recompiles it.
    """
    first = EDGES.alias("first_edge")
    anchor = first.c.child_golden_id if up else first.c.parent_golden_id
    base = select(
        first.c.child_golden_id.label("child"),
        first.c.parent_golden_id.label("parent"),
        first.c.relation.label("relation"),
        literal(1).label("depth"),
    ).where(anchor == bindparam("start", type_=BigInteger()), _visible(first, dated))
    if by_relation:
        base = base.where(first.c.relation == bindparam("relation", type_=String()))
    walk = base.cte("walk", recursive=True)
    step_edge = EDGES.alias("step_edge")
    joined = (
        step_edge.c.child_golden_id == walk.c.parent
        if up
        else step_edge.c.parent_golden_id == walk.c.child
    )
    step = (
        select(
            step_edge.c.child_golden_id,
            step_edge.c.parent_golden_id,
            step_edge.c.relation,
            walk.c.depth + 1,
        )
        .join(step_edge, joined)
        .where(
            _visible(step_edge, dated),
            walk.c.depth < bindparam("max_depth", type_=Integer()),
        )
    )
    if by_relation:
        step = step.where(step_edge.c.relation == bindparam("relation", type_=String()))
    return walk.union_all(step)


def check_parent(
    session: Session,
    child: int,
    parent: int,
    relation: str,
    rules: HierarchyRules = DEFAULT_RULES,
) -> list[Finding]:
    """The rule violations that hanging ``child`` under ``parent`` by ``relation`` would cause.

    The child's current parent by that relation counts as replaced (a move). Empty when the
    edge may be written.
    """
    return _checked(
        lambda: _neighbourhood(session, child, parent, relation, rules),
        child,
        parent,
        relation,
        rules,
    )


def _checked(
    neighbourhood: Callable[[], Hierarchy],
    child: int,
    parent: int,
    relation: str,
    rules: HierarchyRules,
) -> list[Finding]:
    try:
        h = neighbourhood()
    except HierarchyError as exc:  # the stored neighbourhood itself cannot be drawn
        raise ConflictError(f"the hierarchy around {child} is inconsistent: {exc}") from exc
    return check_move(h, str(child), str(parent), relation, rules)


class _ChunkGraph:
    """The current edges around one derivation chunk, read at once and kept up to date.

    `check_parent` reads a proposed edge's neighbourhood with four statements; a chunk of a
    bulk load proposes thousands of edges. This reads, for the whole chunk, a statement per
    level (`_walk`): every edge above each proposed parent (all relations, `MAX_DEPTH`
    levels), every current edge of each child, and every edge below each child (as deep as
    any relation's limit needs); then the roles of every node seen. Each edge the chunk writes is
    applied here too, so that a later check in the chunk sees it, as it would see it in the
    database: a node reached through an edge written in the chunk is a child or a proposed
    parent of the chunk, whose edges were read.

    `check` then answers what `check_parent` would, from memory.
    """

    def __init__(
        self,
        session: Session,
        children: Sequence[int],
        parents: set[int],
        rules: HierarchyRules,
    ) -> None:
        self._rules = rules
        session.flush()  # the edges an earlier chunk left to the session count too
        self._up: dict[int, dict[str, int]] = defaultdict(dict)
        self._down: dict[int, set[tuple[int, str]]] = defaultdict(set)
        deepest = max([_down_depth(r, rules) for r in rules.relations] or [1])
        kids = set(children)
        for starts, up, depth in (
            (parents, True, MAX_DEPTH),
            (kids, True, 1),
            (kids, False, deepest),
        ):
            self._walk(session, starts, up=up, max_depth=depth)
        nodes = kids | parents | set(self._up) | set(self._down)
        self._roles = _roles(session, nodes)
        # Whether an edge with nothing around it is allowed, by (child role, parent role,
        # relation): `check`.
        self._lone: dict[tuple[str, str, str], bool] = {}

    def _walk(self, session: Session, starts: set[int], *, up: bool, max_depth: int) -> None:
        """Read the current edges above or below ``starts``, ``max_depth`` levels deep.

        Level by level, each one look-up of the edges of the level's new nodes, not one
        recursive statement: PostgreSQL plans a recursive step for many start nodes as a hash
        join over every current edge, once per level (a quarter of a second per 5,000 nodes
        at 220,000 edges: each chunk of a bulk load paid more than the one before); an
        index look-up per node costs what the edges found cost.
        """
        connection = session.connection()
        statement = _edges_of(up=up, dialect=session.get_bind().dialect.name)
        seen, frontier = set(starts), sorted(starts)
        for _ in range(max_depth):
            reached: set[int] = set()
            for start in range(0, len(frontier), CHUNK):
                for c, p, rel in connection.execute(
                    statement, {"starts": frontier[start : start + CHUNK]}
                ):
                    self._link(int(c), int(p), str(rel))
                    reached.add(int(p) if up else int(c))
            frontier = sorted(reached - seen)
            if not frontier:
                return
            seen.update(frontier)

    def _link(self, child: int, parent: int, relation: str) -> None:
        self._up[child][relation] = parent
        self._down[parent].add((child, relation))

    def apply(self, child: int, relation: str, parent: int | None) -> None:
        """Record that the chunk set (or, with None, removed) the parent of a slot."""
        old = self._up[child].pop(relation, None)
        if old is not None:
            self._down[old].discard((child, relation))
        if parent is not None:
            self._link(child, parent, relation)

    def _above(self, start: int) -> set[tuple[int, int, str]]:
        edges: set[tuple[int, int, str]] = set()
        frontier, depth = {start}, 0
        while frontier and depth < MAX_DEPTH:
            depth += 1
            step = {(c, p, r) for c in frontier for r, p in self._up.get(c, {}).items()}
            frontier = {p for _, p, _ in step}
            edges |= step
        return edges

    def _below(self, start: int, relation: str, max_depth: int) -> set[tuple[int, int, str]]:
        edges: set[tuple[int, int, str]] = set()
        frontier, depth = {start}, 0
        while frontier and depth < max_depth:
            depth += 1
            step = {(c, p, r) for p in frontier for c, r in self._down.get(p, ()) if r == relation}
            frontier = {c for c, _, _ in step}
            edges |= step
        return edges

    def _neighbourhood(self, child: int, parent: int, relation: str) -> Hierarchy:
        # What `_neighbourhood` reads from the database, read from memory.
        edges = self._above(parent)
        edges |= {(child, p, r) for r, p in self._up.get(child, {}).items()}
        edges |= self._below(child, relation, _down_depth(relation, self._rules))
        node_ids = {child, parent} | {n for c, p, _ in edges for n in (c, p)}
        return _drawn(node_ids, edges, self._roles)

    def check(self, child: int, parent: int, relation: str) -> list[Finding]:
        """What `check_parent` answers for this edge, given the chunk's writes so far."""
        if (
            child != parent
            and not self._up.get(child)
            and not self._down.get(child)
            and not self._up.get(parent)
        ):
            # Nothing around the edge (the first parent of a record without children, under
            # a parent without one): only the two roles and the relation can refuse it.
            roles = (
                self._roles.get(child, DEFAULT_ROLE),
                self._roles.get(parent, DEFAULT_ROLE),
                relation,
            )
            allowed = self._lone.get(roles)
            if allowed is None:
                allowed = self._lone[roles] = not _checked(
                    lambda: _drawn({0, 1}, (), {0: roles[0], 1: roles[1]}),
                    0,
                    1,
                    relation,
                    self._rules,
                )
            if allowed:
                return []
        return _checked(
            lambda: self._neighbourhood(child, parent, relation),
            child,
            parent,
            relation,
            self._rules,
        )


@cache
def _edges_of(*, up: bool, dialect: str) -> Any:
    """The current edges whose child (``up``) or parent is one of ``:starts``."""
    anchor = EDGES.c.child_golden_id if up else EDGES.c.parent_golden_id
    return select(EDGES.c.child_golden_id, EDGES.c.parent_golden_id, EDGES.c.relation).where(
        ids_parameter(anchor, "starts", dialect), _visible(EDGES, dated=False)
    )


# ---------------------------------------------------------------------------------------------
# Conflicts (steward tasks)


def _claims_key(claims: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(claims, key=lambda c: (c["source"], c["source_id"], c["parent_source_id"]))


def _raise_conflict(
    session: Session,
    changes: _Changes,
    *,
    child: int,
    relation: str,
    kind: str,
    claims: list[dict[str, Any]],
    applied: int | None,
    message: str,
    now: datetime,
    known: list[HierarchyConflict] | None = None,
) -> bool:
    """Open (or refresh) the one open task of a (child, relation); True when newly opened.

    A task a steward already resolved is not reopened while the claims stay the same.
    ``known``: the slot's tasks, newest first, when the caller has read them (a new task is
    added to it).
    """
    claims = _claims_key(claims)
    tasks = (
        known if known is not None else _conflicts_of(session, [child]).get((child, relation), [])
    )
    task = next((t for t in tasks if t.status == "open"), None)
    if task is not None:
        if (task.kind, task.claims, task.applied_parent_id, task.message) != (
            kind,
            claims,
            applied,
            message,
        ):
            task.kind, task.claims = kind, claims
            task.applied_parent_id, task.message = applied, message
            task.version += 1
        return False
    if any(t.kind == kind and t.claims == claims for t in tasks):
        return False
    task = HierarchyConflict(
        child_golden_id=child,
        relation=relation,
        kind=kind,
        status="open",
        claims=claims,
        applied_parent_id=applied,
        message=message,
        version=1,
        created_at=now,
    )
    session.add(task)
    session.flush()
    if known is not None:
        known.insert(0, task)
    changes.audits.append(
        Audit(
            "hierarchy.conflict_opened",
            ENTITY_TYPE,
            child,
            None,
            {"conflict_id": task.id, "relation": relation, "kind": kind, "claims": claims},
            message,
        )
    )
    return True


def _settle_conflicts(
    session: Session,
    changes: _Changes,
    child: int,
    relation: str,
    now: datetime,
    actor: str,
    note: str,
    known: list[HierarchyConflict] | None = None,
) -> int:
    """Resolve the open task of a (child, relation), if any; returns how many were resolved.

    ``known``: the slot's tasks when the caller has read them (`_conflicts_of`).
    """
    if known is None:
        known = _conflicts_of(session, [child]).get((child, relation), [])
    tasks = [t for t in known if t.status == "open"]
    for task in tasks:
        task.status = "resolved"
        task.version += 1
        task.resolved_at = now
        task.resolved_by = actor[:200]
        task.resolution_note = note
        changes.audits.append(
            Audit(
                "hierarchy.conflict_resolved",
                ENTITY_TYPE,
                child,
                None,
                {"conflict_id": task.id, "relation": relation},
                note,
            )
        )
    return len(tasks)


def _conflicts_of(
    session: Session, children: Sequence[int]
) -> dict[tuple[int, str], list[HierarchyConflict]]:
    """The steward tasks of these children's slots, newest first per (child, relation)."""
    found: dict[tuple[int, str], list[HierarchyConflict]] = defaultdict(list)
    for start in range(0, len(children), CHUNK):
        for task in session.scalars(
            select(HierarchyConflict)
            .where(
                id_in(HierarchyConflict.child_golden_id, children[start : start + CHUNK], session)
            )
            .order_by(HierarchyConflict.id.desc())
        ):
            found[task.child_golden_id, task.relation].append(task)
    return found


# ---------------------------------------------------------------------------------------------
# Derivation


def sync_hierarchy(
    session: Session,
    golden_ids: Iterable[int],
    ctx: ChangeContext,
    *,
    rules: HierarchyRules = DEFAULT_RULES,
    known: Mapping[int, tuple[str, int | None]] | None = None,
) -> SyncSummary:
    """Re-derive the hierarchy edges around golden records touched by a match run.

    Re-derives the parents of the given golden records, and of every golden record whose
    members name one of their members as a parent (a parent that arrived after its child) or
    whose derived edge points at one of them (a parent that split, retired or merged). Merged
    IDs are carried over to their survivors first (as `on_merge` does). Steward edges are kept.

    ``known``: the status and redirect of those of them the caller has just read (the match
    run's recomputation), not read again.

    Returns counts of edges added, removed, re-parented, unchanged and refused, claims stored
    (and how many still wait for their parent), and steward tasks opened and resolved.
    """
    summary = SyncSummary()
    ids = sorted(set(golden_ids))
    if not ids:
        return summary
    changes = _Changes()
    known = known or {}
    statuses = {gid: known[gid] for gid in ids if gid in known}
    statuses.update(_statuses(session, [gid for gid in ids if gid not in known]))
    by_survivor: dict[int, list[int]] = defaultdict(list)
    for gid, (status, merged_into) in statuses.items():
        if status == "merged" and merged_into is not None:
            by_survivor[merged_into].append(gid)
    for survivor, retired in sorted(by_survivor.items()):
        on_merge(session, survivor, retired, ctx)
    live = sorted(
        {
            gid if status != "merged" or merged_into is None else merged_into
            for gid, (status, merged_into) in statuses.items()
        }
    )
    children = set(live)
    around = _dependent_children(session, live)
    # Without other dependents, in one chunk, the chunk's open edges are those just read.
    alone = around.dependents <= children and len(children) <= CHUNK
    children.update(around.dependents)
    # The members of the records asked about were read with their dependents (and stay as
    # read: deriving changes claims and edges, not members); only the dependents' are not.
    members_of: dict[int, list[MemberRow]] = defaultdict(list)
    for row in around.members:
        members_of[row[0]].append(row)
    asked = set(live)
    now = utcnow()
    ordered = sorted(children)
    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start : start + CHUNK]
        read = _Read(
            members=[row for gid in chunk if gid in asked for row in members_of.get(gid, ())],
            unread=[gid for gid in chunk if gid not in asked],
            edges=around.edges if alone else None,
        )
        _derive(session, chunk, changes, summary, now, ctx, rules, read)
    summary.goldens = len(ordered)
    changes.write(session, ctx)
    return summary


_STATUSES = Prebuilt(
    lambda ids_in: select(
        GoldenRecord.id, GoldenRecord.status, GoldenRecord.merged_into_id, GoldenRecord.entity_type
    ).where(ids_in(GoldenRecord.id, "ids"))
)


def _statuses(session: Session, ids: Sequence[int]) -> dict[int, tuple[str, int | None]]:
    found: dict[int, tuple[str, int | None]] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = list(ids[start : start + CHUNK])
        for gid, status, merged_into, entity_type in run(session, _STATUSES, {"ids": chunk}):
            if entity_type == ENTITY_TYPE:
                found[int(gid)] = (str(status), merged_into)
    return found


# Built once (a new alias per call costs more than the look-up it serves).
_PARENT_MEMBER = table_of(GoldenMember).alias("parent_member")
_CHILD_MEMBER = table_of(GoldenMember).alias("child_member")


def _dependents_statement(ids_in: IdsIn) -> CompoundSelect[Any]:
    parent_member, child_member = _PARENT_MEMBER, _CHILD_MEMBER
    # Every branch has the members branch's columns (its own first); the others pad theirs
    # with NULLs: kind, golden or edge ID, then a member's record, source, source ID, rank,
    # parent references and whether it has claims stored.
    members = _member_parents(ids_in).add_columns(literal("member").label("kind"))
    padding = [null()] * 6

    def padded(kind: str, column: Any) -> Select[Any]:
        return select(column, *padding, literal(kind))

    waiting = (
        padded("child", child_member.c.golden_id)
        .select_from(HierarchyClaim)
        .join(SourceSystem, SourceSystem.code == HierarchyClaim.parent_source)
        .join(
            SourceRecord,
            and_(
                SourceRecord.source_system_id == SourceSystem.id,
                SourceRecord.entity_type == ENTITY_TYPE,
                SourceRecord.source_id == HierarchyClaim.parent_source_id,
            ),
        )
        .join(parent_member, parent_member.c.source_record_id == SourceRecord.id)
        .join(child_member, child_member.c.source_record_id == HierarchyClaim.source_record_id)
        .where(ids_in(parent_member.c.golden_id, "ids"))
    )
    derived = padded("child", HierarchyEdge.child_golden_id).where(
        ids_in(HierarchyEdge.parent_golden_id, "ids"),
        HierarchyEdge.valid_to.is_(None),
        HierarchyEdge.origin == "derived",
    )
    # And their own open edges, which deriving them starts from.
    edges = padded("edge", HierarchyEdge.id).where(*_open_edges_of(ids_in))
    return union_all(members, waiting, derived, edges)


def _open_edges_of(ids_in: IdsIn) -> tuple[ColumnElement[bool], ...]:
    """The condition of the open edges whose child is one of ``ids``."""
    return ids_in(HierarchyEdge.child_golden_id, "ids"), HierarchyEdge.valid_to.is_(None)


_DEPENDENTS = Prebuilt(_dependents_statement)


@dataclass(slots=True)
class _Around:
    """What `_dependent_children` read around some golden records."""

    # Golden records whose hierarchy depends on these.
    dependents: set[int] = field(default_factory=set)
    # These records' open edges, and their members (`MemberRow`).
    edges: list[int] = field(default_factory=list)
    members: list[MemberRow] = field(default_factory=list)


def _dependent_children(session: Session, golden_ids: Sequence[int]) -> _Around:
    """Golden records whose hierarchy depends on these; and these records' edges and members.

    Dependents: those whose members name a member of these as their parent (a parent that
    arrived after its child), and the children of their derived edges (a parent that split,
    retired or merged). One look-up per chunk.
    """
    around = _Around()
    for start in range(0, len(golden_ids), CHUNK):
        chunk = list(golden_ids[start : start + CHUNK])
        for *row, kind in run(session, _DEPENDENTS, {"ids": chunk}):
            if kind == "member":
                around.members.append(tuple(row))
            elif kind == "edge":
                around.edges.append(int(row[0]))
            else:
                around.dependents.add(int(row[0]))
    around.edges.sort()
    return around


def _member_parents(ids_in: IdsIn) -> Select[Any]:
    # Only the parent references travel, not each whole canonical document; and whether the
    # record has claims stored (to replace).
    return (
        members_with(
            SourceRecord.canonical["parents"],
            exists().where(HierarchyClaim.source_record_id == SourceRecord.id),
        )
        .join(GoldenRecord, GoldenRecord.id == GoldenMember.golden_id)
        .where(
            ids_in(GoldenMember.golden_id, "ids"),
            GoldenRecord.status == "active",
            SourceRecord.deleted_at.is_(None),
        )
    )


_MEMBER_PARENTS = Prebuilt(_member_parents)
# A member's row as `_member_claims` reads it: golden, record, source, source ID, rank,
# parent references, claims stored.
MemberRow = tuple[int, int, str, str, int, Any, bool]


@dataclass(slots=True)
class _Read:
    """What was read of a derivation chunk's golden records before it, with their dependents."""

    # The members (`MemberRow`) of those of them whose members were read.
    members: list[MemberRow]
    # Those whose members were not.
    unread: list[int]
    # Their open edges, if read.
    edges: list[int] | None = None


def _member_claims(
    session: Session, children: Sequence[int], read: _Read | None = None
) -> tuple[list[_Claim], list[int]]:
    """Every claim of the members of these golden records, resolved; and the members with some.

    The members with claims stored are those whose stored claims the new ones replace.
    ``read``: the members' rows (`MemberRow`) the caller read, and which records it did not.
    """
    raw: list[tuple[int, int, str, str, int, str, str, str]] = []
    members: list[int] = []
    unread = list(children) if read is None else read.unread
    rows: Iterable[MemberRow] = [] if read is None else read.members
    if unread:
        rows = chain(rows, run(session, _MEMBER_PARENTS, {"ids": unread}))
    for gid, rid, code, sid, rank, parents, stored in rows:
        if stored:
            members.append(int(rid))
        refs = parents or []
        for ref in refs if isinstance(refs, list) else []:
            if not isinstance(ref, Mapping):
                continue
            relation, parent_id = ref.get("relation"), ref.get("source_id")
            if not isinstance(relation, str) or not isinstance(parent_id, str) or not parent_id:
                continue
            parent_source = ref.get("source") or code
            raw.append(
                (int(gid), int(rid), code, sid, int(rank), relation, str(parent_source), parent_id)
            )
    resolved = _resolve_keys(session, {(r[6], r[7]) for r in raw})
    claims = [_Claim(*r, parent=resolved.get((r[6], r[7]))) for r in raw]
    return claims, members


def _resolve_keys(session: Session, keys: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """(source system code, source ID) → golden ID through the cross-reference."""
    by_source: dict[str, list[str]] = defaultdict(list)
    for code, sid in keys:
        by_source[code].append(sid)
    found: dict[tuple[str, str], int] = {}
    for code, sids in sorted(by_source.items()):
        sids.sort()
        for start in range(0, len(sids), CHUNK):
            rows = session.execute(
                select(SourceRecord.source_id, GoldenMember.golden_id)
                .join(SourceSystem, SourceSystem.id == SourceRecord.source_system_id)
                .join(GoldenMember, GoldenMember.source_record_id == SourceRecord.id)
                .where(
                    SourceSystem.code == code,
                    SourceRecord.entity_type == ENTITY_TYPE,
                    SourceRecord.deleted_at.is_(None),
                    SourceRecord.source_id.in_(sids[start : start + CHUNK]),
                )
            )
            found.update({(code, str(sid)): int(gid) for sid, gid in rows})
    return found


_OPEN_EDGES = Prebuilt(lambda ids_in: select(HierarchyEdge.id).where(*_open_edges_of(ids_in)))
_DROP_CLAIMS = Prebuilt(
    lambda ids_in: delete(HierarchyClaim).where(ids_in(HierarchyClaim.source_record_id, "ids"))
)


def _store_claims(
    session: Session, claims: Sequence[_Claim], members: Sequence[int], now: datetime
) -> None:
    """Replace the claims of the members that have some (``members``) with ``claims``."""
    for start in range(0, len(members), CHUNK):
        run(session, _DROP_CLAIMS, {"ids": list(members[start : start + CHUNK])})
    # One claim per (record, relation): the first one a record lists wins.
    unique = {(c.source_record_id, c.relation): c for c in reversed(claims)}
    bulk_insert(
        session,
        table_of(HierarchyClaim),
        [
            {
                "source_record_id": c.source_record_id,
                "source_code": c.source,
                "relation": c.relation,
                "parent_source": c.parent_source,
                "parent_source_id": c.parent_source_id,
                "status": "pending" if c.parent is None else "resolved",
                "parent_golden_id": c.parent,
                "updated_at": now,
            }
            for c in sorted(unique.values(), key=lambda c: (c.source_record_id, c.relation))
        ],
    )


def _derive(
    session: Session,
    children: Sequence[int],
    changes: _Changes,
    summary: SyncSummary,
    now: datetime,
    ctx: ChangeContext,
    rules: HierarchyRules,
    read: _Read | None = None,
) -> None:
    """Derive the edges of ``children`` (``read``: their members and edges, as far as read)."""
    claims, members = _member_claims(session, children, read)
    _store_claims(session, claims, members, now)
    summary.claims += len(claims)
    summary.pending_claims += sum(1 for c in claims if c.parent is None)
    by_slot: dict[tuple[int, str], list[_Claim]] = defaultdict(list)
    for claim in claims:
        by_slot[claim.child, claim.relation].append(claim)
    # The open edges' IDs first, as Core: most golden records have none (no source names a
    # parent), and loading none as objects cost more than the rest of a single record's sync.
    open_edges = (
        read.edges
        if read is not None and read.edges is not None
        else run_scalars(session, _OPEN_EDGES, {"ids": list(children)})
    )
    if not by_slot and not open_edges:  # nothing claimed, no edge to keep
        return
    current: dict[tuple[int, str], HierarchyEdge] = {
        (e.child_golden_id, e.relation): e
        for e in session.scalars(
            select(HierarchyEdge).where(id_in(HierarchyEdge.id, open_edges, session))
        )
    }
    slots = sorted(set(by_slot) | set(current))
    parents = {c.parent for c in claims if c.parent is not None}
    # Without a proposed parent nothing is checked: the slots can only lose their edges.
    graph = _ChunkGraph(session, children, parents, rules) if parents else None
    tasks = _conflicts_of(session, children)
    for slot in slots:
        _derive_slot(
            session,
            slot,
            by_slot.get(slot, []),
            current.get(slot),
            _Derivation(changes, summary, graph, tasks[slot], now, ctx),
        )
    # The next chunk reads the edges this one opened.
    changes.write_edges(session)


@dataclass(slots=True)
class _Derivation:
    """What deriving one slot works with: the chunk's changes, tally, graph and tasks."""

    changes: _Changes
    summary: SyncSummary
    # None when no slot of the chunk has a proposed parent.
    graph: _ChunkGraph | None
    # The slot's steward tasks, newest first.
    tasks: list[HierarchyConflict]
    now: datetime
    ctx: ChangeContext

    def settle(self, session: Session, child: int, relation: str, note: str) -> None:
        """Resolve the slot's open task, if any, and count it."""
        self.summary.conflicts_resolved += _settle_conflicts(
            session, self.changes, child, relation, self.now, self.ctx.actor, note, self.tasks
        )


def _derive_slot(
    session: Session,
    slot: tuple[int, str],
    claims: list[_Claim],
    current: HierarchyEdge | None,
    run: _Derivation,
) -> None:
    """Decide the edge of one (child, relation) from its claims, and the task it needs."""
    child, relation = slot
    changes, summary, now, ctx = run.changes, run.summary, run.now, run.ctx
    if current is not None and current.origin == "steward":
        summary.unchanged += 1
        return
    resolved = sorted((c for c in claims if c.parent is not None), key=lambda c: c.priority)
    candidates: list[tuple[int, _Claim]] = []
    for claim in resolved:
        assert claim.parent is not None
        if all(claim.parent != p for p, _ in candidates):
            candidates.append((claim.parent, claim))
    if not candidates:
        if current is not None:
            _replace(
                session,
                changes,
                current,
                child=child,
                parent=None,
                relation=relation,
                origin="derived",
                source=None,
                now=now,
                ctx=ctx,
                reason="no source names a parent any more",
                flush=False,
            )
            if run.graph is not None:
                run.graph.apply(child, relation, None)
            summary.removed += 1
        run.settle(session, child, relation, "no source names a parent any more")
        return
    refusals: list[str] = []
    applied: int | None = None
    for parent, claim in candidates:
        if current is not None and current.parent_golden_id == parent:
            applied = parent
            summary.unchanged += 1
            if current.source_code != claim.source:
                current.source_code = claim.source
            break
        assert run.graph is not None  # built whenever a slot has a proposed parent
        findings = run.graph.check(child, parent, relation)
        if findings:
            refusals.append(
                f"{claim.source} {claim.source_id} names {claim.parent_source} "
                f"{claim.parent_source_id} (golden {parent}): "
                + "; ".join(f.message for f in findings)
            )
            summary.refused += 1
            continue
        had_parent = current is not None and current.parent_golden_id is not None
        _replace(
            session,
            changes,
            current,
            child=child,
            parent=parent,
            relation=relation,
            origin="derived",
            source=claim.source,
            now=now,
            ctx=ctx,
            reason=f"{claim.source} {claim.source_id} names {claim.parent_source} "
            f"{claim.parent_source_id}",
            flush=False,
        )
        run.graph.apply(child, relation, parent)
        if had_parent:
            summary.reparented += 1
        else:
            summary.added += 1
        applied = parent
        break
    if applied is None and current is not None:
        applied = current.parent_golden_id
    if refusals or len(candidates) > 1:
        kind = "invalid" if refusals else "disagreement"
        message = "; ".join(refusals) or (
            "sources name different parents: "
            + ", ".join(f"{c.source} → golden {p}" for p, c in candidates)
        )
        opened = _raise_conflict(
            session,
            changes,
            child=child,
            relation=relation,
            kind=kind,
            claims=[c.as_dict() for c in resolved],
            applied=applied,
            message=message,
            now=now,
            known=run.tasks,
        )
        summary.conflicts_opened += int(opened)
    else:
        run.settle(session, child, relation, "the sources agree now")


# ---------------------------------------------------------------------------------------------
# Merges


def on_merge(session: Session, survivor: int, retired: Sequence[int], ctx: ChangeContext) -> int:
    """Carry the edges of merged-away golden records over to their survivor.

    Edges below a retired record are re-pointed to the survivor; its own parent edges move to
    the survivor unless the survivor already has a parent by that relation (a steward edge
    beats a derived one). Self-loops and duplicates are dropped. Open tasks of the retired
    records are closed (the next derivation judges the survivor). Safe to call twice.

    Returns the number of edges changed.
    """
    gone = sorted(set(retired) - {survivor})
    if not gone:
        return 0
    rows = list(
        session.scalars(
            select(HierarchyEdge)
            .where(
                or_(
                    id_in(HierarchyEdge.child_golden_id, gone, session),
                    id_in(HierarchyEdge.parent_golden_id, gone, session),
                ),
                HierarchyEdge.valid_to.is_(None),
            )
            .order_by(HierarchyEdge.id)
        )
    )
    changes = _Changes()
    now = utcnow()
    reason = f"golden records {', '.join(map(str, gone))} merged into {survivor}"
    retired_set = set(gone)
    # Steward rows first, so that they take the survivor's slot before derived ones.
    rows.sort(key=lambda e: (e.origin != "steward", e.id))
    for row in rows:
        child = survivor if row.child_golden_id in retired_set else row.child_golden_id
        parent = row.parent_golden_id
        if parent in retired_set:
            parent = survivor
        if child == row.child_golden_id:
            # Only the parent moved: the same child gets the survivor as its parent.
            if parent == child:
                _replace(
                    session,
                    changes,
                    row,
                    child=child,
                    parent=None,
                    relation=row.relation,
                    origin="derived",
                    source=None,
                    now=now,
                    ctx=ctx,
                    reason=reason,
                )
            else:
                _replace(
                    session,
                    changes,
                    row,
                    child=child,
                    parent=parent,
                    relation=row.relation,
                    origin=row.origin,
                    source=row.source_code,
                    now=now,
                    ctx=ctx,
                    reason=reason,
                )
            continue
        # The child merged away: its edge is gone, and may live on under the survivor.
        _replace(
            session,
            changes,
            row,
            child=row.child_golden_id,
            parent=None,
            relation=row.relation,
            origin="derived",
            source=None,
            now=now,
            ctx=ctx,
            reason=reason,
        )
        if parent == survivor:
            continue
        taken = _current(session, survivor, row.relation)
        if taken is not None and not (taken.origin == "derived" and row.origin == "steward"):
            continue
        _replace(
            session,
            changes,
            taken,
            child=survivor,
            parent=parent,
            relation=row.relation,
            origin=row.origin,
            source=row.source_code,
            now=now,
            ctx=ctx,
            reason=reason,
        )
    for task in session.scalars(
        select(HierarchyConflict).where(
            id_in(HierarchyConflict.child_golden_id, gone, session),
            HierarchyConflict.status == "open",
        )
    ):
        task.status = "resolved"
        task.version += 1
        task.resolved_at = now
        task.resolved_by = ctx.actor[:200]
        task.resolution_note = f"merged into {survivor}"
    session.flush()
    changed = len(changes.events)
    changes.write(session, ctx)
    return changed


# ---------------------------------------------------------------------------------------------
# Steward edits


def _claim_slot(
    session: Session, child: int, relation: str, expected_version: int | None
) -> HierarchyEdge | None:
    """The current edge of a slot, at the version the steward saw, or `ConflictError`."""
    current = _current(session, child, relation)
    seen = current.version if current is not None else 0
    if expected_version is not None and expected_version != seen:
        raise ConflictError(
            f"the {relation} parent of {child} is at version {seen}, not {expected_version}; "
            "reload and retry"
        )
    if current is not None:
        # The compare-and-set: of two stewards, the second finds the row closed or moved on.
        result = session.execute(
            update(HierarchyEdge)
            .where(
                HierarchyEdge.id == current.id,
                HierarchyEdge.valid_to.is_(None),
                HierarchyEdge.version == seen,
            )
            .values(actor=HierarchyEdge.actor)
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 0) != 1:
            raise ConflictError(f"the {relation} parent of {child} was changed by someone else")
    return current


def _write_steward(
    session: Session,
    current: HierarchyEdge | None,
    *,
    child: int,
    parent: int | None,
    relation: str,
    ctx: ChangeContext,
    reason: str,
) -> HierarchyEdge | None:
    changes = _Changes()
    now = utcnow()
    try:
        with session.begin_nested():
            new = _replace(
                session,
                changes,
                current,
                child=child,
                parent=parent,
                relation=relation,
                origin="steward",
                source=None,
                now=now,
                ctx=ctx,
                reason=reason,
            )
    except IntegrityError as exc:  # another steward opened the slot's edge meanwhile
        raise ConflictError(
            f"the {relation} parent of {child} was changed by someone else"
        ) from exc
    _settle_conflicts(session, changes, child, relation, now, ctx.actor, reason or "steward edit")
    changes.write(session, ctx)
    assert not isinstance(new, _NewEdge)  # flushed: a stored edge
    return new


def set_parent(
    session: Session,
    child: int,
    parent: int,
    relation: str,
    ctx: ChangeContext,
    *,
    expected_version: int | None = None,
    reason: str = "",
    rules: HierarchyRules = DEFAULT_RULES,
) -> EdgeView:
    """Hang ``child`` under ``parent`` by ``relation`` by hand; it wins over the sources.

    ``expected_version`` is the version of the (child, relation) edge the steward saw (0 for
    none); a stale one raises `ConflictError`. An edge that breaks a rule raises
    `InvalidInputError` listing the findings. Merged IDs are followed to their survivors.
    """
    child, parent = _survivor(session, child), _survivor(session, parent)
    if relation not in rules.relations:
        raise InvalidInputError(f"unknown relation '{relation}'")
    current = _claim_slot(session, child, relation, expected_version)
    if current is not None and current.origin == "steward" and current.parent_golden_id == parent:
        return _view(current)
    findings = check_parent(session, child, parent, relation, rules)
    if findings:
        raise InvalidInputError(
            f"cannot hang {child} under {parent} by {relation}",
            [{"field": "parent", "message": f.message} for f in findings],
        )
    new = _write_steward(
        session, current, child=child, parent=parent, relation=relation, ctx=ctx, reason=reason
    )
    assert new is not None
    return _view(new)


def remove_parent(
    session: Session,
    child: int,
    relation: str,
    ctx: ChangeContext,
    *,
    expected_version: int | None = None,
    reason: str = "",
) -> EdgeView:
    """Take ``child`` off its parent by ``relation`` by hand; the sources cannot put it back.

    The removal is kept as a current steward row without a parent until `release_parent`.
    """
    child = _survivor(session, child)
    current = _claim_slot(session, child, relation, expected_version)
    if current is None or current.parent_golden_id is None:
        raise NotFoundError(f"golden record {child} has no {relation} parent")
    new = _write_steward(
        session, current, child=child, parent=None, relation=relation, ctx=ctx, reason=reason
    )
    assert new is not None
    return _view(new)


def release_parent(
    session: Session,
    child: int,
    relation: str,
    ctx: ChangeContext,
    *,
    expected_version: int | None = None,
    reason: str = "",
) -> SyncSummary:
    """Hand a (child, relation) set or removed by a steward back to the sources."""
    child = _survivor(session, child)
    current = _claim_slot(session, child, relation, expected_version)
    if current is None or current.origin != "steward":
        raise NotFoundError(f"the {relation} parent of {child} is not a steward's edit")
    changes = _Changes()
    _replace(
        session,
        changes,
        current,
        child=child,
        parent=None,
        relation=relation,
        origin="derived",
        source=None,
        now=utcnow(),
        ctx=ctx,
        reason=reason or "handed back to the sources",
    )
    changes.write(session, ctx)
    return sync_hierarchy(session, [child], ctx)


def resolve_conflict(
    session: Session,
    conflict_id: int,
    expected_version: int,
    ctx: ChangeContext,
    *,
    parent: int | None = None,
    note: str = "",
    rules: HierarchyRules = DEFAULT_RULES,
) -> HierarchyConflict:
    """Close a hierarchy task: keep the applied edge, or hang the child under ``parent``.

    With ``parent``, the choice is written as a steward edge (`set_parent`). The task is not
    reopened while the sources keep making the same claims.
    """
    task = session.get(HierarchyConflict, conflict_id)
    if task is None:
        raise NotFoundError(f"hierarchy task {conflict_id} does not exist")
    result = session.execute(
        update(HierarchyConflict)
        .where(
            HierarchyConflict.id == conflict_id,
            HierarchyConflict.version == expected_version,
            HierarchyConflict.status == "open",
        )
        .values(
            status="resolved",
            version=HierarchyConflict.version + 1,
            resolved_at=utcnow(),
            resolved_by=ctx.actor[:200],
            resolution_note=note,
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        raise ConflictError(
            f"hierarchy task {conflict_id} (version {expected_version}) was changed by "
            "someone else; reload and retry"
        )
    session.refresh(task)
    if parent is not None:
        set_parent(
            session, task.child_golden_id, parent, task.relation, ctx, reason=note, rules=rules
        )
    write_audit(
        session,
        [
            Audit(
                "hierarchy.conflict_resolved",
                ENTITY_TYPE,
                task.child_golden_id,
                None,
                {"conflict_id": task.id, "relation": task.relation, "parent": parent},
                note,
            )
        ],
        ctx,
    )
    return task


# ---------------------------------------------------------------------------------------------
# Reads


def parents_of(
    session: Session, golden_id: int, *, as_of: datetime | None = None
) -> list[EdgeView]:
    """The parent edges of a golden record (current, or at ``as_of``), by relation."""
    child = _resolve(session, golden_id).id
    query = select(HierarchyEdge).where(HierarchyEdge.child_golden_id == child)
    when = _utc(as_of)
    if when is None:
        query = query.where(HierarchyEdge.valid_to.is_(None))
    else:
        query = query.where(
            HierarchyEdge.valid_from <= when,
            or_(HierarchyEdge.valid_to.is_(None), HierarchyEdge.valid_to > when),
        )
    return [_view(e) for e in session.scalars(query.order_by(HierarchyEdge.relation))]


def history(session: Session, golden_id: int) -> list[EdgeView]:
    """Every parent edge a golden record ever had, oldest first."""
    child = _resolve(session, golden_id).id
    return [
        _view(e)
        for e in session.scalars(
            select(HierarchyEdge)
            .where(HierarchyEdge.child_golden_id == child)
            .order_by(HierarchyEdge.valid_from, HierarchyEdge.id)
        )
    ]


def _attribute_of(node: Any, value: ColumnElement[Any]) -> ColumnElement[Any]:
    """One value of the golden record ``node``, as a correlated primary-key look-up.

    A join would let the planner hash the whole golden record table for a small subtree;
    a look-up per node reached costs the subtree only, whatever the table's size.
    """
    return select(value).where(GoldenRecord.id == node).scalar_subquery()


@cache
def _select_nodes(walk: Any, *, up: bool, names: bool) -> Any:
    node = walk.c.parent if up else walk.c.child
    # Each node's name is a second look-up of its golden record: only when asked for.
    name = _attribute_of(node, _name_column()) if names else null()
    return (
        select(
            node,
            func.coalesce(_attribute_of(node, _role_column()), DEFAULT_ROLE),
            name,
            walk.c.relation,
            walk.c.depth,
            walk.c.child if up else walk.c.parent,
        )
        .select_from(walk)
        .order_by(walk.c.depth, node)
    )


def _nodes(
    session: Session, walk: Any, params: dict[str, Any], *, up: bool, names: bool
) -> list[HierarchyNode]:
    # Core, not ORM, execution: on a subtree of a thousand rows the ORM's result handling
    # costs more than the recursive query itself.
    rows = session.connection().execute(_select_nodes(walk, up=up, names=names), params)
    if up:
        return [
            HierarchyNode(gid, role, name, relation, depth, child=other)
            for gid, role, name, relation, depth, other in rows
        ]
    return [
        HierarchyNode(gid, role, name, relation, depth, parent=other)
        for gid, role, name, relation, depth, other in rows
    ]


def ancestors(
    session: Session,
    golden_id: int,
    *,
    as_of: datetime | None = None,
    names: bool = False,
) -> list[HierarchyNode]:
    """The path from a golden record up to its ultimate parent, nearest first.

    A merged ID is followed to its survivor. With ``as_of``, the edges valid at that moment;
    with ``names``, each node's name too.
    """
    start = _resolve(session, golden_id).id
    walk = _walk_cte(up=True, by_relation=False, dated=as_of is not None)
    return _nodes(session, walk, _params(start, as_of=as_of), up=True, names=names)


def descendants(
    session: Session,
    golden_id: int,
    *,
    as_of: datetime | None = None,
    relation: str | None = None,
    names: bool = False,
) -> list[HierarchyNode]:
    """Everything under a golden record, nearest first (by depth, then golden ID).

    With ``relation``, only edges of that relation are followed; with ``names``, each
    node's name is read too.
    """
    start = _resolve(session, golden_id).id
    walk = _walk_cte(up=False, by_relation=relation is not None, dated=as_of is not None)
    params = _params(start, relation=relation, as_of=as_of)
    return _nodes(session, walk, params, up=False, names=names)


def tree(session: Session, golden_id: int, *, as_of: datetime | None = None) -> dict[str, Any]:
    """The subtree under a golden record as nested JSON-ready mappings."""
    root_record = _resolve(session, golden_id)
    below = descendants(session, root_record.id, as_of=as_of, names=True)
    attributes = root_record.attributes or {}
    root: dict[str, Any] = {
        "golden_id": root_record.id,
        "role": attributes.get("account_role") or DEFAULT_ROLE,
        "name": attributes.get("legal_name") or attributes.get("trading_name"),
        "relation": None,
        "children": [],
    }
    by_id = {root_record.id: root}
    for n in below:  # nearest first, so every parent is placed before its children
        entry = {
            "golden_id": n.golden_id,
            "role": n.role,
            "name": n.name,
            "relation": n.relation,
            "children": [],
        }
        by_id[n.golden_id] = entry
        if n.parent is not None and n.parent in by_id:
            by_id[n.parent]["children"].append(entry)
    return root


def rollup(
    session: Session,
    golden_id: int,
    *,
    role: str = "ship_to",
    as_of: datetime | None = None,
) -> RollupView:
    """The golden records of one role anywhere under a node (ship-tos by default)."""
    start = _resolve(session, golden_id).id
    walk = _walk_cte(up=False, by_relation=False, dated=as_of is not None)
    members = sorted(
        int(g)
        for g in session.connection()
        .execute(_select_rollup(walk), {**_params(start, as_of=as_of), "role": role})
        .scalars()
    )
    return RollupView(start, role, len(members), tuple(members))


@cache
def _select_rollup(walk: Any) -> Any:
    return (
        select(walk.c.child)
        .select_from(walk)
        .where(_attribute_of(walk.c.child, _role_column()) == bindparam("role", type_=String()))
        .distinct()
    )


def conflicts(
    session: Session,
    *,
    status: str = "open",
    golden_id: int | None = None,
    limit: int = 50,
) -> list[HierarchyConflict]:
    """Hierarchy tasks for stewards, oldest first."""
    query = select(HierarchyConflict).where(HierarchyConflict.status == status)
    if golden_id is not None:
        query = query.where(HierarchyConflict.child_golden_id == golden_id)
    return list(session.scalars(query.order_by(HierarchyConflict.id).limit(limit)))


def claims_of(session: Session, golden_id: int) -> list[HierarchyClaim]:
    """What each member source record of a golden record says about its parents."""
    child = _resolve(session, golden_id).id
    return list(
        session.scalars(
            select(HierarchyClaim)
            .join(GoldenMember, GoldenMember.source_record_id == HierarchyClaim.source_record_id)
            .where(GoldenMember.golden_id == child)
            .order_by(HierarchyClaim.source_code, HierarchyClaim.relation)
        )
    )
