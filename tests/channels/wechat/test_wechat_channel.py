"""The WeChat webhook end to end: wechatpy encrypts what "WeChat" sends and decrypts our replies;
the dialogue, shortcuts, events, de-duplication, outbound messages and media downloads against the
local fake API."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

import channels
from intake.vault_service import DeliveryHandles
from server.app import build_app, notifier_of
from server.config import Settings
from tests.fakes import wechat
from tests.fakes.server import WEB_URL, Platforms, platform_env, receipt_of, start_platforms

OPENID = "oWx_TestOpenId_0001"


async def test_url_verification_echoes_echostr(sp: Platforms) -> None:
    stamp, nonce = str(int(time.time())), "123"
    params = {"signature": wechat.sign(wechat.TOKEN, stamp, nonce), "timestamp": stamp, "nonce": nonce}
    resp = await sp.client.get("/channels/wechat", params={**params, "echostr": "e5cho"})
    assert resp.status == 200 and await resp.text() == "e5cho"
    forged = {**params, "signature": "0" * 40, "echostr": "x"}
    assert (await sp.client.get("/channels/wechat", params=forged)).status == 401
    old = str(int(time.time()) - 3600)
    stale = {
        "signature": wechat.sign(wechat.TOKEN, old, nonce),
        "timestamp": old,
        "nonce": nonce,
        "echostr": "x",
    }
    assert (await sp.client.get("/channels/wechat", params=stale)).status == 401


async def test_shortcut_files_a_report_and_seals_the_openid(p: Platforms) -> None:
    reply = await p.wx.text(OPENID, "举报 某镇党委书记张某某利用职务便利在征地拆迁中收受贿赂")
    case_no, code = receipt_of(reply)
    report = await p.services.db.reports.get(case_no)
    assert report is not None and report.channel == "wechat" and report.anonymous
    assert "收受贿赂" in report.content
    assert await DeliveryHandles(p.services.db, p.services.clock).handle_for_delivery(report.id) == (
        "wechat",
        OPENID,
    )
    status = await p.wx.text(OPENID, f"查询 {code[:4]} {code[4:8]} {code[8:12]} {code[12:]}")
    assert status is not None and case_no in status and "已接收" in status and "暂无答复" in status


async def test_guided_dialogue_with_media_location_and_real_name(p: Platforms) -> None:
    assert "发生了什么" in (await p.wx.text(OPENID, "举报") or "")
    assert "被反映人" in (await p.wx.text(OPENID, "村委会主任李某某挪用扶贫资金三十万元") or "")
    loc = wechat.message_xml(
        OPENID,
        "location",
        {"Location_X": "28.19", "Location_Y": "113.08", "Scale": "15", "Label": "黄兴镇"},
        7001,
    )
    status, reply = await p.wx.send(loc)
    assert status == 200 and reply is not None and "位置" in reply and "材料" in reply
    status, reply = await p.wx.send(
        wechat.message_xml(OPENID, "image", {"PicUrl": "http://x/y.jpg", "MediaId": "MEDIA_IMG_1"}, 7002)
    )
    assert reply is not None and "第 1 份" in reply
    assert "匿名" in (await p.wx.text(OPENID, "好了") or "")
    summary = await p.wx.text(OPENID, "实名 甄宝琮 13912345678")
    assert (
        summary is not None and "扶贫资金" in summary and "实名" in summary and "13912345678" not in summary
    )
    case_no, code = receipt_of(await p.wx.text(OPENID, "确认"))

    report = await p.services.db.reports.get(case_no)
    assert (
        report is not None
        and report.anonymous is False
        and report.location_text
        and "黄兴镇" in report.location_text
    )
    assert "甄宝琮" not in report.content
    # The image is fetched by a job, from the (fake) API, into an encrypted attachment.
    assert await p.services.worker.run_once() >= 1
    atts = await p.services.db.conversations.attachments_of(report.id)
    assert [(t, s) for _, t, s in atts] == [("image/png", len(wechat.PNG))]
    assert p.services.db.blobs.get(atts[0][0]).data == wechat.PNG
    # The conversation is over: the next free text gets the help text, not the draft.
    assert "举报" in (await p.wx.text(OPENID, "你好") or "")
    assert code.isdigit()


async def test_voice_uses_recognition_and_keeps_the_media(sp: Platforms) -> None:
    await sp.wx.text(OPENID, "举报")
    voice = wechat.message_xml(
        OPENID,
        "voice",
        {"MediaId": "MEDIA_VOICE_1", "Format": "amr", "Recognition": "某局长违规公款吃喝"},
        8001,
    )
    status, reply = await sp.wx.send(voice)
    assert status == 200 and reply is not None and "被反映人" in reply
    await sp.wx.text(OPENID, "跳过")
    await sp.wx.text(OPENID, "没有")
    await sp.wx.text(OPENID, "匿名")
    case_no, _ = receipt_of(await sp.wx.text(OPENID, "确认"))
    report = await sp.services.db.reports.get(case_no)
    assert report is not None and "公款吃喝" in report.content
    await sp.services.worker.run_once()
    atts = await sp.services.db.conversations.attachments_of(report.id)
    assert [t for _, t, _ in atts] == ["audio/amr"]


async def test_voice_without_recognition_asks_for_text(sp: Platforms) -> None:
    status, reply = await sp.wx.send(
        wechat.message_xml(OPENID, "voice", {"MediaId": "M", "Format": "amr"}, 8101)
    )
    assert status == 200 and reply is not None and "文字" in reply


async def test_followup_and_cancel(sp: Platforms) -> None:
    case_no, code = receipt_of(await sp.wx.text(OPENID, "举报 某单位违规发放津贴补贴"))
    reply = await sp.wx.text(OPENID, f"补充 {code} 另有发放名单一份")
    assert reply is not None and case_no in reply
    report = await sp.services.db.reports.get(case_no)
    assert report is not None and [m.body for m in report.messages] == ["另有发放名单一份"]
    bad = await sp.wx.text(OPENID, "补充 12345 内容")
    assert bad is not None and "16 位" in bad
    await sp.wx.text(OPENID, "举报")
    assert "取消" in (await sp.wx.text(OPENID, "取消") or "")
    assert await sp.services.db.reports.count() == 1


async def test_subscribe_shows_welcome_and_privacy_notice(sp: Platforms) -> None:
    status, reply = await sp.wx.send(
        wechat.message_xml(OPENID, "event", {"Event": "subscribe", "EventKey": ""})
    )
    assert status == 200 and reply is not None
    assert "微信平台能够读取" in reply and WEB_URL in reply and "12388" in reply
    status, reply = await sp.wx.send(
        wechat.message_xml(OPENID, "event", {"Event": "CLICK", "EventKey": "REPORT"})
    )
    assert reply is not None and "发生了什么" in reply
    status, reply = await sp.wx.send(
        wechat.message_xml(OPENID, "event", {"Event": "unsubscribe", "EventKey": ""})
    )
    assert status == 200 and reply is None


async def test_plain_mode_is_refused_unless_allowed(
    aiohttp_client: Any, aiohttp_server: Any, make_settings: Callable[..., Settings], data_dir: Any
) -> None:
    url = f"sqlite+aiosqlite:///{data_dir / 'intake.db'}"
    stamp, nonce = str(int(time.time())), "42"
    params = {"signature": wechat.sign(wechat.TOKEN, stamp, nonce), "timestamp": stamp, "nonce": nonce}
    body = wechat.text_xml(OPENID, "举报 明文模式的举报", 9001).encode()
    p = await start_platforms(aiohttp_client, aiohttp_server, make_settings, url)
    resp = await p.client.post("/channels/wechat", params=params, data=body)
    assert resp.status == 403 and (await resp.json())["error"]["code"] == "plain_mode_refused"
    assert await p.services.db.reports.count() == 0
    await p.client.close()

    p = await start_platforms(
        aiohttp_client, aiohttp_server, make_settings, url, INTAKE_WECHAT_ALLOW_PLAIN="1"
    )
    resp = await p.client.post("/channels/wechat", params=params, data=body)
    assert resp.status == 200 and "查询码" in await resp.text()
    forged = {**params, "signature": "f" * 40}
    assert (await p.client.post("/channels/wechat", params=forged, data=body)).status == 401


async def test_body_size_cap(sp: Platforms) -> None:
    params, _ = sp.wx.envelope(wechat.text_xml(OPENID, "x", 1))
    resp = await sp.client.post("/channels/wechat", params=params, data=b"<xml>" + b"a" * 70_000 + b"</xml>")
    assert resp.status == 413


async def test_outbound_notification_with_cached_and_refreshed_token(p: Platforms) -> None:
    case_no, _ = receipt_of(await p.wx.text(OPENID, "举报 某所长违规插手工程项目"))
    report = await p.services.db.reports.get(case_no)
    assert report is not None
    notifier = notifier_of(p.client.app)
    await notifier.enqueue(report.id, "您反映的问题已受理，正在办理。")
    await notifier.enqueue(report.id, "已答复，请发送“查询 查询码”查看。")
    while await p.services.worker.run_once():
        pass
    assert [(m["touser"], m["msgtype"]) for m in p.wechat_api.sent] == [(OPENID, "text"), (OPENID, "text")]
    assert p.wechat_api.sent[0]["text"]["content"] == "您反映的问题已受理，正在办理。"
    assert p.wechat_api.token_calls == 1  # cached
    p.wechat_api.expire_token()  # WeChat says 40001: refreshed once and sent
    assert await notifier.notify(report.id, "第三条")
    assert p.wechat_api.token_calls == 2 and p.wechat_api.sent[-1]["text"]["content"] == "第三条"


async def test_late_reply_goes_through_the_customer_service_api(
    sp: Platforms, monkeypatch: pytest.MonkeyPatch
) -> None:
    from channels.wechat import views

    monkeypatch.setattr(views, "REPLY_BUDGET", 0.0)
    status, reply = await sp.wx.send(wechat.text_xml(OPENID, "举报 超时情形下的举报", 9901))
    assert status == 200 and reply is None  # "success": WeChat will not retry
    await asyncio.wait_for(sp.wechat_api.received.wait(), 10)
    assert "查询码" in sp.wechat_api.sent[0]["text"]["content"] and sp.wechat_api.sent[0]["touser"] == OPENID
    assert await sp.services.db.reports.count() == 1


async def test_without_app_secret_outbound_is_off_with_one_log_line(
    aiohttp_client: Any,
    aiohttp_server: Any,
    make_settings: Callable[..., Settings],
    data_dir: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    url = f"sqlite+aiosqlite:///{data_dir / 'intake.db'}"
    p = await start_platforms(aiohttp_client, aiohttp_server, make_settings, url, outbound=False)
    off = [r.getMessage() for r in caplog.records if "outbound WeChat off" in r.getMessage()]
    assert len(off) == 1 and "INTAKE_WECHAT_APP_SECRET" in off[0]
    # Inbound still works; an image is acknowledged but no download job is queued.
    await p.wx.text(OPENID, "举报")
    await p.wx.text(OPENID, "某科长吃拿卡要")
    await p.wx.text(OPENID, "跳过")
    await p.wx.send(wechat.message_xml(OPENID, "image", {"MediaId": "MEDIA_IMG_1", "PicUrl": "x"}, 5))
    await p.wx.text(OPENID, "好了")
    await p.wx.text(OPENID, "匿名")
    receipt_of(await p.wx.text(OPENID, "确认"))
    async with p.services.db.read_engine.connect() as conn:
        kinds = set((await conn.execute(sa.text("SELECT kind FROM jobs"))).scalars())
    assert "wechat_media" not in kinds and "wechat_media" not in p.services.worker.handlers


async def test_not_mounted_without_settings(
    aiohttp_client: Any, make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    env = platform_env()
    del env["INTAKE_WECHAT_APP_ID"], env["INTAKE_WEIBO_APP_SECRET"]
    client = await aiohttp_client(build_app(make_settings(**env), channels.REGISTRY, run_worker=False))
    assert (await client.post("/channels/wechat", data=b"<xml/>")).status == 404
    assert (await client.get("/channels/weibo")).status == 404
    lines = [r.getMessage() for r in caplog.records if "not mounted" in r.getMessage()]
    assert any("wechat" in m and "INTAKE_WECHAT_APP_ID" in m for m in lines)
    assert any("weibo" in m and "INTAKE_WEIBO_APP_SECRET" in m for m in lines)
    mounted = (await (await client.get("/healthz")).json())["channels"]
    assert "wechat" not in mounted and "weibo" not in mounted and "web" in mounted


async def test_bad_sender_is_refused(sp: Platforms) -> None:
    status, _ = await sp.wx.send(wechat.text_xml("bad openid!", "举报 x", 77))
    assert status == 400
