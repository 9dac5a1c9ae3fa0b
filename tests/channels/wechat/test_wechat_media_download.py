"""WeChat images and voice messages are stored whole (issue 14, defect 1).

The fake API serves a 1.5 MB picture and a one-minute voice message (96 KB of AMR) in 64 KiB
chunks with pauses, as a network delivers them; the old download read once and kept the first
chunk. The stored attachments, decrypted, must equal what was served byte for byte; a body cut
short or dropped mid-way stores nothing and is retried until a whole one arrives."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from channels.wechat.views import MEDIA_JOB
from intake.jobs import backoff
from server.config import Settings
from tests.fakes import wechat
from tests.fakes.server import Platforms, SteppedClock, receipt_of, start_platforms
from tests.fakes.slow import CHUNK, Fault, media_file

OPENID = "oWx_TestOpenId_0014"
PICTURE = media_file(wechat.PNG[:8], 1_500_000)
VOICE = media_file(wechat.AMR[:6], 96_000)  # AMR-NB at 12.2 kbit/s: about a minute


@pytest.fixture
async def wx(
    aiohttp_client: Any, aiohttp_server: Any, make_settings: Callable[..., Settings], data_dir: Path
) -> tuple[Platforms, SteppedClock]:
    clock = SteppedClock()
    url = f"sqlite+aiosqlite:///{data_dir / 'intake.db'}"
    return await start_platforms(aiohttp_client, aiohttp_server, make_settings, url, clock=clock), clock


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def run_jobs(p: Platforms) -> None:
    while await p.services.worker.run_once():
        pass


async def stored(p: Platforms, report_id: uuid.UUID) -> list[tuple[str, int, str]]:
    """(type, size, SHA-256) of each attachment of the report, decrypted through the blob store."""
    atts = await p.services.db.conversations.attachments_of(report_id)
    return [(kind, size, digest(p.services.db.blobs.get(blob_id).data)) for blob_id, kind, size in atts]


async def file_with_media(p: Platforms, *, voice: bool) -> uuid.UUID:
    """The guided dialogue with a picture (and, if ``voice``, a voice message that carries the
    account through WeChat's recognition); the media are fetched by jobs after filing."""
    assert "发生了什么" in (await p.wx.text(OPENID, "举报") or "")
    if voice:
        fields = {"MediaId": "VOICE_LONG", "Format": "amr", "Recognition": "某局长违规公款吃喝"}
        await p.wx.send(wechat.message_xml(OPENID, "voice", fields, 14001))
    else:
        await p.wx.text(OPENID, "某局长违规公款吃喝")
    await p.wx.text(OPENID, "跳过")
    _, reply = await p.wx.send(
        wechat.message_xml(OPENID, "image", {"PicUrl": "http://x/y.png", "MediaId": "IMG_LARGE"}, 14002)
    )
    assert reply is not None and f"第 {2 if voice else 1} 份" in reply  # the voice is the first
    await p.wx.text(OPENID, "好了")
    await p.wx.text(OPENID, "匿名")
    report = await p.services.db.reports.get(receipt_of(await p.wx.text(OPENID, "确认"))[0])
    assert report is not None and "公款吃喝" in report.content
    return report.id


async def test_a_large_picture_and_a_voice_message_are_stored_whole(
    wx: tuple[Platforms, SteppedClock],
) -> None:
    p, _ = wx
    p.wechat_api.media |= {"IMG_LARGE": (PICTURE, "image/png"), "VOICE_LONG": (VOICE, "audio/amr")}
    assert min(len(PICTURE), len(VOICE)) > CHUNK  # more than one chunk, each followed by a pause
    rid = await file_with_media(p, voice=True)
    await run_jobs(p)
    assert sorted(await stored(p, rid)) == sorted(
        [("image/png", len(PICTURE), digest(PICTURE)), ("audio/amr", len(VOICE), digest(VOICE))]
    )


async def test_a_picture_cut_short_or_dropped_is_retried_until_whole(
    wx: tuple[Platforms, SteppedClock],
) -> None:
    p, clock = wx
    p.wechat_api.media["IMG_LARGE"] = (PICTURE, "image/png")
    faults: list[Fault] = ["short", "drop"]
    p.wechat_api.faults = list(faults)
    rid = await file_with_media(p, voice=False)
    await run_jobs(p)
    for attempt, _ in enumerate(faults, start=1):
        assert len(p.wechat_api.downloads) == attempt and await stored(p, rid) == []
        async with p.services.db.read_engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.text("SELECT status, attempts, last_error FROM jobs WHERE kind = :k"), {"k": MEDIA_JOB}
                )
            ).one()
        assert tuple(row) == ("pending", attempt, "DownloadError")
        clock.advance(seconds=backoff(attempt).total_seconds() + 1)
        await run_jobs(p)
    assert len(p.wechat_api.downloads) == len(faults) + 1
    assert await stored(p, rid) == [("image/png", len(PICTURE), digest(PICTURE))]
