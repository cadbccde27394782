"""Request and response schemas of API v1 (pydantic), named by fixed suffixes.

``XCreate`` is a request body that creates or changes something, ``XRead`` a resource as the
API returns it, ``XPage`` one page of a list. Fields are only ever added within v1.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from mdm.canonical.models import MAX_SOURCE_ID

RecordStatus = Literal["new", "changed", "unchanged", "deleted", "rejected"]

# IDs and sequence numbers are 64-bit integers (BIGINT): a larger number names nothing, and
# the database drivers refuse it.
MAX_ID = 2**63 - 1
# PostgreSQL's text and jsonb cannot hold NUL (U+0000); no name, ID or note of the hub needs it.
NO_NUL = r"^[^\x00]*$"
# A source system's code, as `mdm.mapping.models.SourceInfo` defines it.
SOURCE_CODE = r"^[a-z][a-z0-9_]{1,39}$"


def in_utc(moment: datetime) -> datetime:
    """A moment with its offset: one the database gave back without any is in UTC.

    The hub writes every moment in UTC (`mdm.database.utcnow`), but SQLite keeps no offset,
    and RFC 3339 (the schema's ``date-time``) requires one.

    >>> in_utc(datetime(2025, 3, 1, 12, 0)).isoformat()
    '2025-03-01T12:00:00+00:00'
    """
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


UtcDateTime = Annotated[datetime, AfterValidator(in_utc)]


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldErrorRead(_Schema):
    """One problem with one field of a record."""

    field: str = Field(examples=["identifiers.0.country"])
    message: str = Field(examples=["'XX' is not an ISO-3166 country code or name"])


class RecordRead(_Schema):
    """What happened to one source record sent to the hub, and where it now belongs."""

    source: str = Field(examples=["erp"])
    entity_type: str = Field(examples=["customer"])
    source_id: str = Field(examples=["100"])
    status: RecordStatus = Field(
        description="new, changed, unchanged (same content as before) or deleted"
    )
    version: int | None = Field(description="the source record's version after this request")
    golden_id: int | None = Field(
        description="the golden record the source record belongs to now (none once deleted)"
    )
    in_review: bool = Field(description="whether an open steward review task names the record")
    review_task_ids: list[int] = Field(default_factory=list)


class BatchCreate(_Schema):
    """A batch of canonical records of one source and entity type; each names its source ID."""

    records: list[dict[str, Any]] = Field(
        description="canonical records; each must carry its source_id"
    )


class BatchItemRead(_Schema):
    """The outcome of one record of a batch (in the order sent)."""

    position: int = Field(description="0-based index of the record in the batch")
    source_id: str | None
    status: RecordStatus
    version: int | None = None
    golden_id: int | None = None
    errors: list[FieldErrorRead] = Field(default_factory=list)


class BatchRead(_Schema):
    """The outcome of a batch: valid records landed, invalid ones are listed with reasons."""

    batch_id: int
    accepted: int = Field(description="records stored as new or changed")
    unchanged: int
    rejected: int
    results: list[BatchItemRead]


class XrefEntryRead(_Schema):
    """One source system's ID of a golden record."""

    source: str = Field(examples=["crm"])
    source_id: str = Field(examples=["0015A"])
    link_reason: str = Field(examples=["auto"], description="auto, new or steward")
    linked_at: UtcDateTime


class GoldenSummaryRead(_Schema):
    """A golden record without provenance and cross-reference (list pages)."""

    golden_id: int
    entity_type: str
    status: str = Field(description="active, merged or retired")
    version: int
    merged_into: int | None = None
    attributes: dict[str, Any]
    updated_at: UtcDateTime


class GoldenRead(GoldenSummaryRead):
    """A golden record with the provenance of each attribute and every system's ID for it."""

    provenance: dict[str, Any]
    xref: list[XrefEntryRead]
    redirected_from: int | None = Field(
        default=None,
        description="the ID asked for, when it was merged into this record",
    )


class GoldenPage(_Schema):
    """One page of golden records, in ID order; follow ``next`` for the following page."""

    items: list[GoldenSummaryRead]
    next: str | None = Field(description="cursor of the next page (pass as after=); none at end")


class XrefRead(_Schema):
    """A source record's golden record and the IDs every other system has for it."""

    source: str
    entity_type: str
    source_id: str
    golden: GoldenRead
    other_ids: list[XrefEntryRead] = Field(description="the other systems' records")


class EventRead(_Schema):
    """One change-feed event."""

    seq: int = Field(description="gap-free sequence number, in commit order")
    event_type: str = Field(examples=["golden.updated"])
    entity_type: str
    golden_id: int | None
    golden_version: int | None
    payload: dict[str, Any]
    cause: str
    correlation_id: str | None = Field(description="trace ID of the request that caused it")
    occurred_at: UtcDateTime


class FeedPage(_Schema):
    """Events after a sequence number, oldest first."""

    events: list[EventRead]
    next_after: int = Field(description="pass as after= to resume (the last seq seen)")
    newest_seq: int = Field(description="the newest sequence number written so far")


class ReviewRecordRead(_Schema):
    """One side of a review task: a source record and its golden record."""

    source_record_id: int
    source: str
    source_id: str
    golden_id: int | None
    canonical: dict[str, Any] | None


class ReviewTaskRead(_Schema):
    """A pair of source records the engine could not decide."""

    task_id: int
    entity_type: str
    status: str = Field(description="open, accepted, rejected or superseded")
    version: int
    probability: float
    match_weight: float
    priority: float
    reason: str
    explanation: dict[str, Any]
    left: ReviewRecordRead
    right: ReviewRecordRead
    created_at: UtcDateTime
    resolved_at: UtcDateTime | None = None
    resolved_by: str | None = None
    resolution_note: str | None = None


class ReviewPage(_Schema):
    """One page of the review queue, most urgent first."""

    items: list[ReviewTaskRead]
    limit: int
    offset: int


class ReviewDecisionCreate(_Schema):
    """A steward's decision on a review task."""

    note: str = Field(default="", max_length=2000, pattern=NO_NUL)


class ReviewDecisionRead(_Schema):
    """The outcome of a decision: the task's new state and, on accept, the shared golden ID."""

    task_id: int
    status: str
    version: int
    golden_id: int | None


class OverrideCreate(_Schema):
    """Pin one attribute of a golden record to a value until it is unpinned."""

    attribute: str = Field(min_length=1, max_length=100, pattern=NO_NUL)
    value: Any
    reason: str = Field(default="", max_length=2000, pattern=NO_NUL)


class MergeCreate(_Schema):
    """Golden records to merge by hand; the oldest (lowest ID) survives."""

    golden_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(min_length=2, max_length=100)
    reason: str = Field(default="", max_length=2000, pattern=NO_NUL)


class UnmergeCreate(_Schema):
    """A source record to split off a golden record."""

    source: str = Field(pattern=SOURCE_CODE, examples=["crm"])
    source_id: str = Field(min_length=1, max_length=MAX_SOURCE_ID, pattern=NO_NUL)
    reason: str = Field(default="", max_length=2000, pattern=NO_NUL)


class UnmergeRead(_Schema):
    """Where the split-off record went, and the version of the golden record it left."""

    golden_id: int = Field(description="the golden record the source record now belongs to")
    unmerged_from: int
    version: int = Field(description="version of the golden record it left")


class HealthRead(_Schema):
    """Liveness or readiness of the process."""

    status: Literal["ok", "ready"]
    checks: dict[str, str] = Field(default_factory=dict)


class ProblemRead(_Schema):
    """An error, as RFC 9457 problem details (media type ``application/problem+json``)."""

    type: str = Field(examples=["urn:mdm-hub:problem:precondition_failed"])
    title: str = Field(examples=["Precondition Failed"])
    status: int = Field(examples=[412])
    detail: str = Field(examples=["golden record 12 is at version 4, not 3"])
    code: str = Field(description="stable: clients branch on it", examples=["precondition_failed"])
    trace_id: str = Field(description="also in the X-Request-ID header; quote it in bug reports")
    errors: list[FieldErrorRead] | None = Field(
        default=None, description="every failing field (validation problems only)"
    )


class TokenCreate(BaseModel):
    """An OAuth2 token request (form-encoded, RFC 6749 §4.4); unknown parameters are ignored.

    The client's credentials come here or as HTTP Basic, not both.
    """

    model_config = ConfigDict(extra="ignore")

    grant_type: str | None = Field(default=None, examples=["client_credentials"])
    client_id: str | None = Field(default=None, examples=["acme-dist-3f9a1c2e"])
    client_secret: str | None = None
    scope: str | None = Field(
        default=None,
        description="space-separated scopes to narrow the token to (default: all the client's)",
        examples=["golden:read"],
    )


class TokenRead(_Schema):
    """An access token (RFC 6749 §5.1): send it as ``Authorization: Bearer <access_token>``."""

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - the RFC's type name
    expires_in: int = Field(description="seconds the token stays valid", examples=[900])
    scope: str = Field(description="the scopes granted, space-separated", examples=["admin"])


class OAuthProblemRead(ProblemRead):
    """A refused token request: RFC 6749 §5.2's members alongside the problem details."""

    error: str = Field(
        description="invalid_request, invalid_client, invalid_scope or unsupported_grant_type",
        examples=["invalid_client"],
    )
    error_description: str = Field(examples=["client authentication failed"])
