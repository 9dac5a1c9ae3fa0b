"""several workers (issue 21): rate-limit buckets and spent one-time values, counted in the database
so that a query-code guesser, a login guesser or a replayed signed request meets the same limit on
every worker. Used on PostgreSQL; the embedded SQLite default (one process) keeps them in memory
and leaves these tables empty.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-06 23:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_buckets",
        sa.Column("bucket", sa.String(32), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("stamp", sa.Float(), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("bucket", "key", name="pk_rate_buckets"),
    )
    op.create_index("ix_rate_buckets_stamp", "rate_buckets", ["stamp"])
    op.create_table(
        "spent_nonces",
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("expires", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "nonce", name="pk_spent_nonces"),
    )
    op.create_index("ix_spent_nonces_expires", "spent_nonces", ["expires"])


def downgrade() -> None:
    op.drop_index("ix_spent_nonces_expires", table_name="spent_nonces")
    op.drop_table("spent_nonces")
    op.drop_index("ix_rate_buckets_stamp", table_name="rate_buckets")
    op.drop_table("rate_buckets")
