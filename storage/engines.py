"""The engines of the product: URLs, SQLite's pragmas, and the translation of every failure that
means the database is out of reach into :class:`storage.errors.DatabaseUnavailable`. The writer on
them is :mod:`storage.db`."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from storage.errors import DatabaseUnavailable, OutageLog, is_unavailable


def normalise_url(url: str) -> str:
    """Accept plain ``sqlite:///`` and ``postgresql://`` URLs and pick the async drivers."""
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    return url


def default_sqlite_url(data_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{(data_dir / 'intake.db').resolve()}"


def _sqlite_pragmas(engine: Engine, *, writer: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Autocommit at the driver level; the "begin" hook below opens transactions itself.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk before the receipt goes out, even across a power cut.
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front, so a second process waits instead of deadlocking.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")


CONNECT_TIMEOUT = 5.0  # seconds (asyncpg): how long an unanswered connection attempt waits


def _translate_unavailability(engine: Engine, outage: OutageLog) -> None:
    """Every failure of ``engine`` that means the database is out of reach becomes
    :class:`DatabaseUnavailable` (and a note in ``outage``), wherever it happens: opening a
    connection, a statement, a commit. Other errors pass unchanged."""

    @event.listens_for(engine, "handle_error")
    def _on_error(ctx: ExceptionContext) -> None:
        if ctx.is_pre_ping:
            return  # the pool reconnects; a failure to reconnect comes through do_connect below
        if ctx.is_disconnect or is_unavailable(ctx.original_exception):
            outage.failed()
            raise DatabaseUnavailable  # SQLAlchemy invalidates the connection (and the pool) first

    @event.listens_for(engine, "do_connect")
    def _on_do_connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        # A refused or timed-out connection reaches the caller as the driver's own exception
        # (asyncpg: OSError, CannotConnectNowError), never through handle_error: caught here.
        try:
            return dialect.connect(*cargs, **cparams)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
        outage.failed()
        raise DatabaseUnavailable

    @event.listens_for(engine, "connect")
    def _on_connect(_dbapi_conn: Any, _record: Any) -> None:
        outage.connected()


class StatementCount:
    """SQL statements this process has sent (an ``executemany`` of many rows is one), for
    ``/metrics`` and the intake bench's statements per report."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # the SQLite writer thread counts here too
        self.value = 0

    def add(self, *_: Any) -> None:
        with self._lock:
            self.value += 1


STATEMENTS = StatementCount()


def _count_statements(engine: Engine) -> None:
    sa.event.listen(engine, "before_cursor_execute", STATEMENTS.add)


def make_engine(
    url: str, *, writer: bool, pool_size: int = 5, outage: OutageLog | None = None
) -> AsyncEngine:
    """An engine of the product. SQL parameters are hidden from every error (they hold report
    text and identity); unavailability is translated (above) and noted in ``outage``."""
    url = normalise_url(url)
    outage = outage or OutageLog()
    if url.startswith("sqlite"):
        engine = create_async_engine(
            url, pool_size=1 if writer else pool_size, max_overflow=0, hide_parameters=True
        )
        _sqlite_pragmas(engine.sync_engine, writer=writer)
    else:
        # pool_pre_ping: a connection that died while pooled (a restarted server) is replaced on
        # checkout, so requests succeed again as soon as the server is back. A server that does
        # not answer at all fails a connection in seconds, not asyncpg's default minute.
        # Statements are planned for their own values (the reads share this engine): asyncpg
        # prepares each, and from its sixth run PostgreSQL may switch to a generic plan made
        # without the scope's units and the status asked (a county's empty status list of the
        # queue: 9 ms, then 660-816 ms at a million reports). And no JIT: it compiled reads of
        # milliseconds for hundreds (the estimates over a city's thousands of units are large).
        connect_args: dict[str, Any] = {
            "timeout": CONNECT_TIMEOUT,
            "server_settings": {"plan_cache_mode": "force_custom_plan", "jit": "off"},
        }
        engine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            hide_parameters=True,
            connect_args=connect_args,
        )
    _translate_unavailability(engine.sync_engine, outage)
    _count_statements(engine.sync_engine)
    return engine


def sync_sqlite_engine(engine: AsyncEngine, outage: OutageLog) -> Engine:
    """The same SQLite database through the standard-library driver, with the writer's pragmas
    (WAL, ``synchronous=FULL``, ``BEGIN IMMEDIATE``): for the writer thread."""
    url = engine.url.set(drivername="sqlite+pysqlite")
    sync = sa.create_engine(url, pool_size=1, max_overflow=0, hide_parameters=True)
    _sqlite_pragmas(sync, writer=True)
    _translate_unavailability(sync, outage)
    _count_statements(sync)
    return sync
