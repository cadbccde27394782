"""The hierarchy read of API v1, free of HTTP: one read-only session per call, schemas out.

Every view is one of the hub's recursive reads (`mdm.hierarchies.service`): ``ancestors``,
``descendants``, ``tree`` and ``rollup``. Those reads take ``as_of``; ``descendants`` also
follows one relation. Where a read does not take a filter itself the filter is applied here to
what it returns, with the same meaning: a relation filter follows only edges of that relation
from the record asked for, a depth limit keeps the nodes at most that many edges away.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from mdm.api.v1.hierarchy_schemas import (
    HierarchyNodeRead,
    HierarchyRead,
    HierarchyTreeRead,
    HierarchyView,
    RollupRead,
)
from mdm.canonical.models import AccountRole, RelationType
from mdm.database import UnitOfWork
from mdm.errors import InvalidInputError, NotFoundError
from mdm.golden.service import resolve
from mdm.hierarchies import service as hierarchies
from mdm.hierarchies.service import HierarchyNode

DEFAULT_ROLLUP_ROLES = (AccountRole.BILL_TO, AccountRole.SHIP_TO)
MAX_DEPTH = hierarchies.MAX_DEPTH


def parse_as_of(value: str | None) -> datetime | None:
    """The moment an ``as_of`` parameter names, in UTC: an ISO date or date and time.

    A date means its start (00:00 UTC); a time without an offset is UTC.

    >>> parse_as_of("2025-03-01")
    datetime.datetime(2025, 3, 1, 0, 0, tzinfo=datetime.timezone.utc)
    >>> parse_as_of("2025-03-01T12:30:00+02:00").isoformat()
    '2025-03-01T10:30:00+00:00'
    >>> parse_as_of(None) is None
    True
    """
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInputError(
            f"as_of {value!r} is not an ISO date or date and time",
            [{"field": "as_of", "message": "expected e.g. 2025-03-01 or 2025-03-01T12:00:00Z"}],
        ) from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:00-02:00 is in the year 10000, after datetime.max
        raise InvalidInputError(
            f"as_of {value!r} is out of range in UTC",
            [{"field": "as_of", "message": "between 0001-01-01 and 9999-12-31 in UTC"}],
        ) from None


def _check_options(
    view: HierarchyView,
    relation: RelationType | None,
    depth: int | None,
    roles: Sequence[AccountRole] | None,
) -> None:
    """Refuse options the view does not take, rather than ignore them silently."""
    errors: list[dict[str, str]] = []
    if view == "rollup":
        errors.extend(
            {"field": name, "message": "not available with view=rollup"}
            for name, given in (("relation", relation), ("depth", depth))
            if given is not None
        )
    elif roles:
        errors.append({"field": "role", "message": "only with view=rollup"})
    if errors:
        raise InvalidInputError(f"options that view={view} does not take", errors)


def _node_read(node: HierarchyNode) -> HierarchyNodeRead:
    return HierarchyNodeRead(
        golden_id=node.golden_id,
        role=node.role,
        name=node.name,
        relation=node.relation,
        depth=node.depth,
        parent=node.parent,
        child=node.child,
    )


def _path_by(nodes: Sequence[HierarchyNode], start: int, relation: str) -> list[HierarchyNode]:
    """The part of an ancestor walk that follows only one relation up from ``start``."""
    path: list[HierarchyNode] = []
    below = start
    for node in nodes:  # nearest first, so each step's node follows the one below it
        if node.child == below and node.relation == relation:
            path.append(node)
            below = node.golden_id
    return path


def _within(nodes: Sequence[HierarchyNode], depth: int | None) -> list[HierarchyNode]:
    return [n for n in nodes if depth is None or n.depth <= depth]


def _pruned(
    node: dict[str, Any], relation: str | None, depth: int | None, level: int = 0
) -> dict[str, Any]:
    """A nested tree without the branches a relation filter or depth limit leaves out."""
    children = []
    if depth is None or level < depth:
        children = [
            _pruned(child, relation, depth, level + 1)
            for child in node["children"]
            if relation is None or child["relation"] == relation
        ]
    return {**node, "children": children}


def read_hierarchy(
    uow: UnitOfWork,
    golden_id: int,
    *,
    view: HierarchyView,
    as_of: datetime | None = None,
    relation: RelationType | None = None,
    depth: int | None = None,
    roles: Sequence[AccountRole] | None = None,
) -> HierarchyRead:
    """A golden record's hierarchy in one view, now or as of a past moment.

    A merged ID is read through its survivor (``redirected_from`` names the ID asked for).
    ``relation`` and ``depth`` apply to ancestors, descendants and tree; ``roles`` (default
    bill-to and ship-to) to rollup. Raises `NotFoundError` for an unknown ID or a product,
    `InvalidInputError` for an option the view does not take.
    """
    _check_options(view, relation, depth, roles)
    followed = None if relation is None else relation.value
    with uow.session() as session:
        golden, redirected_from = resolve(session, golden_id)
        if golden.entity_type != hierarchies.ENTITY_TYPE:
            raise NotFoundError(
                f"golden record {golden_id} is a {golden.entity_type}; "
                "hierarchies are kept between customers"
            )
        section: dict[str, Any]
        if view == "ancestors":
            nodes = hierarchies.ancestors(session, golden.id, as_of=as_of, names=True)
            if followed is not None:
                nodes = _path_by(nodes, golden.id, followed)
            section = {"ancestors": [_node_read(n) for n in _within(nodes, depth)]}
        elif view == "descendants":
            nodes = hierarchies.descendants(
                session, golden.id, as_of=as_of, relation=followed, names=True
            )
            section = {"descendants": [_node_read(n) for n in _within(nodes, depth)]}
        elif view == "tree":
            nested = hierarchies.tree(session, golden.id, as_of=as_of)
            section = {"tree": HierarchyTreeRead.model_validate(_pruned(nested, followed, depth))}
        else:
            rollups = [
                hierarchies.rollup(session, golden.id, role=role.value, as_of=as_of)
                for role in roles or DEFAULT_ROLLUP_ROLES
            ]
            section = {
                "rollup": [
                    RollupRead(role=r.role, count=r.count, members=list(r.members)) for r in rollups
                ]
            }
    return HierarchyRead(
        golden_id=golden.id,
        status=golden.status,
        redirected_from=redirected_from,
        view=view,
        as_of=as_of,
        relation=followed,
        depth=depth,
        **section,
    )
