"""Rooms across several server workers on one PostgreSQL database (issue 21): three real servers
(the application factory on three loopback ports, one database) and a fourth in a process of its
own for ``kill -9``; real WebSocket clients join the same room through different workers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import ClientSession, ClientWebSocketResponse, WSMsgType, web
from sqlalchemy.ext.asyncio import create_async_engine

import channels
from server.app import build_app, services_of
from server.config import Settings
from tests.conftest import COUNTY_JURISDICTION
from tests.reception.conftest import TOWNSHIP, loopback_only, receive, sign_in
from tests.test_durability import running_server, server_env
from video_reception import RECEPTION, feature

GRACE = 1  # seconds a dropped seat is kept (INTAKE_RECEPTION_RECONNECT_SECONDS)
LEASE = 1  # seconds a worker that stopped renewing still holds its seats


@dataclass
class Workers:
    urls: list[str]
    apps: list[web.Application]
    tokens: dict[str, str]
    http: ClientSession
    db_url: str

    def hub(self, i: int) -> Any:
        return self.apps[i][RECEPTION].service.hub

    async def call(self, who: str, path: str, body: Any = None, *, on: int = 0, status: int = 200) -> Any:
        url = f"{self.urls[on]}/reception/api/{path}"
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        if body is None:
            resp = await self.http.get(url, headers=headers)
        else:
            resp = await self.http.post(url, json=body, headers=headers)
        doc = await resp.json()
        assert resp.status == status, doc
        return doc

    async def live_session(self) -> str:
        """A booked session with the citizen's consent given (booked and consented on worker 0)."""
        slots = (await self.call("town", f"slots?township={TOWNSHIP}"))["slots"]
        booked = await self.call(
            "town",
            "bookings",
            {
                "township": TOWNSHIP,
                "slot": next(s["start"] for s in slots if s["free"]),
                "facts": "反映黄兴镇某村党支部书记张某侵占集体土地补偿款。",
                "accused": {"name": "张某", "unit": "黄兴镇某村", "position": "村党支部书记"},
            },
            status=201,
        )
        await self.call("town", f"sessions/{booked['id']}/consent", {"recorded": True, "attendees": True})
        return str(booked["id"])

    async def token(self, who: str, session: str, role: str, *, on: int = 0) -> str:
        doc = await self.call(who, f"sessions/{session}/token", {"role": role}, on=on)
        return str(doc["token"])

    async def join(
        self, session: str, token: str, *, on: int, url: str | None = None
    ) -> tuple[ClientWebSocketResponse, dict[str, Any]]:
        ws = await self.http.ws_connect(f"{url or self.urls[on]}/reception/ws/{session}")
        await ws.send_json({"type": "join", "token": token})
        return ws, await receive(ws)

    async def seats(self) -> list[tuple[str, str, bool]]:
        """The shared seats table, straight from the database."""
        engine = create_async_engine(self.db_url)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(
                    sa.text("SELECT seat, worker, connected FROM reception_seats ORDER BY seat")
                )
                return [(r.seat, r.worker, r.connected) for r in rows]
        finally:
            await engine.dispose()


def _settings(make_settings: Callable[..., Settings], pg_url: str, recording: bool = False) -> Settings:
    return make_settings(
        INTAKE_DATABASE_URL=pg_url,
        INTAKE_RECEPTION_RECONNECT_SECONDS=str(GRACE),
        INTAKE_RECEPTION_WORKER_LEASE_SECONDS=str(LEASE),
        INTAKE_RECEPTION_SERVER_RECORDING="1" if recording else "0",
    )


@contextlib.asynccontextmanager
async def _workers(settings: Settings, pg_url: str, n: int = 3) -> AsyncIterator[Workers]:
    """``n`` workers: the same settings, data folder (the key) and PostgreSQL database."""
    runners, urls, apps = [], [], []
    try:
        for _ in range(n):
            app = build_app(settings, channels.REGISTRY, run_worker=False, features=[feature])
            # A test that fails leaves sockets open: the servers do not wait a minute for them.
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
            await runner.setup()
            runners.append(runner)
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            urls.append(f"http://127.0.0.1:{runner.addresses[0][1]}")
            apps.append(app)
        async with ClientSession() as http:
            yield Workers(urls, apps, await sign_in(services_of(apps[0])), http, pg_url)
    finally:
        for runner in reversed(runners):
            await runner.cleanup()


@pytest.fixture
async def workers(make_settings: Callable[..., Settings], pg_url: str) -> AsyncIterator[Workers]:
    async with _workers(_settings(make_settings, pg_url), pg_url) as running:
        yield running


