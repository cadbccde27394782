"""Response schemas of match-on-query (``POST /v1/match/{entity}``), named as in schemas.py.

The request body is a canonical record, validated with the canonical model exactly as a
``PUT /v1/sources/…`` body is, so it has no schema of its own here.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

GoldenDecision = Literal["link", "review", "none"]
OutcomeDecision = Literal["link", "review", "new"]


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MatchGoldenRead(_Schema):
    """A short summary of a candidate golden record; ``GET /v1/golden/{id}`` has the rest."""

    golden_id: int
    version: int
    name: str | None = Field(
        examples=["Acme Werkzeuge GmbH"],
        description="legal or trading name (customers), product name (products)",
    )
    account_role: str | None = Field(
        default=None, examples=["legal_entity"], description="customers only"
    )


class MatchedRecordRead(_Schema):
    """The member source record of the golden record that scored best against the query."""

    source_record_id: int
    source: str = Field(examples=["erp"])
    source_id: str = Field(examples=["100"])


class GoldenMatchRead(_Schema):
    """One candidate golden record: its best pair with the query, scored and explained."""

    golden_id: int
    probability: float = Field(ge=0, le=1, examples=[0.9993])
    match_weight: float = Field(examples=[14.2], description="log2 Bayes factor incl. prior")
    decision: GoldenDecision = Field(
        description="link (at or above the match threshold), review (in the review band) or "
        "none; a cannot-link rule fired against any member makes it none"
    )
    cannot_link: bool = Field(description="a cannot-link rule bars the query from this record")
    golden: MatchGoldenRead
    matched_record: MatchedRecordRead
    explanation: dict[str, Any] = Field(
        description="the engine's explanation of the best pair (left = the query), "
        "as review tasks show it"
    )


class MatchOutcomeRead(_Schema):
    """What the hub would do with the record if it were sent now."""

    decision: OutcomeDecision = Field(
        description="link to golden_id, review (a steward would decide), or new golden record"
    )
    golden_id: int | None = Field(
        description="the golden record it would link to or be reviewed against"
    )
    probability: float = Field(ge=0, le=1)
    reason: str = Field(examples=["one cluster above the match threshold"])


class MatchThresholdsRead(_Schema):
    """The model's thresholds, as probabilities."""

    match: float = Field(description="link at or above")
    review: float = Field(description="review at or above, below match")


class MatchQueryRead(_Schema):
    """The golden records a record would match, best first; nothing was stored."""

    entity_type: str = Field(examples=["customer"])
    model_version: int = Field(description="version of the trained match model used")
    thresholds: MatchThresholdsRead
    outcome: MatchOutcomeRead
    candidates: list[GoldenMatchRead] = Field(
        description="candidate golden records by probability, then match weight (at most limit)"
    )
    candidates_scored: int = Field(description="source records found by blocking and scored")
    capped_keys: list[str] = Field(
        default_factory=list,
        description="blocking keys of the query left out for being shared by too many records",
    )
