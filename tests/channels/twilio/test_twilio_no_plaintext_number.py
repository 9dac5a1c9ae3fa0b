"""After calls (a report with its recording and SMS receipt, a hang-up mid-report, a query, an
addition) and SMS (a report, a guided exchange, MMS, notifications), the caller's number is nowhere
in plaintext: not in any file under the data directory (database, WAL, logs with DEBUG on,
attachments), not in any table, not in a PostgreSQL dump."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from intake.notifier import CaseEvent
from server.app import notifier_of
from server.config import Settings
from tests.fakes import twilio
from tests.fakes.twilio import CALLER, receipt_of, start_hotline
from tests.scan import leaking_files, leaking_rows, leaks, pg_dump_async

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:twilio.*")

SECOND = "+8618677776666"
FORMS = [n for c in (CALLER, SECOND) for n in (c, c[1:], c[3:])]  # +86…, 86…, the national number


async def test_no_phone_number_in_plaintext_anywhere(
    aiohttp_client: Any,
    aiohttp_server: Any,
    make_settings: Callable[..., Settings],
    db_url: str,
    data_dir: Path,
    file_logs: None,
) -> None:
    h = await start_hotline(aiohttp_client, aiohttp_server, make_settings, db_url, INTAKE_LOG_LEVEL="DEBUG")
    # A call: report, recording, SMS receipt, then a query with the code.
    call = h.driver.call()
    await call.start()
    await call.press("1")
    await call.say("某镇派出所所长违规插手经济纠纷。我的电话是13912345678，可以联系我")
    recording = twilio.sid("RE")
    h.api.recordings[recording] = twilio.wav()
    await call.record(recording)
    await call.press("1")
    _, code = receipt_of(h.api.sent[0]["Body"])
    await call.recording_status(recording)
    await call.press("2")
    await call.press(code)
    await call.hang_up()
    # A second caller hangs up while speaking.
    other = h.driver.call(SECOND)
    await other.start()
    await other.press("1")
    await other.partial("村会计私分集体资金", 1)
    await other.hang_up()
    # SMS: a report with a picture, a query, an addition, a guided exchange.
    await h.driver.sms("举报 某局违规发放补贴", media=[h.api.add_media()])
    await h.driver.sms(f"查询 {code}")
    await h.driver.sms(f"补充 {code} 还有转账记录")
    for text in ("乡干部吃拿卡要", "跳过", "没有", "匿名", "确认"):
        await h.driver.sms(text, sender=SECOND)
    # Notifications to every informant, and an unknown sender refused.
    notifier = notifier_of(h.client.app)
    for report in await h.services.db.reports.recent():
        await notifier.case_updated(report.id, CaseEvent("status_changed", status="accepted"))
    while await h.services.worker.run_once():
        pass
    assert await h.services.db.reports.count() == 4
    assert len(h.api.sent) == 1 + 4 and h.api.deleted  # the receipt, four notifications

    async with h.services.db.read_engine.connect() as conn:
        assert await leaking_rows(conn, FORMS) == []
    await h.client.close()
    for handler in logging.getLogger().handlers:
        handler.flush()

    files = [p for p in data_dir.rglob("*") if p.is_file()]
    log_file = data_dir / "logs" / "intake.log"
    assert b"channel twilio mounted" in log_file.read_bytes()
    assert any("blobs" in p.parts for p in files)
    assert leaking_files(data_dir, FORMS) == []
    if db_url.startswith("postgresql"):
        dump = await pg_dump_async(db_url)
        assert b"conversations" in dump and not leaks(dump, FORMS)
