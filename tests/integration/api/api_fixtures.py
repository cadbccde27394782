"""Fixtures of the API tests: the real app on the test's rolled-back transaction.

They live in a plugin module rather than a conftest.py because ``--doctest-modules`` imports
every conftest.py as a module named ``conftest``, and a second one in a subfolder would clash.
Test modules load it with ``pytest_plugins = ["api_fixtures"]``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_support import MAX_BATCH, SOURCES
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
    )


@pytest.fixture
def client(settings: Settings, uow: UnitOfWork, customer_model: MatchModel) -> Iterator[TestClient]:
    """The app on the test's transaction, with source systems and a trained customer model."""
    with uow.begin() as session:
        sync_source_systems(session, SOURCES)
        save_model(session, "customer", customer_model, trained_on=0)
    with TestClient(create_app(settings, uow=uow)) as test_client:
        yield test_client
