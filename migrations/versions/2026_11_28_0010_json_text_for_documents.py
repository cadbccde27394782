"""JSON text for documents read whole: provenance, event payloads, audit snapshots

A golden record's provenance, an outbox event's payload and an audit entry's before and after
are written once per change and read back whole; nothing queries inside them. As ``jsonb``,
PostgreSQL parsed each into a tree on the way in and printed it back to text on the way out:
writing a load's golden records cost three times what it costs as ``json`` text, which is
only checked for being JSON. A golden record's provenance (about 1.8 kB of text) is also
compressed with LZ4 instead of pglz where the server has it, as are its attributes when they
are long enough to be compressed at all. On SQLite these columns were JSON text already.

Revision ID: 20261128_0010
Revises: 20261128_0009
Create Date: 2026-11-28 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261128_0010"
down_revision: str | None = "20261128_0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column, nullable)
DOCUMENTS = (
    ("golden_record", "provenance", False),
    ("outbox_event", "payload", False),
    ("audit_entry", "before", True),
    ("audit_entry", "after", True),
)
COMPRESSED = ("provenance", "attributes")


def _has_lz4() -> bool:
    return bool(
        op.get_bind().scalar(
            sa.text(
                "SELECT 'lz4' = ANY(enumvals) FROM pg_settings "
                "WHERE name = 'default_toast_compression'"
            )
        )
    )


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, nullable in DOCUMENTS:
        op.alter_column(
            table,
            column,
            type_=sa.JSON(),
            existing_type=postgresql.JSONB(),
            existing_nullable=nullable,
            postgresql_using=f'"{column}"::json',
        )
    if _has_lz4():
        op.execute(
            "ALTER TABLE golden_record "
            + ", ".join(f"ALTER COLUMN {c} SET COMPRESSION lz4" for c in COMPRESSED)
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    if _has_lz4():
        op.execute(
            "ALTER TABLE golden_record "
            + ", ".join(f"ALTER COLUMN {c} SET COMPRESSION default" for c in COMPRESSED)
        )
    for table, column, nullable in DOCUMENTS:
        op.alter_column(
            table,
            column,
            type_=postgresql.JSONB(),
            existing_type=sa.JSON(),
            existing_nullable=nullable,
            postgresql_using=f'"{column}"::jsonb',
        )
