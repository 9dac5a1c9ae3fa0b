"""walk-in alerts in the staff inbox (issue 20): an alert may be about a video reception session
rather than a case (no report yet: the citizen is waiting in the township room)

Revision ID: 0022
Revises: 0020
Create Date: 2026-12-02 18:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staff_alerts") as batch:
        batch.alter_column("report_id", existing_type=sa.Uuid(), nullable=True)
        batch.add_column(sa.Column("session_id", sa.Uuid(), nullable=True))
        fk = op.f("fk_staff_alerts_session_id_reception_sessions")
        batch.create_foreign_key(fk, "reception_sessions", ["session_id"], ["id"])
        batch.create_index(op.f("ix_staff_alerts_session_id"), ["session_id"], unique=False)


def downgrade() -> None:
    # The alerts about sessions have no case to stand on: they go, with their reads.
    op.execute(
        "DELETE FROM staff_alert_reads"
        " WHERE alert_id IN (SELECT id FROM staff_alerts WHERE report_id IS NULL)"
    )
    op.execute("DELETE FROM staff_alerts WHERE report_id IS NULL")
    with op.batch_alter_table("staff_alerts") as batch:
        batch.drop_index(op.f("ix_staff_alerts_session_id"))
        batch.drop_constraint(op.f("fk_staff_alerts_session_id_reception_sessions"), type_="foreignkey")
        batch.drop_column("session_id")
        batch.alter_column("report_id", existing_type=sa.Uuid(), nullable=False)
