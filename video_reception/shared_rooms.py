"""Rooms shared by several server workers on one PostgreSQL database (issue 21).

The same signaling as :class:`video_reception.rooms.RoomHub` (its module docstring says what the
participants send and hear), with the room's seats kept in the shared bus
(:class:`intake.reception.room_bus.RoomBus`) instead of one process's memory:

* Each worker holds the sockets (and the recorder) connected to it, and a *mirror* of every room's
  seats on the other workers (``Seat.worker``), loaded from the bus at start and after a lost
  connection, then kept by the seat signals: ``snapshot`` (the oversight grid) and the relay's
  ``to`` read it without a round trip.
* A join takes the seat in the bus (one transaction, numbered within the room); the welcome lists
  the room as that transaction saw it, and a seat hears only the changes numbered after its own
  (``Seat.since``), so no join is announced twice or missed.
* A message for a seat on another worker (a relay, a note, a broadcast) is published; the worker
  holding the seat delivers it. A seat taken on another worker (resumed there) closes its old
  socket here (``4409``). Room tokens are spent in the bus: a token joins once across all workers.
* The recorder sits on the worker that started it; ``stop_recording`` elsewhere asks that worker
  and waits for the bytes it stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSCloseCode, web

from intake.clock import Clock
from intake.reception.room_bus import RoomBus, SharedRoom, SharedSeat, Signal
from intake.reception.tokens import Claims, RoomTokens, TokenRejected
from video_reception.rooms import CLOSE_REPLACED, JOIN_TIMEOUT, Room, RoomHub, Seat, Sink

log = logging.getLogger("video_reception.shared_rooms")

STOP_RECORDING_WAIT = 60.0  # seconds to wait for the worker holding a recorder to store it all
PEER_EVENTS = {"joined": "peer-joined", "resumed": "peer-resumed", "left": "peer-left"}


def _monotonic(epoch: float) -> float:
    """A point in time of another worker (epoch seconds) on this process's monotonic clock."""
    return time.monotonic() - (time.time() - epoch)


