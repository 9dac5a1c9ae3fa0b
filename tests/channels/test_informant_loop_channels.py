"""Issue 17 on the dialogue channels, with each platform's real client talking to our server:
a status query answers with the dated steps and what the informant may do next, and the short
commands rate the answer once (评价 查询码 满意) and ask for review (复查 查询码 理由) — on WeChat
(wechatpy), Weibo, SMS (twilio's signatures), Telegram (aiogram) and the phone menu (digits)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from intake.domain import Submission
from server.config import Settings
from tests.channels.loop_helpers import answer, feedback_of, reviews_of
from tests.fakes.server import Platforms, receipt_of
from tests.fakes.telegram import start_telegram
from tests.fakes.twilio import Hotline
from tests.fakes.twilio import receipt_of as sms_receipt_of

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:twilio.*")

OPENID = "oWx_LoopOpenId_0001"
UID = "5800112233"
CHAT = 700100300


async def test_wechat_status_rating_and_review(p: Platforms) -> None:
    case_no, code = receipt_of(await p.wx.text(OPENID, "举报 某镇党委书记张某某在征地拆迁中收受贿赂"))
    status = await p.wx.text(OPENID, f"查询 {code}")
    assert status is not None and "办理进程：" in status and "收到您的反映" in status
    assert "评价 查询码" not in status  # nothing to rate before an answer
    early = await p.wx.text(OPENID, f"评价 {code} 满意")
    assert early is not None and "尚未作出答复" in early
    await answer(p.services, case_no)
    status = await p.wx.text(OPENID, f"查询 {code}")
    assert status is not None and "已作出答复" in status and "评价 查询码 满意" in status
    assert "复查 查询码 理由" in status and "loop_sup" not in status
    rated = await p.wx.text(OPENID, f"评价 {code} 基本满意 处理还算及时")
    assert rated == "感谢您的评价（基本满意），我们会认真改进工作。"
    again = await p.wx.text(OPENID, f"评价 {code} 不满意")
    assert again is not None and "已经评价过" in again
    [given] = await feedback_of(p.services, case_no)
    assert given.rating == "basically_satisfied" and given.channel == "wechat"
    assert given.comment == "处理还算及时"
    asked = await p.wx.text(OPENID, f"复查 {code} 问题没有解决")
    assert asked is not None and "复查申请已收到" in asked and "市级纪检监察机关" in asked
    assert [r.kind for r in await reviews_of(p.services, case_no)] == ["review"]
    usage = await p.wx.text(OPENID, "评价 12345 满意")
    assert usage is not None and "评价 查询码 满意" in usage
    wrong = await p.wx.text(OPENID, f"复查 {'9' * 16} 理由")
    assert wrong is not None and "查询码无效" in wrong


async def test_weibo_rating_and_objection(sp: Platforms) -> None:
    case_no, code = receipt_of(await sp.wb.text(UID, "举报 某县住建局干部违规收受开发商购物卡"))
    await answer(sp.services, case_no)
    status = await sp.wb.text(UID, f"查询 {code}")
    assert "办理进程：" in status and "评价 查询码 满意" in status
    assert "感谢您的评价（不满意）" in await sp.wb.text(UID, f"评价 {code} 不满意 没有回应关键问题")
    objection = await sp.wb.text(UID, f"异议 {code} 购物卡的事没有查")
    assert "异议已记录" in objection
    assert [r.kind for r in await reviews_of(sp.services, case_no)] == ["objection"]


async def test_sms_status_rating_and_review(h: Hotline) -> None:
    _, replies = await h.driver.sms("举报 某县住建局副局长利用职务便利为亲属承揽工程")
    case_no, code = sms_receipt_of(replies[0])
    await answer(h.services, case_no)
    _, replies = await h.driver.sms(f"查询 {code}")
    assert "办理进程：" in replies[0] and "评价 查询码 满意" in replies[0]
    _, replies = await h.driver.sms(f"评价 {code} 满意")
    assert "感谢您的评价（满意）" in replies[0]
    _, replies = await h.driver.sms(f"申请复查 {code} 亲属承揽的工程没有核查")
    assert "复查申请已收到" in replies[0]
    [given] = await feedback_of(h.services, case_no)
    assert given.channel == "sms" and given.rating == "satisfied"
    [asked] = await reviews_of(h.services, case_no)
    assert asked.channel == "sms" and asked.to_unit == "4301"


async def test_telegram_status_rating_and_review(
    aiohttp_client: Any, aiohttp_server: Any, make_settings: Callable[..., Settings], db_url: str
) -> None:
    s = await start_telegram(aiohttp_client, aiohttp_server, make_settings, db_url)
    receipt = await s.tg.say(CHAT, "/report 某县自然资源局局长王某某在土地出让中收受开发商贿赂")
    code = re.search(r"查询码：(\d{16})", receipt).group(1)  # type: ignore[union-attr]
    case_no = re.search(r"案件编号：(\S+)", receipt).group(1)  # type: ignore[union-attr]
    await answer(s.services, case_no)
    status = await s.tg.say(CHAT, f"/status {code}")
    assert "办理进程：" in status and "已作出答复" in status and "评价 查询码 满意" in status
    assert "感谢您的评价（满意）" in await s.tg.say(CHAT, f"/rate {code} 满意 很好")
    assert "已经评价过" in await s.tg.say(CHAT, f"评价 {code} 满意")
    assert "复查申请已收到" in await s.tg.say(CHAT, f"/review {code} 土地出让的问题没有查清")
    assert "回避申请已收到" in await s.tg.say(CHAT, f"回避 {code} 复查人员与他是同学")
    [given] = await feedback_of(s.services, case_no)
    assert given.channel == "telegram"
    assert [r.kind for r in await reviews_of(s.services, case_no)] == ["review"]
    assert "/rate" in await s.tg.say(CHAT, "/help")


async def test_phone_menu_reads_the_step_then_rates_and_asks_for_review(h: Hotline) -> None:
    receipt = await h.services.pipeline.accept(
        Submission(channel="phone", content="某村支书侵占集体土地补偿款")
    )
    assert receipt.query_code is not None
    await answer(h.services, receipt.case_no, "经核查，补偿款已追回。")
    call = h.driver.call()
    await call.start()
    await call.press("2")
    await call.press(receipt.query_code)
    heard = call.heard
    assert "最近进展" in heard and "最新答复：经核查，补偿款已追回。" in heard
    assert "满意请按1" in heard and "申请复查，请按4" in heard
    assert call.attribute("Gather", "input") == "dtmf"
    await call.press("2")
    assert "感谢您的评价（基本满意）" in call.heard and "举报问题，请按1" in call.heard
    [given] = await feedback_of(h.services, receipt.case_no)
    assert given.channel == "phone" and given.rating == "basically_satisfied"
    # Again: the rating is no longer offered, the review is; the reason is said.
    await call.press("2")
    await call.press(receipt.query_code)
    assert "满意请按1" not in call.heard and "申请复查，请按4" in call.heard
    await call.press("4")
    assert call.attribute("Gather", "input") == "speech" and "理由" in call.heard
    await call.say("补偿款只追回了一半")
    assert "复查申请已收到" in call.heard and "市级纪检监察机关" in call.heard
    [asked] = await reviews_of(h.services, receipt.case_no)
    assert asked.channel == "phone" and asked.reason == "补偿款只追回了一半"
