"""The database's single group-commit writer and the batch its transactions write through.

SQLite (embedded default) allows one writer at a time, so every write goes through one
connection owned by :class:`GroupCommitWriter`: concurrent callers queue their operations, and
each turn of the writer runs everything queued in one transaction with one commit. Reads use a
separate pool. On PostgreSQL the same writer runs per process; rows that serialise writers
(the audit head, case counters) are locked ``FOR UPDATE``, and jobs are claimed ``SKIP LOCKED``.

On SQLite the writer's connection is a plain ``sqlite3`` one on a dedicated thread, and a whole
transaction (every statement and the commit) runs there in one hop from the event loop: through
aiosqlite each statement would be a hop of its own, which costs more than the statement.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, CursorResult, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.base import Executable

from storage import models
from storage.audit import GENESIS, canonical_payload, event_hash
from storage.engines import (
    CONNECT_TIMEOUT,
    default_sqlite_url,
    make_engine,
    normalise_url,
    sync_sqlite_engine,
)
from storage.errors import DatabaseUnavailable, OutageLog
from storage.tables import HEAD, one_of

log = logging.getLogger("storage")
T = TypeVar("T")

# The engines are storage.engines and ``one_of`` is storage.tables: importable from here as before.
__all__ = [
    "CONNECT_TIMEOUT",
    "Batch",
    "GroupCommitWriter",
    "GroupRunner",
    "PendingEvent",
    "default_sqlite_url",
    "make_engine",
    "normalise_url",
    "one_of",
]


class _InlineConnection(AsyncConnection):
    """An :class:`AsyncConnection` over a synchronous ``sqlite3`` connection.

    The async methods keep their signatures, so writer transactions are written the same way for
    both databases; with a synchronous driver SQLAlchemy's greenlet bridge never has anything to
    wait for, so each call completes at once, on the writer thread that runs the transaction.
    """

    def __init__(self, engine: AsyncEngine, sync_connection: Connection) -> None:
        self.engine = engine
        self.sync_engine = sync_connection.engine
        self.sync_connection = self._assign_proxied(sync_connection)

    # The base class insists that these two reach an async driver; here they call straight through
    # (``scalar``, ``scalars`` and the rest go through ``execute`` or need no check).
    async def execute(
        self,
        statement: Executable,
        parameters: Any = None,
        *,
        execution_options: Any = None,
    ) -> CursorResult[Any]:
        return self._proxied.execute(statement, parameters, execution_options=execution_options)

    async def exec_driver_sql(
        self, statement: str, parameters: Any = None, execution_options: Any = None
    ) -> CursorResult[Any]:
        return self._proxied.exec_driver_sql(statement, parameters, execution_options)


def _run_inline(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (it awaits only an :class:`_InlineConnection`)."""
    try:
        coro.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    coro.close()
    raise RuntimeError(
        "a writer transaction awaited something other than its connection (batch.conn); "
        "do slow or asynchronous work before submitting it"
    )


@dataclass
class PendingEvent:
    report_id: Any
    kind: str
    actor: str
    at: datetime
    payload: dict[str, Any]


