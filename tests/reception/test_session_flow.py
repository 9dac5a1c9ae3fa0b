"""Booking, consent, minutes, filing through the pipeline, recording, oversight."""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from intake.clock import CHINA
from intake.deadlines import default_calendar
from intake.reception.slots import SlotPlan, parse_slots
from tests.reception.conftest import CITY, COUNTY, TOWNSHIP, Reception, audit_events


def test_slots_skip_holidays_and_move_to_a_working_day() -> None:
    plan = SlotPlan(parse_slots("tue 09:00-11:30/30; thu 09:00-11:30/30"), default_calendar())
    slots = plan.slots(date(2025, 9, 29), date(2025, 10, 17))
    days = sorted({s.start.date() for s in slots})
    assert all(plan.calendar.is_working_day(d) for d in days)
    assert date(2025, 10, 2) not in days and date(2025, 10, 7) not in days  # 国庆 holidays
    moved = {s.moved_from for s in slots if s.moved_from}
    assert date(2025, 10, 2) in moved or date(2025, 10, 7) in moved
    first = [s for s in slots if s.start.date() == date(2025, 9, 30)]
    assert [s.start.strftime("%H:%M") for s in first] == ["09:00", "09:30", "10:00", "10:30", "11:00"]
    assert first[0].start.tzinfo == CHINA


async def _row(r: Reception, sql: str, **params: Any) -> Any:
    async with r.services.db.read_engine.connect() as conn:
        return (await conn.execute(sa.text(sql), params)).first()


async def test_booking_routes_by_rank_and_seals_identity(reception: Reception, data_dir: Any) -> None:
    r = reception
    # Two days ahead at least, so that both reminders are still ahead whenever the test runs (the
    # first free slot may start within the hour on a reception morning).
    ahead = r.services.clock.now() + timedelta(days=2)
    village = await r.book(after=ahead)
    assert village["host_unit"] == COUNTY and village["accused_rank"] == "村干部"
    assert village["identity_sealed"] is True and "reporter" not in village
    county_cadre = await r.book(
        after=ahead,
        accused={"name": "王某", "unit": "长沙县人民政府", "position": "副县长"},
        facts="反映长沙县副县长王某违规收受礼金。",
    )
    assert county_cadre["host_unit"] == CITY
    # The township room holds its slot: nobody books it twice. (Another township books the same
    # slot at the same county: tests/reception/test_walk_in.py.)
    taken = {"township": TOWNSHIP, "slot": village["slot"], "facts": "再约同一时段。"}
    await r.call("town", "bookings", taken, status=409)
    # Another township's staff cannot book for this township, nor see the session.
    await r.call("other", "bookings", taken, status=404)
    await r.call("other", f"sessions/{village['id']}", status=404)
    # The identity is nowhere in plaintext: not in the row, not in the database file.
    row = await _row(r, "SELECT * FROM reception_sessions WHERE township_unit = :t", t=TOWNSHIP)
    assert "李秀英" not in str(row) and "13812345678" not in str(row)
    raw = b"".join(p.read_bytes() for p in data_dir.glob("intake.db*"))  # (SQLite: the file itself)
    assert "李秀英".encode() not in raw and b"13812345678" not in raw
    # Two reminders each (the day before at 09:00, an hour before) are queued as durable jobs.
    jobs = await _row(r, "SELECT count(*) AS n FROM jobs WHERE kind = 'reception_reminder'")
    assert jobs.n == 4
    # Staff views never carry the identity.
    seen = await r.call("officer", f"sessions/{village['id']}")
    assert "李秀英" not in str(seen) and "13812345678" not in str(seen)


