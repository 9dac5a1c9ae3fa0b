"""Reading the audit trail: its events in order, its head, and the check of the whole hash chain
(``intake audit verify``), each in one read snapshot. Events are written by the group-commit
writer (:meth:`storage.db.Batch.event`); the chain's hashing is :mod:`storage.audit`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.audit import GENESIS, event_hash, utc
from storage.records import EventRecord
from storage.tables import HEAD, E

if TYPE_CHECKING:
    from storage.database import Database


def event_record(row: Any) -> EventRecord:
    """An event row as a record (positional: the chain check reads every event there is)."""
    return EventRecord(
        row.seq, row.report_id, row.kind, row.actor, utc(row.at), row.payload, row.prev_hash, row.hash
    )


class AuditRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    @contextlib.asynccontextmanager
    async def _snapshot(self) -> AsyncIterator[AsyncConnection]:
        """One read transaction that sees one state of the chain however long it is read.

        On PostgreSQL ``REPEATABLE READ`` (``READ COMMITTED`` would give every page, and the head,
        a newer snapshot while writers append); on SQLite the read pool's ``BEGIN`` under WAL keeps
        the snapshot of the first read until the transaction ends.
        """
        engine = self._db.read_engine
        if self._db.dialect == "postgresql":
            engine = engine.execution_options(isolation_level="REPEATABLE READ")
        async with engine.connect() as conn, conn.begin():
            yield conn

    @staticmethod
    async def _events(conn: AsyncConnection, page: int) -> AsyncIterator[EventRecord]:
        after = 0
        while True:
            rows = (
                await conn.execute(sa.select(E).where(E.c.seq > after).order_by(E.c.seq).limit(page))
            ).all()
            if not rows:
                return
            for row in rows:
                yield event_record(row)
            after = rows[-1].seq

    @staticmethod
    async def _head(conn: AsyncConnection) -> tuple[int, str]:
        row = (await conn.execute(sa.select(HEAD.c.seq, HEAD.c.hash))).first()
        return (row.seq, row.hash) if row else (0, GENESIS)

    async def iter_events(self, page: int = 5000) -> AsyncIterator[EventRecord]:
        async with self._snapshot() as conn:
            async for ev in self._events(conn, page):
                yield ev

    async def head(self) -> tuple[int, str]:
        async with self._snapshot() as conn:
            return await self._head(conn)

    async def verify(self, page: int = 5000) -> tuple[bool, int, str]:
        """Recompute the chain. Returns (ok, events checked, what broke where).

        The head and every event are read in one snapshot: read apart, a writer appending in
        between made a whole chain look broken ("the chain ends at event N but the head records
        event N+k").
        """
        prev, expected_seq, n = GENESIS, 1, 0
        async with self._snapshot() as conn:
            head_seq, head_hash = await self._head(conn)
            async for ev in self._events(conn, page):
                if ev.seq != expected_seq:
                    return False, n, f"event {expected_seq} is missing (next is {ev.seq})"
                if ev.prev_hash != prev:
                    return False, n, f"event {ev.seq} does not link to event {ev.seq - 1}"
                if event_hash(prev, ev.seq, ev.report_id, ev.kind, ev.actor, ev.at, ev.payload) != ev.hash:
                    return False, n, f"event {ev.seq} was altered"
                prev, expected_seq, n = ev.hash, expected_seq + 1, n + 1
        if (head_seq, head_hash) != (n, prev):
            return False, n, f"the chain ends at event {n} but the head records event {head_seq}"
        return True, n, "ok"
