"""API v1 controllers: thin, each handler parses the request and calls one service function.

Dependencies come from the app (``uow``, ``settings``, ``metrics``, ``caller``: the
authenticated client) and from each controller (``ctx``, the change context of the request;
``expected_version`` / ``expected_versions``, from If-Match). Who may call which controller
is decided in one place, the app factory (`mdm.api.app`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Response, delete, get, post, put
from litestar.di import NamedDependency, Provide
from litestar.enums import RequestEncodingType
from litestar.exceptions import ValidationException
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import Example
from litestar.params import (
    BodyKwarg,
    FromPath,
    FromQuery,
    HeaderParameter,
    JSONBody,
    PathParameter,
    QueryParameter,
)
from litestar.types import ExceptionHandlersMap

from mdm.api.auth import TOKEN_PATH, Caller, client_credentials
from mdm.api.coalesce import Coalescer
from mdm.api.dependencies import (
    etag,
    provide_change_context,
    provide_expected_version,
    provide_expected_versions,
)
from mdm.api.metrics import ApiMetrics
from mdm.api.problems import oauth_problem_response
from mdm.api.v1 import service
from mdm.api.v1.schemas import (
    MAX_ID,
    NO_NUL,
    SOURCE_CODE,
    BatchCreate,
    BatchRead,
    FeedPage,
    GoldenPage,
    GoldenRead,
    MergeCreate,
    OAuthProblemRead,
    OverrideCreate,
    ProblemRead,
    RecordRead,
    ReviewDecisionCreate,
    ReviewDecisionRead,
    ReviewPage,
    ReviewTaskRead,
    TokenCreate,
    TokenRead,
    UnmergeCreate,
    UnmergeRead,
    XrefRead,
)
from mdm.canonical.models import MAX_SOURCE_ID, EntityType
from mdm.database import UnitOfWork
from mdm.outbox.service import ChangeContext
from mdm.settings import Settings

# The look-ups by golden ID and by source ID run on the event loop, not in a worker thread:
# each is one indexed statement (`mdm.golden.lookup`, a fraction of a millisecond), less than
# the hand-over to a thread and back costs. Everything else that touches the database runs in
# a thread (sync_to_thread=True).
LOOK_UPS_IN_A_THREAD = False

_CTX = {"ctx": Provide(provide_change_context, sync_to_thread=False)}
_VERSIONED = {
    **_CTX,
    "expected_version": Provide(provide_expected_version, sync_to_thread=False),
    "expected_versions": Provide(provide_expected_versions, sync_to_thread=False),
}

UoW = NamedDependency[UnitOfWork]
Ctx = NamedDependency[ChangeContext]
Client = NamedDependency[Caller]
Metrics = NamedDependency[ApiMetrics]
Writes = NamedDependency[Coalescer[service.RecordPut, RecordRead]]
Version = NamedDependency[int]
Limit = Annotated[int, QueryParameter(ge=1, le=500, description="page size")]
GoldenId = Annotated[int, PathParameter(ge=1, le=MAX_ID, description="a golden record's ID")]
TaskId = Annotated[int, PathParameter(ge=1, le=MAX_ID, description="a review task's ID")]
SourceCode = Annotated[
    str,
    PathParameter(
        pattern=SOURCE_CODE,
        description="a registered source system's code",
        examples=[Example(summary="the ERP", value="erp")],
    ),
]
SourceId = Annotated[
    str,
    PathParameter(
        pattern=NO_NUL,
        description=f"the record's ID in its source system: at most {MAX_SOURCE_ID} "
        "characters, slashes allowed",
        examples=[Example(summary="an ERP customer number", value="100")],
    ),
]
GoldenStatus = Literal["active", "merged", "retired"]
ReviewStatus = Literal["open", "accepted", "rejected", "superseded"]


_PROBLEM_TEXT = {
    400: "malformed request",
    401: "no bearer token, or one that is expired, forged, for another audience or revoked",
    403: "the token's scopes do not cover the request (code insufficient_scope)",
    404: "no such resource (or not one a partner client shares)",
    409: "conflicts with the current state (or lost a race with another change)",
    412: "If-Match names a stale version",
    413: "the body is over the size limit (payload_too_large), or a batch over the record "
    "limit (batch_too_large)",
    422: "invalid input; errors lists every failing field",
    428: "If-Match is missing",
    429: "too many requests: wait Retry-After seconds",
}


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the problem responses a handler can give.

    Every handler of an authenticated route can answer 400, 401, 403, 422 and 429.
    """
    return {
        status: ResponseSpec(
            ProblemRead,
            description=_PROBLEM_TEXT[status],
            media_type="application/problem+json",
            generate_examples=False,
        )
        for status in (400, 401, 403, 422, 429, *statuses)
    }


