"""Migrations that change tables holding data keep the data, up and down, on both databases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from mdm import migrate
from mdm.database import create_engine

BEFORE_HISTORY_CHANGE = "20261127_0006"
HISTORY_CHANGE = "20261127_0007"
RAW = '{"acct": "1", "name": "Acme \\u00e4 GmbH", "tags": [1, 2]}'
CANONICAL = '{"legal_name": "Acme GmbH", "source_id": "1"}'


@pytest.fixture(params=["sqlite", "postgresql"])
def scratch_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'scratch.db'}"
    return str(request.getfixturevalue("own_postgres_url"))


def _history(url: str) -> list[tuple[int, int, object, object]]:
    engine = create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT source_record_id, version, raw, canonical FROM source_record_version"
                " ORDER BY version"
            )
        ).all()
    engine.dispose()
    # SQLite answers the JSON text; PostgreSQL's driver parses json and jsonb alike.
    return [(int(a), int(b), _parsed(c), _parsed(d)) for a, b, c, d in rows]


def _shape(url: str) -> tuple[bool, set[str]]:
    """Whether the history has its foreign key, and its JSON columns' types."""
    engine = create_engine(url)
    found = inspect(engine)
    keyed = bool(found.get_foreign_keys("source_record_version"))
    types = {
        str(c["type"])
        for c in found.get_columns("source_record_version")
        if c["name"] in {"raw", "canonical"}
    }
    engine.dispose()
    return keyed, types


def _parsed(value: object) -> object:
    return json.loads(value) if isinstance(value, str) else value


def test_the_version_history_keeps_its_rows_across_its_type_change(scratch_url: str) -> None:
    migrate.upgrade(scratch_url, BEFORE_HISTORY_CHANGE)
    engine = create_engine(scratch_url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO source_system (id, code, name, kind, trust_rank, created_at)"
                " VALUES (1, 'erp', 'ERP', 'erp', 1, CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO source_record (id, source_system_id, entity_type, source_id,"
                " version, content_hash, received_at, matched_version)"
                " VALUES (7, 1, 'customer', '1', 2, 'h2', CURRENT_TIMESTAMP, 0)"
            )
        )
        for version in (1, 2):
            connection.execute(
                text(
                    "INSERT INTO source_record_version (source_record_id, version, content_hash,"
                    " raw, canonical, deleted, received_at)"
                    " VALUES (7, :v, 'h', :raw, :canonical, :deleted, CURRENT_TIMESTAMP)"
                ),
                {
                    "v": version,
                    "raw": RAW,
                    "canonical": CANONICAL if version == 1 else None,
                    "deleted": version == 2,
                },
            )
    engine.dispose()
    before = _history(scratch_url)
    assert before[0][2] == {"acct": "1", "name": "Acme ä GmbH", "tags": [1, 2]}
    postgres = scratch_url.startswith("postgresql")
    assert _shape(scratch_url) == (True, {"JSONB" if postgres else "JSON"})
    migrate.upgrade(scratch_url, HISTORY_CHANGE)
    assert _history(scratch_url) == before
    assert _shape(scratch_url) == (False, {"JSON"})
    migrate.downgrade(scratch_url, BEFORE_HISTORY_CHANGE)
    assert _history(scratch_url) == before
    assert _shape(scratch_url) == (True, {"JSONB" if postgres else "JSON"})
