"""Fixtures for video reception: the whole server with the reception feature, three staff accounts
(township, county officer, county supervisor) signed in with bearer tokens, and an aiortc peer."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, ClientWebSocketResponse, WSMsgType, web
from aiohttp.test_utils import TestClient

import channels
from intake.staff import totp_now
from server.app import build_app, services_of
from server.config import Settings
from video_reception import RECEPTION, feature

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "jurisdiction"
TOWNSHIP = "430121102"  # 黄兴镇纪委
COUNTY = "430121"  # 长沙县纪委监委
CITY = "4301"
PASSWORD = "correct horse battery staple"
STAFF = {
    "town": (TOWNSHIP, "registrar"),
    "officer": (COUNTY, "handler"),
    "officer2": (COUNTY, "registrar"),  # the county's officers are a pool
    "sup": (COUNTY, "supervisor"),
    "cityofficer": (CITY, "handler"),
    "other": ("430121104", "registrar"),  # another township
}


@dataclass
class Reception:
    client: TestClient  # type: ignore[type-arg]
    tokens: dict[str, str]

    @property
    def services(self) -> Any:
        return services_of(self.client.app)

    @property
    def service(self) -> Any:
        return self.client.app[RECEPTION].service

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    async def call(self, who: str, path: str, body: Any = None, status: int = 200) -> Any:
        if body is None:
            resp = await self.client.get(f"/reception/api/{path}", headers=self.auth(who))
        else:
            resp = await self.client.post(f"/reception/api/{path}", json=body, headers=self.auth(who))
        doc = await resp.json()
        assert resp.status == status, doc
        return doc

    async def book(self, who: str = "town", after: datetime | None = None, **extra: Any) -> dict[str, Any]:
        """Book the first free slot of the township room (starting at ``after`` or later)."""
        slots = (await self.call(who, f"slots?township={TOWNSHIP}"))["slots"]
        body = {
            "township": TOWNSHIP,
            "slot": next(
                s["start"]
                for s in slots
                if s["free"] and (after is None or datetime.fromisoformat(s["start"]) >= after)
            ),
            "facts": "反映黄兴镇某村党支部书记张某侵占集体土地补偿款。",
            "accused": {"name": "张某", "unit": "黄兴镇某村", "position": "村党支部书记"},
            "reporter": {"name": "李秀英", "id_number": "430121198001011234", "phone": "13812345678"},
        }
        body.update(extra)
        doc: dict[str, Any] = await self.call(who, "bookings", body, status=201)
        return doc

    async def walk_in(self, who: str = "town", unit: str = TOWNSHIP, **extra: Any) -> dict[str, Any]:
        doc: dict[str, Any] = await self.call(
            who, "sessions", {"unit": unit, "walk_in": True, **extra}, status=201
        )
        return doc

    async def token(self, who: str, session: str, role: str) -> str:
        doc = await self.call(who, f"sessions/{session}/token", {"role": role})
        token: str = doc["token"]
        return token


async def sign_in(services: Any) -> dict[str, str]:
    tokens = {}
    for username, (unit, role) in STAFF.items():
        _, secret = await services.staff.add(username, unit, role, PASSWORD)
        token, _, _ = await services.staff.login(
            username, PASSWORD, totp_now(secret, services.clock.now()), client="test"
        )
        tokens[username] = token
    return tokens


@pytest.fixture
async def reception(aiohttp_client: Any, make_settings: Callable[..., Settings], db_url: str) -> Reception:
    """On SQLite and on PostgreSQL (when ``INTAKE_TEST_DATABASE_URL`` is set)."""
    # Signaling and the browser's upload: the server's recorder is tested with ``recording_server``.
    settings = make_settings(
        INTAKE_RECEPTION_RECONNECT_SECONDS="1",
        INTAKE_DATABASE_URL=db_url,
        INTAKE_RECEPTION_SERVER_RECORDING="0",
    )
    app = build_app(settings, channels.REGISTRY, run_worker=False, features=[feature])
    client = await aiohttp_client(app)
    return Reception(client, await sign_in(services_of(app)))


@pytest.fixture
async def two_counties(aiohttp_client: Any, make_settings: Callable[..., Settings], db_url: str) -> Reception:
    """Two counties of the city (tests/fixtures/jurisdiction/two_counties.json), on SQLite and on
    PostgreSQL."""
    settings = make_settings(
        INTAKE_JURISDICTION_FILE=str(FIXTURES / "two_counties.json"),
        INTAKE_DATABASE_URL=db_url,
        INTAKE_RECEPTION_SERVER_RECORDING="0",
    )
    app = build_app(settings, channels.REGISTRY, run_worker=False, features=[feature])
    client = await aiohttp_client(app)
    return Reception(client, await sign_in(services_of(app)))


async def join(
    client: TestClient, session: str, token: str
) -> tuple[ClientWebSocketResponse, dict[str, Any]]:  # type: ignore[type-arg]
    ws = await client.ws_connect(f"/reception/ws/{session}")
    await ws.send_json({"type": "join", "token": token})
    return ws, await receive(ws)


async def receive(ws: ClientWebSocketResponse, within: float = 5.0) -> dict[str, Any]:
    msg = await ws.receive(timeout=within)
    assert msg.type == WSMsgType.TEXT, msg
    doc: dict[str, Any] = json.loads(msg.data)
    return doc


async def audit_events(services: Any, kind: str) -> list[dict[str, Any]]:
    import sqlalchemy as sa

    async with services.db.read_engine.connect() as conn:
        rows = await conn.execute(
            sa.text("SELECT report_id, actor, payload FROM report_events WHERE kind = :k ORDER BY seq"),
            {"k": kind},
        )
        return [
            {
                "report_id": uuid.UUID(str(r.report_id)) if r.report_id else None,
                "actor": r.actor,
                "payload": json.loads(r.payload),
            }
            for r in rows
        ]


# --- an aiortc peer talking to our signaling -------------------------------------------------------


def loopback_only() -> None:
    """aioice leaves 127.0.0.1 out of its host candidates; the tests talk over loopback only."""
    import aioice.ice

    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


class AiortcPeer:
    """One participant: a synthetic camera (lavfi testsrc) unless ``receive_only``, the frames it
    receives counted, signaling through ``/reception/ws/{session}``."""

    def __init__(
        self, url: str, session: str, token: str, *, receive_only: bool = False, audio: bool = False
    ) -> None:
        from aiortc import RTCConfiguration, RTCPeerConnection

        self.url, self.session, self.token = url, session, token
        self.receive_only = receive_only
        self.audio = audio
        self.pcs: dict[str, RTCPeerConnection] = {}
        self._config = RTCConfiguration(iceServers=[])
        self.frames = 0
        self.messages: list[dict[str, Any]] = []
        self.ws: ClientWebSocketResponse | None = None
        self._http: ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._players: list[Any] = []

    def _pc(self, peer: str) -> Any:
        from aiortc import RTCPeerConnection
        from aiortc.contrib.media import MediaPlayer

        if peer in self.pcs:
            return self.pcs[peer]
        pc = RTCPeerConnection(self._config)
        if self.receive_only:
            pc.addTransceiver("video", direction="recvonly")
        else:
            player = MediaPlayer("testsrc=size=160x120:rate=10", format="lavfi")
            self._players.append(player)
            assert player.video is not None
            pc.addTrack(player.video)
            if self.audio:  # a synthetic microphone: a sine tone
                tone = MediaPlayer("sine=frequency=440:sample_rate=48000", format="lavfi")
                self._players.append(tone)
                assert tone.audio is not None
                pc.addTrack(tone.audio)

        @pc.on("track")
        def on_track(track: Any) -> None:
            self._tasks.append(asyncio.create_task(self._consume(track)))

        self.pcs[peer] = pc
        return pc

    async def _consume(self, track: Any) -> None:
        from aiortc.mediastreams import MediaStreamError

        with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
            while True:
                await track.recv()
                self.frames += 1

    async def connect(self) -> dict[str, Any]:
        self._http = ClientSession()
        self.ws = await self._http.ws_connect(f"{self.url}/reception/ws/{self.session}")
        await self.ws.send_json({"type": "join", "token": self.token})
        first = await receive(self.ws)
        self._tasks.append(asyncio.create_task(self._loop()))
        return first

    async def _send(self, doc: dict[str, Any]) -> None:
        assert self.ws is not None
        await self.ws.send_json(doc)

    async def _loop(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            if msg.type != WSMsgType.TEXT:
                continue
            doc = json.loads(msg.data)
            self.messages.append(doc)
            await self.on_message(doc)

    async def on_message(self, doc: dict[str, Any]) -> None:
        from aiortc import RTCSessionDescription

        if doc["type"] == "peer-joined":
            pc = self._pc(doc["peer"])
            await pc.setLocalDescription(await pc.createOffer())
            desc = {"type": pc.localDescription.type, "sdp": pc.localDescription.sdp}
            await self._send({"type": "description", "to": doc["peer"], "description": desc})
        elif doc["type"] == "description":
            pc = self._pc(doc["from"])
            d = doc["description"]
            await pc.setRemoteDescription(RTCSessionDescription(sdp=d["sdp"], type=d["type"]))
            if d["type"] == "offer":
                await pc.setLocalDescription(await pc.createAnswer())
                desc = {"type": pc.localDescription.type, "sdp": pc.localDescription.sdp}
                await self._send({"type": "description", "to": doc["from"], "description": desc})
        # aiortc puts all of its candidates in the SDP: there is nothing to trickle.

    def state(self, peer: str) -> str:
        pc = self.pcs.get(peer)
        return str(pc.connectionState) if pc is not None else "none"

    async def wait(self, predicate: Callable[[], bool], within: float = 10.0) -> None:
        # ICE/DTLS state and decoded frames have no single event to await: poll, bounded.
        async with asyncio.timeout(within):
            while not predicate():  # noqa: ASYNC110
                await asyncio.sleep(0.02)

    async def drop(self) -> None:
        """Vanish without a goodbye: the TCP connection is cut."""
        assert self.ws is not None and self._http is not None
        transport = self.ws._response.connection.transport  # type: ignore[union-attr]
        if transport is not None:
            transport.abort()
        await asyncio.sleep(0)

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        for pc in self.pcs.values():
            await pc.close()
        for p in self._players:
            for track in (p.video, p.audio):
                if track is not None:
                    track.stop()
        if self.ws is not None:
            await self.ws.close()
        if self._http is not None:
            await self._http.close()


async def _serve(settings: Settings) -> AsyncIterator[tuple[str, web.Application]]:
    app = build_app(settings, channels.REGISTRY, run_worker=False, features=[feature])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        await runner.cleanup()


@pytest.fixture
async def live_server(make_settings: Callable[..., Settings]) -> AsyncIterator[tuple[str, web.Application]]:
    """The server on a real loopback port (aiortc peers connect like browsers would)."""
    settings = make_settings(INTAKE_RECEPTION_RECONNECT_SECONDS="2", INTAKE_RECEPTION_SERVER_RECORDING="0")
    async for served in _serve(settings):
        yield served


@pytest.fixture
async def recording_server(
    make_settings: Callable[..., Settings],
) -> AsyncIterator[tuple[str, web.Application]]:
    """The same with the server's recorder on (the default setting)."""
    async for served in _serve(make_settings(INTAKE_RECEPTION_RECONNECT_SECONDS="1")):
        yield served
