"""informant feedback and review requests (issue 17): the rating of an answer (满意度评价), once per
answer, and the informant's 复查 / 复核 / 异议 requests with the unit and deadline they went to

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 06:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_feedback",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("report_id", sa.Uuid(), nullable=False),
        sa.Column("reply_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rating", sa.String(length=24), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "rating IN ('satisfied','basically_satisfied','dissatisfied')",
            name=op.f("ck_case_feedback_rating"),
        ),
        sa.ForeignKeyConstraint(
            ["report_id"], ["reports.id"], name=op.f("fk_case_feedback_report_id_reports")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_feedback")),
        sa.UniqueConstraint("report_id", "reply_at", name="uq_case_feedback_answer"),
    )
    op.create_index(op.f("ix_case_feedback_report_id"), "case_feedback", ["report_id"], unique=False)
    op.create_table(
        "review_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("report_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("from_unit", sa.String(length=16), nullable=False),
        sa.Column("to_unit", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("deadline_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('review','re_review','objection')", name=op.f("ck_review_requests_kind")
        ),
        sa.ForeignKeyConstraint(
            ["report_id"], ["reports.id"], name=op.f("fk_review_requests_report_id_reports")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_requests")),
    )
    op.create_index(op.f("ix_review_requests_report_id"), "review_requests", ["report_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_review_requests_report_id"), table_name="review_requests")
    op.drop_table("review_requests")
    op.drop_index(op.f("ix_case_feedback_report_id"), table_name="case_feedback")
    op.drop_table("case_feedback")
