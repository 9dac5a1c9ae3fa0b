"""statistics roll-up: the measures (issue 18). Each report's time to 受理 and to 办结 (binned
days and exact seconds), whether it was transferred, is a duplicate or merged, has a deadline or
met one late, its earliest open deadline and the informant's latest rating are counted per month
(``stats_counted`` columns, the measure rows of ``stats_counts``), so the measures of a year read
its month rows instead of every report's events, deadlines and ratings (11 s at a million).

Triggers mark a report pending when one of those may change: an ``accept`` event, a transfer, a
deadline or a rating added, changed or removed, and now also ``reports.duplicate_of`` and
``case_states.merged_into`` / ``concluded_at`` (the update triggers of 0023 are made again with
the longer column lists). Backfill: every report with any of these is pending; the background
refresh folds them in, and the reads are exact meanwhile.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-03 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FLAGS = (
    "accept_days",
    "close_days",
    "transferred",
    "duplicate",
    "merged",
    "deadline",
    "late",
    "open_due",
    "rating",
)
WATCHED = ("case_transfers", "case_deadlines", "case_feedback")
# 0023's update triggers, and the columns they watch before and after this revision.
REWATCHED = {
    "reports": (
        "id",
        "received_at channel category triage scope level priority status handling_unit receiving_unit "
        "location_code anonymous accused_name accused_unit",
        "duplicate_of",
    ),
    "case_states": ("report_id", "owner_unit sealed", "merged_into concluded_at"),
}
ACCEPT = "stats_report_events_accept"


def _mark(pg: bool, row: str) -> str:
    if pg:
        return (
            f"INSERT INTO stats_pending (report_id, seq) "
            f"VALUES ({row}.report_id, nextval('stats_pending_seq')) "
            "ON CONFLICT (report_id) DO UPDATE SET seq = excluded.seq;"
        )
    return (
        f"INSERT INTO stats_pending (report_id, seq) VALUES ({row}.report_id, 0) "
        "ON CONFLICT (report_id) DO NOTHING;"
    )


def _trigger(pg: bool, name: str, what: str, table: str, rows: Sequence[str], when: str = "") -> list[str]:
    marks = " ".join(_mark(pg, row) for row in rows)
    if pg:
        return [
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN {marks} RETURN NULL; END $$",
            f"CREATE TRIGGER {name} AFTER {what} ON {table} FOR EACH ROW "
            f"{f'WHEN ({when}) ' if when else ''}EXECUTE FUNCTION {name}()",
        ]
    condition = f"WHEN {when} " if when else ""
    return [f"CREATE TRIGGER {name} AFTER {what} ON {table} FOR EACH ROW {condition}BEGIN {marks} END"]


def _drop(pg: bool, name: str, table: str, function: bool = True) -> None:
    op.execute(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if pg else ""))
    if pg and function:
        op.execute(f"DROP FUNCTION IF EXISTS {name}()")


def _rewatch(pg: bool, columns: int) -> None:
    """Make 0023's update triggers again, watching the columns of ``columns`` lists."""
    for table, (key, *lists) in REWATCHED.items():
        name = f"stats_{table}_update"
        watched = ", ".join(" ".join(lists[:columns]).split())
        _drop(pg, name, table, function=False)
        if pg:
            op.execute(
                f"CREATE TRIGGER {name} AFTER UPDATE OF {watched} ON {table} FOR EACH ROW "
                f"EXECUTE FUNCTION {name}()"
            )
        else:
            op.execute(
                f"CREATE TRIGGER {name} AFTER UPDATE OF {watched} ON {table} FOR EACH ROW BEGIN "
                f"INSERT INTO stats_pending (report_id, seq) VALUES (NEW.{key}, 0) "
                "ON CONFLICT (report_id) DO NOTHING; END"
            )


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("stats_counted") as batch:
        batch.add_column(sa.Column("accept_s", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("close_s", sa.BigInteger(), nullable=True))
        for flag in FLAGS:
            batch.add_column(sa.Column(f"f_{flag}", sa.String(length=320), nullable=True))
    for statement in _trigger(pg, ACCEPT, "INSERT", "report_events", ["NEW"], "NEW.kind = 'accept'"):
        op.execute(statement)
    for table in WATCHED:
        for event, rows in (("insert", ["NEW"]), ("update", ["OLD", "NEW"]), ("delete", ["OLD"])):
            for statement in _trigger(pg, f"stats_{table}_{event}", event.upper(), table, rows):
                op.execute(statement)
    _rewatch(pg, 2)
    op.execute(
        "INSERT INTO stats_pending (report_id, seq) SELECT report_id, 0 FROM ("
        "SELECT report_id FROM case_states UNION SELECT id FROM reports WHERE duplicate_of IS NOT NULL "
        "UNION SELECT report_id FROM report_events WHERE kind = 'accept' AND report_id IS NOT NULL "
        + "".join(f"UNION SELECT report_id FROM {table} " for table in WATCHED)
        + ") x WHERE true ON CONFLICT (report_id) DO NOTHING"  # WHERE: SQLite's parser
    )


def downgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    _rewatch(pg, 1)
    _drop(pg, ACCEPT, "report_events")
    for table in WATCHED:
        for event in ("insert", "update", "delete"):
            _drop(pg, f"stats_{table}_{event}", table)
    op.execute(
        "DELETE FROM stats_counts WHERE field IN ("
        + ", ".join(f"'{f}'" for f in (*FLAGS, "accept_s", "close_s"))
        + ")"
    )
    with op.batch_alter_table("stats_counted") as batch:
        for flag in reversed(FLAGS):
            batch.drop_column(f"f_{flag}")
        batch.drop_column("close_s")
        batch.drop_column("accept_s")