@dataclass
class Batch:
    """One writer transaction: operations add audit events and jobs, written together at the end.

    Runners await only ``conn`` (on SQLite they run on the writer thread, where nothing else can
    be awaited); results must not hold on to open cursors after the runner returns.
    """

    conn: AsyncConnection
    events: list[PendingEvent] = field(default_factory=list)
    jobs: list[dict[str, Any]] = field(default_factory=list)

    def event(self, report_id: Any, kind: str, actor: str, at: datetime, payload: dict[str, Any]) -> None:
        self.events.append(PendingEvent(report_id, kind, actor, at, payload))

    def job(
        self, kind: str, payload: dict[str, Any], run_after: datetime, now: datetime, max_attempts: int = 8
    ) -> None:
        self.jobs.append(
            {
                "kind": kind,
                "payload": payload,
                "status": "pending",
                "attempts": 0,
                "max_attempts": max_attempts,
                "run_after": run_after,
                "created_at": now,
            }
        )

    async def flush(self) -> None:
        if self.events:
            await self._append_events()
        if self.jobs:
            await self.conn.execute(sa.insert(models.Job), self.jobs)

    async def _append_events(self) -> None:
        row = (
            await self.conn.execute(
                sa.select(HEAD.c.seq, HEAD.c.hash).where(HEAD.c.id == 1).with_for_update()
            )
        ).first()
        seq, prev = (row.seq, row.hash) if row else (0, GENESIS)
        rows = []
        for ev in self.events:
            seq += 1
            payload = canonical_payload(ev.payload)
            digest = event_hash(prev, seq, ev.report_id, ev.kind, ev.actor, ev.at, payload)
            rows.append(
                {
                    "seq": seq,
                    "report_id": ev.report_id,
                    "kind": ev.kind,
                    "actor": ev.actor,
                    "at": ev.at,
                    "payload": payload,
                    "prev_hash": prev,
                    "hash": digest,
                }
            )
            prev = digest
        await self.conn.execute(sa.insert(models.ReportEvent), rows)
        if row:
            await self.conn.execute(sa.update(HEAD).where(HEAD.c.id == 1).values(seq=seq, hash=prev))
        else:
            await self.conn.execute(sa.insert(HEAD).values(id=1, seq=seq, hash=prev))


GroupRunner = Callable[[Batch, Sequence[Any]], Awaitable[list[Any]]]


@dataclass
class _Queued:
    runner: GroupRunner
    item: Any
    future: asyncio.Future[Any]