_READ = problems(404)
# Changes state the version they saw (If-Match); a body can be over the size limit.
_CHANGE = problems(404, 409, 412, 428)
_CHANGE_WITH_BODY = problems(404, 409, 412, 413, 428)

_RECORD_EXAMPLE = Example(
    summary="a customer from the ERP",
    value={
        "legal_name": "Acme Werkzeuge GmbH",
        "identifiers": [{"scheme": "vat", "value": "DE136695976", "country": "DE"}],
        "addresses": [
            {"type": "legal", "lines": ["Hauptstraße 12"], "city": "Köln", "country": "DE"}
        ],
        "phones": ["0221 1234567"],
    },
)
RecordBody = Annotated[
    dict[str, Any],
    BodyKwarg(
        media_type=RequestEncodingType.JSON,
        description="a canonical customer or product; source_id may be omitted",
        examples=[_RECORD_EXAMPLE],
    ),
]


def _body(summary: str, value: dict[str, Any]) -> BodyKwarg:
    return BodyKwarg(
        media_type=RequestEncodingType.JSON, examples=[Example(summary=summary, value=value)]
    )


BatchBody = Annotated[
    BatchCreate,
    _body("one record", {"records": [{**_RECORD_EXAMPLE.value, "source_id": "100"}]}),
]
OverrideBody = Annotated[
    OverrideCreate,
    _body(
        "pin the legal name",
        {"attribute": "legal_name", "value": "ACME Werkzeuge GmbH & Co.", "reason": "registry"},
    ),
]
MergeBody = Annotated[
    MergeCreate, _body("merge two", {"golden_ids": [12, 57], "reason": "same VAT number"})
]
UnmergeBody = Annotated[
    UnmergeCreate,
    _body("split off", {"source": "crm", "source_id": "0015A", "reason": "another entity"}),
]


def _source_id(path_value: str) -> str:
    # A ``path`` parameter keeps slashes (source IDs may contain them) and starts with one.
    return path_value.removeprefix("/")


class RecordController(Controller):
    """Source systems send records: one at a time (PUT), in batches (POST), or delete them."""

    path = "/v1/sources/{source:str}/records/{entity:str}"
    tags = ("source records",)
    dependencies = _CTX

    @put(
        "/{source_id:path}",
        sync_to_thread=True,
        responses={
            201: ResponseSpec(RecordRead, description="a new record", generate_examples=False),
            **problems(404, 413),
        },
        summary="Send one record (create or change it) and match it",
    )
    def put_record(
        self,
        uow: UoW,
        ctx: Ctx,
        writes: Writes,
        source: SourceCode,
        entity: FromPath[EntityType],
        source_id: SourceId,
        data: RecordBody,
    ) -> Response[RecordRead]:
        """Store a canonical record idempotently and match it in one transaction.

        Answers 201 for a new record, 200 for a changed or unchanged one.
        """
        read = service.put_record(
            uow, ctx, source, entity, _source_id(source_id), data, writes=writes
        )
        return Response(read, status_code=201 if read.status == "new" else 200)

    @delete(
        "/{source_id:path}",
        sync_to_thread=True,
        status_code=200,
        summary="Delete a record",
        responses=_READ,
    )
    def delete_record(
        self,
        uow: UoW,
        ctx: Ctx,
        metrics: Metrics,
        source: SourceCode,
        entity: FromPath[EntityType],
        source_id: SourceId,
    ) -> RecordRead:
        """Store a tombstone: the record leaves its golden record (retired if it was the last)."""
        return service.delete_record(
            uow, ctx, source, entity, _source_id(source_id), metrics=metrics
        )

    @post(
        "/",
        sync_to_thread=True,
        status_code=200,
        summary="Send a batch of records",
        responses=problems(404, 413),
    )
    def post_batch(
        self,
        uow: UoW,
        settings: NamedDependency[Settings],
        ctx: Ctx,
        metrics: Metrics,
        source: SourceCode,
        entity: FromPath[EntityType],
        data: BatchBody,
    ) -> BatchRead:
        """Store and match a batch; every record gets its own outcome (invalid ones a reason).

        More records than ``MDM_MAX_BATCH_RECORDS`` answer 413 and store nothing.
        """
        return service.ingest_records(
            uow, ctx, source, entity, data.records, settings.max_batch_records, metrics=metrics
        )


