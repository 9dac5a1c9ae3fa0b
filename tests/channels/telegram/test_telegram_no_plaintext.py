"""After Telegram dialogues (start, a report at once, a query, an added fact, a guided real-name
report with a photo and the shared contact, a notification) no chat id and no real-name detail is
anywhere in plaintext: not in any file under the data directory (database, WAL, logs at DEBUG,
attachments), not in any table, not in a PostgreSQL dump."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from intake.notifier import CaseEvent
from server.config import Settings
from tests.fakes.telegram import message, photo, start_telegram
from tests.scan import leaking_files, leaking_rows, leaks, pg_dump_async

CHAT = 6912345678
NAME_FIRST, NAME_LAST, PHONE = "甄", "宝琮", "13912345678"
SECRETS = [str(CHAT), NAME_FIRST + " " + NAME_LAST, NAME_LAST, PHONE]


async def test_no_chat_id_in_plaintext_anywhere(
    aiohttp_client: Any,
    aiohttp_server: Any,
    make_settings: Callable[..., Settings],
    db_url: str,
    data_dir: Path,
    file_logs: None,
) -> None:
    s = await start_telegram(aiohttp_client, aiohttp_server, make_settings, db_url, INTAKE_LOG_LEVEL="DEBUG")
    await s.tg.say(CHAT, "/start")
    receipt = await s.tg.say(CHAT, "/report 某镇干部违规收受礼金")
    code = re.search(r"查询码：(\d{16})", receipt).group(1)  # type: ignore[union-attr]
    await s.tg.say(CHAT, f"/status {code}")
    await s.tg.say(CHAT, f"/add {code} 还有一段录音")
    for text in ("我要举报", "某所长违规收费", "跳过"):
        await s.tg.say(CHAT, text)
    await s.tg.send(message(CHAT, photo=photo()))
    for text in ("好了", "实名举报"):
        await s.tg.say(CHAT, text)
    contact = {
        "phone_number": "86" + PHONE,
        "first_name": NAME_FIRST,
        "last_name": NAME_LAST,
        "user_id": CHAT,
    }
    assert "查询码" in (await s.tg.send(message(CHAT, contact=contact)))[0]

    for report in await s.services.db.reports.recent():
        await s.services.notifier.case_updated(report.id, CaseEvent("status_changed", status="accepted"))
    while await s.services.worker.run_once():
        pass
    assert await s.services.db.reports.count() == 2
    assert len([m for m in s.api.texts(CHAT) if "办理状态已更新" in m]) == 2

    async with s.services.db.read_engine.connect() as conn:
        assert await leaking_rows(conn, SECRETS) == []
    await s.client.close()
    logging.getLogger().handlers[-1].flush()

    files = [q for q in data_dir.rglob("*") if q.is_file()]
    log_file = data_dir / "logs" / "intake.log"
    assert b"channel telegram mounted" in log_file.read_bytes()
    assert any("blobs" in q.parts for q in files)
    assert leaking_files(data_dir, SECRETS) == []
    if db_url.startswith("postgresql"):
        dump = await pg_dump_async(db_url)
        assert b"conversations" in dump and not leaks(dump, SECRETS)
