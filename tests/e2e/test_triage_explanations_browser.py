"""The case page explains triage in plain Chinese (issue 19), in headless Chromium: every decision
with its 高/中/低 confidence and number, the deciding words highlighted in the report's text, no
rule identifiers or English; a correction that changes a decision says a person decided it."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

import channels
from intake.domain import Submission
from intake.staff import totp_now
from server.app import Services, build_app, services_of
from server.config import Settings
from tests.e2e.conftest import signed_in_console

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
TEXT = "举报长沙县黄兴镇金凤村党支部书记张某某在低保评定中优亲厚友，把低保名额给了自己的亲戚。"
# Where the screenshot goes (INTAKE_SCREENSHOT_DIR to keep it for a look; else the test's tmp dir).
SHOTS = os.environ.get("INTAKE_SCREENSHOT_DIR")


@pytest.fixture
async def console(settings: Settings) -> AsyncIterator[tuple[str, Services, str]]:
    app = build_app(settings, channels.REGISTRY, run_worker=False)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    services = services_of(app)
    _, secret = await services.staff.add("county_reg", "430121", "registrar", PASSWORD)
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", services, secret
    finally:
        await runner.cleanup()


async def test_case_page_explains_triage(console: Any, browser: Any, tmp_path: Path) -> None:
    base, services, secret = console
    receipt = await services.pipeline.accept(Submission(channel="web", content=TEXT, anonymous=True))
    assert await services.worker.run_once() == 1  # the real triage job, as after any report
    totp = totp_now(secret, datetime.now(UTC))
    page = await signed_in_console(browser, base, "county_reg", PASSWORD, totp, height=900)
    await page.goto(f"{base}/console/cases/{receipt.case_no}")
    await page.wait_for_selector("#triage .explanations")

    items = page.locator("#triage li.explanation")
    decisions = [await items.nth(i).get_attribute("data-decision") for i in range(await items.count())]
    assert decisions == ["scope", "category", "level", "unit", "urgency", "duplicate", "review"]
    shown = await page.inner_text("#triage .explanations")
    assert "被反映人是金凤村党支部书记张某某" in shown and "乡镇党委管理" in shown and "黄兴镇纪委" in shown
    assert re.search(r"把握：[高中低]（\d\.\d\d）", shown)
    assert not re.search(r"[A-Za-z]", shown), shown  # no rule ids, English or program values
    assert "规则：" not in await page.inner_text("#triage")

    # The deciding words are marked in the report's own text.
    marks = await page.locator("#content mark.decisive").all_inner_texts()
    assert {"优亲厚友", "金凤村党支部书记", "张某某"} <= set(marks), marks
    assert (await page.inner_text("#content")).replace("\n", "") == TEXT

    shots = Path(SHOTS) if SHOTS else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(shots / "case-explanations.png"), full_page=True)
    assert await page.evaluate("document.documentElement.scrollWidth") <= 1366

    # Correct the level: the level's explanation now says a person decided it.
    await page.click("#triage details.correct summary")
    await page.select_option("#triage select[name=level]", "county")
    await page.click("#triage details.correct button[type=submit]")
    await page.wait_for_selector("#notice")
    level = page.locator('#triage li.explanation[data-decision="level"]')
    assert (await level.inner_text()).count("已人工修改为“县级”") == 1
    await page.context.close()
