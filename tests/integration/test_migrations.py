"""Migrations that change tables holding data keep the data, up and down, on both databases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Connection, inspect, text

from mdm import migrate
from mdm.database import create_engine

BEFORE_HISTORY_CHANGE = "20261127_0006"
HISTORY_CHANGE = "20261127_0007"
MATCH_TABLES_CHANGE = "20261127_0008"
# The tables the match stage derives, which lose their foreign keys in MATCH_TABLES_CHANGE.
DERIVED = ("blocking_key", "match_features", "xref_history", "hierarchy_claim")
DERIVED_ROWS = (
    (
        "INSERT INTO golden_record (id, entity_type, status, version, attributes, provenance,"
        " created_at, updated_at) VALUES (3, 'customer', 'active', 1, '{}', '{}',"
        " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
    ),
    "INSERT INTO blocking_key (entity_type, key, source_record_id) VALUES ('customer', 'k', 7)",
    (
        "INSERT INTO match_features (source_record_id, entity_type, features)"
        """ VALUES (7, 'customer', '{"name": "acme", "tokens": ["acme", "gmbh"]}')"""
    ),
    (
        "INSERT INTO xref_history (source_record_id, golden_id, linked_at, reason)"
        " VALUES (7, 3, CURRENT_TIMESTAMP, 'new')"
    ),
    (
        "INSERT INTO hierarchy_claim (source_record_id, source_code, relation, parent_source,"
        " parent_source_id, status, updated_at)"
        " VALUES (7, 'erp', 'bill_to', 'erp', '9', 'pending', CURRENT_TIMESTAMP)"
    ),
)
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


def _insert_record(connection: Connection) -> None:
    """Source system 1 ('erp') and its source record 7."""
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


def test_the_version_history_keeps_its_rows_across_its_type_change(scratch_url: str) -> None:
    migrate.upgrade(scratch_url, BEFORE_HISTORY_CHANGE)
    engine = create_engine(scratch_url)
    with engine.begin() as connection:
        _insert_record(connection)
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


def _derived(url: str) -> tuple[dict[str, list[tuple[object, ...]]], set[str], str]:
    """The derived tables' rows, which of them have foreign keys, and the features' type."""
    engine = create_engine(url)
    with engine.connect() as connection:
        rows = {
            table: [
                # The features are JSON text on SQLite.
                tuple(
                    _parsed(v) if table == "match_features" and i == 2 else v
                    for i, v in enumerate(row)
                )
                for row in connection.execute(
                    text(f"SELECT * FROM {table} ORDER BY source_record_id")
                )
            ]
            for table in DERIVED
        }
    found = inspect(engine)
    keyed = {table for table in DERIVED if found.get_foreign_keys(table)}
    (features,) = (
        str(c["type"]) for c in found.get_columns("match_features") if c["name"] == "features"
    )
    engine.dispose()
    return rows, keyed, features


def test_the_match_tables_keep_their_rows_without_their_foreign_keys(scratch_url: str) -> None:
    migrate.upgrade(scratch_url, HISTORY_CHANGE)
    engine = create_engine(scratch_url)
    with engine.begin() as connection:
        _insert_record(connection)
        for statement in DERIVED_ROWS:
            connection.execute(text(statement))
    engine.dispose()
    postgres = scratch_url.startswith("postgresql")
    before, keyed, features = _derived(scratch_url)
    assert all(len(rows) == 1 for rows in before.values())
    assert before["match_features"][0][2] == {"name": "acme", "tokens": ["acme", "gmbh"]}
    assert (keyed, features) == (set(DERIVED), "JSONB" if postgres else "JSON")
    migrate.upgrade(scratch_url, MATCH_TABLES_CHANGE)
    assert _derived(scratch_url) == (before, set(), "JSON")
    migrate.downgrade(scratch_url, HISTORY_CHANGE)
    assert _derived(scratch_url) == (before, set(DERIVED), "JSONB" if postgres else "JSON")
