"""After WeChat and Weibo dialogues (shortcut, guided real-name report with media, query, follow-up,
a late reply, notifications) no openid, Weibo uid or real-name detail is anywhere in plaintext: not in
any file under the data directory (database, WAL, logs, attachments), not in any table, not in a
PostgreSQL dump."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from server.app import notifier_of
from server.config import Settings
from tests.fakes import wechat, weibo
from tests.fakes.server import start_platforms
from tests.scan import leaking_files, leaking_rows, leaks, pg_dump_async

OPENID = "oLeakProbe_OpenId_9Q7x"
UID = 5098765432
NAME, PHONE = "甄宝琮", "13912345678"
SECRETS = [OPENID, str(UID), NAME, PHONE]


async def test_no_handle_in_plaintext_anywhere(
    aiohttp_client: Any,
    aiohttp_server: Any,
    make_settings: Callable[..., Settings],
    db_url: str,
    data_dir: Path,
    file_logs: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    p = await start_platforms(aiohttp_client, aiohttp_server, make_settings, db_url, INTAKE_LOG_LEVEL="DEBUG")
    await p.wx.send(wechat.message_xml(OPENID, "event", {"Event": "subscribe", "EventKey": ""}))
    shortcut = await p.wx.text(OPENID, "举报 某镇干部违规收受礼金")
    assert shortcut is not None
    code = re.search(r"查询码：(\d{16})", shortcut)
    assert code
    await p.wx.text(OPENID, f"查询 {code.group(1)}")
    await p.wx.text(OPENID, f"补充 {code.group(1)} 还有一段录音")
    for step in ("举报", "某所长违规收费", "跳过"):
        await p.wx.text(OPENID, step)
    await p.wx.send(wechat.message_xml(OPENID, "image", {"MediaId": "MEDIA_IMG_1", "PicUrl": "x"}, 61))
    for step in ("好了", f"实名 {NAME} {PHONE}"):
        await p.wx.text(OPENID, step)
    # ... and the "确认" reply arrives late, through the customer-service API.
    from channels.wechat import views

    monkeypatch.setattr(views, "REPLY_BUDGET", 0.0)
    await p.wx.send(wechat.text_xml(OPENID, "确认", 62))
    await p.wechat_api.received.wait()
    monkeypatch.undo()

    for text in ("举报", "某科长吃拿卡要", "跳过", "好了", f"实名 {NAME} {PHONE}", "确认"):
        await p.wb.text(UID, text)
    await p.wb.send(weibo.push(UID, "event", data={"subtype": "follow"}))

    notifier = notifier_of(p.client.app)
    for report in await p.services.db.reports.recent():
        await notifier.enqueue(report.id, "您反映的问题已受理。")
    while await p.services.worker.run_once():
        pass
    assert len(p.weibo_api.sent) == 1 and len(p.wechat_api.sent) >= 3
    assert await p.services.db.reports.count() == 3

    async with p.services.db.read_engine.connect() as conn:
        assert await leaking_rows(conn, SECRETS) == []
    await p.client.close()
    logging.getLogger().handlers[-1].flush()

    files = [q for q in data_dir.rglob("*") if q.is_file()]
    log_file = data_dir / "logs" / "intake.log"
    assert log_file.stat().st_size > 0 and b"channel wechat mounted" in log_file.read_bytes()
    assert any("blobs" in q.parts for q in files)
    assert leaking_files(data_dir, SECRETS) == []
    if db_url.startswith("postgresql"):
        dump = await pg_dump_async(db_url)
        assert b"conversations" in dump and not leaks(dump, SECRETS)
