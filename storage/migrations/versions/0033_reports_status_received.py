"""the queue's and the case list's status lists at scale (issue 21, a million reports): the status
index gets the receipt time after it, so the newest reports of one status are read in order. With
``status`` alone, the queue's list of a status few reports have (``registered``) walked the whole
receipt-time index, a million entries, on every queue page.

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-07 00:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain statements, also on SQLite (a batch operation would copy the table and lose the
    # statistics roll-up's triggers on it).
    op.create_index("ix_reports_status_received_at", "reports", ["status", "received_at"])
    op.drop_index("ix_reports_status", table_name="reports")


def downgrade() -> None:
    op.create_index("ix_reports_status", "reports", ["status"])
    op.drop_index("ix_reports_status_received_at", table_name="reports")
