"""problem clues and their disposal (线索处置, issue 18): one row per accusation accepted as a clue

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATES = ("received", "pending", "inquiry", "answered", "verifying", "shelved", "done")


def upgrade() -> None:
    op.create_table(
        "clues",
        sa.Column("report_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("handling_unit", sa.String(length=16), nullable=False),
        sa.Column("receiving_unit", sa.String(length=16), nullable=False),
        sa.Column("method", sa.String(length=24), nullable=True),
        sa.Column("stage", sa.String(length=16), nullable=True),
        sa.Column("proposal", sa.String(length=24), nullable=True),
        sa.Column("proposal_reason", sa.Text(), nullable=True),
        sa.Column("proposed_by", sa.String(length=80), nullable=True),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("prior_state", sa.String(length=16), nullable=True),
        sa.Column("approved_by", sa.String(length=80), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("plan", sa.Text(), nullable=True),
        sa.Column("result", sa.String(length=24), nullable=True),
        sa.Column("rounds", sa.Integer(), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "state IN (" + ",".join(f"'{s}'" for s in STATES) + ")", name=op.f("ck_clues_state")
        ),
        sa.ForeignKeyConstraint(["report_id"], ["reports.id"], name=op.f("fk_clues_report_id_reports")),
        sa.PrimaryKeyConstraint("report_id", name=op.f("pk_clues")),
    )
    op.create_index(op.f("ix_clues_handling_unit"), "clues", ["handling_unit"], unique=False)
    op.create_index(op.f("ix_clues_receiving_unit"), "clues", ["receiving_unit"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_clues_receiving_unit"), table_name="clues")
    op.drop_index(op.f("ix_clues_handling_unit"), table_name="clues")
    op.drop_table("clues")
