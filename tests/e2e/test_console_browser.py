"""The staff console in headless Chromium, JavaScript off: a county registrar logs in with a TOTP
code, confirms a triage suggestion, accepts and transfers a case to a township; the township
officer accepts and replies; a supervisor reads the deadline board."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

import channels
from intake.domain import Accused, Reporter, Submission
from intake.staff import totp_now
from server.app import Services, build_app, services_of
from server.config import Settings
from tests.e2e.conftest import known_next_year

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
STAFF = {
    "county_reg": ("430121", "registrar"),
    "town_officer": ("430121102", "handler"),
    "county_sup": ("430121", "supervisor"),
}


@pytest.fixture
async def console(settings: Settings) -> AsyncIterator[tuple[str, Services, dict[str, str]]]:
    """A real server (no job worker: triage results are stored as the triage job would) with staff."""
    known_next_year(settings)  # an accusation accepted in December: its clue's month ends in January
    app = build_app(settings, channels.REGISTRY, run_worker=False)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    services = services_of(app)
    secrets = {}
    for name, (unit, role) in STAFF.items():
        _, secrets[name] = await services.staff.add(name, unit, role, PASSWORD)
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", services, secrets
    finally:
        await runner.cleanup()


async def file_report(services: Services, content: str, *, needs_review: bool) -> str:
    receipt = await services.pipeline.accept(
        Submission(
            channel="web",
            content=content,
            accused=Accused("张三", "黄兴镇某村", "村支书"),
            reporter=Reporter("李四", None, "13800000000", None),
            anonymous=False,
        )
    )
    report = await services.db.reports.get(receipt.case_no)
    assert report is not None
    doc = {
        "category": "群众纪律",
        "scope": "accusation",
        "level": "county",
        "unit": {"id": "430121", "name": "长沙县纪委监委"},
        "priority": "normal",
        "confidence": 0.48 if needs_review else 0.93,
        "evidence": [{"decision": "category", "rule": "keywords discipline-2023.1", "words": ["优亲厚友"]}],
        "duplicate_of": None,
        "needs_review": needs_review,
        "sealed": False,
    }
    columns = {k: doc[k] for k in ("scope", "level", "priority", "confidence", "duplicate_of")}
    await services.db.reports.set_triage(report.id, {**columns, "triage": doc}, services.clock.now())
    return receipt.case_no


async def login(browser: Any, base: str, name: str, secret: str) -> Any:
    context = await browser.new_context(
        viewport={"width": 1366, "height": 768}, locale="zh-CN", java_script_enabled=False
    )
    page = await context.new_page()
    await page.goto(base + "/console")
    assert page.url.endswith("/console/login")
    await page.fill("#username", name)
    await page.fill("#password", PASSWORD)
    await page.fill("#totp", totp_now(secret, datetime.now(UTC)))
    await page.click("button[type=submit]")
    await page.wait_for_selector("#who")
    assert page.url.endswith("/console/queue")
    assert name in (await page.text_content("#who") or "")
    return page


async def test_console_in_chromium(console: Any, browser: Any, tmp_path: Path) -> None:
    base, services, secrets = console
    unsure = await file_report(
        services, "村支书张三在低保评定中优亲厚友，把低保名额给了亲属。", needs_review=True
    )

    # Login with TOTP; the triage queue shows the suggestion and its evidence.
    page = await login(browser, base, "county_reg", secrets["county_reg"])
    card = page.locator(f"#q-{unsure}")
    assert "群众纪律" in (await card.locator(".s-category").text_content() or "")
    assert "长沙县纪委监委" in (await card.locator(".s-unit").text_content() or "")
    assert "48%" in (await card.locator(".s-confidence").text_content() or "")
    assert "优亲厚友" in (await card.inner_text())
    await page.screenshot(path=str(tmp_path / "queue.png"), full_page=True)
    # Nothing wider than a laptop screen.
    assert await page.evaluate("document.documentElement.scrollWidth") <= 1366

    # One click confirms the suggestion.
    await card.locator("button.confirm").click()
    await page.wait_for_selector("#notice")
    assert "分流结果已确认" in (await page.text_content("#notice") or "")
    report = await services.db.reports.get(unsure)
    assert report.triage["needs_review"] is False

    # Accept, then transfer down to the township.
    await page.click(f"text={unsure}")
    await page.wait_for_selector("#case-no")
    assert "李四" not in await page.content() and "13800000000" not in await page.content()
    await page.click("#act-accept button[type=submit]")
    await page.wait_for_selector("#notice")
    assert (await page.text_content("#status") or "").strip() == "已受理"
    await page.select_option("#to-unit-transfer", "430121102")
    await page.click("#act-transfer button[type=submit]")
    await page.wait_for_selector("#notice")
    assert "已转出本单位" in (await page.text_content("#notice") or "")
    assert page.url.endswith("/console/queue?done=left")

    # The township officer accepts and replies; the reply is on the thread and in the timeline.
    town = await login(browser, base, "town_officer", secrets["town_officer"])
    await town.goto(f"{base}/console/cases/{unsure}")
    assert (await town.text_content("#status") or "").strip() == "已转办"
    await town.click("#act-accept button[type=submit]")
    await town.wait_for_selector("#notice")
    await town.fill("#text-reply", "经核查，低保评定已重新公示并纠正。")
    await town.click("#act-reply button[type=submit]")
    await town.wait_for_selector("#notice")
    assert (await town.text_content("#status") or "").strip() == "已答复"
    assert "经核查，低保评定已重新公示并纠正。" in (await town.text_content("#thread") or "")
    timeline = await town.text_content("#timeline") or ""
    assert "转办" in timeline and "答复" in timeline and "county_reg（工作人员）" in timeline
    await town.screenshot(path=str(tmp_path / "case.png"), full_page=True)

    # The deadline board: the township's open deadline on the case, counted by unit.
    second = await file_report(services, "镇财政所长报销私人餐费，涉及低保资金。", needs_review=False)
    await page.goto(f"{base}/console/cases/{second}")
    await page.click("#act-accept button[type=submit]")
    await page.wait_for_selector("#notice")
    sup = await login(browser, base, "county_sup", secrets["county_sup"])
    await sup.click("text=期限看板")
    await sup.wait_for_selector("#by-unit")
    await sup.fill("#within", "30")
    await sup.click("#within ~ button")
    await sup.wait_for_selector("#due-soon")
    due = await sup.text_content("#due-soon") or ""
    assert second in due and "实名举报受理告知" in due
    by_unit = await sup.text_content("#by-unit") or ""
    assert "长沙县纪委监委" in by_unit
    await sup.screenshot(path=str(tmp_path / "deadlines.png"), full_page=True)

    # Search finds the report by a jieba word inside 低保资金.
    await sup.goto(f"{base}/console/search")
    await sup.fill("#q", "低保")
    await sup.click("form[role=search] button")
    await sup.wait_for_selector("#hits")
    assert second in (await sup.content())

    # Logout ends the session.
    await page.click("button.link")
    await page.wait_for_selector("#totp")
    await page.goto(f"{base}/console/queue")
    assert page.url.endswith("/console/login")
    ok, _, detail = await services.db.audit.verify()
    assert ok, detail


async def test_registering_a_visit_in_chromium(console: Any, browser: Any, tmp_path: Path) -> None:
    """A registrar files a walk-in visit through the form (JavaScript off): the receipt shows the
    case number and the query code once, prints without the console's chrome, and the visitor's
    name, phone and ID number appear on no page."""
    base, services, secrets = console
    identity = {
        "#reporter_name": "欧阳明华",
        "#reporter_id_number": "430121198807154321",
        "#reporter_phone": "13987654321",
    }
    page = await login(browser, base, "county_reg", secrets["county_reg"])
    await page.click("text=登记来信来访")
    await page.wait_for_selector("#file-form")
    assert "登记来访" in (await page.text_content("h1") or "")
    for selector, value in identity.items():
        await page.fill(selector, value)
    await page.fill("#accused_name", "刘某")
    await page.fill("#accused_position", "村主任")
    await page.fill("#location_text", "长沙县黄兴镇某村")
    await page.fill("#content", "村主任刘某把集体土地补偿款挪作他用，村民多次反映无果。")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 1366
    await page.click("#file-submit")
    await page.wait_for_selector("#query-code")
    case_no = (await page.text_content("#case-no") or "").strip()
    code = (await page.text_content("#query-code") or "").strip()
    assert case_no and len(code) >= 8
    html = await page.content()
    assert all(value not in html for value in identity.values())
    # Printed, the receipt is just the receipt: no navigation bar, no buttons.
    await page.emulate_media(media="print")
    assert not await page.is_visible("header.top") and await page.is_visible("#query-code")
    assert not await page.is_visible("text=继续登记")
    await page.screenshot(path=str(tmp_path / "receipt.png"), full_page=True)
    await page.emulate_media(media="screen")

    # The visitor's code works; the case is registered, identity sealed.
    resp = await page.request.post(base + "/api/v1/status", data={"query_code": code})
    assert resp.status == 200 and (await resp.json())["case_no"] == case_no
    report = await services.db.reports.get(case_no)
    assert report is not None and report.status == "registered" and report.channel == "visit"

    # The case page and the lists, for the registrar and a supervisor: no identity anywhere.
    sup = await login(browser, base, "county_sup", secrets["county_sup"])
    for p in (page, sup):
        for path in (
            f"/console/cases/{case_no}",
            "/console/cases",
            "/console/queue",
            "/console/search?q=补偿款",
        ):
            await p.goto(base + path)
            html = await p.content()
            assert all(value not in html for value in identity.values()), path
    await sup.goto(f"{base}/console/cases/{case_no}")
    assert "实名，身份信息已封存" in (await sup.text_content("#informant") or "")
    ok, _, detail = await services.db.audit.verify()
    assert ok, detail