async def _silent(ws: ClientWebSocketResponse, t: int) -> None:
    """Nothing reached ``ws`` meanwhile: its next message is the pong to this ping."""
    await ws.send_json({"type": "ping", "t": t})
    assert await receive(ws) == {"type": "pong", "t": t}


async def _nothing_within(ws: ClientWebSocketResponse, seconds: float) -> None:
    """No message for ``seconds`` (a bounded wait: what must not come)."""
    with pytest.raises(asyncio.TimeoutError):
        await ws.receive(timeout=seconds)


def _sdp(size: int) -> str:
    lines = ["v=0", "o=- 4611731400430051336 2 IN IP4 127.0.0.1", "s=-", "t=0 0"]
    n = 0
    while sum(len(line) + 2 for line in lines) < size:
        lines.append(f"a=candidate:{n} 1 udp 2122260223 127.0.0.1 {40000 + n} typ host generation 0")
        n += 1
    return "\r\n".join(lines) + "\r\n"


async def test_a_room_across_three_workers(workers: Workers) -> None:
    """Township host on worker 0, county officer on worker 1, supervisor on worker 2: welcomes,
    joins, a 24 KiB offer and a candidate relayed, a note, the service's broadcasts and the
    oversight grid, each across workers."""
    w = workers
    session = await w.live_session()
    host, welcome = await w.join(session, await w.token("town", session, "host"), on=0)
    assert welcome == {"type": "welcome", "you": "host", "peers": [], "resumed": False}
    officer, welcome = await w.join(session, await w.token("officer", session, "officer", on=1), on=1)
    assert welcome == {
        "type": "welcome",
        "you": "officer",
        "peers": [{"peer": "host", "role": "host"}],
        "resumed": False,
    }
    assert await receive(host) == {"type": "peer-joined", "peer": "officer", "role": "officer"}

    # An offer of 24 KiB (NOTIFY takes < 8000 bytes: it travels through the signals table), and
    # the answering candidate the other way.
    offer = {"type": "offer", "sdp": _sdp(24 * 1024)}
    assert len(offer["sdp"]) > 24 * 1024
    await host.send_json({"type": "description", "to": "officer", "description": offer})
    assert await receive(officer) == {"type": "description", "from": "host", "description": offer}
    await officer.send_json({"type": "candidate", "to": "host", "candidate": {"candidate": "c1"}})
    assert await receive(host) == {"type": "candidate", "from": "officer", "candidate": {"candidate": "c1"}}
    # A seat that is in no worker is refused to the sender, as on one worker.
    await officer.send_json({"type": "candidate", "to": "nobody", "candidate": None})
    assert await receive(officer) == {"type": "error", "reason": "unknown_peer"}

    # The supervisor watches from the third worker: everyone hears of it, its note reaches the
    # officer on worker 1 and nobody else.
    sup, welcome = await w.join(session, await w.token("sup", session, "supervisor", on=2), on=2)
    assert welcome["peers"] == [{"peer": "host", "role": "host"}, {"peer": "officer", "role": "officer"}]
    joined = {"type": "peer-joined", "peer": "supervisor-sup", "role": "supervisor"}
    assert await receive(host) == joined
    assert await receive(officer) == joined
    await sup.send_json({"type": "note", "text": "请询问具体金额"})
    assert await receive(officer) == {"type": "note", "from": "supervisor-sup", "text": "请询问具体金额"}
    await _silent(host, 1)

    # The county's oversight, asked on a worker holding none of the seats (here: worker 2 holds
    # the supervisor only; worker 0's API answers for all), sees all three seats connected.
    for on in (0, 1, 2):
        grid = await w.call("sup", "oversight", on=on)
        room = next(r for r in grid["rooms"] if r["township"] == TOWNSHIP)
        assert room["state"] == "in_session", on
        assert room["session"] == session
        assert {(s["seat"], s["connected"]) for s in room["seats"]} == {
            ("host", True),
            ("officer", True),
            ("supervisor-sup", True),
        }, on

    # The service's broadcasts, from whichever worker the request reached: every seat hears them.
    minutes = "群众反映张某侵占集体土地补偿款，已记录。"
    await w.call("officer", f"sessions/{session}/end", {"minutes": minutes}, on=2)
    for ws in (host, officer, sup):
        assert await receive(ws) == {"type": "minutes", "text": minutes}
    filed = await w.call("town", f"sessions/{session}/confirm", {}, on=1)
    for ws in (host, officer, sup):
        assert await receive(ws) == {"type": "filed", "case_no": filed["case_no"]}
    for ws in (host, officer, sup):
        await ws.close()


