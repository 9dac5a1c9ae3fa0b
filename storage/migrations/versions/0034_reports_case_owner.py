"""the queue at scale (issue 21, a million reports): each report row carries its case's owner as
the workflow set it (``reports.owner_unit``, a copy of ``case_states.owner_unit`` kept by triggers;
NULL until the workflow acts), so the owner of a case, ``coalesce(owner_unit, receiving_unit)``, is
a value of the report row and an index by status, owner and receipt time serves a county's lists.
Before, the owner needed ``case_states``: the queue's list of new reports read every report of the
status (29,524 at a million) and hashed all 450,000 case states to find whose each one was (636 ms
for a county).

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-07 23:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (trigger, event, the report's id, the owner it now has): each copies the workflow's owner of one
# case onto its report row.
TRIGGERS = (
    ("report_owner_state", "INSERT", "NEW.report_id", "NEW.owner_unit"),
    ("report_owner_state_update", "UPDATE OF owner_unit", "NEW.report_id", "NEW.owner_unit"),
    ("report_owner_state_delete", "DELETE", "OLD.report_id", "NULL"),
)
INDEX = "ix_reports_status_owner"


def _copy(report: str, owner: str) -> str:
    return (
        f"UPDATE reports SET owner_unit = {owner} WHERE id = {report} AND owner_unit IS DISTINCT FROM {owner}"
    )


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    # Plain ALTER TABLE, also on SQLite: a batch operation would copy the table and lose the
    # statistics roll-up's triggers on it. No trigger watches the new column.
    op.add_column("reports", sa.Column("owner_unit", sa.String(length=16), nullable=True))
    if pg:
        op.execute(
            "UPDATE reports r SET owner_unit = cs.owner_unit FROM case_states cs "
            "WHERE cs.report_id = r.id AND cs.owner_unit IS NOT NULL"
        )
    else:
        op.execute(
            "UPDATE reports SET owner_unit = "
            "(SELECT owner_unit FROM case_states WHERE report_id = reports.id) "
            "WHERE id IN (SELECT report_id FROM case_states)"
        )
    for name, event, report, owner in TRIGGERS:
        if pg:
            op.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                f"BEGIN {_copy(report, owner)}; RETURN NULL; END $$"
            )
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON case_states FOR EACH ROW EXECUTE FUNCTION {name}()"
            )
        else:
            copy = _copy(report, owner).replace("IS DISTINCT FROM", "IS NOT")
            op.execute(f"CREATE TRIGGER {name} AFTER {event} ON case_states FOR EACH ROW BEGIN {copy}; END")
    op.execute(f"CREATE INDEX {INDEX} ON reports (status, coalesce(owner_unit, receiving_unit), received_at)")


def downgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    op.execute(f"DROP INDEX IF EXISTS {INDEX}")
    for name, _, _, _ in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (" ON case_states" if pg else ""))
        if pg:
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.drop_column("reports", "owner_unit")  # SQLite ≥ 3.35: ALTER TABLE DROP COLUMN
