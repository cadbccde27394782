"""running batches index: opening a batch finds loads of the same origin left running

`open_batch` marks loads of the same source, entity type and origin that are still running as
interrupted. Every API write opens a batch, so without an index that look-up scanned one row
per request ever served. The index is partial (running batches only) and stays tiny.

Revision ID: 20261127_0006
Revises: 20261126_0005
Create Date: 2026-11-27 01:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261127_0006"
down_revision: str | None = "20261126_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RUNNING = sa.text("status = 'running'")


def upgrade() -> None:
    op.create_index(
        "ix_ingest_batch_running",
        "ingest_batch",
        ["source_system_id", "entity_type", "origin"],
        unique=False,
        postgresql_where=RUNNING,
        sqlite_where=RUNNING,
    )


def downgrade() -> None:
    op.drop_index(
        "ix_ingest_batch_running",
        table_name="ingest_batch",
        postgresql_where=RUNNING,
        sqlite_where=RUNNING,
    )