async def test_a_room_token_joins_once_across_workers(workers: Workers) -> None:
    w = workers
    session = await w.live_session()
    token = await w.token("officer", session, "officer")
    first, welcome = await w.join(session, token, on=0)
    assert welcome["type"] == "welcome"
    for on in (1, 2, 0):
        copy, refused = await w.join(session, token, on=on)
        assert refused == {"type": "refused", "reason": "reused"}, on
        await copy.close()
    assert sum(w.hub(i).refused for i in range(3)) == 3
    await first.close()


async def test_a_seat_dropped_on_one_worker_resumes_on_another(workers: Workers) -> None:
    w = workers
    session = await w.live_session()
    host, _ = await w.join(session, await w.token("town", session, "host"), on=0)
    officer, _ = await w.join(session, await w.token("officer", session, "officer"), on=1)
    assert (await receive(host))["type"] == "peer-joined"

    # The officer's network drops on worker 1: the seat is kept, the host hears nothing, and
    # every worker's snapshot shows the seat not connected.
    transport = officer._response.connection.transport  # type: ignore[union-attr]
    assert transport is not None
    transport.abort()
    for i in range(3):
        await _until(lambda i=i: _connected(w.hub(i).snapshot(session), "officer") is False)
    await _silent(host, 1)

    # A fresh token on worker 2 takes the seat back: resumed, and the host hears peer-resumed.
    officer, welcome = await w.join(session, await w.token("officer", session, "officer"), on=2)
    assert welcome == {
        "type": "welcome",
        "you": "officer",
        "peers": [{"peer": "host", "role": "host"}],
        "resumed": True,
    }
    assert await receive(host) == {"type": "peer-resumed", "peer": "officer", "role": "officer"}
    # Worker 1's grace timer runs out on a seat it no longer holds: nobody hears peer-left.
    await _nothing_within(host, GRACE + 1.5)
    assert _connected(w.hub(0).snapshot(session), "officer") is True

    # A second connection for the seat, on worker 0, replaces the one on worker 2 (closed 4409).
    again, welcome = await w.join(session, await w.token("officer", session, "officer"), on=0)
    assert welcome["resumed"] is True
    closing = await officer.receive(timeout=5)
    assert closing.type == WSMsgType.CLOSE and closing.data == 4409
    assert await receive(host) == {"type": "peer-resumed", "peer": "officer", "role": "officer"}

    # Gone for good: after the grace period the host hears peer-left, and the seat is gone from
    # the database and from every worker's snapshot.
    await again.close()
    assert await receive(host, within=GRACE + 5) == {
        "type": "peer-left",
        "peer": "officer",
        "role": "officer",
    }
    assert [s[0] for s in await w.seats()] == ["host"]
    for i in range(3):
        await _until(lambda i=i: w.hub(i).snapshot(session)["state"] == "waiting")
    await host.close()


async def test_the_seats_of_a_killed_worker_expire(
    workers: Workers, make_settings: Callable[..., Settings], data_dir: Path
) -> None:
    """A worker in its own process holds the officer's seat and is killed with SIGKILL: once its
    lease runs out its seat is dropped, and after the grace period the host, on another worker,
    hears peer-left; no ghost stays in the database or in any snapshot."""
    w = workers
    env = server_env(
        data_dir,
        w.db_url,
        INTAKE_JURISDICTION_FILE=str(COUNTY_JURISDICTION),
        INTAKE_STAFF_SCRYPT_LOG_N="10",
        INTAKE_LOG_LEVEL="WARNING",
        INTAKE_RECEPTION_RECONNECT_SECONDS=str(GRACE),
        INTAKE_RECEPTION_WORKER_LEASE_SECONDS=str(LEASE),
        INTAKE_RECEPTION_SERVER_RECORDING="0",
    )
    session = await w.live_session()
    host, _ = await w.join(session, await w.token("town", session, "host"), on=0)
    async with running_server(env, data_dir / "killed.log") as doomed:
        officer, welcome = await w.join(
            session, await w.token("officer", session, "officer"), on=0, url=doomed.base
        )
        assert welcome["peers"] == [{"peer": "host", "role": "host"}]
        assert await receive(host) == {"type": "peer-joined", "peer": "officer", "role": "officer"}
        assert _connected(w.hub(1).snapshot(session), "officer") is True
        held = {s[0]: s[1] for s in await w.seats()}
        assert held["officer"] != held["host"]  # the officer's seat is the other process's
        os.kill(doomed.proc.pid, signal.SIGKILL)
        doomed.proc.wait(timeout=10)
        # The lease (1 s) runs out, a sweep drops the seat, the grace (1 s) runs out, a sweep
        # expires it: bounded well within 15 s.
        left = await receive(host, within=15)
        assert left == {"type": "peer-left", "peer": "officer", "role": "officer"}
        with contextlib.suppress(Exception):
            await officer.close()
    assert [s[0] for s in await w.seats()] == ["host"]
    for i in range(3):
        await _until(lambda i=i: "officer" not in {s["seat"] for s in w.hub(i).snapshot(session)["seats"]})
    await host.close()


