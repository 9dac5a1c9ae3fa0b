"""Issue 20: walk-in sessions opened now, every township of the county in session at once, the
county's officers as a pool (one joins), the oversight list and grid with who sits where, the
upcoming bookings per day and unit, and one sign-on with the console."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from intake.staff import totp_now
from tests.reception.conftest import (
    COUNTY,
    PASSWORD,
    TOWNSHIP,
    Reception,
    audit_events,
    join,
    receive,
)


def _townships(r: Reception) -> list[str]:
    tree = r.service.tree
    return [c for c in tree.descendants(COUNTY) if tree.units[c].level == "township"]


async def test_a_walk_in_opens_now_and_alerts_the_county(reception: Reception) -> None:
    r = reception
    opened = await r.walk_in()
    assert set(opened) >= {"id", "status"} and opened["status"] == "booked" and opened["walk_in"]
    assert opened["host_unit"] == COUNTY
    # The county's officers are alerted: an audit event, and the session waits in their list.
    alerts = await audit_events(r.services, "reception_walk_in_alert")
    assert [a["payload"]["session"] for a in alerts] == [opened["id"]]
    assert alerts[0]["payload"]["host_unit"] == COUNTY and alerts[0]["actor"] == "staff:town"
    seen = await r.call("officer", "oversight")
    (waiting,) = seen["sessions"]
    assert waiting["id"] == opened["id"] and waiting["waiting"] is True
    assert waiting["unit"] == TOWNSHIP and waiting["unit_name"] == "黄兴镇纪委"
    assert "officer" in waiting["roles"]
    # The township room is busy: a second walk-in there is refused, changing nothing.
    resp = await r.client.post(
        "/reception/api/sessions", json={"unit": TOWNSHIP, "walk_in": True}, headers=r.auth("town")
    )
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "room_busy"
    assert len((await r.call("sup", "oversight"))["sessions"]) == 1
    # Consent, then the call; the citizen's facts come with the minutes.
    await r.call("town", f"sessions/{opened['id']}/consent", {"recorded": True, "attendees": True})
    live = (await r.call("officer", "oversight"))["sessions"][0]
    assert live["status"] == "live"


async def test_who_may_open_a_walk_in(reception: Reception) -> None:
    r = reception
    body = {"unit": TOWNSHIP, "walk_in": True}
    resp = await r.client.post("/reception/api/sessions", json=body)
    assert resp.status == 401
    await r.call("other", "sessions", body, status=404)  # another township's staff
    await r.call("town", "sessions", {"unit": TOWNSHIP}, status=422)  # not a walk-in
    await r.call("town", "sessions", {"unit": TOWNSHIP, "walk_in": "yes"}, status=422)
    await r.call("town", "sessions", {"unit": COUNTY, "walk_in": True}, status=404)  # not a room
    assert (await r.call("sup", "oversight"))["sessions"] == []
    # County staff open one for a township below them.
    opened = await r.walk_in("officer")
    assert opened["township"] == TOWNSHIP
    # The other township's staff see nothing of it.
    assert (await r.call("other", "oversight"))["sessions"] == []
    await r.call("other", f"sessions/{opened['id']}", status=404)


async def test_every_township_in_session_at_once(reception: Reception) -> None:
    r = reception
    townships = _townships(r)
    assert len(townships) >= 10
    opened = {t: (await r.walk_in("sup", t))["id"] for t in townships}
    seen = await r.call("sup", "oversight")
    assert {s["unit"]: s["id"] for s in seen["sessions"]} == opened
    grid = {room["township"]: room for room in seen["rooms"]}
    assert all(grid[t]["session"] == opened[t] and grid[t]["walk_in"] for t in townships)
    # Each room has its own signaling: the host and an officer in two rooms at once.
    a, b = townships[0], townships[1]
    sockets = []
    for t in (a, b):
        host, first = await join(r.client, opened[t], await r.token("sup", opened[t], "supervisor"))
        assert first["type"] == "welcome"
        sockets.append(host)
    officer_ws, welcome = await join(r.client, opened[a], await r.token("officer", opened[a], "officer"))
    assert [p["role"] for p in welcome["peers"]] == ["supervisor"]
    room = next(x for x in (await r.call("sup", "oversight"))["rooms"] if x["township"] == a)
    seats = {s["role"]: s for s in room["seats"]}
    assert seats["officer"]["who"] == "officer" and seats["supervisor"]["who"] == "sup"
    assert seats["officer"]["connected"] and isinstance(seats["officer"]["seconds"], int)
    for ws in [*sockets, officer_ws]:
        await ws.close()


async def test_townships_book_the_same_slot_at_the_same_county(reception: Reception) -> None:
    r = reception
    first = await r.book()
    slots = (await r.call("sup", "slots?township=430121104"))["slots"]
    at = datetime.fromisoformat(first["slot"])
    same = next(s for s in slots if datetime.fromisoformat(s["start"]) == at)
    assert same["free"] is True  # the other township's room is free then
    body = {"township": "430121104", "slot": first["slot"], "facts": "反映某村主任侵占低保金。"}
    second = await r.call("other", "bookings", body, status=201)
    assert second["host_unit"] == first["host_unit"] == COUNTY
    # Upcoming bookings, per day and unit, for the county.
    days = (await r.call("sup", "upcoming"))["days"]
    (day,) = [d for d in days if d["day"] == first["day"]]
    names = {u["unit_name"]: [s["id"] for s in u["sessions"]] for u in day["units"]}
    assert names["黄兴镇纪委"] == [first["id"]] and any(second["id"] in ids for ids in names.values())
    # The township sees its own only.
    mine = (await r.call("town", "upcoming"))["days"]
    assert [s["id"] for d in mine for u in d["units"] for s in u["sessions"]] == [first["id"]]


async def test_one_officer_of_the_pool_joins(reception: Reception) -> None:
    r = reception
    opened = await r.walk_in()
    session = opened["id"]
    await r.call("town", f"sessions/{session}/consent", {"recorded": True, "attendees": True})
    await r.token("officer", session, "officer")
    await r.token("officer", session, "officer")  # the same officer again (a reconnect)
    resp = await r.client.post(
        f"/reception/api/sessions/{session}/token", json={"role": "officer"}, headers=r.auth("officer2")
    )
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "officer_taken"
    assert "其他接访人员" in (await resp.json())["error"]["message"]
    await r.call("officer2", f"sessions/{session}/end", {"minutes": "笔录"}, status=409)
    joined = await audit_events(r.services, "reception_officer_joined")
    assert [e["payload"]["officer"] for e in joined] == ["officer"]
    row = (await r.call("sup", "oversight"))["sessions"][0]
    assert row["officer"] == "officer"
    # A supervisor joins any room in scope.
    await r.token("sup", session, "supervisor")


async def test_one_sign_on_from_the_console(reception: Reception) -> None:
    r = reception
    _, secret = await r.services.staff.add("desk", TOWNSHIP, "registrar", PASSWORD)
    client = r.client
    client.session.cookie_jar.clear()
    page = await (await client.get("/console/login")).text()
    csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
    assert csrf
    resp = await client.post(
        "/console/login",
        data={
            "csrf": csrf.group(1),
            "username": "desk",
            "password": PASSWORD,
            "totp": totp_now(secret, r.services.clock.now()),
        },
        allow_redirects=False,
    )
    assert resp.status == 303, await resp.text()
    # No second login: the reception API knows the console's session.
    me = await client.get("/reception/api/me")
    assert me.status == 200 and (await me.json())["username"] == "desk"
    opened = await client.post("/reception/api/sessions", json={"unit": TOWNSHIP, "walk_in": True})
    assert opened.status == 201
    # Signing out at the reception ends the console's session too (one token).
    out = await client.post("/reception/api/logout", json={})
    assert out.status == 200
    queue = await client.get("/console/queue", allow_redirects=False)
    assert queue.status in (302, 303, 401)
    assert (await client.get("/reception/api/me")).status == 401


async def test_the_oversight_seats_show_a_live_room(reception: Reception) -> None:
    r = reception
    session = (await r.walk_in())["id"]
    await r.call("town", f"sessions/{session}/consent", {"recorded": True, "attendees": True})
    host, _ = await join(r.client, session, await r.token("town", session, "host"))
    officer, _ = await join(r.client, session, await r.token("officer", session, "officer"))
    assert (await receive(host))["type"] == "peer-joined"
    doc: dict[str, Any] = await r.call("sup", "oversight")
    (live,) = doc["sessions"]
    assert live["state"] == "in_session" and live["waiting"] is False
    assert {s["role"] for s in live["seats"]} == {"host", "officer"}
    room = next(x for x in doc["rooms"] if x["township"] == TOWNSHIP)
    assert room["state"] == "in_session" and room["state_label"] == "接访中"
    await host.close()
    await officer.close()


async def test_a_room_outside_the_subtree_is_refused(two_counties: Reception) -> None:
    """A supervisor of another county of the city, with a valid account and a forged request,
    gets no token for a room of this county, nor a seat with a token of their own room."""
    r = two_counties
    tree = r.service.tree
    other = next(c for c in tree.descendants("4301") if tree.units[c].level == "county" and c != COUNTY)
    _, secret = await r.services.staff.add("farsup", other, "supervisor", PASSWORD)
    token, _, _ = await r.services.staff.login(
        "farsup", PASSWORD, totp_now(secret, r.services.clock.now()), client="test"
    )
    r.tokens["farsup"] = token
    session = (await r.walk_in())["id"]
    await r.call("town", f"sessions/{session}/consent", {"recorded": True, "attendees": True})
    for role in ("supervisor", "officer", "host"):
        err = await r.call("farsup", f"sessions/{session}/token", {"role": role}, status=404)
        assert err["error"]["code"] == "session_not_found"
    assert (await r.call("farsup", "oversight"))["sessions"] == []
    far_room = next(c for c in tree.descendants(other) if tree.units[c].level == "township")
    far = (await r.walk_in("farsup", far_room))["id"]
    await r.call("farsup", f"sessions/{far}/consent", {"recorded": True, "attendees": True}, status=403)
    # The other county's own room token does not open this county's room.
    ws, refused = await join(r.client, session, await r.token("farsup", far, "supervisor"))
    assert refused == {"type": "refused", "reason": "wrong_room"}
    await ws.close()
