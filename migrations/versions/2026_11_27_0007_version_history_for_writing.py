"""version history built for writing: no foreign key check, JSON kept as text

Every version of every source record lands in ``source_record_version`` during a load. Its
foreign key to ``source_record`` checked each row against the record's primary key and took a
share lock on the record's row, and its ``jsonb`` columns parsed every raw and canonical
document into a binary tree that nothing queries: together over half the cost of writing a
version (200,000 rows COPied: 2.55 s with both, 1.17 s without). A version is written in the
transaction that writes its record, and records are never deleted (a delete is a tombstone),
so the key guarded nothing the code does not already ensure; the history is read whole, by
record.

On PostgreSQL the column types change (the table is rewritten: minutes on a hub of tens of
millions of versions); on SQLite, JSON is text already and only the key goes.

Revision ID: 20261127_0007
Revises: 20261127_0006
Create Date: 2026-11-27 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261127_0007"
down_revision: str | None = "20261127_0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FOREIGN_KEY = "fk_source_record_version_source_record_id_source_record"


def upgrade() -> None:
    with op.batch_alter_table("source_record_version") as batch:
        batch.drop_constraint(FOREIGN_KEY, type_="foreignkey")
        for column in ("raw", "canonical"):
            batch.alter_column(
                column,
                existing_type=sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
                type_=sa.JSON(),
                existing_nullable=True,
                postgresql_using=f"{column}::json",
            )


def downgrade() -> None:
    with op.batch_alter_table("source_record_version") as batch:
        for column in ("raw", "canonical"):
            batch.alter_column(
                column,
                existing_type=sa.JSON(),
                type_=sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
                existing_nullable=True,
                postgresql_using=f"{column}::jsonb",
            )
        batch.create_foreign_key(
            FOREIGN_KEY, "source_record", ["source_record_id"], ["id"]
        )