async def test_a_session_files_a_video_report_with_minutes_and_recording(reception: Reception) -> None:
    r = reception
    r.service.server_recording = False  # the browser's upload (the fallback)
    booked = await r.book()
    session = booked["id"]
    # No consent, no call: the township screen cannot join yet, and consent needs both boxes.
    await r.call("town", f"sessions/{session}/consent", {"recorded": True}, status=422)
    live = await r.call("town", f"sessions/{session}/consent", {"recorded": True, "attendees": True})
    assert live["status"] == "live" and len(live["attendees"]) == 3
    # Recording chunks, in order, bounded.
    chunks = [os.urandom(3000), os.urandom(2000), os.urandom(1000)]
    for seq, data in enumerate(chunks):
        resp = await r.client.post(
            f"/reception/api/sessions/{session}/chunks/{seq}", data=data, headers=r.auth("town")
        )
        assert resp.status == 200, await resp.text()
    resp = await r.client.post(
        f"/reception/api/sessions/{session}/chunks/7", data=b"x", headers=r.auth("town")
    )
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "chunk_out_of_order"
    resp = await r.client.post(
        f"/reception/api/sessions/{session}/chunks/3", data=b"x", headers=r.auth("officer")
    )
    assert resp.status == 403  # only the township screen records
    # The oversight grid shows the room (waiting: nobody connected over the WebSocket here).
    grid = await r.call("sup", "oversight")
    room = next(x for x in grid["rooms"] if x["township"] == TOWNSHIP)
    assert room["session"] == session and room["watchable"] is True
    # An officer of the receiving unit sees the sessions of the county, not the supervisors' grid.
    seen = await r.call("officer", "oversight")
    assert [x["id"] for x in seen["sessions"]] == [session] and seen["rooms"] == []
    # The officer writes the minutes and ends; the citizen confirms on the township screen.
    minutes = "群众反映：村党支部书记张某侵占土地补偿款约五万元。答复：县纪委监委将依规办理。"
    await r.call("officer", f"sessions/{session}/minutes", {"minutes": minutes[:10]})
    await r.call("town", f"sessions/{session}/end", {"minutes": minutes}, status=403)
    await r.call("officer", f"sessions/{session}/end", {"minutes": minutes})
    await r.call("officer", f"sessions/{session}/confirm", {}, status=403)
    filed = await r.call("town", f"sessions/{session}/confirm", {})
    assert filed["case_no"] and len(filed["query_code"]) == 16
    await r.call("town", f"sessions/{session}/confirm", {}, status=409)

    report = await r.services.db.reports.get(filed["case_no"])
    assert report.channel == "video" and report.status == "registered"
    assert minutes in report.content and not report.anonymous
    assert "李秀英" not in report.content
    # Registered by the officer at once, owned by the county: the walk-in visit's treatment.
    state = await r.services.db.workflow.state(report.id)
    assert state.owner_unit == COUNTY
    registered = [e for e in await audit_events(r.services, "registered") if e["report_id"] == report.id]
    assert registered and registered[0]["actor"] == "staff:officer"
    # The identity went to the vault and left the booking.
    vault = await _row(r, "SELECT count(*) AS n FROM vault_entries WHERE kind = 'identity'")
    assert vault.n == 1
    row = await _row(r, "SELECT identity_sealed, status, case_no FROM reception_sessions")
    assert row.identity_sealed is None and row.status == "filed" and row.case_no == filed["case_no"]
    # The recording is the case's attachment, chunk files gone; viewing it is audited.
    attachments = await r.services.db.workflow.attachments(report.id)
    assert [a.content_type for a in attachments] == ["video/webm"]
    resp = await r.client.get(f"/reception/api/sessions/{session}/recording", headers=r.auth("officer"))
    assert resp.status == 200 and await resp.read() == b"".join(chunks)
    resp = await r.client.get(f"/reception/api/sessions/{session}/recording", headers=r.auth("town"))
    assert resp.status == 403
    viewed = await audit_events(r.services, "reception_recording_viewed")
    assert [e["actor"] for e in viewed] == ["staff:officer"] and viewed[0]["report_id"] == report.id
    leftover = await _row(r, "SELECT count(*) AS n FROM reception_chunks")
    assert leftover.n == 0


async def test_recording_size_is_bounded(reception: Reception) -> None:
    r = reception
    r.service.max_recording = 5000
    r.service.server_recording = False
    session = (await r.book())["id"]
    await r.call("town", f"sessions/{session}/consent", {"recorded": True, "attendees": True})
    ok = await r.client.post(
        f"/reception/api/sessions/{session}/chunks/0", data=b"a" * 4000, headers=r.auth("town")
    )
    assert ok.status == 200
    over = await r.client.post(
        f"/reception/api/sessions/{session}/chunks/1", data=b"a" * 2000, headers=r.auth("town")
    )
    assert over.status == 413 and (await over.json())["error"]["code"] == "recording_too_large"


async def test_unauthenticated_and_bad_input(reception: Reception) -> None:
    r = reception
    resp = await r.client.get("/reception/api/schedule")
    assert resp.status == 401
    resp = await r.client.post("/reception/api/bookings", data="x", headers=r.auth("town"))
    assert resp.status == 415
    await r.call("town", "bookings", {"township": TOWNSHIP, "slot": "soon", "facts": "x"}, status=422)
    bad_slot = datetime(2030, 1, 1, 3, 0, tzinfo=CHINA).isoformat()
    await r.call("town", "bookings", {"township": TOWNSHIP, "slot": bad_slot, "facts": "x"}, status=422)
    await r.call("town", "sessions/not-a-uuid", status=404)
    resp = await r.client.get("/reception/room/x?as=host")
    assert resp.status == 200 and "视频接访" in await resp.text()


async def test_a_cancelled_booking_keeps_no_identity(reception: Reception) -> None:
    r = reception
    booked = await r.book()
    sealed = await _row(r, "SELECT identity_sealed FROM reception_sessions WHERE status = 'booked'")
    assert sealed.identity_sealed is not None
    await r.call("town", f"sessions/{booked['id']}/cancel", {})
    row = await _row(r, "SELECT identity_sealed, status FROM reception_sessions")
    assert row.status == "cancelled" and row.identity_sealed is None
    # Cancelling twice is refused and changes nothing.
    await r.call("town", f"sessions/{booked['id']}/cancel", {}, status=409)
