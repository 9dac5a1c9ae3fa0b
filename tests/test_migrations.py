"""The Alembic chain runs on SQLite and PostgreSQL and agrees with the models."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from storage.database import alembic_config, upgrade
from storage.db import make_engine
from storage.models import Base


def _diff(sync_conn: Any) -> list[Any]:
    ctx = MigrationContext.configure(sync_conn, opts={"compare_type": True})
    return list(compare_metadata(ctx, Base.metadata))


def _downgrade(url: str) -> Any:
    def run(sync_conn: Any) -> None:
        cfg = alembic_config(url)
        cfg.attributes["connection"] = sync_conn
        command.downgrade(cfg, "base")

    return run


async def test_chain_matches_models_and_round_trips(db_url: str) -> None:
    engine = make_engine(db_url, writer=True)
    try:
        await upgrade(engine)
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
            tables = set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))
        assert {"reports", "report_events", "vault_entries", "attachments", "jobs", "units"} <= tables

        async with engine.begin() as conn:
            await conn.run_sync(_downgrade(str(engine.url)))
        async with engine.connect() as conn:
            left = set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))
        assert left <= {"alembic_version"}

        await upgrade(engine)
        async with engine.begin() as conn:
            await conn.execute(
                sa.text("INSERT INTO case_counters (year, unit_code, last) VALUES (2026, '430121', 7)")
            )
        await upgrade(engine)  # already at head: a no-op that keeps the data
        async with engine.connect() as conn:
            assert (await conn.execute(sa.text("SELECT last FROM case_counters"))).scalar_one() == 7
            assert await conn.run_sync(_diff) == []
    finally:
        await engine.dispose()
