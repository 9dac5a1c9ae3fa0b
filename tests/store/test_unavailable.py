"""The database out of reach: one storage exception with no driver text, every waiter of a failed
batch refused, the outage logged once, recovery without a restart; and no SQL parameter in any
error of the product's engines."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from intake import jurisdiction
from storage import keys
from storage.database import Database
from storage.db import Batch
from storage.errors import DatabaseUnavailable, OutageLog, is_unavailable
from storage.records import NewReport
from tests.conftest import COUNTY_JURISDICTION
from tests.pg_cluster import throwaway_cluster

IDENTITY = "欧阳振华 430121199001011234"


def _chain_text(exc: BaseException) -> str:
    seen: BaseException | None = exc
    text = []
    while seen is not None:
        text.append(f"{type(seen).__name__}: {seen}")
        seen = seen.__cause__ or seen.__context__
    return "\n".join(text)


async def test_errors_of_the_engines_hold_no_sql_parameters(database: Database) -> None:
    """A failing statement's error quotes the statement, never its parameters: the writer (on
    SQLite its own thread and driver) and the read pool alike."""

    async def insert(batch: Batch) -> None:
        await batch.conn.execute(sa.text("INSERT INTO no_such_table (x) VALUES (:x)"), {"x": IDENTITY})

    with pytest.raises(sa.exc.DBAPIError) as written:
        await database.writer.run(insert)
    with pytest.raises(sa.exc.DBAPIError) as read:
        async with database.read_engine.connect() as conn:
            await conn.execute(sa.text("SELECT x FROM no_such_table WHERE x = :x"), {"x": IDENTITY})
    for failure in (written.value, read.value):
        text = _chain_text(failure)
        assert "no_such_table" in text  # the error is the statement's
        assert "欧阳振华" not in text and "430121199001011234" not in text, text


@pytest.mark.postgres
async def test_an_outage_is_one_exception_and_the_database_recovers_by_itself(
    tmp_path: Path, new_report: Callable[..., NewReport], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="storage")
    with throwaway_cluster() as cluster:
        db = Database(cluster.url, keys.load_or_create(tmp_path / "keys"), tmp_path / "data")
        await db.start()
        await db.units.sync(jurisdiction.load(COUNTY_JURISDICTION).units)
        try:
            before = await db.reports.accept(new_report())
            cluster.stop()

            # Reads, and every waiter of a batch of writes: the same exception, no driver text, no
            # result (nothing is acknowledged that did not commit).
            with pytest.raises(DatabaseUnavailable) as read:
                await db.reports.count()
            assert str(read.value) == "the database is unavailable"
            outcomes = await asyncio.gather(
                *(db.reports.accept(new_report()) for _ in range(20)), return_exceptions=True
            )
            assert [type(o) for o in outcomes] == [DatabaseUnavailable] * 20
            with pytest.raises(DatabaseUnavailable):
                await db.ping()
            assert db.outage.down

            cluster.start()
            await db.ping()  # the same Database, not reopened
            after = await db.reports.accept(new_report())
            assert after.created
            assert await db.reports.count() == 2  # before and after; none of the refused twenty
            assert (await db.reports.get(before.case_no)) is not None
        finally:
            await db.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "storage"]
    # Two dozen failures, one line; then one when a connection succeeded again.
    assert lines == ["database unavailable", "database available again"], lines


class _AsyncpgLike(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__("driver text")
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("error", "unavailable"),
    [
        (ConnectionRefusedError(111, "Connect call failed"), True),
        (TimeoutError(), True),
        (_AsyncpgLike("57P03"), True),  # cannot connect now: starting up
        (_AsyncpgLike("08006"), True),  # connection failure
        (_AsyncpgLike("53300"), True),  # too many connections
        (sqlite3.OperationalError("database is locked"), True),  # past the busy timeout
        (_AsyncpgLike("23505"), False),  # a unique violation is the caller's
        (_AsyncpgLike("22021"), False),  # a character the encoding refuses: bad input
        (sqlite3.OperationalError("no such table: x"), False),
        (ValueError("x"), False),
    ],
)
def test_which_driver_errors_mean_the_database_is_out_of_reach(error: Exception, unavailable: bool) -> None:
    assert is_unavailable(error) is unavailable
    try:  # the driver's error as SQLAlchemy hands it on: the cause of its own
        raise RuntimeError("wrapped") from error
    except RuntimeError as wrapped:
        assert is_unavailable(wrapped) is unavailable


def test_an_outage_is_logged_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="storage")
    now = [0.0]
    outage = OutageLog(interval=30.0, monotonic=lambda: now[0])
    outage.connected()  # no outage: nothing to say
    for _ in range(100):
        outage.failed()
    now[0] = 29.0
    outage.failed()
    now[0] = 31.0
    for _ in range(10):
        outage.failed()
    outage.connected()
    outage.connected()
    got = [(r.getMessage(), r.__dict__["count"]) for r in caplog.records]
    assert got == [
        ("database unavailable", 1),
        ("database still unavailable", 101),  # the 100 since the first line, and this one
        ("database available again", 9),
    ]
