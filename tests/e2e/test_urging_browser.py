"""The staff inbox and colour-coded deadlines in headless Chromium, JavaScript off (issue 18 item 4):
a deadline that turned yellow and a supervision notice (督办函) reach the county handler's inbox, the
header shows the unread count, the case page shows the deadline as 临期 (badge and word) and the
notice as 待答复; the handler answers it from the case page and the notice shows 已答复. A walk-in
video reception waits in the county officers' inbox until one of them joins (issue 20)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, web

import channels
from intake.clock import CHINA
from intake.staff import StaffMember, totp_now
from intake.workflow import Action
from server.app import Services, build_app, services_of
from server.config import Settings
from tests.e2e.test_console_browser import PASSWORD, file_report
from tests.workflow.conftest import SetClock

pytestmark = pytest.mark.browser

SHOTS = os.environ.get("INTAKE_SCREENSHOT_DIR")
CITIZEN = {"name": "李秀英", "phone": "13812345678"}
STAFF = {
    "town_reg": ("430121102", "registrar"),
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
    _keep(tmp_path, "inbox.png", "case.png", "board.png")
    await context.close()


def _keep(folder: Path, *names: str) -> None:
    """Copy the screenshots to ``INTAKE_SCREENSHOT_DIR``, when set, to look at them."""
    if SHOTS:
        for name in names:
            shutil.copy(folder / name, Path(SHOTS) / name)


async def _bearer(services: Services, secrets: dict[str, str], clock: SetClock, name: str) -> str:
    clock.at += timedelta(seconds=31)  # a fresh TOTP step
    token, _, _ = await services.staff.login(
        name, PASSWORD, totp_now(secrets[name], clock.now()), client="test"
    )
    return str(token)


async def test_a_walk_in_in_the_officers_inbox_in_chromium(office: Any, browser: Any, tmp_path: Path) -> None:
    """Issue 20: township staff open a walk-in; the county handler's inbox (JavaScript off) shows
    「黄兴镇群众现场来访，等待接访」 with the link to join and the unread count; once another officer
    of the county took the session it reads 「已由 county_reg 接入」 and counts no more."""
    base, services, secrets, clock = office
    town = await _bearer(services, secrets, clock, "town_reg")
    colleague = await _bearer(services, secrets, clock, "county_reg")
    async with ClientSession() as http:
        resp = await http.post(
            base + "/reception/api/sessions",
            json={
                "unit": "430121102",
                "walk_in": True,
                "reporter": {"name": "李秀英", "phone": "13812345678"},
            },
            headers={"Authorization": f"Bearer {town}"},
        )
        assert resp.status == 201, await resp.text()
        session = (await resp.json())["id"]

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
        assert (await page.text_content("#inbox-unread") or "").strip() == "1"
        await page.click("#inbox-link")
        row = page.locator("#alerts tbody tr[data-kind=reception_walk_in]")
        assert "黄兴镇群众现场来访，等待接访" in await row.inner_text()
        assert "未读" in await row.inner_text()
        join = row.locator("a.join")
        assert await join.get_attribute("href") == f"/reception/room/{session}?as=officer"
        content = await page.content()
        assert all(value not in content for value in CITIZEN.values())
        await page.screenshot(path=str(tmp_path / "inbox_walk_in.png"), full_page=True)
        await join.click()  # the room page, signed in by the console's login (one sign-on)
        await page.wait_for_url(f"**/reception/room/{session}?as=officer")

        resp = await http.post(
            base + f"/reception/api/sessions/{session}/token",
            json={"role": "officer"},
            headers={"Authorization": f"Bearer {colleague}"},
        )
        assert resp.status == 200, await resp.text()
    await page.goto(base + "/console/inbox")
    row = page.locator("#alerts tbody tr[data-kind=reception_walk_in]")
    assert "黄兴镇群众现场来访，已由 county_reg 接入" in await row.inner_text()
    assert "已处理" in await row.inner_text() and await row.locator("a.join").count() == 0
    assert await page.locator("#inbox-unread").count() == 0
    await page.screenshot(path=str(tmp_path / "inbox_walk_in_taken.png"), full_page=True)
    _keep(tmp_path, "inbox_walk_in.png", "inbox_walk_in_taken.png")
    await context.close()
