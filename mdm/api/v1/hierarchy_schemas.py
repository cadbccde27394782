"""Response schemas of the hierarchy read (``GET /v1/golden/{id}/hierarchy``).

One resource, `HierarchyRead`, whose sections depend on the view asked for: ``ancestors``,
``descendants``, ``tree`` or ``rollup``; the others are absent (null).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

HierarchyView = Literal["ancestors", "descendants", "tree", "rollup"]


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HierarchyNodeRead(_Schema):
    """A golden record reached by walking the hierarchy up or down, and how it was reached."""

    golden_id: int
    role: str = Field(examples=["bill_to"], description="the golden record's account role")
    name: str | None = Field(examples=["Keller Antriebstechnik GmbH"])
    relation: str = Field(
        examples=["bill_to_of"], description="relation of the edge by which it was reached"
    )
    depth: int = Field(ge=1, description="edges between it and the record asked for")
    parent: int | None = Field(
        default=None, description="descendants: the golden record it hangs under"
    )
    child: int | None = Field(
        default=None, description="ancestors: the golden record below it on the path"
    )


class HierarchyTreeRead(_Schema):
    """A golden record with everything under it, nested."""

    golden_id: int
    role: str
    name: str | None
    relation: str | None = Field(
        description="relation to its parent in the tree (none at the root)"
    )
    children: list[HierarchyTreeRead]


class RollupRead(_Schema):
    """The golden records of one role anywhere under the record asked for."""

    role: str = Field(examples=["ship_to"])
    count: int
    members: list[int] = Field(description="their golden IDs, ascending")


class HierarchyRead(_Schema):
    """A golden record's place in the customer hierarchy, in the view asked for."""

    golden_id: int = Field(description="the golden record read (the survivor of a merged ID)")
    status: str = Field(description="active, or retired (a retired record has no edges)")
    redirected_from: int | None = Field(
        default=None, description="the ID asked for, when it was merged into golden_id"
    )
    view: HierarchyView
    as_of: datetime | None = Field(
        default=None, description="the moment the hierarchy was read at (UTC); none = now"
    )
    relation: str | None = Field(default=None, description="the only relation followed")
    depth: int | None = Field(default=None, description="the most levels walked")
    ancestors: list[HierarchyNodeRead] | None = Field(
        default=None,
        description="view=ancestors: the path up to the ultimate parent, nearest first",
    )
    descendants: list[HierarchyNodeRead] | None = Field(
        default=None, description="view=descendants: everything under it, by depth then golden ID"
    )
    tree: HierarchyTreeRead | None = Field(
        default=None, description="view=tree: the record with its subtree, nested"
    )
    rollup: list[RollupRead] | None = Field(
        default=None, description="view=rollup: the records of each role asked for under it"
    )