class GoldenController(Controller):
    """Golden records: read and list (a partner client sees only those it shares)."""

    path = "/v1/golden"
    tags = ("golden records",)

    @get(
        "/",
        sync_to_thread=True,
        summary="List golden records (cursor pagination)",
        responses=problems(),
    )
    def list_goldens(
        self,
        uow: UoW,
        caller: Client,
        entity_type: FromQuery[EntityType | None] = None,
        status: FromQuery[GoldenStatus | None] = None,
        after: Annotated[
            str | None, QueryParameter(description="the 'next' cursor of the previous page")
        ] = None,
        limit: Limit = 50,
    ) -> GoldenPage:
        """Golden records in ID order; pass ``next`` as ``after`` for the following page."""
        return service.list_goldens(
            uow,
            entity_type=entity_type,
            status=status,
            after=after,
            limit=limit,
            partner=caller.source,
        )

    @get(
        "/{golden_id:int}",
        sync_to_thread=LOOK_UPS_IN_A_THREAD,
        summary="Read a golden record",
        responses=_READ,
    )
    def read_golden(self, uow: UoW, caller: Client, golden_id: GoldenId) -> Response[GoldenRead]:
        """A golden record with provenance and cross-reference.

        A merged ID answers 200 with the survivor, ``redirected_from`` set to the ID asked for
        and ``Content-Location`` naming the survivor's URL.
        """
        read = service.read_golden(uow, golden_id, partner=caller.source)
        headers = etag(read.version)
        if read.redirected_from is not None:
            headers["Content-Location"] = f"/v1/golden/{read.golden_id}"
        return Response(read, headers=headers)


