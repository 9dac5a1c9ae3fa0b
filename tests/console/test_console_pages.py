"""The console pages over HTTP, on SQLite and PostgreSQL: login with TOTP, sessions that expire,
anti-forgery tokens, scoping exactly as the staff API, the triage queue, actions and the
timeline, attachments, the deadline board, search, and no identity anywhere on a page."""

from __future__ import annotations

import asyncio
import io
import re
from contextlib import redirect_stdout
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import channels
from intake.domain import Accused, Reporter, Submission, Upload
from intake.staff import totp_now
from server.app import build_app, services_of
from server.cli import main
from storage.search import SearchIndex
from tests.console.conftest import console_get, console_login, csrf_of
from tests.workflow.conftest import PASSWORD, Office

PNG = (
    Path(__file__).parent.parent / "fixtures" / "channels" / "web" / "report__with_attachment.png"
).read_bytes()


async def post_form(o: Office, path: str, data: dict[str, str]) -> tuple[int, str, str]:
    resp = await o.client.post(path, data=data, allow_redirects=False, headers={"Accept": "text/html"})
    return resp.status, resp.headers.get("Location", ""), await resp.text()


async def test_login_csrf_throttle_logout_and_expiry(office: Office) -> None:
    o = office
    # No session: every page sends the browser to the login form.
    status, _ = await console_get(o, "/console/queue")
    assert status == 302
    resp = await o.client.get("/console/queue", allow_redirects=False)
    assert resp.headers["Location"] == "/console/login"

    resp = await o.client.get("/console/login")
    html = await resp.text()
    assert resp.status == 200 and "动态口令" in html and resp.headers["Cache-Control"] == "no-store"
    login_cookie = resp.cookies["xf_console_login"]
    assert login_cookie["httponly"] and login_cookie["samesite"] == "Strict"
    token = csrf_of(html)

    def creds(totp: str, password: str = PASSWORD, csrf: str = token) -> dict[str, str]:
        return {"csrf": csrf, "username": "county_handler", "password": password, "totp": totp}

    # A forged form (no or a wrong token) is refused before the password is even looked at.
    good = totp_now(o.secrets["county_handler"], o.clock.now())
    status, _, html = await post_form(o, "/console/login", creds(good, csrf="0" * 64))
    assert status == 403 and "页面已过期或来源不明" in html

    # Wrong factor: the same message as the API; after five, this address must wait a while.
    for _ in range(5):
        o.clock.at += timedelta(seconds=31)
        status, _, html = await post_form(o, "/console/login", creds("000000"))
        assert status == 401 and "用户名、密码或动态口令错误。" in html
    o.clock.at += timedelta(seconds=31)
    status, _, html = await post_form(
        o, "/console/login", creds(totp_now(o.secrets["county_handler"], o.clock.now()))
    )
    assert status == 429 and "登录尝试过于频繁" in html
    o.clock.at += timedelta(minutes=16)

    # A good login: an HttpOnly, SameSite=Strict session cookie, not Secure over plain http.
    resp = await o.client.post(
        "/console/login",
        data=creds(totp_now(o.secrets["county_handler"], o.clock.now())),
        allow_redirects=False,
    )
    assert resp.status == 303 and resp.headers["Location"] == "/console/queue"
    session = resp.cookies["xf_console"]
    assert session["httponly"] and session["samesite"] == "Strict" and session["path"] == "/console"
    assert not session["secure"]
    status, html = await console_get(o, "/console/queue")
    assert status == 200 and "county_handler" in html and "长沙县纪委监委" in html
    page_token = csrf_of(html)

    # Logout needs the token too.
    status, _, _ = await post_form(o, "/console/logout", {"csrf": "0" * 64})
    assert status == 403
    assert (await console_get(o, "/console/queue"))[0] == 200
    status, location, _ = await post_form(o, "/console/logout", {"csrf": page_token})
    assert status == 303 and location == "/console/login?out=1"
    status, _ = await console_get(o, "/console/queue")
    assert status == 302

    # The session expires with its token (8 hours).
    await console_login(o, "county_reg")
    o.clock.at += timedelta(hours=8, minutes=1)
    resp = await o.client.get("/console/cases", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == "/console/login?expired=1"
    status, html = await console_get(o, "/console/login?expired=1")
    assert "登录已过期" in html
    await o.audit_ok()


async def test_session_cookie_is_secure_behind_https(aiohttp_client: Any, make_settings: Any) -> None:
    settings = make_settings(INTAKE_PUBLIC_URL="https://xf.example.gov.cn")
    client = await aiohttp_client(build_app(settings, channels.REGISTRY, run_worker=False))
    _, secret = await services_of(client.app).staff.add("county_reg", "430121", "registrar", PASSWORD)
    resp = await client.get("/console/login")
    assert resp.cookies["xf_console_login"]["secure"]
    token = csrf_of(await resp.text())
    # The login cookie is Secure, so the test client (plain http) would not send it back: send it.
    clock_now = services_of(client.app).clock.now()
    resp = await client.post(
        "/console/login",
        data={
            "csrf": token,
            "username": "county_reg",
            "password": PASSWORD,
            "totp": totp_now(secret, clock_now),
        },
        cookies={"xf_console_login": resp.cookies["xf_console_login"].value},
        allow_redirects=False,
    )
    assert resp.status == 303
    cookie = resp.cookies["xf_console"]
    assert cookie["secure"] and cookie["httponly"] and cookie["samesite"] == "Strict"


async def test_scoping_matches_the_api(office: Office) -> None:
    o = office
    county_case, _ = await o.file(
        "县交通局局长王某收受工程老板红包，金额五万元。", accused=Accused("王某", "长沙县交通局", "局长")
    )
    await o.triaged(county_case)
    for name in ("town_officer", "county_handler", "county_sup"):
        await o.login(name)

    # The API and the pages agree: a county case is a 404 for a township officer, not a 403.
    status, doc = await o.get("town_officer", f"/api/v1/staff/reports/{county_case}")
    assert status == 404
    await console_login(o, "town_officer")
    status, html = await console_get(o, f"/console/cases/{county_case}")
    assert status == 404 and doc["error"]["message"] in html
    status, html = await console_get(o, "/console/cases/2099-430121-999999")
    assert status == 404 and doc["error"]["message"] in html
    status, html = await console_get(o, "/console/search?q=红包")
    assert status == 200 and county_case not in html and 'id="hits">0<' in html
    status, html = await console_get(o, "/console/queue")
    assert county_case not in html
    # Actions and triage decisions on a case out of sight: the same 404, nothing changes.
    token = csrf_of(html)
    status, _, _ = await post_form(
        o, f"/console/cases/{county_case}/actions", {"csrf": token, "action": "accept"}
    )
    assert status == 404
    status, _ = await console_get(
        o, f"/console/cases/{county_case}/attachments/00000000-0000-0000-0000-000000000000"
    )
    assert status == 404

    # The county handler sees it and finds it.
    await console_login(o, "county_handler")
    status, html = await console_get(o, f"/console/cases/{county_case}")
    assert status == 200 and "收受工程老板红包" in html
    status, html = await console_get(o, "/console/search?q=红包")
    assert county_case in html

    # A case about the county commission's own head goes up sealed: gone for the county, its
    # supervisor included, and for the township below; the city sees it.
    head_case, _ = await o.file("长沙县纪委书记赵某收受贿赂。", accused=Accused("赵某", "长沙县纪委", "书记"))
    await o.triaged(head_case, sealed=True, level="city", unit={"id": "4301", "name": "长沙市纪委监委"})
    await o.services.workflow.after_triage(head_case)
    for name in ("county_handler", "county_sup", "town_officer"):
        assert (await o.get(name, f"/api/v1/staff/reports/{head_case}"))[0] == 404
        await console_login(o, name)
        status, _ = await console_get(o, f"/console/cases/{head_case}")
        assert status == 404
        for path in ("/console/queue", "/console/cases", "/console/deadlines", "/console/search?q=贿赂"):
            status, html = await console_get(o, path)
            assert status == 200 and head_case not in html, (name, path)
    await console_login(o, "city_sup")
    status, html = await console_get(o, f"/console/cases/{head_case}")
    assert status == 200 and "密封" in html
    status, html = await console_get(o, "/console/search?q=贿赂")
    assert head_case in html


async def test_identity_never_on_a_page(office: Office) -> None:
    o = office
    sub = Submission(
        channel="web",
        content="村支书张三在低保评定中优亲厚友，把低保名额给了亲属。",
        accused=Accused("张三", "黄兴镇某村", "村支书"),
        reporter=Reporter("李四", "430121199001011234", "13812345678", "黄兴镇某村3组"),
        anonymous=False,
        handles={"ip": "203.0.113.9"},
        attachments=(
            Upload("evidence.png", "image/png", PNG),
            Upload("身份证.png", "image/png", PNG, identifying=True),
        ),
    )
    receipt = await o.services.pipeline.accept(sub)
    case_no = receipt.case_no
    await o.triaged(case_no, needs_review=True)
    await o.services.pipeline.add_followup(receipt.query_code or "", "补充：还有一户也是亲属。", "web", "k")
    await console_login(o, "county_reg")
    pages = [
        "/console/queue",
        "/console/cases",
        f"/console/cases/{case_no}",
        "/console/search?q=低保",
        "/console/deadlines",
    ]
    for path in pages:
        status, html = await console_get(o, path)
        assert status == 200, path
        for secret in ("李四", "13812345678", "430121199001011234", "黄兴镇某村3组", "203.0.113.9", "身份证"):
            assert secret not in html, (path, secret)
    status, html = await console_get(o, f"/console/cases/{case_no}")
    alias = (await o.services.db.reports.get(case_no)).informant_alias
    assert alias in html and "实名，身份信息已封存" in html and "还有一户也是亲属" in html
    # Only the evidence is listed (the ID-card photo is in the vault) and it downloads as a file.
    links = re.findall(rf'href="(/console/cases/{case_no}/attachments/[0-9a-f-]+)"', html)
    assert len(links) == 1 and "附件（1）" in html
    resp = await o.client.get(links[0])
    assert resp.status == 200 and await resp.read() == PNG
    assert resp.headers["Content-Type"] == "image/png"
    assert resp.headers["Content-Disposition"].startswith('attachment; filename="attachment.png"')
    assert resp.headers["Cache-Control"] == "no-store"
    report = await o.services.db.reports.get(case_no)
    opened = [e for e in await o.services.db.reports.events(report.id) if e.kind == "attachment_opened"]
    assert len(opened) == 1 and "county_reg" in opened[0].actor
    await console_login(o, "town_officer")
    assert (await o.client.get(links[0], allow_redirects=False)).status == 404
    # A refused download leaves no trace of an opening.
    opened = [e for e in await o.services.db.reports.events(report.id) if e.kind == "attachment_opened"]
    assert len(opened) == 1


async def test_triage_queue_confirm_and_correct(office: Office) -> None:
    o = office
    unsure, _ = await o.file()
    await o.triaged(
        unsure,
        needs_review=True,
        confidence=0.42,
        evidence=[{"decision": "category", "rule": "keywords discipline-2023.1", "words": ["优亲厚友"]}],
        explanations=[
            {
                "decision": "category",
                "text": "问题类别为“群众纪律”：文中出现“优亲厚友”等词语。",
                "words": [{"text": "优亲厚友", "start": 0, "end": 4}],
                "confidence": 0.42,
                "confidence_label": "低",
                "confidence_text": "把握：低（0.42）",
            }
        ],
    )
    fresh, _ = await o.file("镇卫生院院长虚报冒领医保资金。")
    await o.triaged(fresh, category="廉洁纪律", priority="high")
    token = await console_login(o, "county_reg")
    status, html = await console_get(o, "/console/queue")
    assert status == 200 and unsure in html and fresh in html
    card = html[html.index(f'id="q-{unsure}"') :]
    card = card[: card.index("</article>")]
    for shown in ("群众纪律", "检举控告", "县级", "长沙县纪委监委", "一般", "42%", "需人工复核", "优亲厚友"):
        assert shown in card, shown
    # Officers read the Chinese explanation, never the internal rule dump (issue 19).
    assert "问题类别为“群众纪律”：文中出现“优亲厚友”等词语。" in card and "把握：低（0.42）" in card
    assert "keywords discipline-2023.1" not in card and "规则：" not in card
    # The correction form offers every handling unit once, the suggested one chosen, no village.
    select = card[card.index('<select name="unit">') :]
    select = select[: select.index("</select>")]
    handling = [c for c in o.services.workflow.tree.units if not o.services.workflow.tree.is_intake_point(c)]
    assert all(select.count(f'<option value="{c}"') == 1 for c in handling)
    assert select.count("<option") == len(handling) + 1  # and （不变）
    assert select.count(" selected") == 1 and '<option value="430121" selected>长沙县纪委监委' in select

    # One click: the suggestion becomes the staff decision.
    status, location, _ = await post_form(
        o, f"/console/cases/{unsure}/triage", {"csrf": token, "confirm": "1", "back": "queue"}
    )
    assert status == 303 and location == "/console/queue?done=triage"
    report = await o.services.db.reports.get(unsure)
    assert report.triage["needs_review"] is False and report.triage["corrected_by"] == "staff:county_reg"
    status, html = await console_get(o, location)
    assert "分流结果已确认" in html

    # The correct form: only what changed is recorded.
    status, location, _ = await post_form(
        o,
        f"/console/cases/{fresh}/triage",
        {
            "csrf": token,
            "back": "case",
            "category": "廉洁纪律",
            "scope": "accusation",
            "level": "township",
            "unit": "430121102",
            "priority": "urgent",
        },
    )
    assert status == 303 and location == f"/console/cases/{fresh}?done=triage"
    report = await o.services.db.reports.get(fresh)
    assert report.level == "township" and report.priority == "urgent" and report.handling_unit == "430121102"
    corrections = [c for c in await o.services.triage.corrections() if c.case_no == fresh]
    assert {c.field for c in corrections} == {"level", "unit", "priority"}
    status, html = await console_get(o, f"/console/cases/{fresh}")
    assert "人工修改分流" in html and "黄兴镇纪委" in html

    # Bad values are refused with the form's message; a handler may not decide triage.
    status, _, html = await post_form(o, f"/console/cases/{fresh}/triage", {"csrf": token, "level": "galaxy"})
    assert status == 422 and "level 只能是" in html
    status, _, _ = await post_form(o, f"/console/cases/{fresh}/triage", {"confirm": "1"})
    assert status == 403
    token = await console_login(o, "county_handler")
    status, _, html = await post_form(o, f"/console/cases/{fresh}/triage", {"csrf": token, "confirm": "1"})
    assert status == 403 and "只有分流人员" in html
    await o.audit_ok()


async def test_actions_thread_and_timeline(
    office: Office, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    o = office
    case_no, code = await o.file(real_name=True)
    await o.triaged(case_no)
    await o.services.pipeline.add_followup(code, "补充：评定会议没有公示。", "web", "k")
    token = await console_login(o, "county_reg")
    status, html = await console_get(o, f"/console/cases/{case_no}")
    # A registrar in 'received': register, accept, redirect, transfer, merge, record a recusal request —
    # not reply or close.
    forms = set(re.findall(r'id="act-([a-z_]+)"', html))
    assert forms == {"register", "accept", "redirect", "transfer", "merge", "request_recusal"}

    # A forged action (no token) changes nothing.
    status, _, html = await post_form(o, f"/console/cases/{case_no}/actions", {"action": "accept"})
    assert status == 403 and "页面已过期或来源不明" in html
    assert (await o.services.db.reports.get(case_no)).status == "received"

    status, location, _ = await post_form(
        o, f"/console/cases/{case_no}/actions", {"csrf": token, "action": "accept"}
    )
    assert status == 303 and location == f"/console/cases/{case_no}?done=accept"
    status, html = await console_get(o, location)
    assert "“受理”已完成" in html and "已受理" in html

    # A transfer without a unit is refused on the page itself, with the reason.
    status, _, html = await post_form(
        o, f"/console/cases/{case_no}/actions", {"csrf": token, "action": "transfer"}
    )
    assert status == 422 and "请选择辖区内的单位" in html and 'id="act-transfer"' in html

    # Transfer down to the township: it leaves the county registrar's queue and reaches the town.
    status, location, _ = await post_form(
        o, f"/console/cases/{case_no}/actions", {"csrf": token, "action": "transfer", "to_unit": "430121102"}
    )
    assert status == 303 and location == "/console/queue?done=left"
    token = await console_login(o, "town_officer")
    status, html = await console_get(o, f"/console/cases/{case_no}")
    assert status == 200 and "黄兴镇纪委" in html and "已转办" in html
    status, location, _ = await post_form(
        o, f"/console/cases/{case_no}/actions", {"csrf": token, "action": "accept"}
    )
    assert status == 303

    # A wrong state is explained, not a crash: a reply needs text; close before reply is fine.
    status, _, html = await post_form(
        o, f"/console/cases/{case_no}/actions", {"csrf": token, "action": "reply"}
    )
    assert status == 422 and "请填写答复内容" in html
    status, location, _ = await post_form(
        o,
        f"/console/cases/{case_no}/actions",
        {"csrf": token, "action": "reply", "text": "经核查，低保评定已重新公示并纠正。"},
    )
    assert status == 303 and location.endswith("done=reply")
    status, html = await console_get(o, f"/console/cases/{case_no}")
    thread = html[html.index('id="thread"') : html.index('id="deadlines"')]
    assert "评定会议没有公示" in thread and "经核查，低保评定已重新公示并纠正。" in thread
    assert thread.index("评定会议没有公示") < thread.index("经核查")
    # The informant reads the reply with the query code.
    found = await o.services.pipeline.status(code, "k2")
    assert [r.text for r in found.replies] == ["经核查，低保评定已重新公示并纠正。"]

    timeline = html[html.index('id="timeline"') :]
    for label in ("收到信访举报", "自动分流", "受理", "转办", "答复", "信访人补充材料"):
        assert label in timeline, label
    assert "county_reg（工作人员）" in timeline and "至 黄兴镇纪委" in timeline
    assert "网上举报渠道" in timeline

    # Close: an outcome of the regulations' list and the confirmation are needed (the case has
    # been answered, so no second text); then no more reply is offered; a handler may not merge.
    status, html = await console_get(o, f"/console/cases/{case_no}")
    close_form = html[html.index('id="act-close"') :]
    close_form = close_form[: close_form.index("</form>")]
    assert 'name="outcome"' in close_form and "查否了结" in close_form and 'name="confirm"' in close_form
    closing = {"csrf": token, "action": "close", "outcome": "checked_conclusion"}
    status, _, html = await post_form(o, f"/console/cases/{case_no}/actions", closing)
    assert status == 422 and "请确认办结" in html
    status, _, _ = await post_form(o, f"/console/cases/{case_no}/actions", {**closing, "confirm": "1"})
    assert status == 303
    status, html = await console_get(o, f"/console/cases/{case_no}")
    assert "已办结" in html and 'id="act-reopen"' not in html  # a handler does not reopen
    assert 'id="act-reply"' not in html and "办结结果：查否了结" in html
    status, _, html = await post_form(
        o, f"/console/cases/{case_no}/actions", {"csrf": token, "action": "merge", "target": "x"}
    )
    assert status == 403 and "不能执行" in html

    await o.audit_ok()
    monkeypatch.setenv("INTAKE_DATA_DIR", str(data_dir))
    monkeypatch.setenv("INTAKE_DATABASE_URL", o.services.db.url)
    # ``intake audit verify`` itself (its own event loop, so in a thread of its own).
    with redirect_stdout(io.StringIO()):
        assert await asyncio.to_thread(main, ["audit", "verify"]) == 0


async def test_deadline_board(office: Office) -> None:
    o = office
    case_no, _ = await o.file(real_name=True)  # filed Friday 2025-09-26, before National Day
    await o.triaged(case_no)
    token = await console_login(o, "county_reg")
    await post_form(o, f"/console/cases/{case_no}/actions", {"csrf": token, "action": "accept"})
    await console_login(o, "county_sup")
    status, html = await console_get(o, "/console/deadlines")
    # 15 working days from 26 September skip the National Day week: not due within 10 days yet.
    assert status == 200 and case_no not in html
    status, html = await console_get(o, "/console/deadlines?within=30")
    assert case_no in html and "实名举报受理告知" in html
    due = html[html.index('id="due-soon"') : html.index('id="by-unit"')]
    assert case_no in due
    o.clock.set(2025, 10, 14)
    await console_login(o, "county_sup")  # days later: a new session
    status, html = await console_get(o, "/console/deadlines")
    due = html[html.index('id="due-soon"') : html.index('id="by-unit"')]
    assert case_no in due
    o.clock.set(2025, 11, 3)
    await console_login(o, "county_sup")
    status, html = await console_get(o, "/console/deadlines")
    overdue = html[html.index('id="overdue"') : html.index('id="due-soon"')]
    assert case_no in overdue and "超期" in overdue
    by_unit = html[html.index('id="by-unit"') :]
    # the notice and the clue's one-month disposal opinion (due 27 Oct, issue 18)
    assert re.search(r'data-unit="430121"><td>长沙县纪委监委</td><td class="n-overdue">2</td>', by_unit)
    # The township sees none of the county's deadlines.
    await console_login(o, "town_officer")
    status, html = await console_get(o, "/console/deadlines")
    assert case_no not in html


async def city_search(o: Office, q: str) -> list[str]:
    """What a search finds in the whole city's scope (the city supervisor's)."""
    member = await o.services.staff.member("city_sup")
    assert member is not None
    scope = o.services.staff.scope(member)
    return await o.services.db.search.search(
        q, units=scope.units, hide_sealed_received_by=scope.hide_sealed_received_by
    )


async def test_search_with_jieba_tokens(office: Office) -> None:
    o = office
    hit, _ = await o.file("黄兴镇某村会计挪用低保金两万元，至今未退还。")
    other, _ = await o.file("镇卫生院院长虚报冒领医保资金。")
    search = o.services.db.search
    # New reports are indexed by the job after the acknowledgement (here called directly) …
    assert await search.index(hit, o.clock.now()) is True
    assert await search.index(hit, o.clock.now()) is False
    # … and whatever was missed is caught up before a search.
    await console_login(o, "county_reg")
    status, html = await console_get(o, "/console/search?q=低保")
    assert status == 200 and hit in html and other not in html and 'id="hits">1<' in html
    assert await search.catch_up(o.clock.now()) == 0
    for q, expected in (
        ("低保金", {hit}),
        ("挪用 低保", {hit}),
        ("医保", {other}),
        ("会计", {hit}),
        ("低保 医保", set()),
        ("不存在的词语", set()),
        ("黄", {hit, other}),
    ):
        found = set(await city_search(o, q))
        assert found == expected, (q, found)
    # Odd input is harmless.
    for q in ('"', "'", '低保" OR 医保', "a*b:c", "&|!", " " * 5):
        status, html = await console_get(o, f"/console/search?q={q}")
        assert status == 200, q


async def test_the_catch_up_before_a_search_looks_only_at_new_reports_after_its_first_pass(
    office: Office,
) -> None:
    # The first catch-up of a process looks at every report; later ones only at the reports
    # received since shortly before the previous one began (at a million reports the whole-table
    # look took 1.5 s, before every search). A report missed that far back is found by the next
    # process's first pass.
    o = office
    o.clock.set(2025, 10, 1)
    first, _ = await o.file("黄兴镇某村会计挪用低保金两万元，至今未退还。")
    search = o.services.db.search
    assert await search.catch_up(o.clock.now()) == 1
    assert await city_search(o, "低保金") == [first]
    o.clock.set(2025, 9, 1)  # a report whose receipt time is older than that pass (an import)
    old, _ = await o.file("安沙镇国土所工作人员在征地补偿中虚报面积，套取补偿款。")
    o.clock.set(2025, 10, 2)
    new, _ = await o.file("星沙街道城管队员对摊贩态度粗暴，随意没收物品。")
    assert await search.catch_up(o.clock.now()) == 1
    assert await city_search(o, "城管") == [new]
    assert await city_search(o, "征地") == []
    assert await search.catch_up(o.clock.now()) == 0
    restarted = SearchIndex(o.services.db)
    assert await restarted.catch_up(o.clock.now()) == 1
    assert await city_search(o, "征地") == [old]
