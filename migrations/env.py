"""Alembic environment: migrates SQLite (in batch mode) and PostgreSQL from mdm's metadata."""

from __future__ import annotations

from alembic import context

from mdm.database import create_engine
from mdm.schema import metadata

config = context.config


def run_migrations() -> None:
    """Run the migrations online against the configured database."""
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = create_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
