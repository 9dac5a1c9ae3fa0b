"""case workflow, deadlines and staff accounts (issue 8)

Revision ID: 0010
Revises: 0003
Create Date: 2026-11-30 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "staff",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("unit_code", sa.String(length=16), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("totp_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("totp_last_step", sa.BigInteger(), nullable=True),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "role IN ('registrar','triage_officer','handler','supervisor','custodian','admin')",
            name=op.f("ck_staff_role"),
        ),
        sa.ForeignKeyConstraint(["unit_code"], ["units.code"], name=op.f("fk_staff_unit_code_units")),
        sa.PrimaryKeyConstraint("username", name=op.f("pk_staff")),
    )
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_unit_code"), ["unit_code"], unique=False)

    op.create_table(
        "case_deadlines",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("report_id", sa.Uuid(), nullable=False),
        sa.Column("rule", sa.String(length=48), nullable=False),
        sa.Column("unit_code", sa.String(length=16), nullable=False),
        sa.Column("start_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("extensions", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('open','met','cancelled')", name=op.f("ck_case_deadlines_status")),
        sa.ForeignKeyConstraint(
            ["report_id"], ["reports.id"], name=op.f("fk_case_deadlines_report_id_reports")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_deadlines")),
    )
    with op.batch_alter_table("case_deadlines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_deadlines_due_on"), ["due_on"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_deadlines_report_id"), ["report_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_deadlines_unit_code"), ["unit_code"], unique=False)

    op.create_table(
        "case_states",
        sa.Column("report_id", sa.Uuid(), nullable=False),
        sa.Column("owner_unit", sa.String(length=16), nullable=False),
        sa.Column("handler", sa.String(length=64), nullable=True),
        sa.Column("sealed", sa.Boolean(), nullable=False),
        sa.Column("merged_into", sa.String(length=32), nullable=True),
        sa.Column("review_stage", sa.Integer(), nullable=False),
        sa.Column("replied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("concluded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["owner_unit"], ["units.code"], name=op.f("fk_case_states_owner_unit_units")),
        sa.ForeignKeyConstraint(["report_id"], ["reports.id"], name=op.f("fk_case_states_report_id_reports")),
        sa.PrimaryKeyConstraint("report_id", name=op.f("pk_case_states")),
    )
    with op.batch_alter_table("case_states", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_states_owner_unit"), ["owner_unit"], unique=False)

    op.create_table(
        "case_transfers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("report_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("from_unit", sa.String(length=16), nullable=False),
        sa.Column("to_unit", sa.String(length=16), nullable=True),
        sa.Column("to_organ", sa.String(length=100), nullable=True),
        sa.Column("sealed", sa.Boolean(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('upward','downward','sideways','assign_down','forward')",
            name=op.f("ck_case_transfers_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["report_id"], ["reports.id"], name=op.f("fk_case_transfers_report_id_reports")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_transfers")),
    )
    with op.batch_alter_table("case_transfers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_transfers_report_id"), ["report_id"], unique=False)

    op.create_table(
        "recusal_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("report_id", sa.Uuid(), nullable=False),
        sa.Column("requested_by", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending','granted','denied')", name=op.f("ck_recusal_requests_status")
        ),
        sa.ForeignKeyConstraint(
            ["report_id"], ["reports.id"], name=op.f("fk_recusal_requests_report_id_reports")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recusal_requests")),
    )
    with op.batch_alter_table("recusal_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recusal_requests_report_id"), ["report_id"], unique=False)

    op.create_table(
        "staff_relations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("person_name", sa.String(length=100), nullable=False),
        sa.Column("person_unit", sa.String(length=200), nullable=True),
        sa.Column("relation", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["username"], ["staff.username"], name=op.f("fk_staff_relations_username_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_relations")),
    )
    with op.batch_alter_table("staff_relations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_relations_username"), ["username"], unique=False)

    op.create_table(
        "staff_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["username"], ["staff.username"], name=op.f("fk_staff_sessions_username_staff")
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_staff_sessions")),
    )
    with op.batch_alter_table("staff_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_sessions_username"), ["username"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("staff_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_sessions_username"))

    op.drop_table("staff_sessions")
    with op.batch_alter_table("staff_relations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_relations_username"))

    op.drop_table("staff_relations")
    with op.batch_alter_table("recusal_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recusal_requests_report_id"))

    op.drop_table("recusal_requests")
    with op.batch_alter_table("case_transfers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_transfers_report_id"))

    op.drop_table("case_transfers")
    with op.batch_alter_table("case_states", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_states_owner_unit"))

    op.drop_table("case_states")
    with op.batch_alter_table("case_deadlines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_deadlines_unit_code"))
        batch_op.drop_index(batch_op.f("ix_case_deadlines_report_id"))
        batch_op.drop_index(batch_op.f("ix_case_deadlines_due_on"))

    op.drop_table("case_deadlines")
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_unit_code"))

    op.drop_table("staff")