class GoldenStewardController(Controller):
    """The steward's changes to golden records: overrides, merge and unmerge (If-Match)."""

    path = "/v1/golden"
    tags = ("golden records",)
    dependencies = _VERSIONED

    @post(
        "/{golden_id:int}/override",
        sync_to_thread=True,
        status_code=200,
        responses=_CHANGE_WITH_BODY,
    )
    def override(
        self,
        uow: UoW,
        ctx: Ctx,
        expected_version: Version,
        golden_id: GoldenId,
        data: OverrideBody,
    ) -> Response[GoldenRead]:
        """Pin an attribute to a value (needs ``If-Match``); answers the new version as ETag."""
        read = service.override_attribute(
            uow, ctx, golden_id, expected_version, data.attribute, data.value, data.reason
        )
        return Response(read, headers=etag(read.version))

    @delete(
        "/{golden_id:int}/override/{attribute:str}",
        sync_to_thread=True,
        status_code=200,
        responses=_CHANGE,
    )
    def unpin(
        self,
        uow: UoW,
        ctx: Ctx,
        expected_version: Version,
        golden_id: GoldenId,
        attribute: Annotated[
            str,
            PathParameter(max_length=100, pattern=NO_NUL, description="the pinned attribute"),
        ],
    ) -> Response[GoldenRead]:
        """Remove an override (needs ``If-Match``); the survivorship rule applies again."""
        read = service.unpin_attribute(uow, ctx, golden_id, expected_version, attribute)
        return Response(read, headers=etag(read.version))

    @post(
        "/merge",
        sync_to_thread=True,
        status_code=200,
        summary="Merge golden records",
        responses=_CHANGE_WITH_BODY,
    )
    def merge(
        self,
        uow: UoW,
        ctx: Ctx,
        expected_versions: NamedDependency[list[int]],
        data: MergeBody,
    ) -> Response[GoldenRead]:
        """Merge golden records; ``If-Match`` lists each one's version in ``golden_ids`` order.

        The oldest ID survives; the others redirect to it.
        """
        read = service.merge_goldens(uow, ctx, data.golden_ids, expected_versions, data.reason)
        return Response(read, headers=etag(read.version))

    @post(
        "/{golden_id:int}/unmerge",
        sync_to_thread=True,
        status_code=200,
        responses=_CHANGE_WITH_BODY,
    )
    def unmerge(
        self,
        uow: UoW,
        ctx: Ctx,
        expected_version: Version,
        golden_id: GoldenId,
        data: UnmergeBody,
    ) -> Response[UnmergeRead]:
        """Split a source record off this golden record (needs ``If-Match``)."""
        read = service.unmerge_record(
            uow, ctx, golden_id, expected_version, data.source, data.source_id, data.reason
        )
        return Response(read, headers=etag(read.version))


class XrefController(Controller):
    """The cross-reference: from any system's ID to the golden record and the other IDs."""

    path = "/v1/xref"
    tags = ("golden records",)

    @get(
        "/{source:str}/{entity:str}/{source_id:path}",
        sync_to_thread=LOOK_UPS_IN_A_THREAD,
        responses=_READ,
    )
    def lookup(
        self,
        uow: UoW,
        caller: Client,
        source: SourceCode,
        entity: FromPath[EntityType],
        source_id: SourceId,
    ) -> XrefRead:
        """The golden record of a source record and every other system's ID for it."""
        return service.lookup_xref(
            uow, source, entity, _source_id(source_id), partner=caller.source
        )


class FeedController(Controller):
    """The change feed: every change as an ordered event, resumable by sequence number."""

    path = "/v1/feed"
    tags = ("change feed",)

    @get("/", summary="Read the change feed (optionally long-polling)", responses=problems())
    async def feed(
        self,
        uow: UoW,
        after: Annotated[
            int, QueryParameter(ge=0, le=MAX_ID, description="last seq already seen")
        ] = 0,
        limit: Limit = 100,
        entity_type: FromQuery[EntityType | None] = None,
        event_type: Annotated[
            list[str] | None, QueryParameter(description="repeat to ask for several types")
        ] = None,
        wait: Annotated[
            int, QueryParameter(ge=0, le=60, description="seconds to wait for a new event")
        ] = 0,
    ) -> FeedPage:
        """Events after ``after``, oldest first; with ``wait`` an empty answer waits for one."""
        return await service.wait_for_feed(
            uow,
            after=after,
            limit=limit,
            entity_type=entity_type,
            event_types=event_type,
            wait=wait,
        )


