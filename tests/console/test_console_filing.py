"""The console's filing pages (登记来信/登记来访), the case page's 延期 and 回避 forms, the 我的 page
(declared relations) and the 投递失败 page, over HTTP on SQLite and PostgreSQL: each through the
same service calls as the staff API, scoped like it, with anti-forgery tokens, and no identity on
any page after a visit is filed with a name, phone and ID number."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from intake.domain import Submission
from intake.notifier import CaseEvent, DeliveryFailed
from storage.records import JobRecord
from tests.console.conftest import console_get, console_login, csrf_of
from tests.workflow.conftest import Office

PNG = (
    Path(__file__).parent.parent / "fixtures" / "channels" / "web" / "report__with_attachment.png"
).read_bytes()
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
DOCX_LIKE = b"PK\x03\x04" + b"\x00" * 64

VISITOR = {
    "reporter_name": "欧阳明华",
    "reporter_id_number": "430121198807154321",
    "reporter_phone": "13987654321",
    "reporter_address": "星沙街道望仙路88号",
}
FACTS = "村主任刘某把集体土地补偿款挪作他用，村民多次反映无果。"
PAGES = ("/console/queue", "/console/cases", "/console/deadlines", "/console/me", "/console/file")


async def post_form(o: Office, path: str, data: Any) -> tuple[int, str, str]:
    resp = await o.client.post(path, data=data, allow_redirects=False, headers={"Accept": "text/html"})
    return resp.status, resp.headers.get("Location", ""), await resp.text()


def visit_form(token: str, nonce: str, **extra: str) -> dict[str, str]:
    return {
        "csrf": token,
        "channel": "visit",
        "nonce": nonce,
        **VISITOR,
        "accused_name": "刘某",
        "accused_unit": "黄兴镇某村村委会",
        "accused_position": "村主任",
        "location_text": "长沙县黄兴镇某村",
        "content": FACTS,
    } | extra


def nonce_of(html: str) -> str:
    marker = 'name="nonce" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def scan(html: str) -> None:
    for value in VISITOR.values():
        assert value not in html, value


async def test_registering_a_visit_seals_the_identity_and_shows_the_code_once(
    office: Office, caplog: pytest.LogCaptureFixture
) -> None:
    o = office
    caplog.set_level(logging.DEBUG)
    # A handler may not file: the form and the POST are refused (403), like the API.
    await console_login(o, "county_handler")
    assert (await console_get(o, "/console/file"))[0] == 403
    _, html = await console_get(o, "/console/queue")
    assert "登记来信来访" not in html
    status, _, _ = await post_form(o, "/console/file", visit_form(csrf_of(html), "x" * 16))
    assert status == 403

    await console_login(o, "county_reg")
    status, html = await console_get(o, "/console/file")
    assert status == 200 and "登记来访" in html and 'name="reporter_id_number"' in html
    nonce = nonce_of(html)
    # A forged form changes nothing.
    status, _, page = await post_form(o, "/console/file", visit_form("0" * 64, nonce))
    assert status == 403 and "页面已过期或来源不明" in page
    assert await o.services.workflow.queue(await o.services.staff.member("county_sup")) == []

    # No facts: the form comes back with the facts kept and the identity not shown back.
    status, _, page = await post_form(o, "/console/file", visit_form(csrf_of(html), nonce, content=""))
    assert status == 422 and 'id="identity-cleared"' in page and "刘某" in page
    scan(page)

    status, _, page = await post_form(o, "/console/file", visit_form(csrf_of(html), nonce))
    assert status == 200, page
    assert "来访登记回执" in page and "请打印本页交给来访人" in page
    assert 'id="signed-receipt"' in page and "受理回执（带数字签名）" in page
    case_no = page.split('id="case-no">')[1].split("<")[0]
    code = page.split('id="query-code">')[1].split("<")[0]
    assert case_no and len(code) >= 8
    scan(page)
    # The code works for the visitor; the case is registered to the registrar's unit at once.
    resp = await o.client.post("/api/v1/status", json={"query_code": code})
    assert resp.status == 200 and (await resp.json())["case_no"] == case_no
    await o.login("county_reg")
    _, doc = await o.get("county_reg", f"/api/v1/staff/reports/{case_no}")
    assert doc["status"] == "registered" and doc["channel"] == "visit" and not doc["anonymous"]
    assert doc["accused"]["name"] == "刘某" and doc["location"]["text"] == "长沙县黄兴镇某村"

    # The same form sent twice (double click, reload) files one case, and shows no code again.
    status, _, again = await post_form(o, "/console/file", visit_form(csrf_of(html), nonce))
    assert status == 200 and case_no in again and 'id="repeat"' in again
    scan(again)

    # Every console page, for the registrar and a supervisor: no name, phone, ID number, address.
    for name in ("county_reg", "county_sup"):
        await console_login(o, name)
        for path in (
            *PAGES,
            f"/console/cases/{case_no}",
            "/console/search?q=补偿款",
            "/console/dead-letters",
        ):
            status, html = await console_get(o, path)
            assert status in (200, 403), (name, path, status)
            scan(html)
        status, html = await console_get(o, f"/console/cases/{case_no}")
        assert FACTS in html and "实名，身份信息已封存" in html
    # …and nothing logged either.
    for value in VISITOR.values():
        assert value not in caplog.text
    await o.audit_ok()


async def test_registering_a_letter_with_scans(office: Office) -> None:
    o = office
    await console_login(o, "county_reg")
    status, html = await console_get(o, "/console/file?channel=letter")
    assert status == 200 and 'name="attachments"' in html and 'name="identity_files"' in html

    def letter(token: str, nonce: str, files: list[tuple[str, str, bytes]]) -> aiohttp.FormData:
        form = aiohttp.FormData()
        for key, value in {
            "csrf": token,
            "channel": "letter",
            "nonce": nonce,
            "reporter_name": "赵六",
            "content": "来信反映镇卫生院院长虚报药品采购费用。",
        }.items():
            form.add_field(key, value)
        for field, name, data in files:
            form.add_field(field, data, filename=name, content_type="application/octet-stream")
        return form

    # A Word file posing as a scan is refused by its bytes; the text is kept, the name is not.
    status, _, page = await post_form(
        o, "/console/file", letter(csrf_of(html), nonce_of(html), [("attachments", "信.pdf", DOCX_LIKE)])
    )
    assert status == 422 and "扫描件只能是图片" in page and "虚报药品采购费用" in page and "赵六" not in page
    # Over the size limit: 413 before anything is stored.
    big = PNG + b"\x00" * (o.services.settings.max_file_bytes + 1)
    status, _, page = await post_form(
        o, "/console/file", letter(csrf_of(html), nonce_of(html), [("attachments", "scan.png", big)])
    )
    assert status == 413 and "赵六" not in page
    # A forged multipart form is refused before the first file is read.
    status, _, _ = await post_form(
        o, "/console/file", letter("0" * 64, nonce_of(html), [("attachments", "scan.png", PNG)])
    )
    assert status == 403
    assert await o.services.workflow.queue(await o.services.staff.member("county_reg")) == []

    status, _, page = await post_form(
        o,
        "/console/file",
        letter(
            csrf_of(html),
            nonce_of(html),
            [("attachments", "正文.png", PNG), ("identity_files", "信封.pdf", PDF)],
        ),
    )
    assert status == 200 and "来信登记回执" in page and "随告知书邮寄给来信人" in page
    case_no = page.split('id="case-no">')[1].split("<")[0]
    status, html = await console_get(o, f"/console/cases/{case_no}")
    # Only the letter's text page is evidence; the envelope went to the vault.
    assert status == 200 and "附件（1）" in html and "image/png" in html and "application/pdf" not in html
    assert "赵六" not in html and "来信" in html
    await o.audit_ok()


async def test_extend_deadline_with_approval_as_the_api_requires(office: Office) -> None:
    o = office
    o.clock.set(2025, 7, 8)
    case_no, _ = await o.file()
    await o.triaged(case_no)
    for name in ("county_reg", "county_sup"):
        await o.login(name)
    await o.act("county_reg", case_no, action="accept")
    status, doc = await o.act("county_sup", case_no, action="assign", to_unit="430121102")
    assert status == 200, doc
    [d] = [d for d in doc["deadlines"] if d["rule"] == "jiaoban_conclude"]

    # The township handler now sees the case but may not extend: no form, and the POST is a 403.
    await console_login(o, "town_officer")
    status, html = await console_get(o, f"/console/cases/{case_no}")
    assert status == 200 and 'id="act-extend"' not in html
    extend = {"csrf": csrf_of(html), "action": "extend", "deadline_id": str(d["id"]), "approval": "批准"}
    status, _, _ = await post_form(o, f"/console/cases/{case_no}/actions", extend)
    assert status == 403
    # The county registrar no longer sees it (assigned down; not a supervisor): 404, as the API.
    await o.login("county_reg")
    assert (await o.get("county_reg", f"/api/v1/staff/reports/{case_no}"))[0] == 404
    await console_login(o, "county_reg")
    status, html = await console_get(o, "/console/queue")
    status, _, _ = await post_form(o, f"/console/cases/{case_no}/actions", {**extend, "csrf": csrf_of(html)})
    assert status == 404

    token = await console_login(o, "county_sup")
    status, html = await console_get(o, f"/console/cases/{case_no}")
    assert 'id="act-extend"' in html and "交办" in html
    token = csrf_of(html)
    form = {"csrf": token, "action": "extend", "deadline_id": str(d["id"])}
    status, _, page = await post_form(o, f"/console/cases/{case_no}/actions", {**form, "csrf": "0" * 64})
    assert status == 403
    # Without approval: the API's message, nothing changed.
    status, _, page = await post_form(o, f"/console/cases/{case_no}/actions", form)
    assert status == 422 and 'id="error"' in page
    assert "2025-10-09" in page
    status, location, _ = await post_form(
        o, f"/console/cases/{case_no}/actions", {**form, "approval": "主要负责人批准"}
    )
    assert status == 303 and location.endswith("done=extend"), location
    status, html = await console_get(o, location)
    assert "“延长期限”已完成" in html and "2026-01-09" in html and "延至 2026-01-09" in html
    # The next step needs a new date set by the upper level, as the API says.
    status, _, page = await post_form(
        o, f"/console/cases/{case_no}/actions", {**form, "approval": "市纪委批准"}
    )
    assert status == 422
    status, location, _ = await post_form(
        o,
        f"/console/cases/{case_no}/actions",
        {**form, "approval": "市纪委批准", "deadline": "2026-03-01"},
    )
    assert status == 303
    _, doc = await o.get("county_sup", f"/api/v1/staff/reports/{case_no}")
    [d] = [d for d in doc["deadlines"] if d["rule"] == "jiaoban_conclude"]
    assert d["due_on"] == "2026-03-02" and d["extensions"] == 2
    await o.audit_ok()


async def test_recusal_request_and_decision_and_declared_relations(office: Office) -> None:
    o = office
    case_no, _ = await o.file()
    await o.triaged(case_no)
    for name in ("county_reg", "county_sup"):
        await o.login(name)
    await o.act("county_reg", case_no, action="accept")

    # 我的: the handler declares a relation to the accused; the form needs the token.
    await console_login(o, "county_handler")
    status, html = await console_get(o, "/console/me")
    assert status == 200 and 'id="no-relations"' in html and "长沙县纪委监委" in html
    relation = {"csrf": csrf_of(html), "person_name": "张三", "person_unit": "黄兴镇", "relation": "表兄弟"}
    status, _, _ = await post_form(o, "/console/me/relations", {**relation, "csrf": "0" * 64})
    assert status == 403
    status, _, page = await post_form(o, "/console/me/relations", {**relation, "relation": ""})
    assert status == 422 and "请填写关系人姓名" in page
    assert await o.services.staff.relations("county_handler") == []
    status, location, _ = await post_form(o, "/console/me/relations", relation)
    assert status == 303 and location == "/console/me?done=relation"
    status, html = await console_get(o, location)
    assert "亲属关系已申报" in html and "表兄弟" in html
    # Another staff member's page does not show it.
    await console_login(o, "county_handler2")
    assert 'id="no-relations"' in (await console_get(o, "/console/me"))[1]

    # The supervisor cannot assign the related handler (the workflow's rule), can the other.
    await console_login(o, "county_sup")
    status, html = await console_get(o, f"/console/cases/{case_no}")
    token = csrf_of(html)
    path = f"/console/cases/{case_no}/actions"
    status, _, page = await post_form(
        o, path, {"csrf": token, "action": "assign", "handler": "county_handler"}
    )
    assert status == 403 and "表兄弟" not in page
    status, _, _ = await post_form(o, path, {"csrf": token, "action": "assign", "handler": "county_handler2"})
    assert status == 303

    # The registrar records the informant's recusal request (by letter or in person).
    await console_login(o, "county_reg")
    status, html = await console_get(o, f"/console/cases/{case_no}")
    assert 'id="act-request_recusal"' in html and 'id="act-decide_recusal"' not in html
    reg_token = csrf_of(html)
    status, _, _ = await post_form(
        o, path, {"csrf": reg_token, "action": "request_recusal", "kind": "informant", "reason": ""}
    )
    assert status == 422
    status, location, _ = await post_form(
        o,
        path,
        {
            "csrf": reg_token,
            "action": "request_recusal",
            "kind": "informant",
            "reason": "承办人与被反映人是同学",
        },
    )
    assert status == 303
    _, doc = await o.get("county_sup", f"/api/v1/staff/reports/{case_no}")
    [request] = doc["recusals"]
    assert request["requested_by"] == "informant" and request["target"] == "county_handler2"
    status, html = await console_get(o, location)
    assert "待决定" in html and "承办人与被反映人是同学" in html
    # The registrar may not decide it.
    status, _, _ = await post_form(
        o,
        path,
        {
            "csrf": reg_token,
            "action": "decide_recusal",
            "recusal_id": str(request["id"]),
            "decision": "granted",
        },
    )
    assert status == 403

    await console_login(o, "county_sup")
    status, html = await console_get(o, f"/console/cases/{case_no}")
    assert 'id="act-decide_recusal"' in html
    status, location, _ = await post_form(
        o,
        path,
        {
            "csrf": csrf_of(html),
            "action": "decide_recusal",
            "recusal_id": str(request["id"]),
            "decision": "granted",
        },
    )
    assert status == 303
    status, html = await console_get(o, location)
    assert "准予回避" in html and 'id="act-decide_recusal"' not in html
    _, doc = await o.get("county_sup", f"/api/v1/staff/reports/{case_no}")
    assert doc["handler"] is None and doc["status"] == "accepted"
    await o.audit_ok()


async def test_dead_letters_listed_and_resent_within_scope(office: Office) -> None:
    o = office
    device = "device-token-8f3a2c"
    receipt = await o.services.pipeline.accept(
        Submission(channel="app", content="县水利局工程款被截留。", handles={"app_device": device})
    )
    case_no = receipt.case_no
    report = await o.services.db.reports.get(case_no)

    sent: list[str] = []
    failing = {"on": True}

    async def push(handle: str, text: str) -> None:
        if failing["on"]:
            raise DeliveryFailed("gateway down")
        sent.append(handle)

    async def no_triage(job: JobRecord) -> None:  # the triage child process is not under test
        return None

    o.services.notifier.register("app", push)
    o.services.worker.register("triage", no_triage)
    assert await o.services.notifier.case_updated(report.id, CaseEvent("status_changed", status="accepted"))
    for _ in range(20):
        await o.services.worker.run_once()
        o.clock.at += timedelta(hours=1)
    [letter] = await o.services.notifier.dead_letters()

    # Handlers and registrars: 403. A township supervisor (the case is the county's): not listed, 404.
    for name in ("county_handler", "county_reg"):
        await console_login(o, name)
        assert (await console_get(o, "/console/dead-letters"))[0] == 403
    await console_login(o, "town_sup")
    status, html = await console_get(o, "/console/dead-letters")
    assert status == 200 and case_no not in html and 'id="empty"' in html
    status, _, _ = await post_form(o, f"/console/dead-letters/{letter.job_id}/retry", {"csrf": csrf_of(html)})
    assert status == 404

    await console_login(o, "county_sup")
    status, html = await console_get(o, "/console/dead-letters")
    assert status == 200 and case_no in html and "移动客户端" in html and "状态变更" in html
    assert "渠道发送失败" in html and "8 次" in html and device not in html
    status, _, _ = await post_form(o, f"/console/dead-letters/{letter.job_id}/retry", {"csrf": "0" * 64})
    assert status == 403
    assert len(await o.services.notifier.dead_letters()) == 1
    failing["on"] = False
    status, location, _ = await post_form(
        o, f"/console/dead-letters/{letter.job_id}/retry", {"csrf": csrf_of(html)}
    )
    assert status == 303 and location == "/console/dead-letters?done=retried"
    status, html = await console_get(o, location)
    assert "已重新排队发送" in html and 'id="empty"' in html
    await o.services.worker.run_once()
    assert sent == [device]
    # Sent again: nothing dead, so nothing to retry.
    status, _, _ = await post_form(o, f"/console/dead-letters/{letter.job_id}/retry", {"csrf": csrf_of(html)})
    assert status == 404
