"""The app factory: `create_app(settings)` builds the Litestar app; nothing at import time.

It is a composition root: it builds the engine and unit of work (unless a test hands in one
bound to its rolled-back transaction), registers the one exception handler, the trace-ID
middleware, the OpenAPI document at ``/schema`` and the controllers.
"""

from __future__ import annotations

from litestar import Litestar
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Contact, License

from mdm.api.health import HealthController, migration_heads
from mdm.api.problems import problem_response
from mdm.api.tracing import trace_id_middleware
from mdm.api.v1.hierarchy_views import HIERARCHY_CONTROLLERS
from mdm.api.v1.match_views import MATCH_CONTROLLERS
from mdm.api.v1.views import CONTROLLERS
from mdm.database import UnitOfWork, create_engine
from mdm.settings import Settings

API_VERSION = "1.0.0"


def create_app(settings: Settings, *, uow: UnitOfWork | None = None) -> Litestar:
    """The hub's HTTP API.

    Args:
        settings: the hub's settings (database URL, batch limits, …).
        uow: a unit of work to use instead of one on a new engine; tests pass one bound to
            the connection of their rolled-back transaction.
    """
    engine = None
    if uow is None:
        engine = create_engine(settings.database_url, echo=settings.echo_sql)
        uow = UnitOfWork(engine)
    unit_of_work = uow
    heads = migration_heads(settings.database_url)

    def dispose_engine() -> None:
        if engine is not None:
            engine.dispose()

    return Litestar(
        route_handlers=[
            HealthController,
            *CONTROLLERS,
            *MATCH_CONTROLLERS,
            *HIERARCHY_CONTROLLERS,
        ],
        dependencies={
            "uow": Provide(lambda: unit_of_work, use_cache=True, sync_to_thread=False),
            "settings": Provide(lambda: settings, use_cache=True, sync_to_thread=False),
            "migration_heads": Provide(lambda: heads, use_cache=True, sync_to_thread=False),
        },
        exception_handlers={Exception: problem_response},
        middleware=[trace_id_middleware],
        on_shutdown=[dispose_engine],
        openapi_config=OpenAPIConfig(
            title="mdm-hub API",
            version=API_VERSION,
            description=(
                "Master data hub: send source records, read golden records and the "
                "cross-reference, follow the change feed, work the review queue. "
                "Errors are RFC 9457 problem details with a stable `code`; see docs/api.md."
            ),
            contact=Contact(name="mdm-hub maintainers"),
            license=License(name="Apache-2.0", identifier="Apache-2.0"),
            path="/schema",
            render_plugins=[SwaggerRenderPlugin()],
        ),
    )
