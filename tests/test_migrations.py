"""The Alembic chain runs on SQLite and PostgreSQL and agrees with the models.

One chain serves both databases; these tests run each on both (the ``empty_db_url`` fixture): the schema
at head is what ``storage.models`` describes, every revision upgrades and downgrades one step at a
time, and upgrading a database that is already at head changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.database import alembic_config, upgrade
from storage.db import make_engine
from storage.models import Base

CORE_TABLES = {"reports", "report_events", "audit_head", "case_counters", "vault_entries", "attachments"}
CORE_TABLES |= {"messages", "jobs", "units"}


def _diff(sync_conn: Any) -> list[Any]:
    ctx = MigrationContext.configure(sync_conn, opts={"compare_type": True})
    return list(compare_metadata(ctx, Base.metadata))


def _current(sync_conn: Any) -> str | None:
    return MigrationContext.configure(sync_conn).get_current_revision()


def _alembic(engine: AsyncEngine, fn: Callable[[Any, str], None], revision: str) -> Callable[[Any], None]:
    """Run an Alembic command on the connection given, as ``storage.database.upgrade`` does."""

    def run(sync_conn: Any) -> None:
        cfg = alembic_config(str(engine.url))
        cfg.attributes["connection"] = sync_conn
        fn(cfg, revision)

    return run


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))


async def test_chain_matches_models_and_round_trips(empty_db_url: str) -> None:
    db_url = empty_db_url
    engine = make_engine(db_url, writer=True)
    try:
        await upgrade(engine)
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
        tables = await _tables(engine)
        assert tables >= CORE_TABLES | set(Base.metadata.tables)

        async with engine.begin() as conn:
            await conn.run_sync(_alembic(engine, command.downgrade, "base"))
        assert await _tables(engine) <= {"alembic_version"}

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


async def test_every_revision_upgrades_and_downgrades_one_step(empty_db_url: str) -> None:
    db_url = empty_db_url
    script = ScriptDirectory.from_config(alembic_config(db_url))
    revisions = [r.revision for r in reversed(list(script.walk_revisions()))]
    assert revisions, "no migrations found"
    assert len(script.get_heads()) == 1, f"the chain has several heads: {script.get_heads()}"
    engine = make_engine(db_url, writer=True)
    try:
        seen: list[set[str]] = []
        for rev in revisions:
            await upgrade(engine, rev)
            async with engine.connect() as conn:
                assert await conn.run_sync(_current) == rev
            seen.append(await _tables(engine))
        for i in range(len(revisions) - 1, -1, -1):
            async with engine.begin() as conn:
                await conn.run_sync(_alembic(engine, command.downgrade, "-1"))
            after = await _tables(engine)
            expected = seen[i - 1] if i else {"alembic_version"}
            assert after - {"alembic_version"} == expected - {"alembic_version"}, revisions[i]
        await upgrade(engine)
        async with engine.connect() as conn:
            assert await conn.run_sync(_current) == revisions[-1]
            assert await conn.run_sync(_diff) == []
    finally:
        await engine.dispose()


async def _triggers(engine: AsyncEngine) -> set[tuple[str, str]]:
    """(table, trigger) of every trigger the schema has (not PostgreSQL's own constraint ones)."""
    async with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            query = "SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger'"
        else:
            query = (
                "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE NOT t.tgisinternal"
            )
        return {(table, name) for table, name in (await conn.execute(sa.text(query))).all()}


async def test_no_revision_loses_a_trigger(empty_db_url: str) -> None:
    # Statistics (0023-0025), the deadlines' copy of their case's scope (0032) and the reports' copy
    # of their case's owner (0034) are kept by
    # triggers. On SQLite a batch operation copies its table and drops the table's triggers without
    # a word: every trigger any revision made must still be there at head.
    engine = make_engine(empty_db_url, writer=True)
    try:
        made: set[tuple[str, str]] = set()
        script = ScriptDirectory.from_config(alembic_config(str(engine.url)))
        for revision in reversed(list(script.walk_revisions())):
            await upgrade(engine, revision.revision)
            made |= await _triggers(engine)
        at_head = await _triggers(engine)
    finally:
        await engine.dispose()
    expected = {("case_deadlines", "stats_case_deadlines_update"), ("case_states", "deadline_scope_state")}
    expected.add(("case_states", "report_owner_state"))
    assert expected <= at_head
    assert made == at_head
