"""The app factory: `create_app(settings)` builds the Litestar app; nothing at import time.

It is a composition root: it builds the engine and unit of work (unless a test hands in one
bound to its rolled-back transaction), the metrics, the client directory and the rate limiter,
registers the one exception handler, the middleware (trace ID, metrics, authentication, rate
limit), the OpenAPI document at ``/schema`` and the controllers — grouped under the scope each
group needs, so that the table below is the whole access policy of the API.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from litestar import Litestar, Router
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, Contact, License
from litestar.types import Middleware
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from mdm.api.auth import (
    NOT_FOR_PARTNERS,
    OAUTH2,
    PUBLIC,
    ClientDirectory,
    authentication_middleware,
    authorize,
    requires,
    security_scheme,
)
from mdm.api.coalesce import Coalescer
from mdm.api.dependencies import provide_caller
from mdm.api.health import HealthController, migration_heads
from mdm.api.metrics import ApiMetrics, MetricsController, metrics_middleware
from mdm.api.problems import problem_response
from mdm.api.rate_limit import UNLIMITED, RateLimiter, rate_limit_middleware
from mdm.api.tracing import trace_id_middleware
from mdm.api.v1 import service as v1_service
from mdm.api.v1.hierarchy_views import HIERARCHY_CONTROLLERS
from mdm.api.v1.match_views import MATCH_CONTROLLERS
from mdm.api.v1.schemas import RecordRead
from mdm.api.v1.views import (
    FeedController,
    GoldenController,
    GoldenStewardController,
    RecordController,
    ReviewController,
    TokenController,
    XrefController,
)
from mdm.canonical.models import EntityType
from mdm.clients.scopes import FEED_READ, GOLDEN_READ, STEWARD, source_write
from mdm.database import UnitOfWork, create_engine
from mdm.errors import ConfigurationError
from mdm.settings import Settings

logger = logging.getLogger(__name__)

API_VERSION = "1.0.0"
# HS256 needs a key at least as long as its hash (RFC 7518 §3.2).
MIN_SECRET_BYTES = 32
# Probes, metrics and the schema: no token, and never refused by the rate limit.
_PROBES = {PUBLIC: True, UNLIMITED: True}


def _not_for_partners(options: dict[str, Any]) -> dict[str, Any]:
    return {**options, "opt": {**options["opt"], NOT_FOR_PARTNERS: True}}


def _routes() -> list[Router]:
    """Every controller, under the scope its callers need (see docs/api.md, Authentication)."""
    return [
        Router("/", route_handlers=[HealthController, MetricsController], opt=_PROBES),
        Router("/", route_handlers=[TokenController], opt={PUBLIC: True}),
        Router("/", route_handlers=[RecordController], **requires(source_write("{source}"))),
        Router("/", route_handlers=[GoldenController, XrefController], **requires(GOLDEN_READ)),
        Router("/", route_handlers=[FeedController], **requires(FEED_READ)),
        Router(
            "/", route_handlers=[GoldenStewardController, ReviewController], **requires(STEWARD)
        ),
        # Match-on-query and hierarchy reads show golden records (candidates, a hierarchy's
        # other nodes) without the partner filter: readers of golden records, not partners.
        Router(
            "/",
            route_handlers=[*MATCH_CONTROLLERS, *HIERARCHY_CONTROLLERS],
            **_not_for_partners(requires(GOLDEN_READ)),
        ),
    ]


def api_unit_of_work(settings: Settings) -> tuple[UnitOfWork, list[Engine]]:
    """The API's unit of work, and its engines (to dispose of at shutdown).

    On PostgreSQL every connection plans each prepared statement once (`create_engine`'s
    ``generic_plans``): the API's statements are index look-ups by a key or a few IDs, which
    PostgreSQL otherwise re-plans for every small ID array (a five-table join: 0.5 ms of its
    CPU each time; an upsert's statements: 7.9 ms of PostgreSQL's CPU against 5.5). The
    one-statement look-ups (by golden ID, by source ID, match-on-query) get a pool of their
    own, so that they never wait behind write transactions for a connection.
    """
    postgres = make_url(settings.database_url).get_backend_name() == "postgresql"
    engine = create_engine(settings.database_url, echo=settings.echo_sql, generic_plans=postgres)
    if not postgres:
        return UnitOfWork(engine), [engine]
    reader = create_engine(settings.database_url, echo=settings.echo_sql, generic_plans=True)
    return UnitOfWork(engine, reader=reader), [engine, reader]


def create_app(settings: Settings, *, uow: UnitOfWork | None = None) -> Litestar:
    """The hub's HTTP API.

    Args:
        settings: the hub's settings (database URL, token secret, limits, …).
        uow: a unit of work to use instead of one on a new engine; tests pass one bound to
            the connection of their rolled-back transaction.

    Raises:
        ConfigurationError: the token secret is shorter than 32 bytes (the default one is).
    """
    if len(settings.jwt_secret.encode()) < MIN_SECRET_BYTES:
        raise ConfigurationError(
            f"MDM_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes; "
            "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    engines: list[Engine] = []
    if uow is None:
        uow, engines = api_unit_of_work(settings)
    unit_of_work = uow
    heads = migration_heads(settings.database_url)
    metrics = ApiMetrics(unit_of_work)

    def put_together(
        entity: Any, puts: Sequence[v1_service.RecordPut]
    ) -> list[RecordRead | Exception]:
        return v1_service.put_records(unit_of_work, EntityType(entity), puts, metrics=metrics)

    # Records sent one at a time (PUT) at the same moment are stored in one transaction.
    writes: Coalescer[v1_service.RecordPut, RecordRead] = Coalescer(put_together)
    middleware: list[Middleware] = [
        trace_id_middleware,
        DefineMiddleware(metrics_middleware, metrics=metrics),
        DefineMiddleware(
            authentication_middleware,
            settings=settings,
            directory=ClientDirectory.on(unit_of_work, settings.client_cache_seconds),
        ),
    ]
    if settings.rate_limit_per_minute:
        limiter = RateLimiter(settings.rate_limit_per_minute)
        middleware.append(DefineMiddleware(rate_limit_middleware, limiter=limiter))

    def dispose_engine() -> None:
        for each in engines:
            each.dispose()

    def load_models() -> None:
        # Parsed now, not by the first match request (tens of milliseconds at a million); the
        # standardisers' tables too (the first website otherwise waits 0.1-0.2 s).
        from sqlalchemy.exc import SQLAlchemyError

        from matching import warm_up
        from mdm.canonical.models import EntityType
        from mdm.linkage.service import active_model

        warm_up()

        try:
            with unit_of_work.session() as session:
                for entity in EntityType:
                    active_model(session, entity.value)
        except SQLAlchemyError as exc:  # not migrated yet: the readiness probe says so
            logger.warning("match models not loaded at start-up: %s", exc)

    return Litestar(
        route_handlers=_routes(),
        dependencies={
            "uow": Provide(lambda: unit_of_work, use_cache=True, sync_to_thread=False),
            "settings": Provide(lambda: settings, use_cache=True, sync_to_thread=False),
            "migration_heads": Provide(lambda: heads, use_cache=True, sync_to_thread=False),
            "metrics": Provide(lambda: metrics, use_cache=True, sync_to_thread=False),
            "writes": Provide(lambda: writes, use_cache=True, sync_to_thread=False),
            "caller": Provide(provide_caller, sync_to_thread=False),
        },
        exception_handlers={Exception: problem_response},
        middleware=middleware,
        guards=[authorize],
        request_max_body_size=settings.max_request_bytes,
        on_startup=[load_models],
        on_shutdown=[dispose_engine],
        openapi_config=OpenAPIConfig(
            title="mdm-hub API",
            version=API_VERSION,
            description=(
                "Master data hub: send source records, read golden records and the "
                "cross-reference, follow the change feed, work the review queue. "
                "Every endpoint but the probes, /metrics, /schema and the token endpoint "
                "needs an OAuth2 bearer token (client credentials at /v1/oauth/token) whose "
                "scopes cover it. Errors are RFC 9457 problem details with a stable `code`; "
                "see docs/api.md."
            ),
            contact=Contact(name="mdm-hub maintainers"),
            license=License(name="Apache-2.0", identifier="Apache-2.0"),
            components=Components(security_schemes={OAUTH2: security_scheme()}),
            # Litestar's own router for the schema keeps it out of the document; ours must too.
            openapi_router=Router(
                "/schema", route_handlers=[], opt=_PROBES, include_in_schema=False
            ),
            render_plugins=[SwaggerRenderPlugin()],
        ),
    )