class ReviewController(Controller):
    """The steward review queue."""

    path = "/v1/review"
    tags = ("stewardship",)
    dependencies = _VERSIONED

    @get(
        "/",
        sync_to_thread=True,
        summary="List review tasks, most urgent first",
        responses=problems(),
    )
    def list_reviews(
        self,
        uow: UoW,
        status: FromQuery[ReviewStatus] = "open",
        entity_type: FromQuery[EntityType | None] = None,
        limit: Limit = 50,
        offset: Annotated[int, QueryParameter(ge=0, le=MAX_ID)] = 0,
    ) -> ReviewPage:
        """Review tasks with both records and the engine's explanation."""
        return service.list_reviews(
            uow, status=status, entity_type=entity_type, limit=limit, offset=offset
        )

    @get("/{task_id:int}", sync_to_thread=True, summary="Read a review task", responses=_READ)
    def read_review(self, uow: UoW, task_id: TaskId) -> Response[ReviewTaskRead]:
        """One review task; its version is the ETag to send back when deciding it."""
        read = service.read_review(uow, task_id)
        return Response(read, headers=etag(read.version))

    @post(
        "/{task_id:int}/accept",
        sync_to_thread=True,
        status_code=200,
        responses=_CHANGE_WITH_BODY,
    )
    def accept(
        self,
        uow: UoW,
        ctx: Ctx,
        expected_version: Version,
        task_id: TaskId,
        data: JSONBody[ReviewDecisionCreate | None] = None,
    ) -> Response[ReviewDecisionRead]:
        """The two records are the same: their golden records merge (needs ``If-Match``)."""
        read = service.decide_review(
            uow, ctx, task_id, expected_version, same=True, note=data.note if data else ""
        )
        return Response(read, headers=etag(read.version))

    @post(
        "/{task_id:int}/reject",
        sync_to_thread=True,
        status_code=200,
        responses=_CHANGE_WITH_BODY,
    )
    def reject(
        self,
        uow: UoW,
        ctx: Ctx,
        expected_version: Version,
        task_id: TaskId,
        data: JSONBody[ReviewDecisionCreate | None] = None,
    ) -> Response[ReviewDecisionRead]:
        """The records differ: they are never proposed or merged again (needs ``If-Match``)."""
        read = service.decide_review(
            uow, ctx, task_id, expected_version, same=False, note=data.note if data else ""
        )
        return Response(read, headers=etag(read.version))


TokenForm = Annotated[
    TokenCreate,
    BodyKwarg(
        media_type=RequestEncodingType.URL_ENCODED,
        examples=[
            Example(
                summary="client credentials in the form",
                value={
                    "grant_type": "client_credentials",
                    "client_id": "acme-dist-3f9a1c2e",
                    "client_secret": "…",
                },
            )
        ],
    ),
]
_TOKEN_PROBLEMS = {
    status: ResponseSpec(
        OAuthProblemRead,
        description=text,
        media_type="application/json",
        generate_examples=False,
    )
    for status, text in {
        400: "invalid_request, invalid_scope or unsupported_grant_type (RFC 6749 §5.2)",
        401: "invalid_client: unknown or revoked client, or a wrong secret",
    }.items()
}
# RFC 6749 §5.2: a form the endpoint cannot read is invalid_request, in the OAuth2 shape.
_TOKEN_ERRORS: ExceptionHandlersMap = {ValidationException: oauth_problem_response}
# RFC 6749 §5.1: tokens must not be cached.
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class TokenController(Controller):
    """OAuth2 token endpoint: client credentials in, a short-lived bearer token out."""

    path = TOKEN_PATH
    tags = ("authentication",)
    exception_handlers = _TOKEN_ERRORS

    @post(
        "/",
        sync_to_thread=True,
        status_code=200,
        summary="Get an access token (OAuth2 client credentials)",
        responses={**_TOKEN_PROBLEMS, 413: problems(413)[413], 429: problems()[429]},
    )
    def token(
        self,
        uow: UoW,
        settings: NamedDependency[Settings],
        data: TokenForm,
        authorization: Annotated[
            str | None,
            HeaderParameter(
                name="Authorization",
                description="HTTP Basic client credentials, instead of the form's",
                required=False,
            ),
        ] = None,
    ) -> Response[TokenRead]:
        """Trade a client's ID and secret for a bearer token (form-encoded, RFC 6749 §4.4).

        The credentials come in the form or as HTTP Basic; ``scope`` may narrow the token to
        some of the client's scopes. The token expires after ``expires_in`` seconds.
        """
        client_id, client_secret = client_credentials(
            authorization, data.client_id, data.client_secret
        )
        read = service.issue_token(
            uow,
            settings,
            grant_type=data.grant_type,
            client_id=client_id,
            client_secret=client_secret,
            scope=data.scope,
        )
        return Response(read, headers=_NO_STORE)
