"""statistics roll-up: subtree rows (issue 18). The rows of the fields the alerts read over many
days (``place_category``, ``accused``, ``word``, ``informant``) and of those the measures read
over months (their fields, ``channel``, ``anonymous``) are also kept summed over each subtree of
a province, city or county unit, under the owner ``*<code>``: the supervisor of a city (1,831
units in the benchmark) reads those instead of each unit's rows (at a million reports the alerts
of a week took 2.5 s, the measures of a quarter 1.3 s). Each report's subtrees are counted with
it (``stats_counted.subtrees``, a JSON array). The value index gains the owner: a subtree's
values are looked up without reading every unit's rows of them. Backfill: every report is
pending; the background refresh folds them in (the reads are exact meanwhile).

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
    op.drop_index("ix_stats_counts_value", table_name="stats_counts")
    op.create_index("ix_stats_counts_value", "stats_counts", ["field", "value", "grain", "owner_unit", "day"])
    op.execute(
        "INSERT INTO stats_pending (report_id, seq) SELECT id, 0 FROM reports WHERE true "  # WHERE: SQLite
        "ON CONFLICT (report_id) DO NOTHING"
    )


def downgrade() -> None:
    op.execute("DELETE FROM stats_counts WHERE owner_unit LIKE '*%'")
    op.drop_index("ix_stats_counts_value", table_name="stats_counts")
    op.create_index("ix_stats_counts_value", "stats_counts", ["field", "value", "grain", "day"])
    with op.batch_alter_table("stats_counted") as batch:
        batch.drop_column("subtrees")
