"""statistics roll-up: the repeat-informant alerts from the roll-up (issue 18). Each report's
blind indexes are counted per China day like its keywords (``stats_counted.informants``, the
report's distinct blind indexes as a JSON array; the ``informant`` rows of ``stats_counts``), so
the alert reads the 90 days' counts instead of grouping the blind indexes of a quarter's reports
(4.4 s at a million reports). A trigger on ``vault_blind_indexes`` marks a report pending when
one is added or removed (an identity shredded). Backfill: every report with a blind index is
pending; the background refresh folds them in, and the reads are exact meanwhile.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-02 22:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EVENTS = {"insert": "INSERT", "update": "UPDATE OF report_id, mac", "delete": "DELETE"}


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("stats_counted") as batch:
        batch.add_column(sa.Column("informants", sa.Text(), nullable=True))
    for event, what in EVENTS.items():
        name = f"stats_vault_blind_indexes_{event}"
        rows = ("OLD",) if event == "delete" else ("NEW",) if event == "insert" else ("OLD", "NEW")
        if pg:
            marks = " ".join(
                "INSERT INTO stats_pending (report_id, seq) "
                f"VALUES ({row}.report_id, nextval('stats_pending_seq')) "
                "ON CONFLICT (report_id) DO UPDATE SET seq = excluded.seq;"
                for row in rows
            )
            op.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {marks} "
                "RETURN NULL; END $$"
            )
            op.execute(
                f"CREATE TRIGGER {name} AFTER {what} ON vault_blind_indexes FOR EACH ROW "
                f"EXECUTE FUNCTION {name}()"
            )
        else:
            marks = " ".join(
                f"INSERT INTO stats_pending (report_id, seq) VALUES ({row}.report_id, 0) "
                "ON CONFLICT (report_id) DO NOTHING;"
                for row in rows
            )
            op.execute(
                f"CREATE TRIGGER {name} AFTER {what} ON vault_blind_indexes FOR EACH ROW BEGIN {marks} END"
            )
    op.execute(
        "INSERT INTO stats_pending (report_id, seq) "
        "SELECT DISTINCT report_id, 0 FROM vault_blind_indexes WHERE true "  # WHERE: SQLite's parser
        "ON CONFLICT (report_id) DO NOTHING"
    )


def downgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    for event in EVENTS:
        name = f"stats_vault_blind_indexes_{event}"
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (" ON vault_blind_indexes" if pg else ""))
        if pg:
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.execute("DELETE FROM stats_counts WHERE field = 'informant'")
    with op.batch_alter_table("stats_counted") as batch:
        batch.drop_column("informants")
