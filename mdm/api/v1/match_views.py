"""API v1 match-on-query controller: "does this record already exist?", answered without storing.

Thin, like the other controllers: parse, call `match_service.match_record`, return its schema.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import Example
from litestar.params import BodyKwarg, FromPath, QueryParameter

from mdm.api.v1 import match_service
from mdm.api.v1.match_schemas import MatchQueryRead
from mdm.api.v1.schemas import ProblemRead
from mdm.api.v1.views import problems
from mdm.canonical.models import EntityType
from mdm.database import UnitOfWork
from mdm.settings import Settings

_NO_MODEL = ResponseSpec(
    ProblemRead,
    description="no trained match model for this entity type yet (code no_match_model)",
    media_type="application/problem+json",
    generate_examples=False,
)

QueryBody = Annotated[
    dict[str, Any],
    BodyKwarg(
        media_type=RequestEncodingType.JSON,
        description="a canonical customer or product, as for PUT /v1/sources/…; "
        "source_id is optional",
        examples=[
            Example(
                summary="is this customer known?",
                value={
                    "legal_name": "ACME Werkzeuge Gesellschaft mit beschränkter Haftung",
                    "identifiers": [{"scheme": "vat", "value": "DE 136 695 976", "country": "DE"}],
                    "addresses": [
                        {
                            "type": "billing",
                            "lines": ["Hauptstr. 12"],
                            "city": "Koeln",
                            "postal_code": "50667",
                            "country": "DE",
                        }
                    ],
                },
            ),
            Example(
                summary="is this product known?",
                value={"name": "Hex Nut DIN 934 M8 zinc plated", "gtin": "4261646913598"},
            ),
        ],
    ),
]


class MatchController(Controller):
    """Match a record against the golden records without sending it."""

    path = "/v1/match"
    tags = ("matching",)

    # On the event loop, not in a thread: a few milliseconds of scoring, mostly CPU. Threads
    # of one process take turns on the interpreter lock by time slices, which gave the slowest
    # one percent of answers twice the wait; served in turn they finish in turn.
    @post(
        "/{entity:str}",
        sync_to_thread=False,
        status_code=200,
        summary="Find the golden records a record would match (stores nothing)",
        responses={**problems(413), 409: _NO_MODEL},
    )
    def match(
        self,
        uow: NamedDependency[UnitOfWork],
        settings: NamedDependency[Settings],
        entity: FromPath[EntityType],
        data: QueryBody,
        limit: Annotated[
            int, QueryParameter(ge=1, le=100, description="candidates to answer at most")
        ] = 10,
        min_probability: Annotated[
            float | None,
            QueryParameter(ge=0, le=1, description="leave out candidates below this probability"),
        ] = None,
    ) -> MatchQueryRead:
        """The golden records a record would match, best first, and what the hub would do.

        The record is standardised, its candidates found through the stored blocking keys and
        scored with the trained model; each candidate golden record comes with the engine's
        explanation, and the outcome says whether the hub would link, review or create new.

        Nothing is stored. An invalid record answers 422 listing every failing field; without
        a trained model for the entity type the answer is 409 ``no_match_model``.
        """
        return match_service.match_record(
            uow,
            entity,
            data,
            limit=limit,
            min_probability=min_probability,
            model_max_age=settings.match_model_cache_seconds,
        )


MATCH_CONTROLLERS: list[type[Controller]] = [MatchController]
