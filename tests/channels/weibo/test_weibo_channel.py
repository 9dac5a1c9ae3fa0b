"""The Weibo fan-service webhook end to end: signed JSON pushes, passive replies in Weibo's format,
the same dialogue and shortcuts, and the reply API (within 48 hours) against the local fake."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest

from intake.notifier import DeliveryUnavailable
from intake.vault_service import DeliveryHandles
from server.app import notifier_of
from tests.fakes import weibo
from tests.fakes.server import WEB_URL, Platforms, receipt_of

UID = 2489518277


async def test_url_verification(sp: Platforms) -> None:
    params = weibo.signed_query()
    resp = await sp.client.get("/channels/weibo", params={**params, "echostr": "vIuz5ekD"})
    assert resp.status == 200 and await resp.text() == "vIuz5ekD"
    forged = weibo.signed_query(secret="wrong")
    assert (await sp.client.get("/channels/weibo", params={**forged, "echostr": "x"})).status == 401
    stale = weibo.signed_query(timestamp_ms=int(time.time() * 1000) - 3_600_000)
    assert (await sp.client.get("/channels/weibo", params={**stale, "echostr": "x"})).status == 401


async def test_shortcut_query_and_followup(p: Platforms) -> None:
    case_no, code = receipt_of(await p.wb.text(UID, "举报 某县住建局干部违规收受开发商购物卡"))
    report = await p.services.db.reports.get(case_no)
    assert report is not None and report.channel == "weibo"
    found = await DeliveryHandles(p.services.db, p.services.clock).handle_for_delivery(report.id)
    assert found == ("weibo", str(UID))
    status = await p.wb.text(UID, f"查询 {code}")
    assert status is not None and case_no in status
    added = await p.wb.text(UID, f"补充 {code} 购物卡面额五千元")
    assert added is not None and case_no in added


async def test_guided_dialogue_and_events(sp: Platforms) -> None:
    _, welcome = await sp.wb.send(weibo.push(UID, "event", data={"subtype": "follow"}))
    assert welcome is not None and "微博平台能够读取" in welcome and WEB_URL in welcome
    _, reply = await sp.wb.send(weibo.push(UID, "event", data={"subtype": "click", "key": "REPORT"}))
    assert reply is not None and "发生了什么" in reply
    await sp.wb.text(UID, "某乡镇干部违规操办婚宴")
    _, reply = await sp.wb.send(weibo.push(UID, "position", data={"longitude": "113.1", "latitude": "28.2"}))
    assert reply is not None and "位置" in reply
    _, reply = await sp.wb.send(weibo.push(UID, "image", data={"vfid": 123, "tovfid": 456}))
    assert reply is not None and "暂不能接收图片" in reply
    await sp.wb.text(UID, "好了")
    await sp.wb.text(UID, "匿名")
    case_no, _ = receipt_of(await sp.wb.text(UID, "确认"))
    report = await sp.services.db.reports.get(case_no)
    assert report is not None and "婚宴" in report.content and report.location_text
    _, none = await sp.wb.send(weibo.push(UID, "event", data={"subtype": "unfollow"}))
    assert none is None


async def test_reply_api_within_48_hours(sp: Platforms, monkeypatch: pytest.MonkeyPatch) -> None:
    case_no, _ = receipt_of(await sp.wb.text(UID, "举报 某站所长违规收费"))
    report = await sp.services.db.reports.get(case_no)
    assert report is not None
    notifier = notifier_of(sp.client.app)
    assert await notifier.notify(report.id, "您反映的问题已受理。")
    sent = sp.weibo_api.sent[0]
    assert sent["receiver_id"] == str(UID) and sent["type"] == "text"
    assert sent["data"] == {"text": "您反映的问题已受理。"}
    # Two days later the window is closed: not sent, the job retries until the fan writes again.
    real_now = sp.services.clock.now
    monkeypatch.setattr(sp.services.clock, "now", lambda: real_now() + timedelta(hours=49))
    with pytest.raises(DeliveryUnavailable):
        await notifier.notify(report.id, "第二条")
    assert len(sp.weibo_api.sent) == 1


async def test_malformed_and_oversized_bodies(sp: Platforms) -> None:
    assert (await sp.wb.post_raw(b"{not json")).status == 400
    assert (await sp.wb.post_raw(b"[1, 2]")).status == 422  # the shared parser: not an object
    no_uid = json.dumps(weibo.push(UID, "text", "x") | {"sender_id": "abc"}).encode()
    assert (await sp.wb.post_raw(no_uid)).status == 400
    assert (await sp.wb.post_raw(b"{" + b" " * 70_000 + b"}")).status == 413
    assert await sp.services.db.reports.count() == 0
