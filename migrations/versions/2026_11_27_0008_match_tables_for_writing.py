"""match tables built for writing: no foreign key checks on what the match stage derives

A bulk match writes, for every record, its blocking keys (five to ten rows), its standardised
features, its cross-reference history and its hierarchy claims. Each of those rows had a
foreign key to ``source_record`` (and the history one to ``golden_record`` too): a primary-key
probe and a share lock on the referenced row per written row, about half the cost of the
write (290,000 blocking keys COPied into a table of a million: 4.5 s with the key, 2.1 s
without). The rows are derived in the transaction that reads the record they belong to, and
neither source records nor golden records are ever deleted (a delete is a tombstone, a golden
record is retired), so the keys guarded nothing the code does not already ensure. The
cross-reference itself (``golden_member``) keeps its keys.

The features are kept as ``json`` text on PostgreSQL: they are only ever read whole, by
record, and ``jsonb`` parsed each document into a tree on the way in and printed it back out
on the way out.

Revision ID: 20261127_0008
Revises: 20261127_0007
Create Date: 2026-11-27 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261127_0008"
down_revision: str | None = "20261127_0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> its foreign keys that go: (constraint, column, referenced table)
FOREIGN_KEYS = {
    "blocking_key": [
        ("fk_blocking_key_source_record_id_source_record", "source_record_id", "source_record")
    ],
    "match_features": [
        ("fk_match_features_source_record_id_source_record", "source_record_id", "source_record")
    ],
    "xref_history": [
        ("fk_xref_history_source_record_id_source_record", "source_record_id", "source_record"),
        ("fk_xref_history_golden_id_golden_record", "golden_id", "golden_record"),
    ],
    "hierarchy_claim": [
        ("fk_hierarchy_claim_source_record_id_source_record", "source_record_id", "source_record")
    ],
}
JSONB = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    for table, keys in FOREIGN_KEYS.items():
        with op.batch_alter_table(table) as batch:
            for name, _, _ in keys:
                batch.drop_constraint(name, type_="foreignkey")
            if table == "match_features":
                batch.alter_column(
                    "features",
                    existing_type=JSONB,
                    type_=sa.JSON(),
                    existing_nullable=False,
                    postgresql_using="features::json",
                )


def downgrade() -> None:
    for table, keys in FOREIGN_KEYS.items():
        with op.batch_alter_table(table) as batch:
            if table == "match_features":
                batch.alter_column(
                    "features",
                    existing_type=sa.JSON(),
                    type_=JSONB,
                    existing_nullable=False,
                    postgresql_using="features::jsonb",
                )
            for name, column, referred in keys:
                batch.create_foreign_key(name, referred, [column], ["id"])