class SharedRoomHub(RoomHub):
    """The rooms of every worker sharing ``bus``; this worker's sockets in memory."""

    def __init__(
        self,
        tokens: RoomTokens,
        clock: Clock,
        bus: RoomBus,
        *,
        grace: float = 15.0,
        join_timeout: float = JOIN_TIMEOUT,
    ) -> None:
        super().__init__(tokens, clock, grace=grace, join_timeout=join_timeout)
        self.bus = bus
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._asks: dict[str, asyncio.Future[int]] = {}
        self._seqs: dict[str, int] = {}  # the last change of each room the mirror reflects
        self._background: set[asyncio.Task[Any]] = set()
        self._closed = False

    async def start(self) -> None:
        await self.bus.start(self._on_signal, self._on_reset)

    def _lock(self, room_id: str) -> asyncio.Lock:
        """One change of a room at a time in this worker: a join's welcome goes out before the
        signals that came after it."""
        lock = self._locks.get(room_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[room_id] = lock
        return lock

    # --- the mirror of the other workers' seats --------------------------------------------------

    def _remote(self, shared: SharedSeat) -> Seat:
        return Seat(
            shared.seat,
            shared.role,
            None,
            _monotonic(shared.joined_at),
            dropped_at=None if shared.connected else time.monotonic(),
            worker=shared.worker,
            online=shared.connected,
        )

    def _merge(self, shared: SharedRoom, *, keep: bool = False) -> Room:
        """The room as the bus has it at ``shared.seq``: the other workers' seats replaced, this
        worker's own kept (they are what this worker holds). ``keep``: a seat is about to be
        added, so the room stays even if empty."""
        room = self.rooms.setdefault(shared.room, Room(shared.room))
        theirs = {s.seat: s for s in shared.seats if s.worker != self.bus.worker}
        for key, seat in list(room.seats.items()):
            if seat.worker is not None and key not in theirs:
                del room.seats[key]
        for key, s in theirs.items():
            mine = room.seats.get(key)
            if mine is None or mine.worker is not None:
                room.seats[key] = self._remote(s)
        self._seqs[shared.room] = max(self._seqs.get(shared.room, 0), shared.seq)
        self._update_together(room)
        if not keep:
            self._forget_if_empty(room)
        return room

    def _forget_if_empty(self, room: Room) -> None:
        if not room.seats and self.rooms.get(room.id) is room:
            del self.rooms[room.id]
            self._seqs.pop(room.id, None)

    def _update_together(self, room: Room) -> None:
        """As the one-process hub, but the start of a session is the later of the two seats'
        joins, the same on every worker (not the moment this worker heard of it)."""
        if room.state() == "in_session":
            if room.together_since is None:
                joins = [
                    s.joined_at for s in room.seats.values() if s.role in ("host", "officer") and s.present
                ]
                room.together_since = max(joins) if joins else time.monotonic()
        elif not any(s.dropped_at is not None for s in room.seats.values()):
            room.together_since = None

    async def _on_reset(self, rooms: list[SharedRoom]) -> None:
        seen = {r.room for r in rooms}
        for shared in rooms:
            async with self._lock(shared.room):
                self._seqs.pop(shared.room, None)  # a fresh load: older numbers no longer matter
                self._merge(shared)
                self._reconcile(shared)
        for room_id in [r for r in self.rooms if r not in seen]:
            async with self._lock(room_id):
                room = self.rooms.get(room_id)
                if room is not None:
                    self._merge(SharedRoom(room_id, 0, ()))

    def _reconcile(self, shared: SharedRoom) -> None:
        """A seat the bus says this worker holds connected but whose socket is gone here (its drop
        could not be shared: the database was out of reach) is dropped now, and expires."""
        room = self.rooms.get(shared.room)
        for s in shared.seats:
            if s.worker != self.bus.worker or not s.connected:
                continue
            mine = room.seats.get(s.seat) if room is not None else None
            if mine is None or mine.worker is not None or not mine.present:
                self._spawn(self._drop_gone(shared.room, s.seat))

    async def _drop_gone(self, room_id: str, key: str) -> None:
        async with self._lock(room_id):
            room = self.rooms.get(room_id)
            mine = room.seats.get(key) if room is not None else None
            if mine is not None and mine.worker is None and mine.present:
                return  # connected again meanwhile
            with contextlib.suppress(Exception):  # the next reset tries again
                await self.bus.drop_seat(room_id, key)

    async def _on_signal(self, signal: Signal) -> None:
        if signal.get("w") == self.bus.worker:
            return  # this worker's own: handled when it was sent
        kind, room_id = signal.get("kind"), str(signal.get("room", ""))
        if kind == "seat":
            async with self._lock(room_id):
                await self._seat_signal(signal)
        elif kind in ("send", "broadcast"):
            if kind == "send" and signal.get("to_worker") != self.bus.worker:
                return
            async with self._lock(room_id):
                await self._deliver(signal)
        elif kind == "stop-recording" and room_id in self.recorders:
            stored = await self._stop_here(room_id)
            reply = {"kind": "recording-stopped", "ask": signal.get("ask"), "stored": stored}
            await self.bus.publish({**reply, "room": room_id, "to_worker": signal.get("w")})
        elif kind == "recording-stopped" and signal.get("to_worker") == self.bus.worker:
            asked = self._asks.pop(str(signal.get("ask")), None)
            if asked is not None and not asked.done():
                asked.set_result(int(signal.get("stored") or 0))

    async def _seat_signal(self, signal: Signal) -> None:
        """Another worker (or a sweep) changed a seat: mirror it, and tell this worker's seats that
        joined before the change."""
        room_id, key, op, seq = signal["room"], signal["seat"], signal["op"], int(signal["seq"])
        room = self.rooms.get(room_id)
        if room is None:
            if op == "left":
                return
            room = self.rooms.setdefault(room_id, Room(room_id))
        if seq > self._seqs.get(room_id, 0):
            self._seqs[room_id] = seq
            self._mirror(room, signal)
        message = PEER_EVENTS.get(op)
        if message is not None:
            for other in list(room.seats.values()):
                if other.worker is None and other.key != key and other.since < seq:
                    await RoomHub._send(
                        self, room, other, {"type": message, "peer": key, "role": signal["role"]}
                    )
        self._update_together(room)
        self._forget_if_empty(room)

    def _mirror(self, room: Room, signal: Signal) -> None:
        key, op, worker = signal["seat"], signal["op"], signal["worker"]
        mine = room.seats.get(key)
        if op == "left":
            if mine is not None and mine.worker is None:
                self._evict(mine, WSCloseCode.GOING_AWAY, b"seat expired")
            room.seats.pop(key, None)
            return
        if worker == self.bus.worker:
            return  # a sweep dropped a seat this worker still holds: the socket says otherwise
        if mine is not None and mine.worker is None:
            self._evict(mine, CLOSE_REPLACED, b"replaced")  # the seat was taken on another worker
        shared = SharedSeat(
            room.id, key, signal["role"], worker, float(signal["joined_at"]), bool(signal["connected"])
        )
        room.seats[key] = self._remote(shared)

    def _evict(self, seat: Seat, code: int, reason: bytes) -> None:
        """This worker's seat is no longer its own: its timer stops, its socket closes."""
        if seat.expiry is not None:
            seat.expiry.cancel()
            seat.expiry = None
        ws, seat.ws = seat.ws, None
        if ws is not None and not ws.closed:
            task = asyncio.get_running_loop().create_task(ws.close(code=code, message=reason))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _deliver(self, signal: Signal) -> None:
        room = self.rooms.get(str(signal.get("room", "")))
        if room is None:
            return
        message = signal.get("msg")
        if not isinstance(message, dict):
            return
        if signal["kind"] == "send":
            seat = room.seats.get(str(signal.get("seat", "")))
            if seat is not None and seat.worker is None:
                await RoomHub._send(self, room, seat, message)
            return
        role = signal.get("role")
        for seat in list(room.seats.values()):
            if seat.worker is None and (role is None or seat.role == role):
                await RoomHub._send(self, room, seat, message)

    # --- sending: this worker's seats directly, the others' through the bus ----------------------

    async def _send(self, room: Room, seat: Seat, message: dict[str, Any]) -> None:
        if seat.worker is None:
            await super()._send(room, seat, message)
            return
        signal = {"kind": "send", "room": room.id, "seat": seat.key, "to_worker": seat.worker, "msg": message}
        try:
            await self.bus.publish(signal)
        except Exception:  # the database is out of reach: this message is lost, the room goes on
            log.warning("room signal not published", extra={"role": seat.role}, exc_info=True)

    async def broadcast(self, room_id: str, message: dict[str, Any], *, role: str | None = None) -> None:
        room = self.rooms.get(room_id)
        if room is not None:
            for seat in list(room.seats.values()):
                if seat.worker is None and (role is None or seat.role == role):
                    await super()._send(room, seat, message)
        await self.bus.publish({"kind": "broadcast", "room": room_id, "role": role, "msg": message})

    # --- seats ----------------------------------------------------------------------------------

    async def _spend(self, claims: Claims) -> Claims:
        try:
            fresh = await self.bus.spend(claims.nonce, claims.expires)
        except Exception:
            log.warning("room token not checked", extra={"reason": "unavailable"}, exc_info=True)
            raise TokenRejected("unavailable") from None
        if not fresh:
            raise TokenRejected("reused")
        return claims

    async def _take(self, room_id: str, key: str, role: str) -> tuple[Room, Seat | None, bool, int, float]:
        """Take the seat in the bus; the room mirrored as of that change, this worker's seat for
        the key if it has one, whether it is resumed, the change's number and when the seat first
        joined (on this process's clock: the same moment every worker shows)."""
        taken = await self.bus.take_seat(room_id, key, role)
        room = self._merge(taken.room, keep=True)
        mine = room.seats.get(key)
        joined = next((_monotonic(s.joined_at) for s in taken.room.seats if s.seat == key), time.monotonic())
        here = mine if mine is not None and mine.worker is None else None
        return room, here, taken.previous is not None, taken.room.seq, joined

    async def _seat_now(self, room_id: str, claims: Claims, ws: web.WebSocketResponse) -> tuple[Room, Seat]:
        async with self._lock(room_id):
            room, seat, resumed, seq, joined = await self._take(room_id, claims.seat, claims.role)
            if seat is None:
                seat = Seat(claims.seat, claims.role, ws, joined)
                room.seats[claims.seat] = seat
            else:
                await self._retake(seat, ws)
            seat.since = seq
            self._update_together(room)
            others = [p for p in room.present() if p["peer"] != seat.key]
            welcome = {"type": "welcome", "you": seat.key, "peers": others, "resumed": resumed}
            await RoomHub._send(self, room, seat, welcome)
            event = "peer-resumed" if resumed else "peer-joined"
            for other in list(room.seats.values()):
                if other is not seat and other.worker is None:
                    await RoomHub._send(
                        self, room, other, {"type": event, "peer": seat.key, "role": seat.role}
                    )
            return room, seat

    async def attach(
        self, room_id: str, key: str, role: str, sink: Sink
    ) -> Callable[[dict[str, Any]], Awaitable[None]]:
        async with self._lock(room_id):
            room, _mine, _resumed, seq, joined = await self._take(room_id, key, role)
            seat = Seat(key, role, None, joined, sink=sink, since=seq)
            room.seats[key] = seat
            others = [p for p in room.present() if p["peer"] != key]
            await RoomHub._send(
                self, room, seat, {"type": "welcome", "you": key, "peers": others, "resumed": False}
            )
            for other in list(room.seats.values()):
                if other is not seat and other.worker is None:
                    await RoomHub._send(self, room, other, {"type": "peer-joined", "peer": key, "role": role})
        claims = Claims(room_id, role, key, 0)

        async def send(doc: dict[str, Any]) -> None:
            if room.seats.get(key) is seat:
                await self._on_message(room, seat, claims, json.dumps(doc))

        return send

    def _spawn(self, work: Awaitable[Any]) -> asyncio.Future[Any]:
        """Run ``work`` in a task of its own: aiohttp cancels a WebSocket's handler once the
        client is gone, and a change half-shared would leave the bus and this worker at odds."""
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _seat(self, room_id: str, claims: Claims, ws: web.WebSocketResponse) -> tuple[Room, Seat]:
        seating = self._spawn(self._seat_now(room_id, claims, ws))
        try:
            seated: tuple[Room, Seat] = await asyncio.shield(seating)
        except asyncio.CancelledError:
            # The client left while the seat was being taken: once taken, it is dropped as usual.
            def then_drop(done: asyncio.Future[Any]) -> None:
                if not done.cancelled() and done.exception() is None:
                    room, seat = done.result()
                    self._spawn(self._dropped(room, seat, ws))

            seating.add_done_callback(then_drop)
            raise
        return seated

    async def _dropped(self, room: Room, seat: Seat, ws: web.WebSocketResponse) -> None:
        if self._closed or seat.ws is not ws or room.seats.get(seat.key) is not seat:
            return  # replaced by a newer connection for the same seat, here or on another worker
        await super()._dropped(room, seat, ws)
        # Not awaited: the handler may be cancelled any moment now (the lock orders it before a
        # resume of the seat here).
        self._spawn(self._share_drop(room, seat))

    async def _share_drop(self, room: Room, seat: Seat) -> None:
        async with self._lock(room.id):
            if self._closed or seat.ws is not None or room.seats.get(seat.key) is not seat:
                return  # resumed here in the meantime, or taken elsewhere
            try:
                await self.bus.drop_seat(room.id, seat.key)
            except Exception:  # unreachable database: the sweep drops the seat once the lease runs out
                log.warning("room seat drop not shared", extra={"role": seat.role}, exc_info=True)

    async def _expire(self, room: Room, seat: Seat) -> None:
        async with self._lock(room.id):
            if seat.ws is not None or seat.sink is not None or room.seats.get(seat.key) is not seat:
                return
            try:
                left = await self.bus.leave_seat(room.id, seat.key, connected=seat.dropped_at is None)
            except Exception:
                log.warning("room seat expiry not shared", extra={"role": seat.role}, exc_info=True)
                left = True  # the sweep removes the row; this worker's seats hear it now
            if room.seats.get(seat.key) is seat:
                del room.seats[seat.key]
            if left:
                self._update_together(room)
                for other in list(room.seats.values()):
                    if other.worker is None:
                        await RoomHub._send(
                            self, room, other, {"type": "peer-left", "peer": seat.key, "role": seat.role}
                        )
            self._forget_if_empty(room)

    # --- the recorder -----------------------------------------------------------------------------

    async def _stop_here(self, room_id: str) -> int:
        return await super().stop_recording(room_id)

    async def stop_recording(self, room_id: str) -> int:
        if room_id in self.recorders:
            return await self._stop_here(room_id)
        room = self.rooms.get(room_id)
        seat = room.seats.get("recorder") if room is not None else None
        if seat is None or seat.worker is None:
            return 0
        ask = uuid.uuid4().hex
        answer: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._asks[ask] = answer
        try:
            await self.bus.publish(
                {"kind": "stop-recording", "room": room_id, "ask": ask, "to_worker": seat.worker}
            )
            return await asyncio.wait_for(answer, STOP_RECORDING_WAIT)
        except TimeoutError:
            log.warning("recorder on another worker did not answer", extra={"session": room_id})
            return 0
        finally:
            self._asks.pop(ask, None)

    async def close(self) -> None:
        """The recorders store what they have; the bus drops this worker's seats (a participant
        reconnecting to another worker within the grace period resumes there); the sockets close."""
        for room_id in list(self.recorders):
            await self._stop_here(room_id)
        self._closed = True
        with contextlib.suppress(Exception):
            await self.bus.close()
        await super().close()
