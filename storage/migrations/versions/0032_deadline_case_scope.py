"""the deadline board at scale (issue 21, a million reports): each deadline row carries what scoping
needs of its case — the owner (``coalesce(case_states.owner_unit, reports.receiving_unit)``), the
seal (the workflow's or the stored triage's) and the receiving unit — kept by triggers, so the
board counts the open deadlines of a scope from this table alone, over a partial index of the open
ones. Before, every count joined the deadlines to the whole ``reports`` table (a 1 GB sequential
scan at a million reports, 4.5 s per board).

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-07 00:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The case's scope columns of one report, for the report ``{id}`` (an SQL expression).
PG_SEALED = "coalesce(cs.sealed, false) OR coalesce((r.triage ->> 'sealed')::boolean, false)"
LITE_SEALED = "coalesce(cs.sealed, 0) OR coalesce(json_extract(r.triage, '$.sealed'), 0)"
OWNER = "coalesce(cs.owner_unit, r.receiving_unit)"


def _refresh_pg(where: str, report: str) -> str:
    return (
        f"UPDATE case_deadlines cd SET case_owner = {OWNER}, case_sealed = {PG_SEALED}, "
        "case_received_by = r.receiving_unit "
        "FROM reports r LEFT JOIN case_states cs ON cs.report_id = r.id "
        f"WHERE r.id = {report} AND cd.report_id = r.id{where}"
    )


def _refresh_sqlite(where: str, report: str) -> str:
    of = f"FROM reports r LEFT JOIN case_states cs ON cs.report_id = r.id WHERE r.id = {report}"
    return (
        f"UPDATE case_deadlines SET case_owner = (SELECT {OWNER} {of}), "
        f"case_sealed = (SELECT {LITE_SEALED} {of}), "
        f"case_received_by = (SELECT r.receiving_unit {of}) "
        f"WHERE report_id = {report}{where}"
    )


# (trigger, event, table, the report's id, WHEN condition): each refreshes the scope columns of
# the deadlines it concerns.
TRIGGERS = (
    ("deadline_scope_insert", "INSERT", "case_deadlines", "NEW.report_id", None),
    ("deadline_scope_state", "INSERT", "case_states", "NEW.report_id", None),
    ("deadline_scope_state_update", "UPDATE OF owner_unit, sealed", "case_states", "NEW.report_id", None),
    ("deadline_scope_state_delete", "DELETE", "case_states", "OLD.report_id", None),
    (
        "deadline_scope_report",
        "UPDATE OF triage, receiving_unit",
        "reports",
        "NEW.id",
        {
            "postgresql": "OLD.receiving_unit IS DISTINCT FROM NEW.receiving_unit"
            " OR (OLD.triage ->> 'sealed') IS DISTINCT FROM (NEW.triage ->> 'sealed')",
            "sqlite": "OLD.receiving_unit IS NOT NEW.receiving_unit"
            " OR json_extract(OLD.triage, '$.sealed') IS NOT json_extract(NEW.triage, '$.sealed')",
        },
    ),
)


# The statistics roll-up's trigger on deadline updates (migration 0025): the backfill below
# changes no counted column, so it runs without it (else every case with a deadline is counted
# again).
STATS_TRIGGER = "stats_case_deadlines_update"


def _backfill(pg: bool) -> None:
    if pg:
        op.execute(f"ALTER TABLE case_deadlines DISABLE TRIGGER {STATS_TRIGGER}")
        op.execute(_refresh_pg("", "cd.report_id"))
        op.execute(f"ALTER TABLE case_deadlines ENABLE TRIGGER {STATS_TRIGGER}")
        return
    bind = op.get_bind()
    found = bind.execute(
        sa.text("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = :n"), {"n": STATS_TRIGGER}
    ).scalar()
    if found:
        op.execute(f"DROP TRIGGER {STATS_TRIGGER}")
    op.execute(_refresh_sqlite("", "case_deadlines.report_id"))
    if found:
        op.execute(found)


def _pg_insert_trigger(name: str) -> None:
    """On PostgreSQL a new deadline row gets its columns before it is written."""
    op.execute(
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"SELECT {OWNER}, {PG_SEALED}, r.receiving_unit "
        "INTO NEW.case_owner, NEW.case_sealed, NEW.case_received_by "
        "FROM reports r LEFT JOIN case_states cs ON cs.report_id = r.id WHERE r.id = NEW.report_id; "
        "RETURN NEW; END $$"
    )
    op.execute(
        f"CREATE TRIGGER {name} BEFORE INSERT ON case_deadlines FOR EACH ROW EXECUTE FUNCTION {name}()"
    )


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    # Plain ALTER TABLE, also on SQLite: a batch operation would copy the table and lose the
    # statistics roll-up's triggers on it.
    op.add_column("case_deadlines", sa.Column("case_owner", sa.String(length=16), nullable=True))
    op.add_column(
        "case_deadlines", sa.Column("case_sealed", sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    op.add_column("case_deadlines", sa.Column("case_received_by", sa.String(length=16), nullable=True))
    _backfill(pg)
    for name, event, table, report, when in TRIGGERS:
        if pg and table == "case_deadlines":
            _pg_insert_trigger(name)
        elif pg:
            op.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                f"BEGIN {_refresh_pg('', report)}; RETURN NULL; END $$"
            )
            condition = f"WHEN ({when['postgresql']}) " if when else ""
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW {condition}"
                f"EXECUTE FUNCTION {name}()"
            )
        else:
            # A new deadline row: only itself (its case's other deadlines are already right).
            only = " AND id = NEW.id" if table == "case_deadlines" else ""
            condition = f"WHEN {when['sqlite']} " if when else ""
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW {condition}"
                f"BEGIN {_refresh_sqlite(only, report)}; END"
            )
    op.execute(
        "CREATE INDEX ix_case_deadlines_open ON case_deadlines (due_on, case_owner) WHERE status = 'open'"
    )


def downgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    op.execute("DROP INDEX IF EXISTS ix_case_deadlines_open")
    for name, _, table, _, _ in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if pg else ""))
        if pg:
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    for column in ("case_received_by", "case_sealed", "case_owner"):
        op.drop_column("case_deadlines", column)  # SQLite ≥ 3.35: ALTER TABLE DROP COLUMN
