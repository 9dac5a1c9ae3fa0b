"""The control-character policy (issue 14, defects 3 and 4), on SQLite and PostgreSQL: NUL, the
other C0/C1 controls but tab and line breaks, and lone surrogates are a 422
``invalid_characters`` on the citizen routes (the web form shown again, the text kept without
them) and removed from platform pushes, which get their success answer. The pipeline refuses
them itself. The same answer on both databases; nothing stored on a refusal."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import pytest

import channels
from intake.domain import Reporter, Submission, Upload
from intake.errors import ValidationError
from server.app import build_app, services_of
from server.config import Settings
from tests.channels.web.test_web_form import open_form, report_form
from tests.fakes import telegram, weibo
from tests.fakes.server import Platforms, receipt_of
from tests.fakes.telegram import message, start_telegram
from tests.fakes.twilio import Hotline
from tests.fakes.twilio import receipt_of as sms_receipt_of

BAD = ["\x00", "\x08", "\x1b", "\x7f", "\x85", "\ud800", "\udfff"]
FACTS = "黄兴镇某站所负责人张某某收受礼金两万元"
HTML = {"Accept": "text/html"}


@pytest.fixture
async def c(aiohttp_client: Any, make_settings: Callable[..., Settings], db_url: str) -> Any:
    """The whole server on the test's database (SQLite and PostgreSQL)."""
    app = build_app(make_settings(INTAKE_DATABASE_URL=db_url), channels.REGISTRY, run_worker=False)
    return await aiohttp_client(app)


def with_char(path: str, ch: str) -> dict[str, Any]:
    doc: dict[str, Any] = {"content": FACTS, "reporter": {"name": "甄宝琮"}}
    if path == "content":
        doc["content"] = FACTS[:4] + ch + FACTS[4:]
    elif path == "title":
        doc["title"] = "收受" + ch
    elif path == "reporter.name":
        doc["reporter"] = {"name": "甄" + ch}
    else:
        doc["accused"] = {"name": "张" + ch}
    return doc


async def test_app_api_refuses_control_characters_on_both_databases(c: Any) -> None:
    for field in ("content", "title", "reporter.name", "accused.name"):
        for ch in BAD:
            raw = json.dumps(with_char(field, ch)).encode()  # ASCII escapes: "\u0000", "\ud800"
            resp = await c.post("/api/v1/reports", data=raw, headers={"Content-Type": "application/json"})
            assert resp.status == 422, (field, repr(ch), await resp.text())
            assert (await resp.json())["error"]["code"] == "invalid_characters"
    assert await services_of(c.app).db.reports.count() == 0


async def test_tabs_and_line_breaks_are_kept(c: Any) -> None:
    resp = await c.post("/api/v1/reports", json={"content": "第一行\n第二行\r\n\t第三行"})
    assert resp.status == 201
    stored = await services_of(c.app).db.reports.get((await resp.json())["case_no"])
    assert stored is not None and stored.content == "第一行\n第二行\r\n\t第三行"


async def test_app_followup_refuses_a_nul(c: Any) -> None:
    resp = await c.post("/api/v1/reports", json={"content": FACTS})
    code = (await resp.json())["query_code"]
    resp = await c.post("/api/v1/followups", json={"query_code": code, "content": "补充\u0000材料"})
    assert resp.status == 422 and (await resp.json())["error"]["code"] == "invalid_characters"
    assert (await c.post("/api/v1/status", json={"query_code": code})).status == 200
    assert (await (await c.post("/api/v1/status", json={"query_code": code})).json())["followups"] == 0


async def test_web_form_shows_the_text_again_without_the_characters(c: Any) -> None:
    csrf, sid = await open_form(c)
    resp = await c.post(
        "/reports", data=report_form(csrf, sid, content="张某某\x00收受\x1b礼金"), headers=HTML
    )
    html = await resp.text()
    assert resp.status == 422 and "无法识别的字符" in html
    assert "张某某收受礼金" in html and "\x1b" not in html and "\x00" not in html
    assert await services_of(c.app).db.reports.count() == 0


