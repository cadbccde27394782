"""The hub's settings: one pydantic-settings class, read from ``MDM_*`` environment variables.

Nothing is read at import time; the composition roots (CLI, app factory) build a `Settings`.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Configuration of one hub process."""

    model_config = SettingsConfigDict(env_prefix="MDM_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///var/mdm.db",
        description="SQLAlchemy URL: a SQLite file (default) or postgresql+psycopg://…",
    )
    echo_sql: bool = False
    mappings_dir: Path = Field(default=Path("samples/mappings"))
    ingest_chunk_size: int = Field(default=5000, ge=1, le=100_000)
    ingest_workers: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        le=64,
        description="processes that map and validate rows during a file load",
    )
    max_batch_records: int = Field(default=10_000, ge=1)
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_workers: int = Field(default=1, ge=1, le=64, description="API server processes")
    jwt_secret: str = Field(default="change-me-in-production", min_length=8)
    token_ttl_seconds: int = 900

    @property
    def is_sqlite(self) -> bool:
        """Whether the database is the embedded SQLite file."""
        return self.database_url.startswith("sqlite")
