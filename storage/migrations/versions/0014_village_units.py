"""village-level units (issue 16): a jurisdiction's villages and communities are intake points
(level ``village``, kind ``intake_point``), so the units table's level check admits ``village``

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-12 10:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = "level IN ('central','province','city','county','township')"
NEW = "level IN ('central','province','city','county','township','village')"


def _replace_check(old: str, new: str) -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(op.f("ck_units_level"), "units", type_="check")
        op.create_check_constraint(op.f("ck_units_level"), "units", new)
        return
    # SQLite would alter by copying the table, and every other table refers to units: dropping the
    # original counts each reference as a violation that the copy does not undo. A CHECK does not
    # change how rows are stored, so the table's definition is edited in place, as SQLite documents
    # for such changes ("Making Other Kinds Of Table Schema Changes", alter table, section 7).
    bind = op.get_bind()
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema=ON")
    changed = bind.exec_driver_sql(
        "UPDATE sqlite_master SET sql = replace(sql, ?, ?)"
        " WHERE type = 'table' AND name = 'units' AND instr(sql, ?)",
        (old, new, old),
    ).rowcount
    bind.exec_driver_sql(f"PRAGMA schema_version={int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema=OFF")
    if changed != 1:
        raise RuntimeError("units: the level check is not the one this migration replaces")


def upgrade() -> None:
    _replace_check(OLD, NEW)


def downgrade() -> None:
    op.execute("DELETE FROM units WHERE level = 'village'")
    _replace_check(NEW, OLD)
