"""The case page's clue section (线索处置, issue 18) in headless Chromium, JavaScript off: a county
registrar accepts an accusation and sends it down to a township; the township's handler proposes
初步核实 with a reason, the department head reviews it and the main leader approves it (逐级审批),
the handler records the plan and the report proposing 予以了结, the main leader approves it (his
approval gives the review too); the county's registrar, who no longer sees the case, reads the
result on 线索结果反馈."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

import channels
from server.app import Services, build_app, services_of
from server.config import Settings
from tests.e2e.conftest import known_next_year
from tests.e2e.test_console_browser import PASSWORD, file_report, login

pytestmark = pytest.mark.browser

STAFF = {
    "county_reg": ("430121", "registrar"),
    "town_officer": ("430121102", "handler"),
    "town_sup": ("430121102", "supervisor"),
    "town_leader": ("430121102", "leader"),
}
SHOTS = Path(os.environ.get("INTAKE_SCREENSHOT_DIR") or "")


@pytest.fixture
async def office(settings: Settings) -> AsyncIterator[tuple[str, Services, dict[str, str]]]:
    known_next_year(settings)
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


async def submit(page: Any, step: str) -> None:
    await page.click(f"#act-{step} button[type=submit]")
    await page.wait_for_selector("#notice")


async def test_the_clue_section_in_chromium(office: Any, browser: Any, tmp_path: Path) -> None:
    base, services, secrets = office
    shots = SHOTS if str(SHOTS) not in ("", ".") else tmp_path
    case_no = await file_report(
        services, "村支书张三在低保评定中优亲厚友，把低保名额给了亲属。", needs_review=False
    )
    county = await login(browser, base, "county_reg", secrets["county_reg"])
    await county.goto(f"{base}/console/cases/{case_no}")
    await submit(county, "accept")
    assert "待提出处置意见" in (await county.text_content("#clue-state") or "")
    assert await county.locator("#act-clue_propose").count() == 0  # a registrar proposes nothing
    await county.select_option("#to-unit-transfer", "430121102")
    await submit(county, "transfer")

    town = await login(browser, base, "town_officer", secrets["town_officer"])
    await town.goto(f"{base}/console/cases/{case_no}")
    await submit(town, "accept")
    deadlines = await town.text_content("#clue-deadlines") or ""
    assert "提出问题线索处置意见" in deadlines and "进行中" in deadlines
    await town.select_option("#method-clue", "verify")
    await town.fill("#reason-clue-propose", "反映问题具体，具有可查性。")
    await submit(town, "clue_propose")
    assert "待领导审批" in (await town.text_content("#clue-state") or "")
    assert "初步核实" in (await town.text_content("#clue-proposal") or "")
    assert await town.locator("#act-clue_approve").count() == 0  # a handler approves nothing

    head = await login(browser, base, "town_sup", secrets["town_sup"])
    await head.goto(f"{base}/console/cases/{case_no}")
    assert "承办部门负责人审核" in (await head.text_content("#act-clue_approve") or "")
    await submit(head, "clue_approve")
    assert "待领导审批" in (await head.text_content("#clue-state") or "")
    levels = await head.text_content("#clue-levels") or ""
    assert "承办部门负责人审核：已批准" in levels and "纪检监察机关主要负责人审批：待审批" in levels
    assert await head.locator("#act-clue_approve").count() == 0  # the next level is the main leader's
    assert "待纪检监察机关主要负责人审批" in (await head.text_content("#clue") or "")

    leader = await login(browser, base, "town_leader", secrets["town_leader"])
    await leader.goto(f"{base}/console/cases/{case_no}")
    await leader.screenshot(path=str(shots / "clue_pending.png"), full_page=True)
    await submit(leader, "clue_approve")
    assert "初步核实中" in (await leader.text_content("#clue-state") or "")
    approved = await leader.text_content("#clue-approved") or ""
    assert "承办部门负责人审核" in approved and "纪检监察机关主要负责人审批" in approved

    await town.goto(f"{base}/console/cases/{case_no}")
    assert await town.locator("#act-clue_report").count() == 0  # the plan comes first
    await town.fill("#text-clue-plan", "成立核查组，调取低保评定档案，与相关人员谈话。")
    await submit(town, "clue_plan")
    await town.select_option("#outcome-clue", "conclude")
    await town.fill("#text-clue-report", "初步核实情况报告：反映问题不属实。")
    await submit(town, "clue_report")

    await leader.goto(f"{base}/console/cases/{case_no}")
    await submit(leader, "clue_approve")
    assert "已处置完毕" in (await leader.text_content("#clue-state") or "")
    assert "予以了结" in (await leader.text_content("#clue-result") or "")
    assert "长沙县纪委监委" in (await leader.text_content("#clue-reported") or "")
    timeline = await leader.text_content("#timeline") or ""
    assert "批准线索处置意见" in timeline and "线索处置结果已反馈受理单位" in timeline
    assert (
        "线索处置意见逐级审批" in timeline
        and "审批：承办部门负责人审核、纪检监察机关主要负责人审批" in timeline
    )
    await leader.screenshot(path=str(shots / "clue_done.png"), full_page=True)
    assert await leader.evaluate("document.documentElement.scrollWidth") <= 1366

    await county.goto(f"{base}/console/clues/reported")
    table = await county.text_content("#clue-results") or ""
    assert case_no in table and "予以了结" in table and "初步核实" in table
    await county.screenshot(path=str(shots / "clue_results.png"), full_page=True)
    ok, _, detail = await services.db.audit.verify()
    assert ok, detail
