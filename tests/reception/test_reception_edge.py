"""Video reception's bodies at the edge (issue 14, defects 1, 3 and 4), on SQLite and PostgreSQL:
a recording chunk that arrives in several TCP segments is stored whole, and the JSON API refuses
deep nesting and control characters like every other route."""

from __future__ import annotations

import os

from tests.rawhttp import send_in_segments, split
from tests.reception.conftest import Reception


async def test_a_recording_chunk_in_several_segments_is_stored_whole(reception: Reception) -> None:
    r = reception
    session = (await r.book())["id"]
    await r.call("town", f"sessions/{session}/consent", {"recorded": True, "attendees": True})
    data = os.urandom(200_000)
    headers = {**r.auth("town"), "Content-Type": "application/octet-stream"}
    path = f"/reception/api/sessions/{session}/chunks/0"
    resp = await send_in_segments(r.client, path, split(data, 3), headers, pause=0.1)
    assert resp.status == 200, resp.body
    assert resp.json() == {"seq": 0, "total_bytes": 200_000}


async def test_reception_json_refuses_deep_nesting_and_control_characters(reception: Reception) -> None:
    r = reception
    deep = '{"username": ' + "[" * 1000 + "]" * 1000 + "}"
    resp = await r.client.post(
        "/reception/api/login", data=deep.encode(), headers={"Content-Type": "application/json"}
    )
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "too_deep"
    before = len((await r.call("town", "schedule"))["sessions"])
    for facts in ("反映\u0000某村书记", "反映\ud800某村书记"):
        slots = (await r.call("town", "slots?township=430121102"))["slots"]
        body = {
            "township": "430121102",
            "slot": next(s["start"] for s in slots if s["free"]),
            "facts": facts,
        }
        err = await r.call("town", "bookings", body, status=422)
        assert err["error"]["code"] == "invalid_characters"
    assert len((await r.call("town", "schedule"))["sessions"]) == before
