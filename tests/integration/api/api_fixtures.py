"""Fixtures of the API tests: the real app on the test's rolled-back transaction.

They live in a plugin module rather than a conftest.py because ``--doctest-modules`` imports
every conftest.py as a module named ``conftest``, and a second one in a subfolder would clash.
Test modules load it with ``pytest_plugins = ["api_fixtures"]``.

``client`` calls as an admin (its bearer token on every request); ``anonymous`` sends no
token; ``make_app`` builds the app with some settings changed (a tiny rate limit, say).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from api_support import JWT_SECRET, MAX_BATCH, SOURCES, bearer, token_for
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy.engine import Engine

from matching import MatchModel
from mdm.api.app import create_app
from mdm.database import UnitOfWork
from mdm.linkage.service import save_model
from mdm.settings import Settings
from mdm.sources.service import sync_source_systems


@pytest.fixture
def settings(engine: Engine) -> Settings:
    return Settings(
        database_url=engine.url.render_as_string(hide_password=False),
        max_batch_records=MAX_BATCH,
        jwt_secret=JWT_SECRET,
    )


@pytest.fixture
def make_app(
    settings: Settings, uow: UnitOfWork, customer_model: MatchModel
) -> Callable[..., Litestar]:
    """Build the app on the test's transaction, with source systems and a customer model."""
    with uow.begin() as session:
        sync_source_systems(session, SOURCES)
        save_model(session, "customer", customer_model, trained_on=0)

    def make(**changes: Any) -> Litestar:
        return create_app(settings.model_copy(update=changes), uow=uow)

    return make


@pytest.fixture
def app(make_app: Callable[..., Litestar]) -> Litestar:
    return make_app()


@pytest.fixture
def client(app: Litestar, uow: UnitOfWork, settings: Settings) -> Iterator[TestClient]:
    """The app, called by an admin client."""
    with TestClient(app) as test_client:
        test_client.headers.update(bearer(token_for(uow, settings, "admin")))
        yield test_client


@pytest.fixture
def anonymous(app: Litestar) -> Iterator[TestClient]:
    """The app, called without a token."""
    with TestClient(app) as test_client:
        yield test_client
