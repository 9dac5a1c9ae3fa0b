"""Telegram photos are stored whole (issue 14, defect 1): the Bot API fake serves a 1.5 MB photo in
64 KiB chunks with pauses; a body cut short or dropped mid-way stores nothing and is retried."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from channels.telegram.dialogue import MEDIA_JOB
from intake.jobs import backoff
from server.config import Settings
from tests.fakes import telegram
from tests.fakes.server import SteppedClock
from tests.fakes.slow import Fault, media_file
from tests.fakes.telegram import TelegramServer, message, photo, start_telegram

CHAT = 700100214
PHOTO = media_file(telegram.JPEG[:4], 1_500_000)


@pytest.fixture
async def tg(
    aiohttp_client: Any, aiohttp_server: Any, make_settings: Callable[..., Settings]
) -> tuple[TelegramServer, SteppedClock]:
    clock = SteppedClock()
    s = await start_telegram(aiohttp_client, aiohttp_server, make_settings, clock=clock)
    s.api.files["PHOTO_BIG"] = ("photos/big.jpg", PHOTO)
    return s, clock


async def run_jobs(s: TelegramServer) -> None:
    while await s.services.worker.run_once():
        pass


async def file_with_photo(s: TelegramServer) -> list[tuple[str, int, str]]:
    for text in ("我要举报", "某所长违规收取办证费", "城关派出所 张所长"):
        await s.tg.say(CHAT, text)
    assert "第 1 份" in (await s.tg.send(message(CHAT, photo=photo("PHOTO_BIG"))))[0]
    for text in ("好了", "匿名举报", "确认提交"):
        await s.tg.say(CHAT, text)
    return await stored(s)


async def stored(s: TelegramServer) -> list[tuple[str, int, str]]:
    """(type, size, SHA-256) of each attachment of the one report, decrypted through the blob store."""
    report = (await s.services.db.reports.recent())[0]
    atts = await s.services.db.conversations.attachments_of(report.id)
    return [
        (kind, size, hashlib.sha256(s.services.db.blobs.get(blob_id).data).hexdigest())
        for blob_id, kind, size in atts
    ]


WHOLE = ("image/jpeg", len(PHOTO), hashlib.sha256(PHOTO).hexdigest())


async def test_a_large_photo_is_stored_whole(tg: tuple[TelegramServer, SteppedClock]) -> None:
    s, _ = tg
    assert await file_with_photo(s) == []
    await run_jobs(s)
    assert await stored(s) == [WHOLE]


async def test_a_photo_cut_short_or_dropped_is_retried_until_whole(
    tg: tuple[TelegramServer, SteppedClock],
) -> None:
    s, clock = tg
    faults: list[Fault] = ["short", "drop"]
    s.api.faults = list(faults)
    await file_with_photo(s)
    await run_jobs(s)
    for attempt, _ in enumerate(faults, start=1):
        assert len(s.api.downloads) == attempt and await stored(s) == []
        async with s.services.db.read_engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.text("SELECT status, attempts, last_error FROM jobs WHERE kind = :k"), {"k": MEDIA_JOB}
                )
            ).one()
        assert tuple(row) == ("pending", attempt, "DownloadError")
        clock.advance(seconds=backoff(attempt).total_seconds() + 1)
        await run_jobs(s)
    assert len(s.api.downloads) == len(faults) + 1 and await stored(s) == [WHOLE]
