"""urging and supervision notices (issue 18 item 4): staff alerts per unit with per-user read
state and mail delivery, supervision notices (督办函), and an optional e-mail address for staff

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 14:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staff") as batch:
        batch.add_column(sa.Column("email", sa.String(length=254), nullable=True))
    op.create_table(
        "staff_alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("unit_code", sa.String(length=16), nullable=False),
        sa.Column("report_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("deadline_id", sa.Integer(), nullable=True),
        sa.Column("notice_id", sa.Integer(), nullable=True),
        sa.Column("rule", sa.String(length=48), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mail_status", sa.String(length=12), nullable=True),
        sa.Column("mail_error", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["report_id"], ["reports.id"], name=op.f("fk_staff_alerts_report_id_reports")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_alerts")),
        sa.UniqueConstraint("deadline_id", "kind", name="uq_staff_alerts_deadline_kind"),
    )
    op.create_index(op.f("ix_staff_alerts_unit_code"), "staff_alerts", ["unit_code"], unique=False)
    op.create_index(op.f("ix_staff_alerts_report_id"), "staff_alerts", ["report_id"], unique=False)
    op.create_table(
        "staff_alert_reads",
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["staff_alerts.id"], name=op.f("fk_staff_alert_reads_alert_id_staff_alerts")
        ),
        sa.ForeignKeyConstraint(
            ["username"], ["staff.username"], name=op.f("fk_staff_alert_reads_username_staff")
        ),
        sa.PrimaryKeyConstraint("alert_id", "username", name=op.f("pk_staff_alert_reads")),
    )
    op.create_table(
        "supervision_notices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("report_id", sa.Uuid(), nullable=False),
        sa.Column("from_unit", sa.String(length=16), nullable=False),
        sa.Column("to_unit", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("reply_due", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_by", sa.String(length=64), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending','answered','closed')", name=op.f("ck_supervision_notices_status")
        ),
        sa.ForeignKeyConstraint(
            ["report_id"], ["reports.id"], name=op.f("fk_supervision_notices_report_id_reports")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supervision_notices")),
    )
    op.create_index(
        op.f("ix_supervision_notices_report_id"), "supervision_notices", ["report_id"], unique=False
    )
    op.create_index(op.f("ix_supervision_notices_to_unit"), "supervision_notices", ["to_unit"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_supervision_notices_to_unit"), table_name="supervision_notices")
    op.drop_index(op.f("ix_supervision_notices_report_id"), table_name="supervision_notices")
    op.drop_table("supervision_notices")
    op.drop_table("staff_alert_reads")
    op.drop_index(op.f("ix_staff_alerts_report_id"), table_name="staff_alerts")
    op.drop_index(op.f("ix_staff_alerts_unit_code"), table_name="staff_alerts")
    op.drop_table("staff_alerts")
    with op.batch_alter_table("staff") as batch:
        batch.drop_column("email")
