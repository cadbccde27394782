"""Liveness (``/health``: the process answers) and readiness (``/ready``: it can serve).

Ready means the database answers and its schema is at the migration head this code expects;
a load balancer sends no traffic to an instance that is not ready (503, problem+json).
"""

from __future__ import annotations

from collections.abc import Collection

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from mdm.api.problems import PROBLEM_MEDIA_TYPE
from mdm.api.v1.schemas import HealthRead, ProblemRead
from mdm.database import UnitOfWork
from mdm.errors import NotReadyError
from mdm.migrate import alembic_config


def migration_heads(database_url: str) -> frozenset[str]:
    """The migration heads this code ships (read from the migration scripts, no database)."""
    return frozenset(ScriptDirectory.from_config(alembic_config(database_url)).get_heads())


def check_readiness(uow: UnitOfWork, heads: Collection[str]) -> dict[str, str]:
    """Check the database answers and is migrated to ``heads``; `NotReadyError` if not."""
    try:
        with uow.session() as session:
            session.execute(text("SELECT 1"))
            current = set(MigrationContext.configure(session.connection()).get_current_heads())
    except SQLAlchemyError as exc:
        raise NotReadyError(f"the database does not answer ({type(exc).__name__})") from exc
    if current != set(heads):
        raise NotReadyError(
            f"the database is at migration {sorted(current) or 'none'}, this code needs "
            f"{sorted(heads)}: run `mdm db upgrade`"
        )
    return {"database": "ok", "migrations": ",".join(sorted(heads))}


class HealthController(Controller):
    """Probes for orchestrators and load balancers (not versioned, not authenticated)."""

    path = "/"
    tags = ("operations",)

    @get("/health", sync_to_thread=False, summary="Liveness")
    def health(self) -> HealthRead:
        """The process is up (says nothing about the database)."""
        return HealthRead(status="ok")

    @get(
        "/ready",
        sync_to_thread=True,
        summary="Readiness",
        responses={
            503: ResponseSpec(
                ProblemRead,
                description="the database does not answer or is not migrated (code not_ready)",
                media_type=PROBLEM_MEDIA_TYPE,
                generate_examples=False,
            )
        },
    )
    def ready(
        self,
        uow: NamedDependency[UnitOfWork],
        migration_heads: NamedDependency[frozenset[str]],
    ) -> HealthRead:
        """The database answers and its schema is at this code's migration head."""
        return HealthRead(status="ready", checks=check_readiness(uow, migration_heads))
