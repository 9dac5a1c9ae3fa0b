"""the manual triage queue at scale (issue 21, a million reports): a partial index of the reports
whose stored triage result asks for a person, oldest first. The queue read every triaged report
(and parsed its result) until it had found enough: at a million reports, most of them long
decided, a full scan on every queue page.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-07 00:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# As storage.models.reports.NEEDS_REVIEW declares it (a query must say the same to use the index).
WHERE = {
    "postgresql": "(triage ->> 'needs_review') = 'true'",
    "sqlite": "json_extract(triage, '$.needs_review') = 1",
}


def upgrade() -> None:
    where = WHERE[op.get_bind().dialect.name]
    op.execute(f"CREATE INDEX ix_reports_needs_review ON reports (received_at, case_no) WHERE {where}")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_reports_needs_review")
