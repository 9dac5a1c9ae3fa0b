"""Rooms and signaling: one room per session, one seat per participant, relay over WebSockets.

A participant opens ``/reception/ws/{room}`` and sends ``{"type": "join", "token": ...}`` within the
hub's ``join_timeout`` (:data:`JOIN_TIMEOUT` seconds by default; the token never travels in the URL,
so it is never in an access log).
The server answers ``welcome`` (the seats present, whether this is a resumed seat) and tells the
others ``peer-joined``; the ones already there make the WebRTC offer to the newcomer. After that
the server relays ``description`` and ``candidate`` messages to the seat named in ``to`` (a full
mesh: township screen, county officer, and any watching supervisor, who only receives). A
supervisor's ``note`` goes to the officer's seat only. Anything else — bad JSON, an unknown type,
a description that is not one or whose SDP is over :data:`MAX_SDP`, a candidate that is not one, a
seat that is not there, a note from anyone but a supervisor — is answered ``error {reason}`` to
the sender alone; the room goes on. A room token joins once (``reused`` otherwise).

A dropped connection keeps its seat for ``grace`` seconds: the others hear nothing, and the same
token (or a fresh one for the same seat) takes it back (``peer-resumed``). Only after the grace
period do the others hear ``peer-left``. A second connection for a seat replaces the first. A peer
that vanishes mid-send is dropped without disturbing the rest of the room.

For more than a handful of participants a mesh does not scale: put an SFU (LiveKit, Janus,
mediasoup) behind the same tokens instead of growing this relay (docs/reception.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from intake.clock import Clock
from intake.edge import parse_json_object
from intake.errors import IntakeError
from intake.reception.tokens import Claims, RoomTokens, TokenRejected

log = logging.getLogger("video_reception.rooms")

JOIN_TIMEOUT = 5.0
MAX_MESSAGE = 256 * 1024  # past this the socket closes (1009); below it, bad messages get an error
MAX_SDP = 32 * 1024
MAX_CANDIDATE = 2048
DESCRIPTION_TYPES = ("offer", "answer", "pranswer", "rollback")
RELAYED = ("description", "candidate")
CLOSE_REFUSED = 4401
CLOSE_REPLACED = 4409


Sink = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class Seat:
    key: str
    role: str
    ws: web.WebSocketResponse | None
    joined_at: float
    dropped_at: float | None = None
    expiry: asyncio.TimerHandle | None = None
    sink: Sink | None = None  # a seat inside this process (the server's recorder), not a socket
    # Rooms shared by several workers (video_reception.shared_rooms): a seat another worker holds
    # (``worker``, connected when ``online``), and the room's change number a seat of this one
    # joined at (``since``: what it heard in its welcome).
    worker: str | None = None
    online: bool = False
    since: int = 0

    @property
    def present(self) -> bool:
        return self.ws is not None or self.sink is not None or (self.worker is not None and self.online)


@dataclass
class Room:
    id: str
    seats: dict[str, Seat] = field(default_factory=dict)
    together_since: float | None = None  # both the township screen and the officer connected

    def present(self) -> list[dict[str, str]]:
        return [{"peer": s.key, "role": s.role} for s in self.seats.values()]

    def connected(self, role: str) -> bool:
        return any(s.role == role and s.present for s in self.seats.values())

    def state(self) -> str:
        host, officer = self.connected("host"), self.connected("officer")
        if host and officer:
            return "in_session"
        return "waiting" if host or officer else "idle"


NoteHook = Callable[[str, Claims, str], Awaitable[None]]


class RoomHub:
    """Every room of this process, in memory: the embedded SQLite default, one process. Several
    workers on PostgreSQL share their rooms through :class:`video_reception.shared_rooms.SharedRoomHub`."""

    def __init__(
        self, tokens: RoomTokens, clock: Clock, *, grace: float = 15.0, join_timeout: float = JOIN_TIMEOUT
    ) -> None:
        self.tokens = tokens
        self.clock = clock
        self.grace = grace
        self.join_timeout = join_timeout  # seconds a connection has to send its join message
        self.rooms: dict[str, Room] = {}
        self.on_note: NoteHook | None = None
        self.refused = 0
        self.refused_messages = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.recorders: dict[str, Any] = {}
        self._used: dict[str, int] = {}  # room tokens already spent on a join: nonce → expiry

    # --- state for the oversight grid ------------------------------------------------------------

    def snapshot(self, room_id: str) -> dict[str, Any]:
        room = self.rooms.get(room_id)
        if room is None:
            return {"state": "idle", "since": None, "peers": [], "seats": []}
        since, now = room.together_since, time.monotonic()
        return {
            "state": room.state(),
            "seconds": round(now - since) if since is not None else None,
            "peers": [s.role for s in room.seats.values() if s.present],
            "seats": [
                {
                    "seat": s.key,
                    "role": s.role,
                    "seconds": round(now - s.joined_at),
                    "connected": s.present,
                }
                for s in room.seats.values()
            ],
        }

    async def broadcast(self, room_id: str, message: dict[str, Any], *, role: str | None = None) -> None:
        room = self.rooms.get(room_id)
        if room is None:
            return
        for seat in list(room.seats.values()):
            if role is None or seat.role == role:
                await self._send(room, seat, message)

    async def record(
        self, room_id: str, write: Callable[[str, bytes], Awaitable[None]], ice_servers: list[dict[str, Any]]
    ) -> None:
        """Seat the server's recorder in the room (once): it records every participant's media
        and hands the bytes to ``write(part, chunk)`` as they come (:mod:`video_reception.recorder`)."""
        if room_id in self.recorders:
            return
        from video_reception.recorder import RoomRecorder

        recorder = RoomRecorder(room_id, write, ice_servers)
        self.recorders[room_id] = recorder
        recorder.send = await self.attach(room_id, "recorder", "recorder", recorder.on_message)

    async def stop_recording(self, room_id: str) -> int:
        """The recorder leaves the room, every part closed and stored; the bytes it stored."""
        recorder = self.recorders.pop(room_id, None)
        if recorder is None:
            return 0
        await self.detach(room_id, "recorder")
        await recorder.close()
        return int(recorder.stored)

    async def close(self) -> None:
        for room_id in list(self.recorders):
            await self.stop_recording(room_id)
        for room in list(self.rooms.values()):
            for seat in list(room.seats.values()):
                if seat.expiry is not None:
                    seat.expiry.cancel()
                if seat.ws is not None:
                    with contextlib.suppress(Exception):
                        await seat.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
        self.rooms.clear()

    # --- seats inside this process (the server's recorder) ---------------------------------------

    async def attach(
        self, room_id: str, key: str, role: str, sink: Sink
    ) -> Callable[[dict[str, Any]], Awaitable[None]]:
        """Seat ``sink`` in the room as ``key`` (the others hear ``peer-joined``, it hears
        ``welcome``); returns how it sends, through the same relay as a socket's messages."""
        room = self.rooms.setdefault(room_id, Room(room_id))
        seat = Seat(key, role, None, time.monotonic(), sink=sink)
        room.seats[key] = seat
        claims = Claims(room_id, role, key, 0)
        others = [p for p in room.present() if p["peer"] != key]
        await self._send(room, seat, {"type": "welcome", "you": key, "peers": others, "resumed": False})
        for other in list(room.seats.values()):
            if other is not seat:
                await self._send(room, other, {"type": "peer-joined", "peer": key, "role": role})

        async def send(doc: dict[str, Any]) -> None:
            if room.seats.get(key) is seat:
                await self._on_message(room, seat, claims, json.dumps(doc))

        return send

    async def detach(self, room_id: str, key: str) -> None:
        room = self.rooms.get(room_id)
        seat = room.seats.get(key) if room else None
        if room is None or seat is None or seat.sink is None:
            return
        seat.sink = None
        await self._expire(room, seat)

    # --- the WebSocket ---------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        room_id = request.match_info["room"]
        ws = web.WebSocketResponse(heartbeat=10.0, max_msg_size=MAX_MESSAGE)
        await ws.prepare(request)
        claims = await self._authenticate(ws, room_id)
        if claims is None:
            return ws
        room, seat = await self._seat(room_id, claims, ws)
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                await self._on_message(room, seat, claims, msg.data)
        finally:
            await self._dropped(room, seat, ws)
        return ws

    async def _authenticate(self, ws: web.WebSocketResponse, room_id: str) -> Claims | None:
        reason = "no_join"
        try:
            msg = await ws.receive(timeout=self.join_timeout)
            if msg.type == WSMsgType.TEXT:
                doc = parse_json_object(msg.data.encode("utf-8", "surrogatepass"))
                if doc.get("type") == "join":
                    return await self._spend(self.tokens.verify(doc.get("token"), room_id, self.clock.now()))
        except TokenRejected as exc:
            reason = exc.reason
        except (TimeoutError, ValueError, IntakeError):
            pass
        self.refused += 1
        log.info("room join refused", extra={"reason": reason})
        with contextlib.suppress(Exception):
            await ws.send_json({"type": "refused", "reason": reason})
            await ws.close(code=CLOSE_REFUSED, message=reason.encode())
        return None

    async def _spend(self, claims: Claims) -> Claims:
        """A token joins once: a copied or replayed one is refused (a reconnect asks for a new one)."""
        now = int(self.clock.now().timestamp())
        if len(self._used) > 10_000:
            self._used = {n: exp for n, exp in self._used.items() if exp > now}
        if claims.nonce in self._used:
            raise TokenRejected("reused")
        self._used[claims.nonce] = claims.expires
        return claims

    async def _seat(self, room_id: str, claims: Claims, ws: web.WebSocketResponse) -> tuple[Room, Seat]:
        room = self.rooms.setdefault(room_id, Room(room_id))
        seat = room.seats.get(claims.seat)
        resumed = seat is not None
        if seat is None:
            seat = Seat(claims.seat, claims.role, ws, time.monotonic())
            room.seats[claims.seat] = seat
        else:
            await self._retake(seat, ws)
        self._update_together(room)
        others = [p for p in room.present() if p["peer"] != seat.key]
        await self._send(
            room, seat, {"type": "welcome", "you": seat.key, "peers": others, "resumed": resumed}
        )
        event = "peer-resumed" if resumed else "peer-joined"
        for other in list(room.seats.values()):
            if other is not seat:
                await self._send(room, other, {"type": event, "peer": seat.key, "role": seat.role})
        return room, seat

    @staticmethod
    async def _retake(seat: Seat, ws: web.WebSocketResponse) -> None:
        """A seat taken back (a reconnect, a second connection): its expiry is off, and the
        connection it had, if still open, is closed as replaced."""
        if seat.expiry is not None:
            seat.expiry.cancel()
            seat.expiry = None
        old, seat.ws, seat.dropped_at = seat.ws, ws, None
        if old is not None and not old.closed:
            with contextlib.suppress(Exception):
                await old.close(code=CLOSE_REPLACED, message=b"replaced")

    def _update_together(self, room: Room) -> None:
        if room.state() == "in_session":
            if room.together_since is None:
                room.together_since = time.monotonic()
        elif not any(s.dropped_at is not None for s in room.seats.values()):
            room.together_since = None

    async def _on_message(self, room: Room, seat: Seat, claims: Claims, raw: str) -> None:
        try:  # the shared parser: bounded depth, no control characters
            doc = parse_json_object(raw.encode("utf-8", "surrogatepass"))
        except IntakeError:
            await self._refuse(room, seat, "bad_json")
            return
        kind = doc.get("type")
        if kind == "ping":
            await self._send(room, seat, {"type": "pong", "t": doc.get("t")})
        elif kind == "note":
            await self._note(room, seat, claims, doc.get("text"))
        elif kind in RELAYED:
            await self._relay(room, seat, kind, doc)
        else:
            await self._refuse(room, seat, "unknown_type")

    async def _refuse(self, room: Room, seat: Seat, reason: str) -> None:
        """A message the room does not take: the sender is told why; nothing else happens."""
        self.refused_messages += 1
        await self._send(room, seat, {"type": "error", "reason": reason})

    async def _note(self, room: Room, seat: Seat, claims: Claims, text: Any) -> None:
        if claims.role != "supervisor":
            await self._refuse(room, seat, "not_allowed")
            return
        if not isinstance(text, str) or not (0 < len(text) <= 1000):
            await self._refuse(room, seat, "bad_note")
            return
        for other in list(room.seats.values()):
            if other.role == "officer":
                await self._send(room, other, {"type": "note", "from": seat.key, "text": text})
        if self.on_note is not None:
            await self.on_note(room.id, claims, text)

    @staticmethod
    def _payload_error(kind: str, doc: dict[str, Any]) -> str | None:
        if kind == "description":
            desc = doc.get("description")
            if not isinstance(desc, dict) or desc.get("type") not in DESCRIPTION_TYPES:
                return "bad_description"
            sdp = desc.get("sdp", "")
            if not isinstance(sdp, str):
                return "bad_description"
            return "sdp_too_large" if len(sdp) > MAX_SDP else None
        candidate = doc.get("candidate")
        if candidate is not None and not isinstance(candidate, dict):
            return "bad_candidate"
        return "candidate_too_large" if len(json.dumps(candidate)) > MAX_CANDIDATE else None

    async def _relay(self, room: Room, seat: Seat, kind: str, doc: dict[str, Any]) -> None:
        problem = self._payload_error(kind, doc)
        target = room.seats.get(str(doc.get("to", "")))
        if problem is None and (target is None or target is seat):
            problem = "unknown_peer"
        if problem is not None or target is None:
            await self._refuse(room, seat, problem or "unknown_peer")
            return
        out: dict[str, Any] = {"type": kind, "from": seat.key}
        if kind == "description":
            out["description"] = doc.get("description")
        else:
            out["candidate"] = doc.get("candidate")
        await self._send(room, target, out)

    async def _send(self, room: Room, seat: Seat, message: dict[str, Any]) -> None:
        if seat.sink is not None:
            try:
                await seat.sink(message)
            except Exception:  # the recorder's trouble is its own: the room goes on
                log.exception("room seat sink failed", extra={"role": seat.role})
            return
        ws = seat.ws
        if ws is None or ws.closed:
            return
        try:
            await ws.send_str(json.dumps(message, ensure_ascii=False))
        except (ConnectionError, RuntimeError):
            # The peer vanished between two messages: its own handler sees the close and drops it.
            log.info("room send failed", extra={"role": seat.role})

    async def _dropped(self, room: Room, seat: Seat, ws: web.WebSocketResponse) -> None:
        if seat.ws is not ws:
            return  # replaced by a newer connection for the same seat
        seat.ws, seat.dropped_at = None, time.monotonic()
        loop = asyncio.get_running_loop()
        seat.expiry = loop.call_later(self.grace, self._spawn_expiry, room, seat)

    def _spawn_expiry(self, room: Room, seat: Seat) -> None:
        task = asyncio.get_running_loop().create_task(self._expire(room, seat))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _expire(self, room: Room, seat: Seat) -> None:
        if seat.ws is not None or room.seats.get(seat.key) is not seat:
            return
        del room.seats[seat.key]
        self._update_together(room)
        for other in list(room.seats.values()):
            await self._send(room, other, {"type": "peer-left", "peer": seat.key, "role": seat.role})
        if not room.seats and self.rooms.get(room.id) is room:
            del self.rooms[room.id]
