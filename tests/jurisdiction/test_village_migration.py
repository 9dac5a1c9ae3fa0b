"""Migration 0014 admits village-level units (intake points) in a database that already holds
units referred to by cases, on SQLite (which copies the table) and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command

from storage.database import alembic_config, upgrade
from storage.db import make_engine

UNITS = "INSERT INTO units (code, name, level, kind, parent_code, division_code, division_name) VALUES "
VILLAGE = (
    UNITS
    + "('430121102201', '某村村务监督委员会', 'village', 'intake_point', '430121102', '430121102201', '某村')"
)


async def test_village_units_after_0014(empty_db_url: str) -> None:
    db_url = empty_db_url
    engine = make_engine(db_url, writer=True)
    try:
        await upgrade(engine, "0013")
        async with engine.begin() as conn:
            await conn.execute(
                sa.text(
                    UNITS + "('430121', '长沙县纪委监委', 'county', 'commission', NULL, '430121', '长沙县')"
                )
            )
            await conn.execute(
                sa.text(
                    UNITS
                    + "('430121102', '黄兴镇纪委', 'township', 'commission', '430121', '430121102', '黄兴镇')"
                )
            )
            await conn.execute(
                sa.text("INSERT INTO case_counters (year, unit_code, last) VALUES (2026, '430121', 7)")
            )
        with pytest.raises(sa.exc.IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(sa.text(VILLAGE))
        await upgrade(engine)
        async with engine.begin() as conn:
            await conn.execute(sa.text(VILLAGE))
        async with engine.connect() as conn:
            levels = (await conn.execute(sa.text("SELECT level FROM units ORDER BY code"))).scalars().all()
            assert levels == ["county", "township", "village"]
            assert (await conn.execute(sa.text("SELECT last FROM case_counters"))).scalar_one() == 7
        with pytest.raises(sa.exc.IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(sa.text(VILLAGE.replace("'village'", "'hamlet'").replace("201'", "202'")))

        def down(sync_conn: object) -> None:
            cfg = alembic_config(str(engine.url))
            cfg.attributes["connection"] = sync_conn
            command.downgrade(cfg, "0013")

        async with engine.begin() as conn:
            await conn.run_sync(down)
        async with engine.connect() as conn:
            count = (await conn.execute(sa.text("SELECT count(*) FROM units"))).scalar_one()
            assert count == 2  # the village went with the level
    finally:
        await engine.dispose()
