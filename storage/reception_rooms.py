"""Video reception rooms shared by the workers of one PostgreSQL database (issue 21): the
:class:`intake.reception.room_bus.RoomBus` the signaling hub of every worker uses.

* Seats are rows of ``reception_seats`` (room, seat, role, the worker holding it, connected or
  dropped). A seat change is one transaction that first takes the room's row of ``reception_rooms``
  and numbers the change (``seq``), so the changes of one room are ordered the same everywhere,
  and publishes the change with ``pg_notify`` in the same transaction (delivered at commit).
* Signals travel on one channel, ``reception_rooms``, listened to on a dedicated asyncpg
  connection that reconnects (then the hub is given every room again: signals may have been
  missed). A payload over :data:`INLINE_LIMIT` bytes (an SDP may be 32 KiB; NOTIFY takes less than
  8000) is stored in ``reception_signals`` and the notification carries its id; swept after
  :data:`SIGNAL_TTL`.
* Spent room-token nonces are rows of ``reception_spent_tokens`` until the token expires.
* Every worker renews its lease in ``reception_workers`` every ``lease / 3`` seconds and sweeps:
  the connected seats of a worker whose lease ran out are dropped, dropped seats past the grace
  period (or past grace and lease, if their worker lives and has not expired them itself) leave.
  Each step is a conditional statement, so workers sweeping at once change a seat only once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.records import SeatTaken, SharedRoom, SharedSeat, Signal
from storage.tables import RRM, RSG, RST, RTK, RW

if TYPE_CHECKING:
    from storage.database import Database

log = logging.getLogger("storage.reception_rooms")

CHANNEL = "reception_rooms"
INLINE_LIMIT = 7000  # bytes of a notification's payload; PostgreSQL refuses 8000 and more
SIGNAL_TTL = timedelta(seconds=60)
RECONNECT_MAX = 5.0  # seconds between attempts to reconnect the listener, at most
_RESET = "reset"  # the queue's marker: load every room again


def _seat(row: Any) -> SharedSeat:
    return SharedSeat(row.room, row.seat, row.role, row.worker, row.joined_at.timestamp(), row.connected)


class SharedRooms:
    """Rooms in PostgreSQL, signals over LISTEN/NOTIFY. ``grace``: how long a dropped seat is
    kept; ``lease``: how long a worker that stopped renewing its lease is still taken as alive."""

    def __init__(self, db: Database, *, grace: float, lease: float = 15.0) -> None:
        self.engine = db.write_engine
        self.dsn = db.write_engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.worker = f"{socket.gethostname()[:24]}-{os.getpid()}-{secrets.token_hex(4)}"
        self.grace = timedelta(seconds=grace)
        self.lease = timedelta(seconds=lease)
        self.beat = max(0.2, lease / 3)
        self._deliver: Callable[[Signal], Awaitable[None]] | None = None
        self._reset: Callable[[list[SharedRoom]], Awaitable[None]] | None = None
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._listener: asyncpg.Connection | None = None
        self._lost = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._loaded = asyncio.Event()
        self._stopping = False
        self.reconnects = 0

    # --- listening -------------------------------------------------------------------------------

    async def start(
        self,
        deliver: Callable[[Signal], Awaitable[None]],
        reset: Callable[[list[SharedRoom]], Awaitable[None]],
    ) -> None:
        self._deliver, self._reset = deliver, reset
        await self._renew()
        await self._listen()
        self._tasks = [
            asyncio.create_task(self._consume(), name="reception-signals"),
            asyncio.create_task(self._keep_listening(), name="reception-listener"),
            asyncio.create_task(self._keep_lease(), name="reception-lease"),
        ]
        await asyncio.wait_for(self._loaded.wait(), 10.0)  # the rooms loaded once before serving

    async def _listen(self) -> None:
        conn = await asyncpg.connect(self.dsn, timeout=5.0)
        self._lost.clear()
        conn.add_termination_listener(lambda _c: self._lost.set())
        await conn.add_listener(CHANNEL, self._on_notify)
        self._listener = conn
        # Listening before loading: what changes after the load arrives as signals, in order.
        self._queue.put_nowait(_RESET)

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self._queue.put_nowait(payload)

    async def _keep_listening(self) -> None:
        wait = 0.2
        while not self._stopping:
            await self._lost.wait()
            if self._stopping:
                return
            with contextlib.suppress(Exception):
                if self._listener is not None:
                    await self._listener.close(timeout=1.0)
            self._listener = None
            try:
                await self._listen()
            except (OSError, asyncpg.PostgresError, TimeoutError):
                await asyncio.sleep(wait)
                wait = min(RECONNECT_MAX, wait * 2)
                continue
            wait = 0.2
            self.reconnects += 1
            log.info("reception listener reconnected", extra={"count": self.reconnects})

    async def _consume(self) -> None:
        assert self._deliver is not None and self._reset is not None
        while not self._stopping:
            item = await self._queue.get()
            try:
                if item == _RESET:
                    await self._reset(await self.rooms())
                    self._loaded.set()
                    continue
                signal = json.loads(item)
                if "ref" in signal:
                    if signal.get("w") == self.worker or signal.get("for") not in (None, self.worker):
                        continue
                    signal = await self._stored(int(signal["ref"]))
                    if signal is None:
                        continue
                await self._deliver(signal)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reception signal not handled", extra={"reason": "signal_failed"})

    async def _stored(self, ref: int) -> Signal | None:
        async with self.engine.connect() as conn:
            payload = (await conn.execute(sa.select(RSG.c.payload).where(RSG.c.id == ref))).scalar()
        doc: Signal | None = json.loads(payload) if payload is not None else None
        return doc

    async def close(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # A cancel that lands inside a statement may be absorbed by the driver's own clean-up:
            # the loops also stop on the flag, and nobody waits for them for long.
            await asyncio.wait(self._tasks, timeout=5.0)
        self._tasks = []
        with contextlib.suppress(Exception):
            await self._release()
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close(timeout=1.0)
            self._listener = None

    async def _release(self) -> None:
        """Every seat this worker holds is dropped (another worker takes it back within the grace
        period, or a sweep expires it), and the lease is given up at once."""
        async with self.engine.connect() as conn:
            held = (
                await conn.execute(
                    sa.select(RST.c.room, RST.c.seat).where(RST.c.worker == self.worker, RST.c.connected)
                )
            ).all()
        for room, seat in held:
            await self._change(room, seat, "dropped", RST.c.worker == self.worker, RST.c.connected)
        async with self.engine.begin() as conn:
            await conn.execute(sa.delete(RW).where(RW.c.worker == self.worker))

    # --- reading ---------------------------------------------------------------------------------

    async def rooms(self) -> list[SharedRoom]:
        """Every room with seats, with its change number."""
        async with self.engine.connect() as conn:
            seats = (await conn.execute(sa.select(RST).order_by(RST.c.room, RST.c.joined_at))).all()
            rooms = sorted({s.room for s in seats})
            seqs = dict(
                (await conn.execute(sa.select(RRM.c.room, RRM.c.seq).where(RRM.c.room.in_(rooms)))).all()
                if rooms
                else []
            )
        return [
            SharedRoom(r, int(seqs.get(r, 0)), tuple(_seat(s) for s in seats if s.room == r)) for r in rooms
        ]

    # --- changing --------------------------------------------------------------------------------

    async def spend(self, nonce: str, expires: int) -> bool:
        async with self.engine.begin() as conn:
            spent = await conn.execute(
                pg_insert(RTK)
                .values(nonce=nonce, expires=expires)
                .on_conflict_do_nothing()
                .returning(RTK.c.nonce)
            )
            return spent.first() is not None

    @staticmethod
    async def _number(conn: AsyncConnection, room: str) -> int:
        """Take the room's row (held to the commit: the room's changes are ordered) and number
        this change."""
        stmt = pg_insert(RRM).values(room=room, seq=1, updated_at=sa.func.now())
        stmt = stmt.on_conflict_do_update(
            index_elements=[RRM.c.room], set_={"seq": RRM.c.seq + 1, "updated_at": sa.func.now()}
        )
        return int((await conn.execute(stmt.returning(RRM.c.seq))).scalar_one())

    async def _notify(self, conn: AsyncConnection, signal: Signal) -> None:
        doc = {**signal, "w": signal.get("w", self.worker)}
        payload = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
        if len(payload.encode()) > INLINE_LIMIT:
            ref = (
                await conn.execute(
                    sa.insert(RSG).values(payload=payload, created_at=sa.func.now()).returning(RSG.c.id)
                )
            ).scalar_one()
            stub = {"ref": ref, "for": doc.get("to_worker"), "w": doc["w"]}
            payload = json.dumps(stub, separators=(",", ":"))
        await conn.execute(sa.select(sa.func.pg_notify(CHANNEL, payload)))

    async def publish(self, signal: Signal) -> None:
        async with self.engine.begin() as conn:
            await self._notify(conn, signal)

    async def take_seat(self, room: str, seat: str, role: str) -> SeatTaken:
        async with self.engine.begin() as conn:
            seq = await self._number(conn, room)
            key = (RST.c.room == room, RST.c.seat == seat)
            before = (await conn.execute(sa.select(RST.c.worker).where(*key))).scalar()
            if before is None:
                await conn.execute(
                    sa.insert(RST).values(
                        room=room,
                        seat=seat,
                        role=role,
                        worker=self.worker,
                        joined_at=sa.func.now(),
                        connected=True,
                        dropped_at=None,
                    )
                )
            else:
                await conn.execute(
                    sa.update(RST).where(*key).values(worker=self.worker, connected=True, dropped_at=None)
                )
            rows = (await conn.execute(sa.select(RST).where(RST.c.room == room))).all()
            seats = tuple(_seat(r) for r in rows)
            mine = next(s for s in seats if s.seat == seat)
            op = "joined" if before is None else "resumed"
            await self._notify(conn, self._signal(op, mine, seq, previous=before))
        return SeatTaken(SharedRoom(room, seq, seats), before)

    @staticmethod
    def _signal(op: str, seat: SharedSeat, seq: int, **extra: Any) -> Signal:
        return {
            "kind": "seat",
            "op": op,
            "room": seat.room,
            "seat": seat.seat,
            "role": seat.role,
            "worker": seat.worker,
            "joined_at": seat.joined_at,
            "connected": seat.connected,
            "seq": seq,
            **extra,
        }

    async def _change(self, room: str, seat: str, op: str, *where: Any, by: str | None = None) -> bool:
        """Drop the seat or take it out of the room if ``where`` still holds, and tell every worker."""
        async with self.engine.begin() as conn:
            seq = await self._number(conn, room)
            key = (RST.c.room == room, RST.c.seat == seat, *where)
            if op == "dropped":
                stmt: Any = sa.update(RST).where(*key).values(connected=False, dropped_at=sa.func.now())
            else:
                stmt = sa.delete(RST).where(*key)
            row = (await conn.execute(stmt.returning(*RST.c))).first()
            if row is None:
                await conn.rollback()
                return False
            await self._notify(conn, self._signal(op, _seat(row), seq, **({"w": by} if by else {})))
        return True

    async def drop_seat(self, room: str, seat: str) -> bool:
        return await self._change(room, seat, "dropped", RST.c.worker == self.worker, RST.c.connected)

    async def leave_seat(self, room: str, seat: str, *, connected: bool = False) -> bool:
        held = RST.c.worker == self.worker
        return await self._change(room, seat, "left", held, *(() if connected else (~RST.c.connected,)))

    # --- the lease and the sweep -----------------------------------------------------------------

    async def _keep_lease(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self.beat)
            await self._check_listener()
            try:
                await self._renew()
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:  # an outage (logged by storage) or a bug: the next turn tries again
                log.warning("reception lease not renewed", extra={"reason": "lease_failed"}, exc_info=True)

    async def _check_listener(self) -> None:
        """A connection cut without a goodbye (a dead network path) raises nothing by itself: a
        listener that does not answer within the lease is replaced."""
        listener = self._listener
        if listener is None or self._lost.is_set():
            return
        try:
            await asyncio.wait_for(listener.execute("SELECT 1"), timeout=self.lease.total_seconds())
        except asyncio.CancelledError:
            raise
        except Exception:
            log.info("reception listener not answering", extra={"reason": "listener_lost"})
            self._lost.set()

    async def _renew(self) -> None:
        async with self.engine.begin() as conn:
            stmt = pg_insert(RW).values(worker=self.worker, seen_at=sa.func.now())
            await conn.execute(
                stmt.on_conflict_do_update(index_elements=[RW.c.worker], set_={"seen_at": sa.func.now()})
            )

    async def sweep(self) -> int:
        """Drop the seats of workers whose lease ran out, expire dropped seats past their time,
        forget spent tokens and stored signals past theirs; the number of seats changed."""
        alive = sa.exists().where(RW.c.worker == RST.c.worker, RW.c.seen_at > sa.func.now() - self.lease)
        dead_worker = ~alive
        by = f"sweep:{self.worker}"
        changed = 0
        async with self.engine.connect() as conn:
            orphans = (
                await conn.execute(sa.select(RST.c.room, RST.c.seat).where(RST.c.connected, dead_worker))
            ).all()
            overdue = (
                await conn.execute(
                    sa.select(RST.c.room, RST.c.seat).where(
                        ~RST.c.connected,
                        RST.c.dropped_at < sa.func.now() - self.grace,
                        sa.or_(dead_worker, RST.c.dropped_at < sa.func.now() - self.grace - self.lease),
                    )
                )
            ).all()
        for room, seat in orphans:
            changed += await self._change(room, seat, "dropped", RST.c.connected, dead_worker, by=by)
        for room, seat in overdue:
            still = (
                ~RST.c.connected,
                RST.c.dropped_at < sa.func.now() - self.grace,
                sa.or_(dead_worker, RST.c.dropped_at < sa.func.now() - self.grace - self.lease),
            )
            changed += await self._change(room, seat, "left", *still, by=by)
        async with self.engine.begin() as conn:
            await conn.execute(sa.delete(RTK).where(RTK.c.expires < int(time.time())))
            await conn.execute(sa.delete(RSG).where(RSG.c.created_at < sa.func.now() - SIGNAL_TTL))
            idle = ~sa.exists().where(RST.c.room == RRM.c.room)
            await conn.execute(
                sa.delete(RRM).where(idle, RRM.c.updated_at < sa.func.now() - timedelta(days=1))
            )
            unused = ~sa.exists().where(RST.c.worker == RW.c.worker)
            await conn.execute(sa.delete(RW).where(unused, RW.c.seen_at < sa.func.now() - 4 * self.lease))
        return changed
