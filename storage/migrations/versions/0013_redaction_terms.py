"""redaction terms (issue 14): per report, keyed hashes of the identity values the informant gave,
with their kinds and lengths, so follow-ups are redacted by them without decrypting the vault

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-10 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("reports", sa.Column("redaction_terms", sa.Text(), nullable=True))


def downgrade() -> None:
    # Not in batch mode: SQLite (3.35+) drops a column in place, where a batch would copy the
    # reports table that every other table refers to.
    op.drop_column("reports", "redaction_terms")
