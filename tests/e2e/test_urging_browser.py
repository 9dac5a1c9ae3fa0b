"""The staff inbox and colour-coded deadlines in headless Chromium, JavaScript off (issue 18 item 4):
a deadline that turned yellow and a supervision notice (督办函) reach the county handler's inbox, the
header shows the unread count, the case page shows the deadline as 临期 (badge and word) and the
notice as 待答复; the handler answers it from the case page and the notice shows 已答复."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

import channels
from intake.clock import CHINA
from intake.staff import StaffMember, totp_now
from intake.workflow import Action
from server.app import Services, build_app, services_of
from server.config import Settings
from tests.e2e.test_console_browser import PASSWORD, file_report
from tests.workflow.conftest import SetClock

pytestmark = pytest.mark.browser

STAFF = {
    "county_reg": ("430121", "registrar"),
    "county_handler": ("430121", "handler"),
    "county_sup": ("430121", "supervisor"),
}


@pytest.fixture
async def office(settings: Settings) -> AsyncIterator[tuple[str, Services, dict[str, str], SetClock]]:
    clock = SetClock(datetime(2025, 9, 26, 10, 0, tzinfo=CHINA))
    app = build_app(settings, channels.REGISTRY, clock=clock, run_worker=False)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    services = services_of(app)
    secrets = {}
    for name, (unit, role) in STAFF.items():
        _, secrets[name] = await services.staff.add(name, unit, role, PASSWORD)
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", services, secrets, clock
    finally:
        await runner.cleanup()


async def test_inbox_and_coloured_deadlines_in_chromium(office: Any, browser: Any, tmp_path: Path) -> None:
    base, services, secrets, clock = office
    case_no = await file_report(
        services, "村支书张三在低保评定中优亲厚友，把低保名额给了亲属。", needs_review=False
    )
    await services.workflow.after_triage(case_no)
    await services.workflow.act(StaffMember("county_reg", "430121", "registrar"), case_no, Action("accept"))
    clock.set(2025, 10, 17)  # the notice to the informant is due 23 Oct: four working days left
    assert await services.urging.scan() == 1
    sup = StaffMember("county_sup", "430121", "supervisor")
    await services.workflow.act(
        sup,
        case_no,
        Action("supervise", reason="群众反映强烈，请加快办理", deadline=datetime(2025, 10, 22).date()),
    )

    context = await browser.new_context(
        viewport={"width": 1366, "height": 768}, locale="zh-CN", java_script_enabled=False
    )
    page = await context.new_page()
    await page.goto(base + "/console/login")
    await page.fill("#username", "county_handler")
    await page.fill("#password", PASSWORD)
    clock.at += timedelta(seconds=31)
    await page.fill("#totp", totp_now(secrets["county_handler"], clock.now()))
    await page.click("button[type=submit]")
    await page.wait_for_selector("#who")
    assert (await page.text_content("#inbox-unread") or "").strip() == "2"  # on every page

    await page.click("#inbox-link")
    rows = page.locator("#alerts tbody tr")
    assert await rows.count() == 2
    text = await page.inner_text("#alerts")
    assert "临期" in text and "期限临近" in text and "收到督办函" in text and case_no in text
    assert "李四" not in await page.content()
    await page.screenshot(path=str(tmp_path / "inbox.png"), full_page=True)

    await page.locator(f"#alerts a[href='/console/cases/{case_no}']").first.click()
    await page.wait_for_selector("#supervision")
    badge = page.locator("#deadlines tr[data-colour=yellow] .badge.yellow")
    assert (await badge.first.text_content() or "").strip() == "临期"
    colour = await badge.first.evaluate("e => getComputedStyle(e).backgroundColor")
    assert colour == "rgb(255, 248, 197)"
    assert "待答复" in await page.inner_text("#supervision")
    await page.fill("#text-answer-supervision", "已约谈村支书，正在核实。")
    await page.click("#act-answer_supervision button[type=submit]")
    await page.wait_for_selector("#supervision")
    assert "已答复" in await page.inner_text("#supervision")
    assert "已约谈村支书" in await page.inner_text("#supervision")
    await page.screenshot(path=str(tmp_path / "case.png"), full_page=True)
    await page.goto(base + "/console/deadlines")
    assert "临期" in await page.inner_text("#due-soon")
    await page.screenshot(path=str(tmp_path / "board.png"), full_page=True)

    await page.goto(base + "/console/inbox")
    await page.click("#read-all")
    await page.wait_for_selector("#alerts")
    assert await page.locator("#inbox-unread").count() == 0
    import shutil

    for name in ("inbox.png", "case.png", "board.png"):
        shutil.copy(tmp_path / name, f"/tmp/u2/{name}")
    await context.close()
