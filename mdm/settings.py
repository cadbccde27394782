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
        description="processes that map rows in a file load and standardise a bulk match",
    )
    max_batch_records: int = Field(default=10_000, ge=1)
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_workers: int = Field(default=1, ge=1, le=64, description="API server processes")
    api_access_log: bool = Field(
        default=False,
        description="a line per request on the server's output (uvicorn's access log); off, "
        "requests are counted by route and status on /metrics and errors are logged with "
        "their trace ID",
    )
    jwt_secret: str = Field(default="change-me-in-production", min_length=8)
    token_ttl_seconds: int = 900
    jwt_issuer: str = Field(default="mdm-hub", description="the iss claim of the API's tokens")
    jwt_audience: str = Field(
        default="mdm-hub-api", description="the aud claim every token must carry"
    )
    client_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        le=300,
        description="how long an API process trusts a client it looked up (the revocation delay)",
    )
    match_model_cache_seconds: float = Field(
        default=1.0,
        ge=0,
        le=300,
        description="how long match-on-query trusts the match model it last found active "
        "(how soon a model retrained by another process is used); 0 checks on every request",
    )
    rate_limit_per_minute: int = Field(
        default=600,
        ge=0,
        description="requests per minute per API client (per address on the token endpoint); "
        "0 turns rate limiting off",
    )
    max_request_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1, description="the largest request body the API reads"
    )

    @property
    def is_sqlite(self) -> bool:
        """Whether the database is the embedded SQLite file."""
        return self.database_url.startswith("sqlite")
