"""Media rooms for bench/reception_rooms.py (issue 20): N walk-in sessions in N township rooms of
the city at once, each with two aiortc peers (township screen and officer, a synthetic 160×120
camera at 10 fps and a sine-tone microphone) on loopback, the server's recorder in every room.

Measures, for 1 room and then N rooms in the same run: the server process's CPU (share of one
core) and resident memory per room, the signaling round trip p99 under that load (a probe room
relaying ``candidate`` messages), and the recorded bytes per minute per room (what the server
stored, read back from each session once the officer ends it)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import time
from pathlib import Path
from typing import Any

import aiohttp

PASSWORD = "bench horse battery staple"  # noqa: S105 (bench accounts on a throwaway data dir)


def loopback_ice() -> None:
    """aioice leaves loopback out of its host candidates: the bench's peers and the server (see
    :data:`SERVER`) offer 127.0.0.1 only, so nothing leaves this machine's loopback."""
    import aioice.ice

    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


# The server's command: ``intake serve`` with the same loopback-only ICE for its recorder.
SERVER = (
    "import sys, aioice.ice; aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ['127.0.0.1']; "
    "from server.cli import main; sys.exit(main())"
)


def rooms_of_the_city(n: int) -> list[tuple[str, str]]:
    """(township, county) for ``n`` township rooms, county after county."""
    from intake import jurisdiction
    from intake.staff import OrgTree

    units = jurisdiction.load(None).units
    tree = OrgTree(units)
    found = []
    for code, unit in tree.units.items():
        if unit.level == "township" and unit.parent_code:
            found.append((code, unit.parent_code))
    if len(found) < n:
        raise SystemExit(f"only {len(found)} township rooms in the jurisdiction")
    return found[:n]


async def make_accounts(data: Path, rooms: list[tuple[str, str]]) -> dict[str, str]:
    """A township registrar per room and a handler per county; their TOTP secrets."""
    from intake import jurisdiction
    from intake.clock import SystemClock
    from intake.staff import OrgTree, StaffService
    from server.config import Settings
    from storage import keys
    from storage.database import Database

    units = jurisdiction.load(None).units
    url = Settings.from_env({"INTAKE_DATA_DIR": str(data)}).database_url
    db = Database(url, keys.load_or_create(data), data)
    await db.start(migrate=True)
    try:
        await db.units.sync(units)
        staff = StaffService(db, SystemClock(), OrgTree(units))
        secrets = {}
        for township, county in rooms:
            accounts = ((f"t{township}", township, "registrar"), (f"o{county}", county, "handler"))
            for name, unit, role in accounts:
                if name not in secrets:
                    _, secrets[name] = await staff.add(name, unit, role, PASSWORD, actor="bench")
        return secrets
    finally:
        await db.close()


