"""video reception sessions (issue 9): bookings with their sealed identity, consent and minutes,
and the encrypted recording chunks uploaded during a session

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reception_sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("township_unit", sa.String(length=16), nullable=False),
        sa.Column("host_unit", sa.String(length=16), nullable=False),
        sa.Column("slot_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("slot_minutes", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("accused_name", sa.String(length=100), nullable=True),
        sa.Column("accused_unit", sa.String(length=200), nullable=True),
        sa.Column("accused_position", sa.String(length=100), nullable=True),
        sa.Column("accused_rank", sa.String(length=16), nullable=True),
        sa.Column("facts", sa.Text(), nullable=False),
        sa.Column("identity_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("linked_report_id", sa.Uuid(), nullable=True),
        sa.Column("booked_by", sa.String(length=64), nullable=False),
        sa.Column("officer", sa.String(length=64), nullable=True),
        sa.Column("attendees", sa.JSON(), nullable=True),
        sa.Column("consent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("minutes", sa.Text(), nullable=True),
        sa.Column("minutes_confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("case_no", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('booked','live','minutes','filed','cancelled')",
            name=op.f("ck_reception_sessions_status"),
        ),
        sa.ForeignKeyConstraint(
            ["township_unit"], ["units.code"], name=op.f("fk_reception_sessions_township_unit_units")
        ),
        sa.ForeignKeyConstraint(
            ["host_unit"], ["units.code"], name=op.f("fk_reception_sessions_host_unit_units")
        ),
        sa.ForeignKeyConstraint(
            ["linked_report_id"], ["reports.id"], name=op.f("fk_reception_sessions_linked_report_id_reports")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reception_sessions")),
    )
    with op.batch_alter_table("reception_sessions") as batch:
        batch.create_index(batch.f("ix_reception_sessions_township_unit"), ["township_unit"], unique=False)
        batch.create_index(batch.f("ix_reception_sessions_host_unit"), ["host_unit"], unique=False)
        batch.create_index(batch.f("ix_reception_sessions_slot_start"), ["slot_start"], unique=False)
        batch.create_index(batch.f("ix_reception_sessions_status"), ["status"], unique=False)
    op.create_table(
        "reception_chunks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("blob_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["reception_sessions.id"],
            name=op.f("fk_reception_chunks_session_id_reception_sessions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reception_chunks")),
        sa.UniqueConstraint("session_id", "seq", name=op.f("uq_reception_chunks_session_id_seq")),
    )
    with op.batch_alter_table("reception_chunks") as batch:
        batch.create_index(batch.f("ix_reception_chunks_session_id"), ["session_id"], unique=False)


def downgrade() -> None:
    op.drop_table("reception_chunks")
    op.drop_table("reception_sessions")
