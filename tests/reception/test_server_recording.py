"""Issue 20 §3: the server records both sides. Two aiortc peers (the township screen and the county
officer, each a synthetic camera and a sine-tone microphone) call over loopback; the server's
recording seat joins the room through the same signaling; the officer's peer then vanishes
mid-session. The case gets one WebM per side, and PyAV finds video and audio frames in each."""

from __future__ import annotations

import io
from typing import Any

import av
import sqlalchemy as sa
from aiohttp import ClientSession, web

from server.app import services_of
from tests.reception.conftest import AiortcPeer, Reception, loopback_only, sign_in
from video_reception import RECEPTION


def _streams(data: bytes) -> dict[str, int]:
    """Frames PyAV decodes from a recording, per kind of stream."""
    counts: dict[str, int] = {}
    container: Any
    with av.open(io.BytesIO(data)) as container:
        for stream in container.streams:
            counts.setdefault(stream.type, 0)
        for frame in container.decode(*container.streams):
            kind = "video" if isinstance(frame, av.VideoFrame) else "audio"
            counts[kind] += 1
    return counts


async def test_both_sides_recorded_by_the_server_and_kept_when_a_peer_vanishes(
    recording_server: tuple[str, web.Application],
) -> None:
    loopback_only()
    url, app = recording_server
    services = services_of(app)
    service = app[RECEPTION].service
    assert service is not None
    hub = service.hub
    r = Reception(client=None, tokens=await sign_in(services))  # type: ignore[arg-type]
    async with ClientSession(url) as http:

        async def call(who: str, path: str, body: Any = None, status: int = 200) -> Any:
            async with http.post(f"/reception/api/{path}", json=body, headers=r.auth(who)) as resp:
                doc = await resp.json()
                assert resp.status == status, doc
                return doc

        session = (await call("town", "sessions", {"unit": "430121102", "walk_in": True}, 201))["id"]
        await call("town", f"sessions/{session}/consent", {"recorded": True, "attendees": True})
        assert session in hub.recorders  # the recording seat sits in the room from the consent
        # The browser's own upload is refused: the server records.
        async with http.post(
            f"/reception/api/sessions/{session}/chunks/0", data=b"x", headers=r.auth("town")
        ) as resp:
            assert resp.status == 409 and (await resp.json())["error"]["code"] == "server_recording"
        grant = await call("town", f"sessions/{session}/token", {"role": "host"})
        assert grant["server_recording"] is True
        host = AiortcPeer(url, session, grant["token"], audio=True)
        token = (await call("officer", f"sessions/{session}/token", {"role": "officer"}))["token"]
        officer = AiortcPeer(url, session, token, audio=True)
        recorder = hub.recorders[session]
        try:
            await host.connect()
            await officer.connect()
            await host.wait(lambda: host.state("officer") == "connected" and officer.frames > 0)

            def recorded(part: str, frames: int) -> bool:
                found = recorder.recordings.get(part)
                return found is not None and found.frames >= frames

            await host.wait(lambda: recorded("host", 40) and recorded("officer", 40), within=30)
            # The officer's peer vanishes: after the grace period its part is closed and stored.
            await officer.drop()
            await host.wait(lambda: "officer" not in recorder.recordings, within=15)
            minutes = "群众反映：村干部侵占补偿款。答复：依规办理。"
            await call("officer", f"sessions/{session}/end", {"minutes": minutes})
            assert session not in hub.recorders  # ended: the recorder left, everything stored
            filed = await call("town", f"sessions/{session}/confirm", {})
        finally:
            await host.close()
            await officer.close()

    report = await services.db.reports.get(filed["case_no"])
    assert report is not None
    attachments = await services.db.workflow.attachments(report.id)
    assert [a.content_type for a in attachments] == ["video/webm", "video/webm"]  # one per side
    for a in attachments:
        blob = services.db.blobs.get(a.id)
        assert blob.data[:4] == b"\x1a\x45\xdf\xa3"  # EBML: WebM
        counts = _streams(blob.data)
        assert counts.get("video", 0) >= 10 and counts.get("audio", 0) >= 10, counts
    # The chunks were encrypted blob files, gone once attached; the plaintext never on disk.
    async with services.db.read_engine.connect() as conn:
        left = (await conn.execute(sa.text("SELECT count(*) FROM reception_chunks"))).scalar()
    assert left == 0
