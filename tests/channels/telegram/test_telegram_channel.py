"""The Telegram bot over HTTP: Telegram's side is our webhook driven with the secret header, the Bot
API is a local fake (``tests/fakes/telegram.py``), and aiogram is the real client in between."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from channels.verify import telegram_secret_valid, verify_telegram
from server.config import Settings
from tests.fakes import telegram
from tests.fakes.server import count_rows
from tests.fakes.telegram import TelegramServer, message, photo, start_telegram

CHAT = 700100200


@pytest.fixture
async def s(
    aiohttp_client: Any, aiohttp_server: Any, make_settings: Callable[..., Settings]
) -> TelegramServer:
    return await start_telegram(
        aiohttp_client, aiohttp_server, make_settings, INTAKE_PUBLIC_URL="https://jb.example.gov.cn"
    )


def code_of(reply: str) -> str:
    found = re.search(r"查询码：(\d{16})", reply)
    assert found, reply
    return found.group(1)


# --- the secret header (channels/verify.py) --------------------------------------------------------


def test_secret_header_known_answers() -> None:
    assert verify_telegram("s3cret_-X", "s3cret_-X")
    assert not verify_telegram("s3cret_-X", "s3cret_-x")
    assert not verify_telegram("s3cret_-X", "s3cret_-X ")
    assert not verify_telegram("s3cret_-X", "")
    assert not verify_telegram("s3cret_-X", None)
    assert not verify_telegram("", "")  # no secret configured: fail closed
    assert telegram_secret_valid("A-z_0" * 51 + "A")
    assert not telegram_secret_valid("")
    assert not telegram_secret_valid("x" * 257)
    assert not telegram_secret_valid("has space")


async def test_wrong_or_missing_secret_is_refused_and_nothing_stored(s: TelegramServer) -> None:
    update = message(CHAT, text="/report 某局长收受礼金")
    for secret in ("wrong-secret", ""):
        resp = await s.tg.post(update, secret=secret)
        assert resp.status == 401
        assert (await resp.json())["error"]["code"] == "invalid_signature"
    for table in ("reports", "channel_messages", "conversations", "jobs", "report_events"):
        assert await count_rows(s.services, table) == 0
    assert s.api.sent == []


async def test_bad_bodies_get_4xx(s: TelegramServer) -> None:
    headers = {"X-Telegram-Bot-Api-Secret-Token": telegram.SECRET, "Content-Type": "application/json"}
    for body, status in ((b"{not json", 400), (b"[1, 2]", 422), (b'{"message": {}}', 400)):
        resp = await s.client.post("/channels/telegram", data=body, headers=headers)
        assert resp.status == status, body
    resp = await s.client.post("/channels/telegram", data=b"{" + b" " * 70_000 + b"}", headers=headers)
    assert resp.status == 413
    assert await count_rows(s.services, "reports") == 0


def test_no_secret_no_channel(make_settings: Callable[..., Settings]) -> None:
    import channels

    spec = next(c for c in channels.REGISTRY if c.name == "telegram")
    settings = make_settings(INTAKE_TELEGRAM_TOKEN=telegram.TOKEN)
    assert spec.missing_settings(settings.section(spec.settings_prefix)) == ["INTAKE_TELEGRAM_WEBHOOK_SECRET"]


# --- the bot -----------------------------------------------------------------------------------------


async def test_start_shows_privacy_notice_and_menu(s: TelegramServer) -> None:
    replies = await s.tg.send(message(CHAT, text="/start"))
    assert len(replies) == 1
    welcome = replies[0]
    assert "Telegram 平台能够看到您在这里发送的全部消息" in welcome
    assert "https://jb.example.gov.cn" in welcome and "12388" in welcome
    markup = s.api.sent[-1]["reply_markup"]
    buttons = [b["text"] for row in markup["keyboard"] for b in row]
    assert buttons == ["我要举报", "查询进展", "补充材料", "帮助"]


async def test_report_status_and_added_fact_end_to_end(
    aiohttp_client: Any, aiohttp_server: Any, make_settings: Callable[..., Settings], db_url: str
) -> None:
    s = await start_telegram(aiohttp_client, aiohttp_server, make_settings, db_url)
    receipt = await s.tg.say(CHAT, "/report 某县自然资源局局长王某某在土地出让中收受开发商贿赂")
    assert re.search(r"案件编号：\S+", receipt)
    code = code_of(receipt)

    status = await s.tg.say(CHAT, f"/status {code}")
    case_no = re.search(r"案件编号：(\S+)", receipt).group(1)  # type: ignore[union-attr]
    assert f"案件编号：{case_no}" in status and "办理状态：" in status and "暂无答复" in status

    added = await s.tg.say(CHAT, f"/add {code} 另有转账记录可以佐证")
    assert added == f"补充内容已收到，已附入案件 {case_no}。"
    found = await s.services.pipeline.status(code, "test")
    assert found.followups == 1 and found.channel == "telegram"

    wrong = await s.tg.say(CHAT, "/status 1234567890123456")
    assert "查询码" in wrong and case_no not in wrong
    assert "查询码" in await s.tg.say(CHAT, "/add 12345 太短")


async def test_plain_text_shortcuts(s: TelegramServer) -> None:
    code = code_of(await s.tg.say(CHAT, "举报 某镇干部违规收受礼金"))
    assert "办理状态" in await s.tg.say(CHAT, f"查询 {code[:4]} {code[4:8]} {code[8:12]} {code[12:]}")
    assert "补充内容已收到" in await s.tg.say(CHAT, f"补充 {code} 时间是上月初")


async def test_guided_dialogue_with_materials_files_once_and_downloads_them(s: TelegramServer) -> None:
    assert "发生了什么" in await s.tg.say(CHAT, "我要举报")
    assert "被反映人" in await s.tg.say(CHAT, "某所长违规收取办证费")
    assert "材料" in await s.tg.say(CHAT, "城关派出所 张所长")
    assert "第 1 份" in (await s.tg.send(message(CHAT, photo=photo())))[0]
    document = {"file_id": "DOC_1", "file_unique_id": "d", "file_name": "收据.png", "mime_type": "image/png"}
    assert "第 2 份" in (await s.tg.send(message(CHAT, document=document)))[0]
    pdf = {
        "file_id": "DOC_X",
        "file_unique_id": "x",
        "file_name": "a.exe",
        "mime_type": "application/x-msdownload",
    }
    assert "暂不能接收" in (await s.tg.send(message(CHAT, document=pdf)))[0]
    assert "匿名" in await s.tg.say(CHAT, "好了")
    summary = await s.tg.say(CHAT, "匿名举报")
    assert "某所长违规收取办证费" in summary and "材料：2 份" in summary and "方式：匿名" in summary
    receipt = await s.tg.say(CHAT, "确认提交")
    code_of(receipt)
    assert "2 份材料将随后附入案件" in receipt
    assert await count_rows(s.services, "reports") == 1

    # The downloads are jobs after the acknowledgement.
    while await s.services.worker.run_once():
        pass
    report = (await s.services.db.reports.recent())[0]
    kinds = sorted(c for _, c, _ in await s.services.db.conversations.attachments_of(report.id))
    assert kinds == ["image/jpeg", "image/png"]
    async with s.services.db.read_engine.connect() as conn:
        jobs = (
            await conn.execute(sa.text("SELECT kind, status FROM jobs WHERE kind = 'telegram_media'"))
        ).all()
    assert [j.status for j in jobs] == ["done", "done"]
    # After filing the dialogue is idle again.
    assert "按步骤填写" in await s.tg.say(CHAT, "随便说点什么")


async def test_real_name_is_confirmed_by_sharing_ones_own_contact(s: TelegramServer) -> None:
    for text in ("/report", "某科长吃拿卡要", "跳过", "好了"):
        await s.tg.say(CHAT, text)
    summary = await s.tg.say(CHAT, "实名举报")
    assert "实名" in summary
    keyboard = s.api.sent[-1]["reply_markup"]["keyboard"]
    assert keyboard[0][0] == {"text": "确认并分享联系方式", "request_contact": True}
    assert "分享联系方式" in await s.tg.say(CHAT, "确认提交")  # a real-name report needs the contact

    someone_else = {"phone_number": "8613700000000", "first_name": "李", "user_id": 42}
    assert "本人" in (await s.tg.send(message(CHAT, contact=someone_else)))[0]
    assert await count_rows(s.services, "reports") == 0

    own = {"phone_number": "8613912345678", "first_name": "甄", "last_name": "宝琮", "user_id": CHAT}
    receipt = (await s.tg.send(message(CHAT, contact=own)))[0]
    code = code_of(receipt)
    found = await s.services.pipeline.status(code, "test")
    report = (await s.services.db.reports.recent())[0]
    assert found.case_no == report.case_no and report.anonymous is False


async def test_cancel_drops_the_draft(s: TelegramServer) -> None:
    for text in ("/report", "某事"):
        await s.tg.say(CHAT, text)
    assert "已取消" in await s.tg.say(CHAT, "/cancel")
    assert "按步骤填写" in await s.tg.say(CHAT, "某人")  # idle: not taken as "who, where"
    assert await count_rows(s.services, "reports") == 0


async def test_redelivered_update_makes_one_report_and_one_answer(
    aiohttp_client: Any, aiohttp_server: Any, make_settings: Callable[..., Settings], db_url: str
) -> None:
    s = await start_telegram(aiohttp_client, aiohttp_server, make_settings, db_url)
    update = message(CHAT, text="/report 同一个更新被 Telegram 重发了三次")
    first = await s.tg.send(update)
    assert len(first) == 1 and "查询码" in first[0]
    for _ in range(3):
        assert await s.tg.send(update) == []
    assert await count_rows(s.services, "reports") == 1

    # A dialogue step redelivered is not taken as the next step.
    await s.tg.say(CHAT, "/report")
    step = message(CHAT, text="某局长违规打高尔夫球")
    assert "被反映人" in (await s.tg.send(step))[0]
    assert await s.tg.send(step) == []
    assert "材料" in await s.tg.say(CHAT, "跳过")


async def test_failed_answer_is_retried_by_redelivery_without_a_second_report(s: TelegramServer) -> None:
    update = message(CHAT, text="/report 回复发送失败的举报")
    s.api.fail_sends = 1
    resp = await s.tg.post(update)
    assert resp.status == 503
    assert await count_rows(s.services, "reports") == 1  # filed and committed before the answer failed
    replies = await s.tg.send(update)  # Telegram redelivers: the same receipt is sent
    assert len(replies) == 1 and "查询码" in replies[0]
    assert await count_rows(s.services, "reports") == 1


async def test_group_chats_and_other_updates_are_ignored(s: TelegramServer) -> None:
    group = message(CHAT, text="/report 群里的消息")
    group["message"]["chat"] = {"id": -100123, "type": "supergroup", "title": "某群"}
    edited = {"update_id": 99, "edited_message": message(CHAT, text="改过的")["message"]}
    for update in (group, edited):
        resp = await s.tg.post(update)
        assert resp.status == 200
    assert s.api.sent == [] and await count_rows(s.services, "reports") == 0


async def test_webhook_is_set_with_the_secret_at_start(s: TelegramServer) -> None:
    await asyncio.wait_for(s.api.webhook_set.wait(), 10)  # a start-up task, not awaited by the start
    assert s.api.webhooks and s.api.webhooks[0]["url"] == "https://jb.example.gov.cn/channels/telegram"
    assert s.api.webhooks[0]["secret_token"] == telegram.SECRET
