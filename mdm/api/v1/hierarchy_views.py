"""API v1 hierarchy controller: a golden record's ancestors, descendants, tree or roll-up.

Thin, like the other controllers: parse, call `hierarchy_service.read_hierarchy`, and add the
``Content-Location`` of the survivor when a merged ID was asked for (as ``GET /v1/golden/{id}``
does).
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.openapi.spec import Example
from litestar.params import QueryParameter

from mdm.api.v1 import hierarchy_service
from mdm.api.v1.hierarchy_schemas import HierarchyRead, HierarchyView
from mdm.api.v1.views import GoldenId, problems
from mdm.canonical.models import AccountRole, RelationType
from mdm.database import UnitOfWork


class HierarchyController(Controller):
    """The customer hierarchy around a golden record, now or as of a past moment."""

    path = "/v1/golden/{golden_id:int}/hierarchy"
    tags = ("hierarchies",)

    @get(
        "/",
        sync_to_thread=True,
        summary="Read a golden record's hierarchy: ancestors, descendants, tree or roll-up",
        responses=problems(404),
    )
    def read_hierarchy(
        self,
        request: Request[Any, Any, Any],
        uow: NamedDependency[UnitOfWork],
        golden_id: GoldenId,
        view: Annotated[
            HierarchyView,
            QueryParameter(
                description="ancestors (path up), descendants (flat, nearest first), "
                "tree (nested) or rollup (members of each role under it)"
            ),
        ] = "tree",
        as_of: Annotated[
            str | None,
            QueryParameter(
                description="read the hierarchy as it was then: an ISO date (its start, UTC) "
                "or date and time (UTC unless an offset is given)",
                examples=[
                    Example(summary="a date", value="2025-03-01"),
                    Example(summary="a moment", value="2025-03-01T12:00:00Z"),
                ],
            ),
        ] = None,
        relation: Annotated[
            RelationType | None,
            QueryParameter(description="follow only this relation (not with view=rollup)"),
        ] = None,
        depth: Annotated[
            int | None,
            QueryParameter(
                ge=1,
                le=hierarchy_service.MAX_DEPTH,
                description="walk at most this many levels (not rollup)",
            ),
        ] = None,
        role: Annotated[
            list[AccountRole] | None,
            QueryParameter(
                description="view=rollup: roles to count, repeatable (default bill_to, ship_to)"
            ),
        ] = None,
    ) -> Response[HierarchyRead]:
        """The hierarchy around a golden record, in one of four views (default tree).

        A merged ID answers 200 with the survivor's hierarchy, ``redirected_from`` set to the
        ID asked for and ``Content-Location`` naming the survivor's URL; an unknown ID, or a
        product, is 404. Options a view does not take answer 422.
        """
        read = hierarchy_service.read_hierarchy(
            uow,
            golden_id,
            view=view,
            as_of=hierarchy_service.parse_as_of(as_of),
            relation=relation,
            depth=depth,
            roles=role,
        )
        headers = {}
        if read.redirected_from is not None:
            query = request.url.query
            location = f"/v1/golden/{read.golden_id}/hierarchy"
            headers["Content-Location"] = f"{location}?{query}" if query else location
        return Response(read, headers=headers)


HIERARCHY_CONTROLLERS: list[type[Controller]] = [HierarchyController]
