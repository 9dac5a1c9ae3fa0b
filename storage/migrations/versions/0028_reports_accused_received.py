"""statistics: the accused alert's index (issue 18). ``reports.accused_name`` is indexed with
``received_at``: the alert reads the reports of the names named most over 90 days, and a name of
13,000 reports over the year (a common one, at a million reports) read all of them to keep its
3,200 of the window (100 ms). The composite index serves the lookups by name alone as the old one
did, so it replaces it.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-04 19:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_reports_accused_name_received_at", "reports", ["accused_name", "received_at"])
    op.drop_index("ix_reports_accused_name", table_name="reports")


def downgrade() -> None:
    op.create_index("ix_reports_accused_name", "reports", ["accused_name"])
    op.drop_index("ix_reports_accused_name_received_at", table_name="reports")
