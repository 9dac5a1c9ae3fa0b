"""video reception walk-in sessions (issue 20): a session opened now at the township, the citizen
already in the room, rather than booked on a slot; recording chunks name their part (whose media
the server's recorder wrote)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("reception_sessions") as batch:
        batch.add_column(sa.Column("walk_in", sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table("reception_chunks") as batch:
        batch.add_column(sa.Column("part", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reception_chunks") as batch:
        batch.drop_column("part")
    with op.batch_alter_table("reception_sessions") as batch:
        batch.drop_column("walk_in")
