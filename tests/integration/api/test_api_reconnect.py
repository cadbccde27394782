"""A database connection dropped under the server: one request gets a 503, the next works.

The pool does not ping a connection before each request (a round trip per request), so a
connection the database dropped (a restart, a failover) is found out by the request that uses
it. This test drops the server's connections for real, on PostgreSQL, in a database of its own.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from api_support import JWT_SECRET, bearer, token_for
from litestar.testing import TestClient
from sqlalchemy.engine import Engine

from mdm import migrate
from mdm.api.app import create_app
from mdm.database import UnitOfWork, create_engine
from mdm.settings import Settings


@pytest.fixture
def own_postgres(own_postgres_url: str) -> Iterator[Engine]:
    migrate.upgrade(own_postgres_url)
    engine = create_engine(own_postgres_url)
    yield engine
    engine.dispose()


def _drop_connections(engine: Engine) -> int:
    url = engine.url
    with psycopg.connect(
        host=url.host, port=url.port, user=url.username, dbname="postgres", autocommit=True
    ) as admin:
        dropped = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s",
            [url.database],
        ).fetchone()
    return int(dropped[0]) if dropped else 0


def test_a_dropped_connection_fails_one_request_with_503_then_the_api_recovers(
    own_postgres: Engine,
) -> None:
    uow = UnitOfWork(own_postgres)
    settings = Settings(
        database_url=own_postgres.url.render_as_string(hide_password=False),
        jwt_secret=JWT_SECRET,
    )
    app = create_app(settings, uow=uow)
    with TestClient(app) as client:
        client.headers.update(bearer(token_for(uow, settings, "admin")))
        assert client.get("/v1/golden/1").status_code == 404  # the pool holds a connection
        assert _drop_connections(own_postgres) >= 1
        lost = client.get("/v1/golden/1")
        assert lost.status_code == 503
        assert lost.json()["code"] == "database_unavailable"
        assert lost.headers["retry-after"] == "1"
        assert client.get("/v1/golden/1").status_code == 404
