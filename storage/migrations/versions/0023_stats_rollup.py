"""statistics roll-up (issue 18): ``stats_counts`` (per China day and month, owner unit and
sealed-from unit, the reports with each value of each groupable field), ``stats_counted`` (what it
counted for each report), ``stats_pending`` (the reports changed since, added by triggers on
``reports``, ``case_states`` and ``search_documents`` in the changing transaction);
``search_documents.keywords`` (a JSON array of a report's few keywords, for the hot words).
Backfill: every existing report is pending, so the counts are exact at once (the reads add the
pending difference, ``storage.stats_rollup``) and the background refresh folds them in.

On SQLite a later revision that rebuilds one of the three tables (batch mode copies and renames)
drops its triggers and must recreate them (:func:`triggers`).

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-02 19:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The columns whose change can change a report's contribution, per table, and its report id.
WATCHED = {
    "reports": (
        "id",
        "received_at channel category triage scope level priority status handling_unit receiving_unit "
        "location_code anonymous accused_name accused_unit",
    ),
    "case_states": ("report_id", "owner_unit sealed"),
    "search_documents": ("report_id", "keywords"),
}
KEYED = (
    "channel",
    "category",
    "scope",
    "level",
    "priority",
    "status",
    "handling_unit",
    "receiving_unit",
    "place",
    "anonymous",
    "place_category",
    "accused",
    "indexed",
)


def triggers(pg: bool) -> list[str]:
    """The triggers that mark a report pending when its contribution may change."""
    out = []
    for table, (key, watched) in WATCHED.items():
        for event in ("insert", "update", "delete"):
            name = f"stats_{table}_{event}"
            row = "OLD" if event == "delete" else "NEW"
            what = event.upper()
            if event == "update":
                what = "UPDATE OF " + ", ".join(watched.split())
            if pg:
                out.append(
                    f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    "INSERT INTO stats_pending (report_id, seq) "
                    f"VALUES ({row}.{key}, nextval('stats_pending_seq')) "
                    "ON CONFLICT (report_id) DO UPDATE SET seq = excluded.seq; RETURN NULL; END $$"
                )
                out.append(
                    f"CREATE TRIGGER {name} AFTER {what} ON {table} FOR EACH ROW EXECUTE FUNCTION {name}()"
                )
            else:
                out.append(
                    f"CREATE TRIGGER {name} AFTER {what} ON {table} FOR EACH ROW BEGIN "
                    f"INSERT INTO stats_pending (report_id, seq) VALUES ({row}.{key}, 0) "
                    "ON CONFLICT (report_id) DO NOTHING; END"
                )
    return out


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("search_documents") as batch:
        batch.add_column(sa.Column("keywords", sa.Text(), nullable=True))
    op.create_table(
        "stats_counts",
        sa.Column("field", sa.String(length=16), nullable=False),
        sa.Column("grain", sa.String(length=1), nullable=False),
        sa.Column("owner_unit", sa.String(length=16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("sealed_from", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=320), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        # Owner before day: a scope's thousand units are each a short range of the index (day
        # first, each unit's probe read every unit's rows of the range: 11 s at a million).
        sa.PrimaryKeyConstraint(
            "field", "grain", "owner_unit", "day", "sealed_from", "value", name=op.f("pk_stats_counts")
        ),
        **({"postgresql_with": {"fillfactor": 80}} if pg else {}),
    )
    op.create_index("ix_stats_counts_value", "stats_counts", ["field", "value", "grain", "day"])
    # The case numbers of the accused alerts: the reports naming the few accused named most.
    op.create_index("ix_reports_accused_name", "reports", ["accused_name"])
    op.create_table(
        "stats_counted",
        sa.Column("report_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("owner_unit", sa.String(length=16), nullable=False),
        sa.Column("sealed_from", sa.String(length=16), nullable=False),
        sa.Column("keywords", sa.Text(), nullable=True),
        *(sa.Column(f"f_{f}", sa.String(length=320), nullable=True) for f in KEYED),
        sa.PrimaryKeyConstraint("report_id", name=op.f("pk_stats_counted")),
    )
    op.create_table(
        "stats_pending",
        sa.Column("report_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("report_id", name=op.f("pk_stats_pending")),
    )
    if pg:
        op.execute("CREATE SEQUENCE stats_pending_seq")
    for statement in triggers(pg):
        op.execute(statement)
    op.execute("INSERT INTO stats_pending (report_id, seq) SELECT id, 0 FROM reports")


def downgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    for table in WATCHED:
        for event in ("insert", "update", "delete"):
            name = f"stats_{table}_{event}"
            op.execute(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if pg else ""))
            if pg:
                op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    if pg:
        op.execute("DROP SEQUENCE IF EXISTS stats_pending_seq")
    op.drop_table("stats_pending")
    op.drop_table("stats_counted")
    op.drop_index("ix_stats_counts_value", table_name="stats_counts")
    op.drop_index("ix_reports_accused_name", table_name="reports")
    op.drop_table("stats_counts")
    with op.batch_alter_table("search_documents") as batch:
        batch.drop_column("keywords")
