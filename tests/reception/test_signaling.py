"""Rooms and signaling: tokens checked, relay between two aiortc peers, reconnects, vanishing peers."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from aiohttp import WSMsgType

from intake.reception.tokens import RoomTokens
from server.app import services_of
from tests.reception.conftest import (
    AiortcPeer,
    Reception,
    audit_events,
    join,
    loopback_only,
    receive,
    sign_in,
)
from video_reception import RECEPTION


async def _live_session(r: Reception) -> str:
    booked = await r.book()
    await r.call("town", f"sessions/{booked['id']}/consent", {"recorded": True, "attendees": True})
    return str(booked["id"])


async def test_wrong_expired_and_foreign_tokens_cannot_join(reception: Reception) -> None:
    r = reception
    session = await _live_session(r)
    good = await r.token("officer", session, "officer")
    other = await _live_session_for_other_slot(r)
    cases = {
        "bad_signature": good[:-2] + ("aa" if not good.endswith("aa") else "bb"),
        "malformed": "not-a-token-at-all",
        "wrong_room": await r.token("officer", other, "officer"),
    }
    # Expired: issued by the same signer, an hour in the past.
    tokens = RoomTokens(r.services.pipeline.mac, 600)
    expired, _ = tokens.issue(session, "officer", "officer", r.services.clock.now() - timedelta(hours=1))
    cases["expired"] = expired
    for reason, token in cases.items():
        ws, first = await join(r.client, session, token)
        assert first == {"type": "refused", "reason": reason}
        closing = await ws.receive()
        assert closing.type in (WSMsgType.CLOSE, WSMsgType.CLOSED) and ws.close_code == 4401
    assert r.service.hub.refused == 4
    assert session not in r.service.hub.rooms


async def test_no_join_message_within_the_join_timeout_is_refused(reception: Reception) -> None:
    """A connection that never says who it is gets ``no_join`` once the join timeout has passed
    (a short one here: the hub's timeout is configurable), and takes no seat."""
    r = reception
    session = await _live_session(r)
    hub = r.service.hub
    assert hub.join_timeout == 5.0  # the default
    hub.join_timeout = 0.05
    silent = await r.client.ws_connect(f"/reception/ws/{session}")
    assert await receive(silent) == {"type": "refused", "reason": "no_join"}
    closing = await silent.receive()
    assert closing.type in (WSMsgType.CLOSE, WSMsgType.CLOSED) and silent.close_code == 4401
    # Something other than a join message in time is refused the same way.
    hub.join_timeout = 5.0
    chatty = await r.client.ws_connect(f"/reception/ws/{session}")
    await chatty.send_json({"type": "ping", "t": 1})
    assert await receive(chatty) == {"type": "refused", "reason": "no_join"}
    assert hub.refused == 2
    assert session not in hub.rooms
    # And a join in time still gets in.
    ws, welcome = await join(r.client, session, await r.token("officer", session, "officer"))
    assert welcome["type"] == "welcome"
    await ws.close()


async def _closed_and_dropped(r: Reception, ws: Any) -> None:
    """Close ``ws`` and wait until the hub has handled the drop (an awaited event, no sleep)."""
    hub = r.service.hub
    dropped = asyncio.Event()
    original = hub._dropped

    async def spy(room: Any, seat: Any, closed: Any) -> None:
        await original(room, seat, closed)
        dropped.set()

    hub._dropped = spy  # type: ignore[method-assign]
    try:
        await ws.close()
        async with asyncio.timeout(10):
            await dropped.wait()
    finally:
        del hub._dropped  # the class's method again


async def _live_session_for_other_slot(r: Reception) -> str:
    return await _live_session(r)


async def test_staff_outside_the_session_get_no_token(reception: Reception) -> None:
    r = reception
    session = (await r.book())["id"]
    # The township cannot take the officer's seat, another township sees no session at all,
    # and the host cannot join before the citizen's consent.
    await r.call("town", f"sessions/{session}/token", {"role": "officer"}, status=403)
    await r.call("other", f"sessions/{session}/token", {"role": "host"}, status=404)
    await r.call("town", f"sessions/{session}/token", {"role": "host"}, status=409)
    await r.call("sup", f"sessions/{session}/token", {"role": "supervisor"})


async def test_relay_reconnect_and_vanishing_peer(reception: Reception) -> None:
    r = reception
    session = await _live_session(r)
    host, welcome = await join(r.client, session, await r.token("town", session, "host"))
    assert welcome == {"type": "welcome", "you": "host", "peers": [], "resumed": False}
    officer_token = await r.token("officer", session, "officer")
    officer, welcome = await join(r.client, session, officer_token)
    assert welcome["peers"] == [{"peer": "host", "role": "host"}]
    assert await receive(host) == {"type": "peer-joined", "peer": "officer", "role": "officer"}
    assert r.service.hub.snapshot(session)["state"] == "in_session"

    # Relay: only to the seat named, with the sender filled in by the server.
    await host.send_json(
        {"type": "description", "to": "officer", "description": {"type": "offer", "sdp": "x"}}
    )
    assert await receive(officer) == {
        "type": "description",
        "from": "host",
        "description": {"type": "offer", "sdp": "x"},
    }
    await officer.send_json({"type": "candidate", "to": "host", "candidate": {"candidate": "c"}})
    assert await receive(host) == {"type": "candidate", "from": "officer", "candidate": {"candidate": "c"}}
    # Bad JSON, unknown types, notes from a non-supervisor, bad or oversized descriptions and
    # candidates, seats that are not there: refused to the sender alone; the room goes on.
    refusals = {
        "{not json": "bad_json",
        '{"type": "hello"}': "unknown_type",
        '{"type": "note", "text": "hi"}': "not_allowed",
        '{"type": "description", "to": "host", "description": "x"}': "bad_description",
        '{"type": "description", "to": "host", "description": {"sdp": 5}}': "bad_description",
        '{"type": "candidate", "to": "host", "candidate": [1]}': "bad_candidate",
        '{"type": "candidate", "to": "nobody", "candidate": null}': "unknown_peer",
        '{"type": "candidate", "to": "officer", "candidate": null}': "unknown_peer",  # itself
    }
    big = {"type": "offer", "sdp": "v=0\r\n" + "a=x\r\n" * 8000}
    for raw, reason in refusals.items():
        await officer.send_str(raw)
        assert await receive(officer) == {"type": "error", "reason": reason}, raw
    await officer.send_json({"type": "description", "to": "host", "description": big})
    assert await receive(officer) == {"type": "error", "reason": "sdp_too_large"}
    await officer.send_json({"type": "ping", "t": 1})
    assert await receive(officer) == {"type": "pong", "t": 1}
    assert r.service.hub.refused_messages == len(refusals) + 1
    # The host heard none of it: its next message is the pong to its own ping.
    await host.send_json({"type": "ping", "t": 0})
    assert await receive(host) == {"type": "pong", "t": 0}

    # The officer's network drops: the seat is kept, the host hears nothing, the officer resumes.
    await _closed_and_dropped(r, officer)
    assert r.service.hub.rooms[session].seats["officer"].ws is None
    # The spent token is refused (a copy of it cannot take the seat); a fresh one resumes it.
    replay, refused = await join(r.client, session, officer_token)
    assert refused == {"type": "refused", "reason": "reused"}
    await replay.close()
    officer, welcome = await join(r.client, session, await r.token("officer", session, "officer"))
    assert welcome["resumed"] is True
    assert await receive(host) == {"type": "peer-resumed", "peer": "officer", "role": "officer"}

    # The officer vanishes for good: after the grace period (1 s here) the host hears peer-left,
    # and the room goes on serving the host.
    await officer.close()
    left = await receive(host, within=5)
    assert left == {"type": "peer-left", "peer": "officer", "role": "officer"}
    await host.send_json({"type": "ping", "t": 2})
    assert await receive(host) == {"type": "pong", "t": 2}
    assert r.service.hub.snapshot(session)["state"] == "waiting"
    await host.close()


async def test_supervisor_note_reaches_the_officer_only(reception: Reception) -> None:
    r = reception
    session = await _live_session(r)
    host, _ = await join(r.client, session, await r.token("town", session, "host"))
    officer, _ = await join(r.client, session, await r.token("officer", session, "officer"))
    await receive(host)  # peer-joined officer
    sup, welcome = await join(r.client, session, await r.token("sup", session, "supervisor"))
    assert welcome["you"] == "supervisor-sup"
    await receive(host)
    await receive(officer)
    await sup.send_json({"type": "note", "text": "请询问具体金额"})
    assert await receive(officer) == {"type": "note", "from": "supervisor-sup", "text": "请询问具体金额"}
    await host.send_json({"type": "ping", "t": 3})
    assert await receive(host) == {"type": "pong", "t": 3}  # the note never reached the host
    for ws in (host, officer, sup):
        await ws.close()
    notes = await audit_events(r.services, "reception_note")
    assert [e["payload"]["chars"] for e in notes] == [len("请询问具体金额")]
    assert "请询问" not in str(notes)  # the note's text is not kept in the audit trail
    assert len(await audit_events(r.services, "reception_watch")) == 1


async def test_two_aiortc_peers_connect_through_our_signaling(live_server: tuple[str, Any]) -> None:
    loopback_only()
    url, app = live_server
    services = services_of(app)
    tokens = await sign_in(services)
    r = Reception(client=None, tokens=tokens)  # type: ignore[arg-type]
    from aiohttp import ClientSession

    async with ClientSession(url) as http:

        async def call(who: str, path: str, body: Any = None) -> Any:
            headers = r.auth(who)
            if body is None:
                async with http.get(f"/reception/api/{path}", headers=headers) as resp:
                    return await resp.json()
            async with http.post(f"/reception/api/{path}", json=body, headers=headers) as resp:
                return await resp.json()

        slots = (await call("town", "slots?township=430121102"))["slots"]
        booked = await call(
            "town",
            "bookings",
            {"township": "430121102", "slot": slots[0]["start"], "facts": "村干部侵占补偿款。"},
        )
        session = booked["id"]
        await call("town", f"sessions/{session}/consent", {"recorded": True, "attendees": True})
        host = AiortcPeer(
            url, session, (await call("town", f"sessions/{session}/token", {"role": "host"}))["token"]
        )
        officer = AiortcPeer(
            url, session, (await call("officer", f"sessions/{session}/token", {"role": "officer"}))["token"]
        )
        try:
            await host.connect()
            await officer.connect()
            await host.wait(
                lambda: host.state("officer") == "connected" and officer.state("host") == "connected"
            )
            await officer.wait(lambda: officer.frames > 0 and host.frames > 0)
            grid = await call("sup", "oversight")
            room = next(x for x in grid["rooms"] if x["township"] == "430121102")
            assert room["state"] == "in_session" and room["session"] == session
        finally:
            await host.close()
            await officer.close()
    assert app[RECEPTION].service.hub.refused == 0
