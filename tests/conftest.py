"""Shared fixtures: every integration test runs on SQLite and on PostgreSQL.

PostgreSQL is the server at 127.0.0.1:5432 unless MDM_TEST_POSTGRES_URL says otherwise. It is
never skipped: a run where the server cannot be reached fails, so CI cannot go green without
testing the production backend. Each test runs inside a transaction rolled back at the end.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import Session

from mdm import migrate
from mdm.database import UnitOfWork, create_engine
from mdm.devtools import drop_database, recreate_database

# Property tests draw the same examples on every run, so that a run's verdict is the code's,
# not the draw's; `pytest --hypothesis-profile=explore` draws afresh to look for new cases.
settings.register_profile("default", derandomize=True)
settings.register_profile("explore", derandomize=False, max_examples=1000)
settings.load_profile("default")

# The API tests' plugin and helpers hold no doctests: kept out of --doctest-modules, they are
# first imported as the plugin, so pytest rewrites their asserts.
collect_ignore = ["integration/api/api_fixtures.py", "integration/api/api_support.py"]

# A database of this run's own, so two test runs on one server never drop each other's data.
POSTGRES_URL = os.environ.get(
    "MDM_TEST_POSTGRES_URL", f"postgresql+psycopg://postgres@127.0.0.1:5432/mdm_test_{os.getpid()}"
)
BACKENDS = ["sqlite", "postgresql"]


def _fresh_postgres(url: str) -> str:
    try:
        recreate_database(url)
    except Exception as exc:  # the message must say what to do, not just fail
        shown = make_url(url).render_as_string(hide_password=True)
        pytest.fail(
            f"PostgreSQL is unreachable at {shown}: {exc}. "
            "Start it (see README) or set MDM_TEST_POSTGRES_URL.",
            pytrace=False,
        )
    return url


@pytest.fixture(scope="session", params=BACKENDS)
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'mdm.db'}"
    else:
        url = _fresh_postgres(POSTGRES_URL)
    migrate.upgrade(url)
    eng = create_engine(url)
    yield eng
    eng.dispose()
    if request.param == "postgresql" and "MDM_TEST_POSTGRES_URL" not in os.environ:
        drop_database(url)


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn:
        outer = conn.begin()
        yield conn
        outer.rollback()


@pytest.fixture
def uow(connection: Connection) -> UnitOfWork:
    return UnitOfWork(connection)


@pytest.fixture
def session(uow: UnitOfWork) -> Iterator[Session]:
    with uow.session() as s:
        yield s


@pytest.fixture(scope="session")
def postgres_url() -> str:
    return POSTGRES_URL


@pytest.fixture
def own_postgres_url(postgres_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """An empty PostgreSQL database of the test's own (not migrated), dropped afterwards."""
    url = make_url(postgres_url)
    name = f"{url.database}_{request.node.originalname}"[:63]
    own = url.set(database=name).render_as_string(hide_password=False)
    recreate_database(own)
    yield own
    drop_database(own)


@pytest.fixture
def samples_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "samples"