async def test_a_worker_whose_listener_was_cut_catches_up(workers: Workers) -> None:
    """Worker 1's listening connection is terminated by the server: it reconnects, loads the
    rooms again (a join it missed meanwhile is in its snapshot) and relays as before."""
    w = workers
    session = await w.live_session()
    host, _ = await w.join(session, await w.token("town", session, "host"), on=0)
    bus = w.hub(1).bus
    engine = create_async_engine(w.db_url)
    try:
        async with engine.connect() as conn:
            pid = bus._listener.get_server_pid()
            assert (await conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid})).scalar()
    finally:
        await engine.dispose()
    officer, _ = await w.join(session, await w.token("officer", session, "officer"), on=2)
    assert await receive(host) == {"type": "peer-joined", "peer": "officer", "role": "officer"}
    await _until(lambda: bus.reconnects >= 1)
    await _until(lambda: w.hub(1).snapshot(session)["state"] == "in_session")
    sup, welcome = await w.join(session, await w.token("sup", session, "supervisor"), on=1)
    assert [p["peer"] for p in welcome["peers"]] == ["host", "officer"]
    assert (await receive(host))["type"] == "peer-joined"
    assert (await receive(officer))["type"] == "peer-joined"
    await sup.send_json({"type": "note", "text": "注意核实"})
    assert await receive(officer) == {"type": "note", "from": "supervisor-sup", "text": "注意核实"}
    await officer.send_json({"type": "candidate", "to": "supervisor-sup", "candidate": {"candidate": "c"}})
    assert await receive(sup) == {"type": "candidate", "from": "officer", "candidate": {"candidate": "c"}}
    for ws in (host, officer, sup):
        await ws.close()


async def test_the_recorder_on_one_worker_is_stopped_from_another(
    make_settings: Callable[..., Settings], pg_url: str
) -> None:
    """With the server's recorder on: the consent, given on worker 0, seats the recorder there;
    the host joining on worker 1 gets the recorder's real offer (aiortc's SDP) across workers;
    the officer ending the session on worker 1 stops the recorder on worker 0 before the answer,
    and the minutes reach the host."""
    loopback_only()
    async with _workers(_settings(make_settings, pg_url, recording=True), pg_url, n=2) as w:
        session = await w.live_session()
        assert session in w.hub(0).recorders and not w.hub(1).recorders
        assert [s["seat"] for s in w.hub(1).snapshot(session)["seats"]] == ["recorder"]
        host, welcome = await w.join(session, await w.token("town", session, "host", on=1), on=1)
        assert welcome["peers"] == [{"peer": "recorder", "role": "recorder"}]
        offer = await receive(host, within=10)
        assert offer["type"] == "description" and offer["from"] == "recorder"
        assert offer["description"]["type"] == "offer" and offer["description"]["sdp"].startswith("v=0")
        await w.token("officer", session, "officer", on=1)  # the officer takes the session
        minutes = "群众反映问题已记录。"
        await w.call("officer", f"sessions/{session}/end", {"minutes": minutes}, on=1)
        assert session not in w.hub(0).recorders  # stopped on worker 0 before the end answered
        message = await receive(host)
        while message["type"] != "minutes":  # the recorder's leaving comes first
            assert message == {"type": "peer-left", "peer": "recorder", "role": "recorder"}
            message = await receive(host)
        assert message == {"type": "minutes", "text": minutes}
        await host.close()


def _connected(snapshot: dict[str, Any], seat: str) -> bool | None:
    return next((s["connected"] for s in snapshot["seats"] if s["seat"] == seat), None)


async def _until(predicate: Callable[[], bool], within: float = 10.0) -> None:
    # A signal from another worker has no event of its own to await here: poll, bounded.
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.02)
