"""After Telegram dialogues (start, a report at once, a query, an added fact, a guided real-name
report with a photo and the shared contact, a notification) no chat id and no real-name detail is
anywhere in plaintext: not in any file under the data directory (database, WAL, logs at DEBUG,
attachments), not in any table, not in a PostgreSQL dump."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from intake import logs
from intake.config import Settings
from intake.notifier import CaseEvent
from storage.models import Base
from tests.fakes.telegram import message, photo, start_telegram

CHAT = 6912345678
NAME_FIRST, NAME_LAST, PHONE = "甄", "宝琮", "13912345678"
SECRETS = [str(CHAT), NAME_FIRST + " " + NAME_LAST, NAME_LAST, PHONE]


def _leaks(raw: bytes) -> list[str]:
    found = []
    for value in SECRETS:
        for encoding in ("utf-8", "utf-16-le"):
            if value.encode(encoding) in raw:
                found.append(value)
        if not value.isascii() and value.encode("unicode_escape") in raw:
            found.append(value)
    return found


@pytest.fixture
def file_logs(data_dir: Path) -> Iterator[None]:
    logs.setup("DEBUG", data_dir)
    yield
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_intake", False):
            root.removeHandler(handler)
            handler.close()


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
        for table in Base.metadata.sorted_tables:
            for row in await conn.execute(sa.select(table)):
                dump = repr(tuple(row)).encode() + b"".join(v for v in row if isinstance(v, bytes))
                assert not _leaks(dump), (table.name, _leaks(dump))
    await s.client.close()
    logging.getLogger().handlers[-1].flush()

    files = [q for q in data_dir.rglob("*") if q.is_file()]
    log_file = data_dir / "logs" / "intake.log"
    assert b"channel telegram mounted" in log_file.read_bytes()
    assert any("blobs" in q.parts for q in files)
    assert [(str(q), _leaks(q.read_bytes())) for q in files if _leaks(q.read_bytes())] == []
    if db_url.startswith("postgresql") and shutil.which("pg_dump"):
        url = sa.engine.make_url(db_url)
        env = {**os.environ, "PGPASSWORD": url.password or ""}
        argv = [
            "pg_dump",
            "-h",
            url.host or "127.0.0.1",
            "-p",
            str(url.port or 5432),
            "-U",
            url.username or "postgres",
        ]
        done = await asyncio.to_thread(
            subprocess.run, [*argv, url.database or ""], capture_output=True, check=True, env=env, timeout=120
        )
        assert b"conversations" in done.stdout and not _leaks(done.stdout)
