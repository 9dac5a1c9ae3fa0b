"""video reception across workers (issue 21): the rooms' seats, the workers' leases, the spent
room tokens and the signaling messages too large for a notification, shared by every server
worker of one PostgreSQL database (``storage.reception_rooms``). On SQLite (one process, rooms in
memory) the tables are made and stay empty.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-06 23:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reception_rooms",
        sa.Column("room", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("room", name=op.f("pk_reception_rooms")),
    )
    op.create_table(
        "reception_seats",
        sa.Column("room", sa.String(length=64), nullable=False),
        sa.Column("seat", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("worker", sa.String(length=64), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("connected", sa.Boolean(), nullable=False),
        sa.Column("dropped_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("room", "seat", name=op.f("pk_reception_seats")),
    )
    op.create_index("ix_reception_seats_worker", "reception_seats", ["worker"])
    op.create_table(
        "reception_workers",
        sa.Column("worker", sa.String(length=64), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("worker", name=op.f("pk_reception_workers")),
    )
    op.create_table(
        "reception_spent_tokens",
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("expires", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("nonce", name=op.f("pk_reception_spent_tokens")),
    )
    op.create_index("ix_reception_spent_tokens_expires", "reception_spent_tokens", ["expires"])
    op.create_table(
        "reception_signals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reception_signals")),
    )
    op.create_index("ix_reception_signals_created_at", "reception_signals", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_reception_signals_created_at", table_name="reception_signals")
    op.drop_table("reception_signals")
    op.drop_index("ix_reception_spent_tokens_expires", table_name="reception_spent_tokens")
    op.drop_table("reception_spent_tokens")
    op.drop_table("reception_workers")
    op.drop_index("ix_reception_seats_worker", table_name="reception_seats")
    op.drop_table("reception_seats")
    op.drop_table("reception_rooms")