class GroupCommitWriter:
    """A single writer connection; everything queued while one commit runs goes into the next.

    Operations are grouped by runner, so a runner can write many rows with one ``executemany``.
    If a batch fails, each operation is retried alone so one bad item cannot sink the others.
    Results are handed back only after the commit returned.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        max_batch: int = 256,
        sqlite_thread: bool = True,
        outage: OutageLog | None = None,
    ) -> None:
        self._engine = engine
        self._outage = outage or OutageLog()
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Queued] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._conn: AsyncConnection | None = None
        # SQLite: the whole transaction runs on one dedicated thread with the sync driver.
        self._threaded = sqlite_thread and engine.dialect.name == "sqlite"
        self._sync_engine: Engine | None = None
        self._sync_conn: Connection | None = None
        self._thread: ThreadPoolExecutor | None = None
        self.commits = 0
        self.operations = 0

    async def start(self) -> None:
        if self._threaded and self._thread is None:
            self._sync_engine = sync_sqlite_engine(self._engine, self._outage)
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="storage-writer")
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="storage-writer")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        while not self._queue.empty():
            future = self._queue.get_nowait().future
            if not future.done():  # (its caller may have been cancelled meanwhile)
                future.set_exception(RuntimeError("database closed"))
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
        if self._thread is not None:
            # Closing on the thread that used the connection; a transaction still running there
            # (its caller was cancelled) finishes first.
            await asyncio.get_running_loop().run_in_executor(self._thread, self._close_sync)
            self._thread.shutdown(wait=True)
            self._thread = None

    def _close_sync(self) -> None:
        if self._sync_conn is not None:
            self._sync_conn.close()
            self._sync_conn = None
        if self._sync_engine is not None:
            self._sync_engine.dispose()
            self._sync_engine = None

    async def submit(self, runner: GroupRunner, item: Any) -> Any:
        if self._task is None:
            raise RuntimeError("database writer is not running")
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Queued(runner, item, fut))
        return await fut

    async def run(self, fn: Callable[[Batch], Awaitable[T]]) -> T:
        """Run one ad-hoc write function inside the next batch."""
        result: T = await self.submit(_run_callable, fn)
        return result

    async def _loop(self) -> None:
        while True:
            first = await self._queue.get()
            batch = [first]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await self._run(batch, isolate_on_failure=True)

    async def _connection(self) -> AsyncConnection:
        if self._conn is not None and not self._conn.closed and _driver_closed(self._conn):
            # The server went away while the writer was idle (a restart): asyncpg saw the socket
            # close, so open a fresh connection instead of failing the next batch on the dead one.
            await self._conn.invalidate()
            self._conn = None
        if self._conn is None or self._conn.closed:
            self._conn = await self._engine.connect()
        return self._conn

    async def _run(self, queued: list[_Queued], *, isolate_on_failure: bool) -> None:
        live = [q for q in queued if not q.future.done()]
        if not live:
            return
        try:
            if self._thread is not None:
                loop = asyncio.get_running_loop()
                results = await loop.run_in_executor(self._thread, self._transaction_on_thread, live)
            else:
                conn = await self._connection()
                async with conn.begin():
                    results = await self._apply(Batch(conn), live)
        except asyncio.CancelledError:
            # Shutting down mid-transaction: the callers get an error, never a receipt (the
            # transaction may still commit; a retry with the same key finds it).
            for q in live:
                if not q.future.done():
                    q.future.set_exception(RuntimeError("database closed"))
            raise
        except Exception as exc:
            await self._reset_after_error(exc)
            # Retrying items one by one finds the one bad item of a batch; an unreachable
            # database fails them all alike. Either way no waiter gets a result: nothing is
            # acknowledged that did not commit.
            if isolate_on_failure and len(live) > 1 and not isinstance(exc, DatabaseUnavailable):
                for q in live:
                    await self._run([q], isolate_on_failure=False)
                return
            for q in live:
                if not q.future.done():
                    q.future.set_exception(exc)
            return
        self.commits += 1
        self.operations += len(live)
        for q, out in results:
            if not q.future.done():
                q.future.set_result(out)

    @staticmethod
    async def _apply(batch: Batch, live: list[_Queued]) -> list[tuple[_Queued, Any]]:
        """Every queued operation, grouped by runner, then the batch's events and jobs."""
        results: list[tuple[_Queued, Any]] = []
        groups: dict[GroupRunner, list[_Queued]] = {}
        for q in live:
            groups.setdefault(q.runner, []).append(q)
        for runner, items in groups.items():
            outs = await runner(batch, [q.item for q in items])
            results.extend(zip(items, outs, strict=True))
        await batch.flush()
        return results

    def _transaction_on_thread(self, live: list[_Queued]) -> list[tuple[_Queued, Any]]:
        """One whole transaction, commit included, on the writer thread (SQLite)."""
        assert self._sync_engine is not None
        if self._sync_conn is None or self._sync_conn.closed:
            self._sync_conn = self._sync_engine.connect()
        conn = self._sync_conn
        with conn.begin():
            return _run_inline(self._apply(Batch(_InlineConnection(self._engine, conn)), live))

    async def _reset_after_error(self, exc: Exception) -> None:
        # A constraint violation leaves the connection healthy; any other driver failure may not,
        # so the next batch opens a fresh connection.
        if not isinstance(exc, DBAPIError | DatabaseUnavailable) or isinstance(exc, IntegrityError):
            return
        if self._thread is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._drop_sync_connection)
            return
        if self._conn is None:
            return
        conn, self._conn = self._conn, None
        try:
            await conn.close()
        except (DBAPIError, DatabaseUnavailable):
            log.warning("closing a failed writer connection raised")

    def _drop_sync_connection(self) -> None:
        conn, self._sync_conn = self._sync_conn, None
        if conn is not None:
            try:
                conn.close()
            except (DBAPIError, DatabaseUnavailable):
                log.warning("closing a failed writer connection raised")


def _driver_closed(conn: AsyncConnection) -> bool:
    """Whether the driver knows its connection is gone (asyncpg notices a closed socket without a
    round trip; drivers that cannot tell answer False)."""
    try:
        driver = conn.sync_connection.connection.driver_connection if conn.sync_connection else None
    except sa.exc.SQLAlchemyError:
        return True
    is_closed = getattr(driver, "is_closed", None)
    return bool(is_closed()) if callable(is_closed) else False


async def _run_callable(batch: Batch, fns: Sequence[Callable[[Batch], Awaitable[Any]]]) -> list[Any]:
    return [await fn(batch) for fn in fns]
