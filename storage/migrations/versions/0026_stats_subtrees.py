"""statistics roll-up: subtree rows (issue 18). The day rows of the fields the alerts read over
many days (``place_category``, ``accused``, ``word``, ``informant``) are also kept summed over each
subtree of a province, city or county unit, under the owner ``*<code>``: the supervisor of a city
(1,831 units in the benchmark) reads those instead of each unit's rows (the alerts of a week took
1.7 s at a million reports). Each report's subtrees are counted with it (``stats_counted.subtrees``,
a JSON array). Backfill: every report is pending; the background refresh folds them in (the reads
are exact meanwhile).

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-03 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("stats_counted") as batch:
        batch.add_column(sa.Column("subtrees", sa.Text(), nullable=True))
    op.execute(
        "INSERT INTO stats_pending (report_id, seq) SELECT id, 0 FROM reports WHERE true "  # WHERE: SQLite
        "ON CONFLICT (report_id) DO NOTHING"
    )


def downgrade() -> None:
    op.execute("DELETE FROM stats_counts WHERE owner_unit LIKE '*%'")
    with op.batch_alter_table("stats_counted") as batch:
        batch.drop_column("subtrees")
