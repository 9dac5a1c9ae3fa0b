"""SMS and MMS to the hotline number, and SMS out (receipts, notifications), against the local fake
of Twilio's REST API. Webhooks are signed with twilio's own RequestValidator."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from intake.notifier import CaseEvent
from intake.vault_service import DeliveryHandles
from server.app import notifier_of
from tests.fakes import twilio
from tests.fakes.server import count_rows
from tests.fakes.twilio import CALLER, Hotline, receipt_of

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:twilio.*")


async def test_report_query_and_add_by_sms(h: Hotline) -> None:
    status, replies = await h.driver.sms("举报 某县住建局副局长利用职务便利为亲属承揽工程")
    assert status == 200 and len(replies) == 1
    case_no, code = receipt_of(replies[0])
    report = await h.services.db.reports.get(case_no)
    assert report is not None and report.channel == "sms" and "承揽工程" in report.content
    assert await DeliveryHandles(h.services.db, h.services.clock).handle_for_delivery(report.id) == (
        "sms",
        CALLER,
    )
    _, replies = await h.driver.sms(f"查询 {code[:4]} {code[4:8]} {code[8:12]} {code[12:]}")
    assert case_no in replies[0] and "已接收" in replies[0]
    _, replies = await h.driver.sms(f"补充 {code} 工程合同签订于去年五月")
    assert "补充内容已收到" in replies[0] and case_no in replies[0]
    assert (await h.services.pipeline.status(code, "t")).followups == 1


async def test_retried_message_sid_makes_one_report(h: Hotline) -> None:
    params = h.driver.sms_params("举报 某乡镇干部违规收受礼金", message_sid=twilio.sid("SM"))
    answers = []
    for _ in range(3):
        resp = await h.driver.post("/channels/twilio/sms", params)
        assert resp.status == 200
        answers.append(await resp.text())
    assert answers[0] == answers[1] == answers[2] and "查询码" in answers[0]
    assert await count_rows(h.services, "reports") == 1


async def test_other_text_starts_a_short_guided_exchange(sh: Hotline) -> None:
    _, replies = await sh.driver.sms("我们村的村主任把扶贫款挪作他用")
    assert "已记下" in replies[0] and "被反映人" in replies[0]
    _, replies = await sh.driver.sms("村主任李某某，黄土岭村")
    assert "材料" in replies[0]
    _, replies = await sh.driver.sms("没有")
    assert "匿名" in replies[0]
    _, replies = await sh.driver.sms("匿名")
    assert "扶贫款" in replies[0] and "确认" in replies[0]
    _, replies = await sh.driver.sms("确认")
    case_no, _ = receipt_of(replies[0])
    report = await sh.services.db.reports.get(case_no)
    assert report is not None and "扶贫款" in report.content and "黄土岭村" in report.content


async def test_long_messages_in_and_out(sh: Hotline) -> None:
    long_text = "举报 " + "某局长违规插手工程项目，" * 130  # ~1560 characters, as Twilio joins segments
    _, replies = await sh.driver.sms(long_text)
    case_no, _ = receipt_of(replies[0])
    report = await sh.services.db.reports.get(case_no)
    assert report is not None and len(report.content) > 1500
    assert twilio.messages(twilio_reply(2000)) and len(twilio.messages(twilio_reply(2000))) == 2


def twilio_reply(n: int) -> str:
    from channels.twilio.twiml import messaging

    return messaging("答" * n)


async def test_mms_pictures_become_attachments_and_leave_twilio(h: Hotline) -> None:
    picture = h.api.add_media()
    video = ("https://api.twilio.com/x.3gp", "video/3gpp")
    status, replies = await h.driver.sms("举报 违规公车私用，见照片", media=[picture, video])
    assert status == 200 and "1 份材料" in replies[0] and "格式暂不支持" in replies[0]
    case_no, _ = receipt_of(replies[0])
    while await h.services.worker.run_once():
        pass
    report = await h.services.db.reports.get(case_no)
    assert report is not None
    atts = await h.services.db.conversations.attachments_of(report.id)
    assert [(t, s) for _, t, s in atts] == [("image/png", len(twilio.PNG))]
    assert h.api.media == {} and len(h.api.deleted) == 1


async def test_mms_during_the_guided_exchange_and_with_a_followup(sh: Hotline) -> None:
    await sh.driver.sms("某站长虚报冒领补贴")
    await sh.driver.sms("跳过")
    _, replies = await sh.driver.sms("", media=[sh.api.add_media()])
    assert "已收到 1 份材料" in replies[0]
    for text in ("好了", "匿名"):
        await sh.driver.sms(text)
    _, replies = await sh.driver.sms("确认")
    case_no, code = receipt_of(replies[0])
    _, replies = await sh.driver.sms(f"补充 {code} 另一张照片", media=[sh.api.add_media()])
    assert "1 份材料将随后附入" in replies[0]
    while await sh.services.worker.run_once():
        pass
    report = await sh.services.db.reports.get(case_no)
    assert report is not None
    assert len(await sh.services.db.conversations.attachments_of(report.id)) == 2
    assert sh.api.media == {}


async def test_notifications_go_out_by_sms_with_the_number_from_the_vault(h: Hotline) -> None:
    _, replies = await h.driver.sms("举报 某所长吃拿卡要")
    case_no, _ = receipt_of(replies[0])
    report = await h.services.db.reports.get(case_no)
    assert report is not None
    notifier = notifier_of(h.client.app)
    assert await notifier.case_updated(report.id, CaseEvent("status_changed", status="accepted"))
    h.api.fail_sends = 1
    assert await h.services.worker.run_once() >= 1  # the first attempt fails: retried later
    assert h.api.sent == []
    h.clock.advance(minutes=5)
    while await h.services.worker.run_once():
        pass
    assert len(h.api.sent) == 1 and h.api.sent[0]["To"] == CALLER and case_no in h.api.sent[0]["Body"]
    async with h.services.db.read_engine.connect() as conn:
        used = (
            await conn.execute(sa.text("SELECT count(*) FROM report_events WHERE kind = 'vault_handle_used'"))
        ).scalar_one()
    assert used >= 1


async def test_a_sender_that_is_not_a_number_is_refused(sh: Hotline) -> None:
    status, _ = await sh.driver.sms("举报 测试", sender="anonymous")
    assert status == 400
    assert await count_rows(sh.services, "reports") == 0
