"""Long-polling mode (``INTAKE_TELEGRAM_MODE=polling``): the server pulls updates from the fake
Bot API with ``getUpdates`` instead of being called, and answers through the same dialogue."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from server.config import Settings
from tests.fakes.telegram import message, start_telegram

CHAT = 700300400


async def test_polling_files_queries_and_adds_without_a_webhook(
    aiohttp_client: Any, aiohttp_server: Any, make_settings: Callable[..., Settings]
) -> None:
    s = await start_telegram(
        aiohttp_client,
        aiohttp_server,
        make_settings,
        INTAKE_TELEGRAM_MODE="polling",
        INTAKE_TELEGRAM_POLL_TIMEOUT="1",
    )
    report = message(CHAT, text="/report 某乡镇干部截留惠农补贴")
    s.api.push(report)
    await s.api.wait_for(1)
    receipt = s.api.texts(CHAT)[0]
    code = re.search(r"查询码：(\d{16})", receipt).group(1)  # type: ignore[union-attr]
    case_no = re.search(r"案件编号：(\S+)", receipt).group(1)  # type: ignore[union-attr]

    s.api.push(message(CHAT, text=f"/status {code}"))
    s.api.push(message(CHAT, text=f"/add {code} 涉及三个村"))
    await s.api.wait_for(3)
    assert f"案件编号：{case_no}" in s.api.texts(CHAT)[1]
    assert s.api.texts(CHAT)[2] == f"补充内容已收到，已附入案件 {case_no}。"

    s.api.push(message(CHAT, text="/help"))
    await s.api.wait_for(4)
    assert len(s.api.texts(CHAT)) == 4
    assert "deletewebhook" in s.api.calls and "getupdates" in s.api.calls
    assert s.api.webhooks == []  # polling never sets a webhook
    async with s.services.db.read_engine.connect() as conn:
        assert (await conn.execute(sa.text("SELECT count(*) FROM reports"))).scalar_one() == 1
    found = await s.services.pipeline.status(code, "test")
    assert found.followups == 1
