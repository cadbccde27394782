"""lookup indexes: golden records by the record they were merged into, review tasks by right record

Both are look-ups on hot paths that scanned whole tables at a million records: a merge repoints
what was merged into the retired golden records; an upsert lists a record's open review tasks.

Revision ID: 20261126_0005
Revises: 20261126_0004
Create Date: 2026-11-26 22:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "20261126_0005"
down_revision: str | None = "20261126_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_golden_record_merged_into_id"), "golden_record", ["merged_into_id"], unique=False
    )
    op.create_index(
        op.f("ix_match_candidate_right_record_id"),
        "match_candidate",
        ["right_record_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_match_candidate_right_record_id"), table_name="match_candidate")
    op.drop_index(op.f("ix_golden_record_merged_into_id"), table_name="golden_record")