async def test_web_followup_escapes_are_checked_after_decoding(c: Any) -> None:
    resp = await c.post("/api/v1/reports", json={"content": FACTS})
    code = (await resp.json())["query_code"]
    csrf, _ = await open_form(c)
    body = f"csrf={csrf}&query_code={code}&content=%E8%A1%A5%E5%85%85%00%E6%9D%90%E6%96%99"
    headers = {**HTML, "Content-Type": "application/x-www-form-urlencoded"}
    resp = await c.post("/status/followup", data=body, headers=headers)
    html = await resp.text()
    assert resp.status == 422 and "无法识别的字符" in html and "补充材料" in html
    assert (await services_of(c.app).pipeline.status(code, "t")).followups == 0


async def test_the_pipeline_itself_refuses_control_characters(c: Any) -> None:
    # The last line behind the edge, for any path that skipped it (the same 422 on both databases).
    pipeline = services_of(c.app).pipeline
    subs = [
        Submission(channel="letter", content="来信\x00反映"),
        Submission(channel="letter", content=FACTS, reporter=Reporter(name="甄\ud800"), anonymous=False),
        Submission(channel="letter", content=FACTS, attachments=(Upload("扫描\x1b.png", "image/png", b"x"),)),
    ]
    for sub in subs:
        with pytest.raises(ValidationError) as refused:
            await pipeline.accept(sub)
        assert refused.value.code == "invalid_characters"
    with pytest.raises(ValidationError):
        await pipeline.add_followup("1" * 16, "补充\x00", "web", "t")
    assert await services_of(c.app).db.reports.count() == 0


# --- platform pushes: the characters removed, the platform answered --------------------------------


async def stored_content(services: Any, case_no: str) -> str:
    report = await services.db.reports.get(case_no)
    assert report is not None
    return str(report.content)


async def test_weibo_and_wechat_pushes_have_them_removed(p: Platforms) -> None:
    push = weibo.push(2489518277, "text", "举报 某站所长\u0000违规\ud800收费\u0085")
    resp = await p.wb.post_raw(json.dumps(push).encode())  # ASCII escapes: "\u0000", "\ud800"
    assert resp.status == 200
    case_no, _ = receipt_of(json.loads(unquote((await resp.json())["data"]))["text"])
    assert "某站所长违规收费" in await stored_content(p.services, case_no)
    # XML 1.0 has no place for C0 controls at all: removed before WeChat's XML is parsed.
    case_no, _ = receipt_of(await p.wx.text("oWx_TestOpenId_0001", "举报 某所长\x01违规\x00插手\x85工程"))
    content = await stored_content(p.services, case_no)
    assert "某所长违规插手工程" in content


async def test_telegram_updates_have_them_removed(
    aiohttp_client: Any, aiohttp_server: Any, make_settings: Callable[..., Settings], db_url: str
) -> None:
    s = await start_telegram(aiohttp_client, aiohttp_server, make_settings, db_url)
    update = json.dumps(message(700100400, text="/report 某局长\u0000收受\ud800礼金"))
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": telegram.SECRET}
    resp = await s.client.post("/channels/telegram", data=update, headers=headers)
    assert resp.status == 200, await resp.text()
    reports = await s.services.db.reports.count()
    assert reports == 1
    case_no = receipt_of(s.api.texts(700100400)[-1])[0]
    assert "某局长收受礼金" in await stored_content(s.services, case_no)


async def test_twilio_sms_has_them_removed(h: Hotline) -> None:
    status, replies = await h.driver.sms("举报 某县住建局副局长\x00利用职务\x1b便利承揽工程")
    assert status == 200 and len(replies) == 1
    case_no, _ = sms_receipt_of(replies[0])
    assert "副局长利用职务便利承揽工程" in await stored_content(h.services, case_no)
