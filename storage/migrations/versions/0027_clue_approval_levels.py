"""clue disposal: approval levels (issue 18). A proposal may need more than one approval
(监督执纪工作规则 arts 27, 33, 35 ¶3): ``approvals`` keeps the levels given so far to the pending
proposal (a JSON array of level, approver, time and, for an approval outside the commission, its
reference); ``leader_case`` says the accused is a 下一级党委（党组）主要负责人 or a main leader of a
unit under the commission (arts 22, 27, 33). Existing clues: no level given, no leader case.
The staff table's role check admits ``leader`` (主要负责人, the commission's main leader).

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-04 18:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


OLD = "role IN ('registrar','triage_officer','handler','supervisor','custodian','admin')"
NEW = "role IN ('registrar','triage_officer','handler','supervisor','leader','custodian','admin')"


def _replace_check(old: str, new: str) -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(op.f("ck_staff_role"), "staff", type_="check")
        op.create_check_constraint(op.f("ck_staff_role"), "staff", new)
        return
    # As 0014 does for units: other tables refer to staff, so SQLite's copy-and-rename would count
    # each reference as a violation; a CHECK does not change how rows are stored, so the table's
    # definition is edited in place (SQLite's "Making Other Kinds Of Table Schema Changes").
    bind = op.get_bind()
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema=ON")
    changed = bind.exec_driver_sql(
        "UPDATE sqlite_master SET sql = replace(sql, ?, ?)"
        " WHERE type = 'table' AND name = 'staff' AND instr(sql, ?)",
        (old, new, old),
    ).rowcount
    bind.exec_driver_sql(f"PRAGMA schema_version={int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema=OFF")
    if changed != 1:
        raise RuntimeError("staff: the role check is not the one this migration replaces")


def upgrade() -> None:
    with op.batch_alter_table("clues") as batch:
        batch.add_column(sa.Column("approvals", sa.Text(), nullable=True))
        batch.add_column(sa.Column("leader_case", sa.Boolean(), nullable=False, server_default=sa.false()))
    _replace_check(OLD, NEW)


def downgrade() -> None:
    op.execute("UPDATE staff SET role = 'supervisor' WHERE role = 'leader'")
    _replace_check(NEW, OLD)
    with op.batch_alter_table("clues") as batch:
        batch.drop_column("leader_case")
        batch.drop_column("approvals")
