"""waiting records index: only records that wait to be matched are indexed

Matching looks for waiting records (``matched_version < version``) by entity type, in ID
order. The index it had held every record (entity type, matched version), and every write of
a record, matched as it is written (an API upsert) or marked matched after (a load), added an
entry to it: a page of an index the size of the table, written (and logged) for each record.
The partial index holds the waiting records only: a record matched in the same transaction it
was written in never enters it, and a load's backlog leaves it as it is matched.

Revision ID: 20261128_0009
Revises: 20261127_0008
Create Date: 2026-11-28 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261128_0009"
down_revision: str | None = "20261127_0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WAITING = sa.text("matched_version < version")


def upgrade() -> None:
    op.drop_index("ix_source_record_entity_type_match", table_name="source_record")
    op.create_index(
        "ix_source_record_waiting",
        "source_record",
        ["entity_type", "id"],
        unique=False,
        postgresql_where=WAITING,
        sqlite_where=WAITING,
    )


def downgrade() -> None:
    op.drop_index(
        "ix_source_record_waiting",
        table_name="source_record",
        postgresql_where=WAITING,
        sqlite_where=WAITING,
    )
    op.create_index(
        "ix_source_record_entity_type_match",
        "source_record",
        ["entity_type", "matched_version"],
        unique=False,
    )