class Peer:
    """One participant: synthetic camera and microphone; answers the offers made to it, offers
    to those who join after it (the protocol of docs/reception.md)."""

    def __init__(self, http: aiohttp.ClientSession, url: str, session: str, token: str) -> None:
        self.http, self.url, self.session, self.token = http, url, session, token
        self.pcs: dict[str, Any] = {}
        self.players: list[Any] = []
        self.sinks: list[Any] = []
        self.ws: Any = None
        self.task: asyncio.Task[None] | None = None

    def _pc(self, peer: str) -> Any:
        from aiortc import RTCConfiguration, RTCPeerConnection
        from aiortc.contrib.media import MediaBlackhole, MediaPlayer

        if peer in self.pcs:
            return self.pcs[peer]
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        camera = MediaPlayer("testsrc=size=160x120:rate=10", format="lavfi")
        tone = MediaPlayer("sine=frequency=440:sample_rate=48000", format="lavfi")
        self.players += [camera, tone]
        assert camera.video is not None and tone.audio is not None
        pc.addTrack(camera.video)
        pc.addTrack(tone.audio)
        sink = MediaBlackhole()

        @pc.on("track")
        def on_track(track: Any) -> None:
            sink.addTrack(track)
            self.sinks.append(asyncio.ensure_future(sink.start()))

        self.pcs[peer] = pc
        return pc

    async def connect(self) -> None:
        self.ws = await self.http.ws_connect(f"{self.url}/reception/ws/{self.session}", heartbeat=None)
        await self.ws.send_json({"type": "join", "token": self.token})
        self.task = asyncio.create_task(self._loop())

    async def _describe(self, peer: str, pc: Any) -> None:
        desc = {"type": pc.localDescription.type, "sdp": pc.localDescription.sdp}
        await self.ws.send_json({"type": "description", "to": peer, "description": desc})

    async def _loop(self) -> None:
        from aiortc import RTCSessionDescription

        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            doc = json.loads(msg.data)
            if doc["type"] == "peer-joined":
                pc = self._pc(doc["peer"])
                await pc.setLocalDescription(await pc.createOffer())
                await self._describe(doc["peer"], pc)
            elif doc["type"] == "description":
                pc = self._pc(doc["from"])
                d = doc["description"]
                await pc.setRemoteDescription(RTCSessionDescription(sdp=d["sdp"], type=d["type"]))
                if d["type"] == "offer":
                    await pc.setLocalDescription(await pc.createAnswer())
                    await self._describe(doc["from"], pc)

    def connected(self) -> bool:
        return len(self.pcs) >= 2 and all(pc.connectionState == "connected" for pc in self.pcs.values())

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
        for pc in self.pcs.values():
            await pc.close()
        for p in self.players:
            for track in (p.video, p.audio):
                if track is not None:
                    track.stop()
        if self.ws is not None:
            await self.ws.close()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    import os

    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Bench:
    def __init__(self, http: aiohttp.ClientSession, url: str, pid: int, secrets: dict[str, str]) -> None:
        self.http, self.url, self.pid, self.secrets = http, url, pid, secrets
        self.tokens: dict[str, str] = {}

    async def login(self) -> None:
        from datetime import UTC, datetime

        from intake.staff import totp_now

        for name, secret in self.secrets.items():
            body = {"username": name, "password": PASSWORD, "totp": totp_now(secret, datetime.now(UTC))}
            async with self.http.post(f"{self.url}/api/v1/staff/login", json=body) as resp:
                doc = await resp.json()
                assert resp.status == 200, doc
                self.tokens[name] = doc["token"]

    async def call(self, who: str, path: str, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        async with self.http.post(f"{self.url}/reception/api/{path}", json=body, headers=headers) as resp:
            doc = await resp.json()
            assert resp.status in (200, 201), doc
            return doc

    async def open_room(self, township: str, county: str) -> tuple[str, list[Peer]]:
        town, officer = f"t{township}", f"o{county}"
        session = (await self.call(town, "sessions", {"unit": township, "walk_in": True}))["id"]
        await self.call(town, f"sessions/{session}/consent", {"recorded": True, "attendees": True})
        peers = []
        for who, role in ((town, "host"), (officer, "officer")):
            token = (await self.call(who, f"sessions/{session}/token", {"role": role}))["token"]
            peer = Peer(self.http, self.url, session, token)
            await peer.connect()
            peers.append(peer)
        return session, peers

    async def probe(self, tokens: Any, n: int) -> float:
        """Signaling round trips (two relays) in a room of their own: p99 in ms."""
        from datetime import UTC, datetime

        now = datetime.now(UTC)
        room = f"probe-{time.monotonic_ns()}"
        socks = []
        for role in ("host", "officer"):
            ws = await self.http.ws_connect(f"{self.url}/reception/ws/{room}", heartbeat=None)
            await ws.send_json({"type": "join", "token": tokens.issue(room, role, role, now)[0]})
            await ws.receive_json()
            socks.append(ws)
        a, b = socks
        await a.receive_json()  # peer-joined
        rtts = []
        for i in range(n):
            started = time.perf_counter()
            await a.send_json({"type": "candidate", "to": "officer", "candidate": {"i": i}})
            got = await b.receive_json()
            await b.send_json({"type": "candidate", "to": "host", "candidate": got["candidate"]})
            await a.receive_json()
            rtts.append(time.perf_counter() - started)
            await asyncio.sleep(0.01)
        for ws in socks:
            await ws.close()
        rtts.sort()
        return rtts[max(0, int(len(rtts) * 0.99) - 1)] * 1000

    async def run(self, rooms: list[tuple[str, str]], seconds: float, tokens: Any) -> dict[str, float]:
        rss0 = _rss_mib(self.pid)
        opened = [await self.open_room(t, c) for t, c in rooms]
        peers = [p for _, ps in opened for p in ps]
        deadline = time.monotonic() + 300  # a loaded machine: measure whoever connected by then
        while not all(p.connected() for p in peers) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.2)  # ICE and DTLS have no single event to await
        connected = sum(p.connected() for p in peers) / 2
        await asyncio.sleep(2)  # past the first key frames
        cpu0, t0 = _cpu_seconds(self.pid), time.perf_counter()
        p99 = await self.probe(tokens, int(seconds * 20))
        left = seconds - (time.perf_counter() - t0)
        if left > 0:
            await asyncio.sleep(left)
        cpu1, t1 = _cpu_seconds(self.pid), time.perf_counter()
        rss1 = _rss_mib(self.pid)
        recorded = []
        for (session, _), (township, county) in zip(opened, rooms, strict=True):
            await self.call(f"o{county}", f"sessions/{session}/end", {"minutes": "压力测试笔录。"})
            headers = {"Authorization": f"Bearer {self.tokens[f't{township}']}"}
            async with self.http.get(f"{self.url}/reception/api/sessions/{session}", headers=headers) as r:
                recorded.append((await r.json())["recording_bytes"])
        for p in peers:
            with contextlib.suppress(Exception):
                await p.close()
        n = len(rooms)
        # Recorded from the consent until the end: the whole connected time, measured window and all.
        minutes = (time.perf_counter() - t0 + 2) / 60
        return {
            "rooms": n,
            "connected": connected,
            "cpu_per_room": (cpu1 - cpu0) / (t1 - t0) / n,
            "cpu_total": (cpu1 - cpu0) / (t1 - t0),
            "rss_per_room": (rss1 - rss0) / n,
            "rss": rss1,
            "p99": p99,
            "bytes_per_minute": statistics.mean(recorded) / minutes,
        }


def report(result: dict[str, float]) -> None:
    print(
        f"{int(result['rooms']):>3} room(s), {result['connected']:.0f} fully connected: "
        f"server CPU {result['cpu_total'] * 100:.0f}% of a core "
        f"({result['cpu_per_room'] * 100:.1f}% per room); RSS {result['rss']:.0f} MiB "
        f"(+{result['rss_per_room']:.1f} MiB per room); signaling p99 {result['p99']:.2f} ms; "
        f"recorded {result['bytes_per_minute'] / 1024 / 1024:.2f} MiB per minute per room (both sides)"
    )
